"""Layouts per file, not per country (issue 19): each delivered file is read with the layout whose header it
carries; the contract's canonical form is always one; what spreadsheets, export tools and file systems do to a
CSV still loads, to exactly the rows the plain file gives."""

from __future__ import annotations

import io

import polars as pl
import pytest
import xlsxwriter

from assets.ingestion.ingest import ingest
from schemas import mapping
from tests.conftest import PAYROLL_HEADER, REGISTER_HEADER, deliver
from tests.test_ingest import REGISTER, payroll_row

KEY = b"layouts-test-key"
ROWS = [
    payroll_row(nid=f"KH-{i:03d}", sex="F" if i % 2 else "M", basic=f"{200 + i}.5", emp=f"E{i}") for i in range(1, 6)
]
LINEAGE = ["_source_file", "_source_row", "_file_sha256", "_delivered_at", "_loaded_at"]
TITLE_LAYOUT = """
country: KHM
layouts:
  ministry_workbook:
    sources:
      payroll:
        read: {skip_rows: 2}
        values:
          sex: {"1": M, "2": F}
  local_headers:
    sources:
      payroll:
        read: {separator: ";", decimal_comma: true}
        columns:
          "Factory": factory_id
          "Month": period
          "Staff no": employee_no
          "ID card": national_id
          "Name": worker_name
          "Gender": sex
        values:
          sex: {"Srey": F, "Pros": M}
"""


@pytest.fixture
def khm(data_root, tmp_path, monkeypatch):
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "KHM.yaml").write_text(TITLE_LAYOUT, encoding="utf-8")
    monkeypatch.setattr(mapping, "MAPPINGS_DIR", folder)
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    return data_root


def _load(paths):
    report = ingest("payroll", "KHM", paths, KEY, log=lambda m: None)
    staged = pl.read_parquet(paths.staged_file("payroll", "KHM"))
    quarantine = pl.read_parquet(paths.quarantine_file("payroll", "KHM"))
    return report, staged, quarantine


def _plain(khm) -> pl.DataFrame:
    deliver(khm, "payroll", "KHM", "plain.csv", PAYROLL_HEADER + "\n" + "\n".join(ROWS) + "\n")
    report, staged, _ = _load(khm)
    (khm.raw_dir("payroll", "KHM") / "plain.csv").unlink()
    assert report.files[0].layout == "canonical" and staged.height == 5
    return staged.drop(LINEAGE)


def _csv(header: list[str], rows: list[list[str]], separator=",", line_end="\n") -> str:
    return line_end.join(separator.join(cells) for cells in [header, *rows]) + line_end


HEADER = PAYROLL_HEADER.split(",")
CELLS = [r.split(",") for r in ROWS]


def _semicolon_decimal_comma() -> bytes:
    """Excel's CSV where the comma is the decimal mark: semicolons, decimal commas, Windows-1252, CRLF."""
    rows = [[c.replace(".", ",") if c.replace(".", "").isdigit() and "." in c else c for c in row] for row in CELLS]
    return _csv(HEADER, rows, ";", "\r\n").encode("cp1252")


