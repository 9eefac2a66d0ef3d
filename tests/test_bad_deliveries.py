"""The corpus of bad deliveries (tests/corpus/): what ingestion does with each, and that nothing is lost.

Each corpus file is delivered as a Cambodian payroll (canonical layout) after the corpus register; its
expected outcome is in tests/corpus/expected.yaml. docs/bad-input.md lists the cases and these tests.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from assets.deliveries import scan_deliveries
from assets.ingestion.ingest import ingest
from assets.publish import export_candidate
from decentwork.settings import DEV_PSEUDONYM_KEY, Paths
from schemas import mapping
from tests.scenario import FORMULA_NAME
from tests.scenario import KEY as RUN_KEY

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
KEY = b"bad-deliveries-test-key"
PERSONAL = ("KH-0", "KH0", "E-0", "Worker 0", "Sokh", "Dara L")  # national ids, employee numbers, names of the corpus


def _quiet(_message: str) -> None:
    pass


@pytest.fixture
def khm(data_root: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A data root with the corpus register loaded for KHM, and an empty folder of mapping files."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    monkeypatch.setattr(mapping, "MAPPINGS_DIR", mappings)
    target = data_root.raw_dir("factories", "KHM")
    target.mkdir(parents=True)
    shutil.copy(CORPUS / "factories" / "register.csv", target)
    ingest("factories", "KHM", data_root, KEY, log=_quiet)
    return data_root


def _deliver(paths: Paths, *names: str) -> None:
    folder = paths.raw_dir("payroll", "KHM")
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        shutil.copy(CORPUS / "payroll" / name, folder / name)
        os.utime(folder / name, (1_700_000_000 + i, 1_700_000_000 + i))  # delivery order = corpus order


def _load(paths: Paths, log: list[str] | None = None):
    report = ingest("payroll", "KHM", paths, KEY, log=(log.append if log is not None else _quiet))
    staged = pl.read_parquet(paths.staged_file("payroll", "KHM"))
    quarantine = pl.read_parquet(paths.quarantine_file("payroll", "KHM"))
    return report, staged, quarantine


def _rows_of(frame: pl.DataFrame, name: str) -> list[int]:
    return sorted(frame.filter(pl.col("_source_file") == f"payroll/KHM/{name}")["_source_row"].to_list())


def test_every_corpus_file_has_an_expected_outcome():
    delivered = {p.name for p in (CORPUS / "payroll").iterdir()}
    assert delivered == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(khm: Paths, name: str):
    expected = EXPECTED[name]
    _deliver(khm, name)
    log: list[str] = []
    report, staged, quarantine = _load(khm, log)
    (outcome,) = report.files
    assert outcome.file == f"payroll/KHM/{name}"
    assert outcome.status == expected["status"], outcome.message
    for text in expected.get("message", []):
        assert text in outcome.message
    if expected["status"] == "rejected":
        # the run log names the file, the problem and the fix; nothing of the file is staged or quarantined
        assert any(line.startswith(f"REJECTED payroll/KHM/{name}: ") and "Fix: " in line for line in log), log
        assert staged.height == 0 and quarantine.height == 0 and outcome.rows_loaded == 0
        return
    reasons = dict(zip(quarantine["_source_row"].to_list(), quarantine["reason"].to_list(), strict=True))
    assert _rows_of(staged, name) == expected["staged"]
    assert set(reasons) == set(expected.get("quarantined", {}))
    for row, text in expected.get("quarantined", {}).items():
        assert text in reasons[row], (row, reasons[row])
    # nothing lost: every data row is staged or quarantined, once
    assert sorted(_rows_of(staged, name) + list(reasons)) == list(range(2, 2 + expected["rows"]))
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (
        expected["rows"],
        len(expected["staged"]),
        len(expected.get("quarantined", {})),
    )


def test_whole_corpus_delivered_at_once_loses_no_row(khm: Paths):
    """All bad files in one delivery: the readable files' rows are each staged or quarantined (across files the
    later delivery supersedes the earlier copy of a worker's month), and the unreadable ones are rejected whole."""
    names = sorted(EXPECTED)
    _deliver(khm, *names)
    report, staged, quarantine = _load(khm)
    outcomes = {f.file.rsplit("/", 1)[1]: f for f in report.files}
    assert {n: o.status for n, o in outcomes.items()} == {n: EXPECTED[n]["status"] for n in names}
    for name in names:
        rows = sorted(_rows_of(staged, name) + _rows_of(quarantine, name))
        expected = list(range(2, 2 + EXPECTED[name]["rows"])) if EXPECTED[name]["status"] == "loaded" else []
        assert rows == expected, name
    assert staged.height >= 1  # the good rows of the corpus still load
    assert staged.select("factory_id", "period", "worker_pid").is_unique().all()


