"""Mapping files and normalisers: headers, codes, numbers, dates, periods, survey missing codes."""

from pathlib import Path

import polars as pl
import pytest

from assets.ingestion.parse import type_columns
from assets.ingestion.read import RejectedFile, canonical_headers, read_delivery
from assets.ingestion.reasons import PROBLEM, REASONS
from schemas import mapping
from schemas.canonical import EXTRACTS
from schemas.extracts import ROW

VNM_YAML = """
country: VNM
defaults:
  read: {separator: ";", decimal_comma: true}
  values:
    sex: {"Nữ": F, "Nam": M}
sources:
  payroll:
    columns: {"Mã nhà máy": factory_id, "Kỳ lương": period, "Giới tính": sex, "Giờ làm thêm": overtime_hours}
    date_formats: ["%d/%m/%Y"]
"""


@pytest.fixture
def mappings(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "VNM.yaml").write_text(VNM_YAML, encoding="utf-8")
    monkeypatch.setattr(mapping, "MAPPINGS_DIR", folder)
    return folder


def test_country_without_mapping_is_canonical(mappings):
    d = mapping.delivery("KHM", "payroll")
    assert (d.layout, d.separator, d.decimal_comma, d.columns) == (
        "canonical",
        None,
        False,
        {},
    )  # separator sniffed per file
    assert set(EXTRACTS["payroll"].date_formats) <= set(d.date_formats)
    assert [x.layout for x in mapping.layouts("VNM", "payroll")] == ["VNM", "canonical"]


def test_defaults_merge_under_source_blocks(mappings):
    d = mapping.delivery("VNM", "payroll")
    assert d.separator == ";" and d.decimal_comma
    assert d.columns["Giới tính"] == "sex"
    assert d.date_formats == ("%d/%m/%Y",)
    assert d.value_map("sex")["nữ"] == "F" and d.value_map("sex")["female"] == "F"
    # other sources of the country inherit the defaults only
    assert mapping.delivery("VNM", "factories").columns == {} and mapping.delivery("VNM", "factories").layout == "VNM"


def test_mapping_onto_an_unknown_column_is_an_error(mappings):
    (mappings / "VNM.yaml").write_text("sources:\n  payroll:\n    columns: {A: no_such_column}\n", encoding="utf-8")
    mapping._load_yaml.cache_clear()
    with pytest.raises(mapping.MappingError, match="no_such_column"):
        mapping.delivery("VNM", "payroll")


def _typed(source: str, rows: dict, country: str = "KHM") -> pl.DataFrame:
    extract = EXTRACTS[source]
    d = mapping.delivery(country, source)
    n = len(next(iter(rows.values())))
    given = {d.columns.get(h, h) for h in rows}
    blanks = {c.header: [""] * n for c in extract.columns if c.header not in given and c.name not in given}
    frame = pl.DataFrame({ROW: list(range(2, 2 + n))} | rows | blanks)
    frame, _ = canonical_headers(frame, extract, d, Path("x.csv"))
    return type_columns(frame, extract, d)


def test_decimal_comma_and_local_codes(mappings):
    out = _typed(
        "payroll",
        {"Mã nhà máy": ["7"], "Kỳ lương": ["2025-03"], "Giới tính": ["Nữ"], "Giờ làm thêm": ["1.234,5"]},
        "VNM",
    )
    row = out.row(0, named=True)
    assert (row["factory_id"], row["sex"], row["overtime_hours"]) == (7, "F", 1234.5)


@pytest.mark.parametrize(
    "value, ok", [("2025-03", True), ("2025-12", True), ("2025-13", False), ("2025-3", False), ("March 2025", False)]
)
def test_period_must_be_a_month(mappings, value, ok):
    out = _typed("payroll", {"factory_id": ["1"], "period": [value], "sex": ["F"]})
    assert (out["period"][0] == value) is ok
    assert (len(out[REASONS][0]) == 0) is ok


def test_impossible_dates_are_reasons_not_silent_nulls(mappings):
    out = _typed("factories", {"ID": ["1", "2", "3"], "Enrolment Date": ["29/02/2024", "31/02/2024", ""]})
    assert out["enrolment_date"].to_list()[0].isoformat() == "2024-02-29"
    assert out["enrolment_date"][1] is None and "31/02/2024" in out[REASONS][1][0]
    assert out[REASONS][2].to_list() == []  # empty is missing (pandera's concern), not unparseable


