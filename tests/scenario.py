"""The test suite's scenario sample: one generated delivery with every scenario the end-to-end tests need planted in
its own country and year, built and published once per test session (tests/conftest.py: `scenario`).

Each scenario used to get a sample and a `decentwork run` of its own; here they share one publication:

| where | what is planted | tests |
|---|---|---|
| every country | the generator's bad rows, a correction (KHM), a file delivered twice (BGD) | test_end_to_end |
| KHM | a factory named with a spreadsheet formula | test_bad_deliveries |
| KHM 2026 | one month of a new year, its social security not delivered yet | test_reference_periods |
| VNM 2025 | payroll without December (fewer months than the other countries) | test_reference_periods |
| JOR | December in the contract's form, not a workbook (a layout change); an unreadable file | test_deliveries_e2e |
| JOR 2026 | a first small delivery of a new year, women only | test_deliveries_e2e |
| HTI | a small programme: 4 factories, 80 workers, a handful of men | test_suppression_attack |

BGD, IDN and Viet Nam's other months deliver as usual (test_deliveries_e2e: tests/test_deliveries_end_to_end.py).
Scenarios that need a second delivery after the first publication (a national refresh, a country failing a gate, a
stray folder) copy the published data root (`copy_root`) and run only that refresh.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import polars as pl

from decentwork.sample import DEFAULT_COUNTRIES, MANIFEST, generate
from tests.conftest import PAYROLL_HEADER

KEY = "scenario-test-key-of-32-characters-or-more"
COUNTRIES = (*DEFAULT_COUNTRIES, "HTI")
SIZE = {"factories": 60, "workers": 6000, "months": 3}  # October to December 2025
FORMULA_NAME = '=HYPERLINK("http://example.org/x","click")'
NEW_YEAR = "2026-01"
WOMEN_ONLY_ROWS = 15
SMALL_COUNTRY = "HTI"


def build(raw: Path) -> dict:
    """Generate the sample under `raw` and plant the scenarios; the generator's manifest with a `plants` entry
    saying what was planted where (also written beside the extracts)."""
    manifest = generate(raw, countries=COUNTRIES, **SIZE)
    plants = {
        "formula_factory": _formula_name(raw, "KHM"),
        "khm_new_year": _new_year_month(raw, "KHM"),
        "vnm_without": _drop_month(raw, "VNM", "2025-12", manifest),
        **_jordan(raw),
        "small_country": SMALL_COUNTRY,
    }
    manifest["plants"] = plants
    (raw / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


def _formula_name(raw: Path, country: str) -> int:
    """A factory with two or more assessments and a publicly disclosed question (so it is listed in the
    factory_compliance mart) renamed to a spreadsheet formula."""
    assessments = pl.concat(
        [pl.read_csv(p, infer_schema=False) for p in sorted((raw / "assessments" / country).glob("*.csv"))]
    )
    public = assessments.filter(pl.col("Tags").str.contains("Public Disclosure"), pl.col("Question type") == "NCQ")
    repeat = (
        assessments.group_by("Factory Assessed ID")
        .agg(pl.col("Quest ID").n_unique().alias("n"))
        .filter(pl.col("n") >= 2)
    )
    factory = sorted(set(repeat["Factory Assessed ID"]) & set(public["Factory Assessed ID"]))[0]
    (register_path,) = (raw / "factories" / country).glob("*.csv")
    register = pl.read_csv(register_path, infer_schema=False)
    register.with_columns(
        pl.when(pl.col("ID") == factory).then(pl.lit(FORMULA_NAME)).otherwise(pl.col("Name")).alias("Name")
    ).write_csv(register_path)
    return int(factory)


def _new_year_month(raw: Path, country: str) -> dict:
    """January of a new year: December's rows again with the new period; its social security has not arrived."""
    december = raw / "payroll" / country / "payroll_2025-12.csv"
    with december.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["period"] = NEW_YEAR
    january = december.with_name(f"payroll_{NEW_YEAR}.csv")
    with january.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    earnings = [sum(float(r[c]) for c in ("basic_pay", "overtime_pay", "allowances", "bonuses")) for r in rows]
    return {"file": f"payroll/{country}/{january.name}", "rows": len(rows), "mean_monthly": sum(earnings) / len(rows)}


def _drop_month(raw: Path, country: str, period: str, manifest: dict) -> str:
    """A country's payroll without one month (its social security for that month stays)."""
    (path,) = (raw / "payroll" / country).glob(f"payroll_{period}.*")
    path.unlink()
    relative = f"payroll/{country}/{path.name}"
    for entry in ("bad_rows", "superseded_rows"):
        assert not [r for r in manifest[entry] if r["file"] == relative], f"{relative} had planted rows"
    return period


def _jordan(raw: Path) -> dict:
    """Jordan sends, beside its usual workbooks: December in the contract's own form (a layout change), a first
    small delivery of a new year with women only, and a file that is no CSV at all."""
    payroll = raw / "payroll" / "JOR"
    workbook = payroll / "payroll_2025-12.xlsx"
    month = pl.read_excel(workbook, read_options={"header_row": 2}, infer_schema_length=0)
    workbook.unlink()
    month.write_csv(payroll / "payroll_canonical.csv")  # the contract's form, header on row 1
    factories = pl.read_csv(next((raw / "factories" / "JOR").glob("*.csv")), infer_schema=False)["ID"].to_list()[:3]
    rows = [
        f"{factories[i % 3]},{NEW_YEAR},N{i},JO-2026-{i:04d},Worker "
        f"{i},F,1990-01-01,2025-06-01,sewing_operator,open_ended,"
        f"monthly,26,208,10,{300 + i},20,15,0,0,10,325,JOD,bank"
        for i in range(WOMEN_ONLY_ROWS)
    ]
    (payroll / f"payroll_{NEW_YEAR}.csv").write_text(PAYROLL_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (payroll / "payroll_broken.csv").write_bytes(b"PK\x03\x04 this is a zip archive, not a CSV")
    return {
        "jor_canonical_rows": month.height,
        "jor_women_only": {"period": NEW_YEAR, "rows": WOMEN_ONLY_ROWS, "factories": len(set(factories))},
        "jor_broken": "payroll/JOR/payroll_broken.csv",
    }


def copy_root(source: Path, target: Path) -> Path:
    """A copy of a built data root (deliveries, staging, warehouse, publication and Dagster instance), for a test
    that delivers more and runs one more refresh. copytree keeps the files' times: delivery order is kept."""
    shutil.copytree(source, target, symlinks=True)
    return target


def warehouse_tables(warehouse: Path) -> dict[str, list[tuple]]:
    """Every intermediate and mart table of a built warehouse, its rows sorted: to compare a refresh with a full
    rebuild of the same staged files."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_schema in ('intermediate', 'marts') and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
        return {name: sorted(con.execute(f"select * from {name}").fetchall(), key=repr) for (name,) in names}