def test_files_report_on_disk_lists_every_file_with_its_message(khm: Paths):
    _deliver(khm, "empty.csv", "excel_several_sheets.xlsx", "hours_and_pay.csv")
    _load(khm)
    files = pl.read_parquet(khm.file_report("payroll", "KHM"))
    by_file = {r["file"]: r for r in files.iter_rows(named=True)}
    assert by_file["payroll/KHM/empty.csv"]["status"] == "rejected"
    assert "read: {sheet: Payroll}" in by_file["payroll/KHM/excel_several_sheets.xlsx"]["message"]
    assert (
        by_file["payroll/KHM/hours_and_pay.csv"]["rows_loaded"],
        by_file["payroll/KHM/hours_and_pay.csv"]["rows_quarantined"],
    ) == (2, 8)


def _declared_fix(message: str) -> dict:
    """The read options a rejection message tells the partner to declare, parsed from its text."""
    found = re.search(r"declare a layout with (read: \{.*?\}) under sources\.payroll", message)
    assert found, message
    return yaml.safe_load(found.group(1))


@pytest.mark.parametrize(
    "name, staged_rows",
    [("csv_title_row.csv", [4, 5]), ("excel_title_row.xlsx", [4, 5]), ("excel_several_sheets.xlsx", [2, 3])],
    ids=["csv_title_row", "excel_title_row", "excel_several_sheets"],
)
def test_the_fix_a_rejection_names_makes_the_file_load(khm: Paths, name: str, staged_rows: list[int]):
    _deliver(khm, name)
    (outcome,) = _load(khm)[0].files
    fix = _declared_fix(outcome.message)
    (mapping.MAPPINGS_DIR / "KHM.yaml").write_text(
        yaml.safe_dump({"country": "KHM", "sources": {"payroll": fix}}), encoding="utf-8"
    )
    report, staged, quarantine = _load(khm)
    assert report.files[0].status == "loaded" and quarantine.height == 0
    assert _rows_of(staged, name) == staged_rows  # the rows a spreadsheet shows


def test_cp1252_loads_once_its_encoding_is_declared(khm: Paths):
    (mapping.MAPPINGS_DIR / "KHM.yaml").write_text(
        "country: KHM\ndefaults:\n  read: {encoding: cp1252}\n", encoding="utf-8"
    )
    _deliver(khm, "encoding_cp1252.csv")
    report, staged, _ = _load(khm)
    assert report.files[0].status == "loaded" and _rows_of(staged, "encoding_cp1252.csv") == [2, 3, 4]


def test_encodings_give_the_same_staged_rows(khm: Paths):
    """UTF-16 (with or without BOM) and UTF-8 with BOM load to exactly what plain UTF-8 would give."""
    frames = {}
    for name in ("encoding_utf16_bom.csv", "encoding_utf16_no_bom.csv", "encoding_utf8_bom.csv"):
        shutil.rmtree(khm.raw_dir("payroll", "KHM"), ignore_errors=True)
        _deliver(khm, name)
        frames[name] = _load(khm)[1].drop("_source_file", "_file_sha256", "_delivered_at", "_loaded_at")
    first, *others = frames.values()
    assert first.height == 3 and all(first.equals(other) for other in others)
    assert first["worker_pid"].n_unique() == 3


def test_no_personal_value_in_staging_quarantine_or_messages(khm: Paths):
    """Rejection messages never quote cells (a headerless file's first row is a worker's data); staging and
    quarantine hold pseudonyms, never national ids, employee numbers or names."""
    _deliver(khm, *sorted(EXPECTED))
    log: list[str] = []
    report, staged, quarantine = _load(khm, log)
    texts = [str(staged.to_dicts()), str(quarantine.to_dicts()), "\n".join(log), str(report.frame().to_dicts())]
    texts.append(str(pl.read_parquet(khm.file_report("payroll", "KHM")).to_dicts()))
    for text in texts:
        for personal in PERSONAL:
            assert personal not in text


@pytest.mark.parametrize(
    "head, named",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "old-format Excel (.xls)"),
        (b"PAR1" + bytes(64), "a Parquet file"),
        (b"%PDF-1.7\n" + bytes(64), "a PDF"),
    ],
    ids=["xls", "parquet", "pdf"],
)
def test_other_binary_formats_named_csv_are_named(khm: Paths, head: bytes, named: str):
    target = khm.raw_dir("payroll", "KHM") / "payroll.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(head)
    (outcome,) = _load(khm)[0].files
    assert outcome.status == "rejected" and named in outcome.message and "Fix: " in outcome.message