def test_survey_missing_codes_become_null_not_values(mappings):
    out = _typed(
        "worker_survey", {"union_member": ["1", "-98", "-99", "0", "7"], "comfort_picc": ["6", "-99", "3", "", "0"]}
    )
    assert out["union_member"].to_list() == [1, None, None, 0, 7]  # 7 parses; pandera rejects it as not 0/1
    assert out["comfort_picc"].to_list() == [6, None, 3, None, 0]
    assert all(len(r) == 0 for r in out[REASONS].to_list())


def test_missing_required_column_rejects_the_file_with_a_fix(tmp_path, mappings):
    path = tmp_path / "payroll.csv"
    path.write_text("factory_id,period\n1,2025-01\n", encoding="utf-8")
    frame = read_delivery(path, mapping.delivery("KHM", "payroll"))
    with pytest.raises(RejectedFile) as err:
        canonical_headers(frame, EXTRACTS["payroll"], mapping.delivery("KHM", "payroll"), path)
    assert "national_id" in err.value.problem and "schemas/mappings/KHM.yaml" in err.value.fix


def test_headers_match_ignoring_case_and_spacing_and_extras_are_reported(tmp_path, mappings):
    path = tmp_path / "f.csv"
    path.write_text(
        "id ,NAME,country  code,Enrolment Date,Status,State,Total Workers,Female "
        "Workers,Male Workers,Remarks\n1,A,KH,01/01/2020,Active,,1,1,0,x\n",
        encoding="utf-8",
    )
    frame = read_delivery(path, mapping.delivery("KHM", "factories"))
    out, extras = canonical_headers(frame, EXTRACTS["factories"], mapping.delivery("KHM", "factories"), path)
    assert extras == ["Remarks"] and out["ID"][0] == "1" and out[ROW][0] == 2


@pytest.mark.parametrize(
    "country, content, problem",
    [
        ("KHM", b"", "empty"),
        ("KHM", b"\x00\x01\x02binary\x00", "binary"),
        ("VNM", "a;b\n1;\xe9\n".encode("cp1252"), "not valid utf8"),
    ],
)
def test_unreadable_files_are_rejected_with_the_problem(tmp_path, mappings, country, content, problem):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(RejectedFile) as err:
        read_delivery(path, mapping.delivery(country, "payroll"))  # VNM's layout says UTF-8
    assert problem in err.value.problem.lower().replace("-", "")


def test_the_canonical_layout_reads_excels_windows_1252_csv(tmp_path, mappings):
    path = tmp_path / "excel.csv"
    path.write_bytes("a,b\n1,caf\xe9\n".encode("cp1252"))
    assert read_delivery(path, mapping.delivery("KHM", "payroll"))["b"].to_list() == ["café"]


def test_a_title_row_above_mapped_headers_is_found_and_the_fix_named(tmp_path, mappings):
    """Local headers (known through the mapping) below a title line: the message gives the skip_rows to declare."""
    d = mapping.delivery("VNM", "payroll")
    local = {v: k for k, v in d.columns.items()}
    header = [local.get(c.header, c.header) for c in EXTRACTS["payroll"].columns]
    path = tmp_path / "luong.csv"
    path.write_text(
        "Bảng lương tháng 1\n" + ";".join(header) + "\n" + ";".join(["1"] * len(header)) + "\n", encoding="utf-8"
    )
    with pytest.raises(RejectedFile) as err:
        canonical_headers(read_delivery(path, d), EXTRACTS["payroll"], d, path)
    assert err.value.problem == "the header row is row 2, but row 1 was read as the header (VNM layout)"
    assert (
        err.value.fix == "declare a layout with read: {skip_rows: 1} under sources.payroll in schemas/mappings/VNM.yaml"
    )


def test_a_cut_last_line_is_marked_but_a_missing_final_line_break_alone_is_not(tmp_path, mappings):
    d = mapping.delivery("KHM", "payroll")
    cut, whole = tmp_path / "cut.csv", tmp_path / "whole.csv"
    cut.write_text("a,b,c\n1,2,3\n4,5", encoding="utf-8")
    whole.write_text("a,b,c\n1,2,3\n4,5,6", encoding="utf-8")
    assert read_delivery(cut, d)[PROBLEM].to_list() == [
        None,
        "cut short: the last line has 2 of 3 fields and no line break (the file was truncated; re-deliver it whole)",
    ]
    assert read_delivery(whole, d)[PROBLEM].to_list() == [None, None]