VARIANTS = {
    "UTF-8 with a BOM and CRLF": lambda: ("\ufeff" + _csv(HEADER, CELLS, line_end="\r\n")).encode("utf-8"),
    "headers in capitals, spaces, non-breaking spaces": lambda: _csv(
        [f" {h.upper()}\u00a0" if i % 2 else f"{h}  " for i, h in enumerate(HEADER)], CELLS
    ).encode("utf-8"),
    "every cell quoted": lambda: _csv([f'"{h}"' for h in HEADER], [[f'"{c}"' for c in r] for r in CELLS]).encode(
        "utf-8"
    ),
    "semicolons and decimal commas (European Excel)": _semicolon_decimal_comma,
    "tab-separated UTF-16 (Excel's Unicode text)": lambda: _csv(HEADER, CELLS, "\t", "\r\n").encode("utf-16"),
    "semicolons with decimal points (pandas' to_csv(sep=';'))": lambda: _csv(HEADER, CELLS, ";").encode("utf-8"),
    "Windows-1252 (Excel's CSV)": lambda: _csv(HEADER, CELLS).encode("cp1252"),
    "a trailing separator on every line": lambda: _csv([*HEADER, ""], [[*r, ""] for r in CELLS]).encode("utf-8"),
    "blank lines at the end": lambda: (_csv(HEADER, CELLS) + "\n\n,,,\n").encode("utf-8"),
    "sex codes in other case and spacing": lambda: _csv(
        HEADER, [[("female\u00a0" if c == "F" else " MALE") if i == 5 else c for i, c in enumerate(r)] for r in CELLS]
    ).encode("utf-8"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_what_spreadsheets_and_shares_do_to_a_canonical_csv_still_loads(khm, variant):
    plain = _plain(khm)
    path = khm.raw_dir("payroll", "KHM") / ("EXPORT.CSV" if "Windows" in variant else "export.csv")
    path.write_bytes(VARIANTS[variant]())
    report, staged, quarantine = _load(khm)
    (outcome,) = report.files
    # the canonical layout, or a declared one that reads the contract's headers as well (declared layouts come first)
    assert outcome.status == "loaded" and outcome.layout in ("canonical", "local_headers"), outcome.message
    blank_rows = quarantine.filter(pl.col("reason").str.contains("empty row"))
    assert quarantine.height == blank_rows.height, quarantine["reason"].to_list()
    assert staged.drop(LINEAGE).equals(plain), staged.drop(LINEAGE)


def test_an_excel_workbook_and_parquet_in_canonical_form_load_too(khm):
    plain = _plain(khm)
    book = io.BytesIO()
    with xlsxwriter.Workbook(book) as wb:
        sheet = wb.add_worksheet("Payroll")
        for i, row in enumerate([HEADER, *CELLS]):
            sheet.write_row(i, 0, row)
    (khm.raw_dir("payroll", "KHM") / "export.xlsx").write_bytes(book.getvalue())
    report, staged, _ = _load(khm)
    # no decimal comma in a workbook
    assert [f.status for f in report.files] == ["loaded"] and staged.drop(LINEAGE).equals(plain)
    (khm.raw_dir("payroll", "KHM") / "export.xlsx").unlink()
    parquet = khm.raw_dir("payroll", "KHM") / "export.parquet"
    pl.DataFrame([dict(zip(HEADER, r, strict=True)) for r in CELLS]).write_parquet(parquet)
    report, staged, _ = _load(khm)
    assert [f.status for f in report.files] == ["loaded"] and staged.drop(LINEAGE).equals(plain)


def test_each_file_is_read_with_its_own_layout(khm):
    """One month canonical, one as the ministry's workbook with a title row and 1/2 sex codes, one with local
    headers, semicolons and decimal commas: all load, and the report says which layout read which file."""
    plain = _plain(khm)
    folder = khm.raw_dir("payroll", "KHM")
    deliver(khm, "payroll", "KHM", "a_canonical.csv", _csv(HEADER, CELLS[:2]), mtime=1_700_000_001)
    book = io.BytesIO()
    with xlsxwriter.Workbook(book) as wb:
        sheet = wb.add_worksheet("Sheet1")
        sheet.write_row(0, 0, ["Payroll of the ministry, January"])
        for i, row in enumerate(
            [HEADER, *[[("2" if c == "F" else "1") if j == 5 else c for j, c in enumerate(r)] for r in CELLS[2:4]]]
        ):
            sheet.write_row(i + 2, 0, row)
    (folder / "b_ministry.xlsx").write_bytes(book.getvalue())
    local = ["Factory", "Month", "Staff no", "ID card", "Name", "Gender", *HEADER[6:]]
    rows = [
        [
            ("Srey" if c == "F" else "Pros") if j == 5 else (c.replace(".", ",") if j in (14, 15) else c)
            for j, c in enumerate(r)
        ]
        for r in CELLS[4:]
    ]
    (folder / "c_local.csv").write_text(_csv(local, rows, ";"), encoding="utf-8")
    report, staged, quarantine = _load(khm)
    layouts = {f.file.rsplit("/", 1)[1]: (f.status, f.layout) for f in report.files}
    assert layouts == {
        "a_canonical.csv": ("loaded", "canonical"),
        "b_ministry.xlsx": ("loaded", "ministry_workbook"),
        "c_local.csv": ("loaded", "local_headers"),
    }
    assert quarantine.height == 0
    assert staged.drop(LINEAGE).sort("worker_pid").equals(plain.sort("worker_pid"))
    files = pl.read_parquet(khm.file_report("payroll", "KHM"))
    assert set(files["layout"]) == {"canonical", "ministry_workbook", "local_headers"}


def test_a_file_that_fits_no_layout_is_rejected_naming_the_nearest(khm):
    header = [
        "Factory",
        "Month",
        "Staff no",
        "ID card",
        "Name",
        "Genre",
        *HEADER[6:],
    ]  # "Genre": a header no layout knows
    deliver(khm, "payroll", "KHM", "odd.csv", _csv(header, CELLS, ";"))
    (outcome,) = _load(khm)[0].files
    assert outcome.status == "rejected"
    assert "missing required column(s) ['sex']" in outcome.message and "local_headers" in outcome.message
    assert "'Genre'" in outcome.message and "schemas/mappings/KHM.yaml" in outcome.message
    for value in ("KH-001", "Sok A"):
        assert value not in outcome.message


def test_a_headerless_file_is_rejected_without_quoting_its_first_row(khm):
    deliver(khm, "payroll", "KHM", "noheader.csv", _csv(CELLS[0], CELLS[1:]))
    (outcome,) = _load(khm)[0].files
    assert outcome.status == "rejected" and "no header row" in outcome.message and "KH-001" not in outcome.message


def test_a_layout_shared_by_several_countries(data_root, tmp_path, monkeypatch):
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "ministry.yaml").write_text(
        TITLE_LAYOUT.replace("country: KHM", "countries: [KHM, VNM]"), encoding="utf-8"
    )
    monkeypatch.setattr(mapping, "MAPPINGS_DIR", folder)
    for country in ("KHM", "VNM", "BGD"):
        names = [d.layout for d in mapping.layouts(country, "payroll")]
        assert names == (["ministry_workbook", "local_headers", "canonical"] if country != "BGD" else ["canonical"])
    assert [d.layout for d in mapping.layouts("KHM", "factories")] == ["canonical"]  # says nothing of the register


def test_an_office_lock_file_beside_a_workbook_is_no_delivery(khm):
    deliver(khm, "payroll", "KHM", "payroll.csv", PAYROLL_HEADER + "\n" + ROWS[0] + "\n")
    (khm.raw_dir("payroll", "KHM") / "~$payroll.xlsx").write_bytes(b"\x0bowner\x00" * 20)
    report, staged, _ = _load(khm)
    assert [f.file for f in report.files] == ["payroll/KHM/payroll.csv"] and staged.height == 1


def test_the_register_loads_in_its_canonical_form(khm):
    assert REGISTER_HEADER.split(",")[0] == "ID"
    assert pl.read_parquet(khm.staged_file("factories", "KHM")).height == 2


def test_among_layouts_reading_the_contracts_headers_the_one_whose_codes_parse_wins(data_root, tmp_path, monkeypatch):
    """VNM's survey arrives with the contract's headers but sex coded 1/2: the layout declaring those codes
    reads it; the canonical form alone would quarantine every row."""
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "KHM.yaml").write_text(
        "country: KHM\nlayouts:\n  survey_codes:\n    sources:\n      payroll:\n"
        "        values:\n          sex: {'1': M, '2': F}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(mapping, "MAPPINGS_DIR", folder)
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    coded = [[("2" if c == "F" else "1") if j == 5 else c for j, c in enumerate(r)] for r in CELLS]
    deliver(data_root, "payroll", "KHM", "coded.csv", _csv(HEADER, coded))
    deliver(
        data_root,
        "payroll",
        "KHM",
        "plain.csv",
        _csv(HEADER, [[*r[:2], "E9", "KH-999", *r[4:]] for r in CELLS[:1]]),
        mtime=1,
    )
    report, staged, quarantine = _load(data_root)
    layouts = {f.file.rsplit("/", 1)[1]: f.layout for f in report.files}
    assert layouts == {"coded.csv": "survey_codes", "plain.csv": "survey_codes"}  # both fit it; F/M stay understood
    assert quarantine.height == 0 and sorted(staged["sex"].to_list()) == ["F", "F", "F", "F", "M", "M"]


def test_the_check_command_tells_a_partner_what_a_run_would_do(khm, tmp_path, monkeypatch):
    """`decentwork check`: the layout, the rows that would load, each reason with its count and rows; exit 0 only
    when every row would load, 1 otherwise, 2 for a wrong question; nothing written under the data root. (The
    command runs with the repository's mapping files: KHM declares no layout.)"""
    from decentwork.settings import MAPPINGS_DIR
    from tests.conftest import decentwork

    monkeypatch.setattr(mapping, "MAPPINGS_DIR", MAPPINGS_DIR)  # the repository's mapping files, not the fixture's

    def check(path, *args):
        return decentwork(khm.root, "check", str(path), *args)

    before = sorted(p.relative_to(khm.root) for p in khm.root.rglob("*"))
    clean, bad, title = tmp_path / "clean.csv", tmp_path / "bad.csv", tmp_path / "title.csv"
    clean.write_text(_csv(HEADER, CELLS), encoding="utf-8")
    bad.write_text(
        _csv(HEADER, [CELLS[0], [*CELLS[1][:5], "X", *CELLS[1][6:]], CELLS[0], [*CELLS[2][:12], "-8", *CELLS[2][13:]]]),
        encoding="utf-8",
    )
    title.write_text("Payroll January\n\n" + _csv(HEADER, CELLS), encoding="utf-8")
    ok = check(clean, "--source", "payroll", "--country", "khm")
    assert ok.returncode == 0 and "layout 'canonical'; 5 rows, 5 would load, 0 would be quarantined" in ok.stdout
    done = check(bad, "--source", "PAYROLL", "--country", "KHM")
    assert done.returncode == 1 and "4 rows, 1 would load, 3 would be quarantined" in done.stdout
    assert "1 x sex: '…' is not a sex code F or M" in done.stdout and "(rows 3;" in done.stdout
    assert "duplicate row: same as row …" in done.stdout and "regular_hours" in done.stdout
    assert "KH-00" not in done.stdout and "Sok A" not in done.stdout  # no id or name
    rejected = check(title, "--source", "payroll", "--country", "KHM")
    assert rejected.returncode == 1 and "REJECTED" in rejected.stdout and "skip_rows: 2" in rejected.stdout
    wrong = check(clean, "--source", "wages", "--country", "KHM")
    assert wrong.returncode == 2 and "use one of factories" in wrong.stderr
    assert check(clean, "--source", "payroll", "--country", "XXX").returncode == 2
    assert sorted(p.relative_to(khm.root) for p in khm.root.rglob("*")) == before