def test_absurd_social_security_amounts_are_quarantined(khm: Paths):
    header = (
        "factory_id,period,national_id,registration_date,insurable_wage,employer_contribution,"
        "employee_contribution,paid_date,scheme"
    )
    rows = [
        "101,2025-01,KH-001,2020-01-01,208,11.2,4.2,2025-02-10,NSSF",
        "101,2025-01,KH-002,2020-01-01,2080000,11.2,4.2,2025-02-10,NSSF",
    ]
    target = khm.raw_dir("social_security", "KHM") / "nssf.csv"
    target.parent.mkdir(parents=True)
    target.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    ingest("social_security", "KHM", khm, KEY, log=_quiet)
    staged = pl.read_parquet(khm.staged_file("social_security", "KHM"))
    quarantine = pl.read_parquet(khm.quarantine_file("social_security", "KHM"))
    assert staged["_source_row"].to_list() == [2]
    assert quarantine["reason"].to_list() == [
        "insurable_wage: 2080000.0 is over 100 times the highest monthly minimum wage of KHM (210 USD): a keying error?"
    ]


def test_formula_like_names_are_staged_as_delivered(khm: Paths):
    """Staging keeps text exactly as delivered (Parquet is typed, nothing evaluates it); escaping belongs to
    CSV export."""
    names = pl.read_parquet(khm.staged_file("factories", "KHM")).sort("factory_id")["factory_name"].to_list()
    assert names == [
        "Alpha Garment",
        '=HYPERLINK("http://example.org/x","click")',
        "+Plus Apparel",
        "-Minus Textile",
        "@SUM(A1) Shoes",
    ]


@pytest.mark.parametrize("link", ["file", "folder", "chain"])
def test_links_that_leave_the_data_root_are_refused_by_name(khm: Paths, tmp_path: Path, link: str):
    """A link under raw/ to a file outside the data root (a file, a linked country folder, a link to a link) is
    never read: the file is rejected by name; a link between files inside raw/ is an ordinary delivery."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(CORPUS / "payroll" / "hours_and_pay.csv", outside / "secret.csv")
    folder = khm.raw_dir("payroll", "KHM")
    if link == "folder":
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.symlink_to(outside, target_is_directory=True)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        target = outside / "secret.csv"
        if link == "chain":
            (tmp_path / "hop.csv").symlink_to(target)
            target = tmp_path / "hop.csv"
        (folder / "secret.csv").symlink_to(target)
    report, staged, _ = _load(khm)
    (outcome,) = report.files
    assert outcome.status == "rejected" and "outside the data root" in outcome.message and outcome.rows_read == 0
    assert staged.height == 0


def test_a_link_inside_raw_is_a_delivery(khm: Paths):
    _deliver(khm, "hours_and_pay.csv")
    folder = khm.raw_dir("payroll", "KHM")
    (folder / "again.csv").symlink_to(folder / "hours_and_pay.csv")
    report, staged, _ = _load(khm)
    assert {f.status for f in report.files} == {"loaded", "duplicate"} and staged.height > 0


def test_country_folders_that_are_no_programme_code_are_named(data_root: Paths):
    for folder in ("payroll/XYZ", "payroll/khm", "payroll/KHM", "factories/Cambodia"):
        (data_root.raw / folder).mkdir(parents=True)
    assert scan_deliveries(data_root, {"KHM", "BGD"})[1] == ["factories/Cambodia", "payroll/XYZ", "payroll/khm"]


def test_published_csv_cells_cannot_run_as_spreadsheet_formulas(tmp_path: Path):
    """Every text cell starting with = + - @ (or tab / carriage return) gets a leading apostrophe in the CSV;
    numbers stay numbers and the Parquet keeps the values as they are."""
    warehouse = tmp_path / "warehouse.duckdb"
    values = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r@x", "Alpha", "a=b", None]
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.factory_compliance (id integer, factory_name varchar, delta double)")
        con.executemany(
            "insert into marts.factory_compliance values (?, ?, ?)", [(i, v, -1.5) for i, v in enumerate(values)]
        )
    export_candidate(warehouse, tmp_path / "out")
    with (tmp_path / "out" / "factory_compliance.csv").open(encoding="utf-8", newline="") as fh:
        rows = {int(r["id"]): r for r in csv.DictReader(fh)}
    names = [rows[i]["factory_name"] for i in range(len(values))]
    assert names == ["'=1+2", "'+SUM(A1)", "'-2+3", "'@cmd", "'\t=1", "'\r@x", "Alpha", "a=b", ""]
    assert all(not n.startswith(("=", "+", "-", "@", "\t", "\r")) for n in names)
    assert {rows[i]["delta"] for i in rows} == {"-1.5"}
    parquet = pl.read_parquet(tmp_path / "out" / "factory_compliance.parquet").sort("id")
    assert parquet["factory_name"].to_list() == values
    with duckdb.connect(str(tmp_path / "out" / "marts.duckdb"), read_only=True) as con:
        assert [
            r[0] for r in con.execute("select factory_name from factory_compliance order by id").fetchall()
        ] == values


# ---------------------------------------------------------------- through `decentwork run`


def _decentwork(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "decentwork"), "run", *args]
    return subprocess.run(
        command, env={**env, "DECENTWORK_DATA_DIR": str(root)}, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def production_without_key(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("production") / "data"
    raw = root / "raw" / "factories" / "KHM"
    raw.mkdir(parents=True)
    shutil.copy(CORPUS / "factories" / "register.csv", raw)
    env = {k: v for k, v in os.environ.items() if k != "DECENTWORK_PSEUDONYM_KEY"} | {"DECENTWORK_ENV": "production"}
    done = _decentwork(root, env)
    return {"root": root, "done": done, "output": done.stdout + done.stderr}


def test_production_run_without_key_fails_naming_the_variable(production_without_key: dict):
    done, output, root = (
        production_without_key["done"],
        production_without_key["output"],
        production_without_key["root"],
    )
    assert done.returncode != 0
    assert "DECENTWORK_PSEUDONYM_KEY is not set" in output
    assert DEV_PSEUDONYM_KEY not in output  # the public development key is not used, nor shown
    assert not list(root.glob("staging/**/*.parquet")) and not (root / "marts").exists()


def test_production_run_without_key_refuses_before_starting_dagster(production_without_key: dict):
    output = production_without_key["output"]
    assert "Traceback" not in output and "Stack Trace" not in output and "STEP_FAILURE" not in output
    assert not any((production_without_key["root"] / "dagster").glob("*-*-*-*-*"))  # no run storage created


def test_real_deliveries_without_a_key_refuse_to_run_in_development_too(tmp_path: Path):
    """The public development key is for generated samples only, whatever DECENTWORK_ENV says (issue 18)."""
    root = tmp_path / "data"
    (root / "raw" / "factories" / "KHM").mkdir(parents=True)
    shutil.copy(CORPUS / "factories" / "register.csv", root / "raw" / "factories" / "KHM")
    env = {k: v for k, v in os.environ.items() if k != "DECENTWORK_PSEUDONYM_KEY"} | {"DECENTWORK_ENV": "development"}
    done = _decentwork(root, env)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "not written by the sample generator (e.g. factories/KHM/register.csv)" in output
    assert "Traceback" not in output and DEV_PSEUDONYM_KEY not in output
    assert not list(root.glob("staging/**/*")) and not any((root / "dagster").glob("*-*-*-*-*"))


def test_a_bad_thread_count_refuses_the_run_before_dagster_starts(tmp_path: Path):
    root = tmp_path / "data"
    (root / "raw" / "factories" / "KHM").mkdir(parents=True)
    shutil.copy(CORPUS / "factories" / "register.csv", root / "raw" / "factories" / "KHM")
    done = _decentwork(root, os.environ | {"DECENTWORK_PSEUDONYM_KEY": RUN_KEY, "DECENTWORK_INGEST_THREADS": "two"})
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "DECENTWORK_INGEST_THREADS='two': give a whole number of threads" in output
    assert "Traceback" not in output and not any((root / "dagster").glob("*-*-*-*-*"))


def test_formula_in_a_factory_name_reaches_the_published_csv_escaped(scenario: dict):
    """The scenario sample (tests/scenario.py) names a listed Cambodian factory with a spreadsheet formula."""
    root, factory = scenario["root"], scenario["plants"]["formula_factory"]
    text = (root / "marts" / "factory_compliance.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    names = {r["factory_name"] for r in rows if r["country"] == "KHM" and int(r["factory_id"]) == factory}
    assert names == {"'" + FORMULA_NAME}
    parquet = pl.read_parquet(root / "marts" / "factory_compliance.parquet")
    listed = parquet.filter(pl.col("country") == "KHM", pl.col("factory_id") == factory)
    assert set(listed["factory_name"]) == {FORMULA_NAME}
    for csv_file in (root / "marts").glob("*.csv"):  # no published CSV cell starts a formula
        with csv_file.open(encoding="utf-8", newline="") as fh:
            cells = [cell for row in csv.reader(fh) for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not _number(c))], csv_file.name


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
