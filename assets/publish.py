"""Publish the marts: export the warehouse's `marts` schema, check it, then swap it in atomically.

Every table of schema `marts` becomes `<table>.parquet` and `<table>.csv` (rows in a fixed order, so
the same warehouse always gives the same bytes); the long `indicators` table also
`indicators.sdmx.csv` (SDMX-CSV 2.0) with its structure; `codes` (schemas/codes.py) labels and defines
every code; `marts.duckdb` holds the published tables only (no staging or worker-level table), for
researchers' read-only queries. Each table and column carries its description, from the dbt project's
documentation (the models' YAML, generated from the indicator catalogue for the wide marts): as
`COMMENT`s in `marts.duckdb` and as field and schema metadata (`description`) in the Parquet files.

A new publication is exported into a sibling folder `data/.marts.candidate-<pid>` and checked by the
quality gates (assets/quality.py). Only when they pass is it exchanged with `data/marts` in one
atomic step (Linux `renameat2(RENAME_EXCHANGE)`), so a reader, or a run killed at any point, sees
either the whole previous publication or the whole new one, never a mix. The previous publication is
kept as `data/.marts.previous`. A failing check leaves `data/marts` in place (its `quality/` folder
then reports the refused candidate). Candidate folders left by killed runs are removed by the next
publication. Where the exchange is not available (not Linux), the old folder is moved aside and the
new one moved in: two renames, never a mix, but `data/marts` is briefly absent between them.
"""

import ctypes
import datetime
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from assets.dbt_models import mart_asset_keys
from assets.dbt_project import WAREHOUSE_POOL
from assets.warehouse import open_built
from decentwork.settings import DBT_PROJECT_DIR, DELIVERIES_TAG, MADE_WITH_TAG, Paths, data_docs, paths

if TYPE_CHECKING:
    import pyarrow as pa  # imported lazily at run time (heavy); here only for annotations

PUBLISHED_SCHEMA = "marts"
CANDIDATE_PREFIX = ".marts.candidate-"
PREVIOUS = ".marts.previous"
MARTS_DB = "marts.duckdb"
QUALITY_DIR = "quality"


class PublicationRefused(RuntimeError):
    """An error-level quality check failed: the previous publication stays."""


def published_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name",
        [PUBLISHED_SCHEMA],
    ).fetchall()
    return [r[0] for r in rows]


def _csv_safe_select(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Text cells starting with = + - @ get a leading apostrophe, so a spreadsheet never runs them as formulas."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [PUBLISHED_SCHEMA, table],
    ).fetchall()
    parts = [
        f"case when regexp_matches(\"{name}\", '^[=+\\-@\\t\\r]') "
        f'then \'\'\'\' || "{name}" else "{name}" end as "{name}"'
        if dtype == "VARCHAR"
        else f'"{name}"'
        for name, dtype in columns
    ]
    return f"select {', '.join(parts)} from {PUBLISHED_SCHEMA}.{table}"


CODES_TABLE = "codes"
CODES_DESCRIPTION = (
    "Every code the publication uses (countries, indicators, sexes, breakdowns, statuses, units) with its label "
    "and definition; the SDMX code lists are this table"
)
CODES_COLUMNS = {
    "dimension": "The column the code appears in, as an SDMX dimension or attribute: REF_AREA (ref_area), INDICATOR "
    "(indicator), SEX (sex), CLASSIF1 (classif1), OBS_STATUS (obs_status and the *_status columns), "
    "UNIT_MEASURE (unit)",
    "code": "The code as published",
    "label": "Its name",
    "definition": "What it means",
}


def descriptions() -> dict[str, tuple[str, dict[str, str]]]:
    """table -> (its description, {column: description}) for every published table, from the dbt manifest."""
    manifest_path = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"{manifest_path} is missing: the published columns' descriptions come from it. Fix: decentwork dbt-parse"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    out = {
        node["name"]: (
            " ".join(node.get("description", "").split()),
            {c: " ".join(v.get("description", "").split()) for c, v in node.get("columns", {}).items()},
        )
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model" and node.get("schema") == PUBLISHED_SCHEMA
    }
    return out | {CODES_TABLE: (CODES_DESCRIPTION, CODES_COLUMNS)}


def _write_parquet(table: "pa.Table", path: Path, description: str, columns: dict[str, str]) -> None:
    """Parquet with each column's description as field metadata and the table's as schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [
        field.with_metadata({"description": columns[field.name]} if columns.get(field.name) else {})
        for field in table.schema
    ]
    schema = pa.schema(fields, metadata={"description": description} if description else None)
    pq.write_table(table.cast(schema), path, compression="zstd")


def export_candidate(warehouse: Path, candidate: Path) -> dict[str, int]:
    """Write every published table of the warehouse, and the code table, into the new folder `candidate`."""
    from schemas.codes import code_table

    candidate.mkdir(parents=True)
    counts, described = {}, descriptions()
    with open_built(warehouse, PUBLISHED_SCHEMA) as con:
        for table in published_tables(con):
            ordered = f"select * from {PUBLISHED_SCHEMA}.{table} order by all"
            with con.cursor() as reader:  # its own result: the connection's last execute() may hold one
                _write_parquet(
                    reader.sql(ordered).to_arrow_table(),
                    candidate / f"{table}.parquet",
                    *described.get(table, ("", {})),
                )
            con.execute(
                f"copy ({_csv_safe_select(con, table)} order by all) "
                f"to '{candidate / table}.csv' (format csv, header true)"
            )
            counts[table] = con.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{table}").fetchone()[0]
    codes = code_table()
    _write_parquet(codes.to_arrow(), candidate / f"{CODES_TABLE}.parquet", *described[CODES_TABLE])
    codes.write_csv(candidate / f"{CODES_TABLE}.csv")  # the reference lists' own text: no cell starts with = + - @
    counts[CODES_TABLE] = codes.height
    _write_marts_db(candidate, counts, described)
    _write_sdmx(candidate, codes)
    return counts


def _write_marts_db(candidate: Path, tables: dict[str, int], described: dict[str, tuple[str, dict[str, str]]]) -> None:
    def text(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    with duckdb.connect(str(candidate / MARTS_DB)) as con:
        for table in tables:
            con.execute(
                f"create table {table} as select * from read_parquet('{candidate / table}.parquet') order by all"
            )
            description, columns = described.get(table, ("", {}))
            if description:
                con.execute(f"comment on table {table} is {text(description)}")
            present = {
                r[0]
                for r in con.execute(
                    "select column_name from duckdb_columns() where table_name = ?", [table]
                ).fetchall()
            }
            for column, about in columns.items():
                if about and column in present:  # a described column the table lacks is the catalogue test's to find
                    con.execute(f'comment on column {table}."{column}" is {text(about)}')


def _write_sdmx(candidate: Path, codes) -> None:
    import polars as pl

    from assets import sdmx

    indicators = candidate / "indicators.parquet"
    if indicators.exists():
        frame = pl.read_parquet(indicators)
        sdmx.check_codes(frame, codes)
        sdmx.write_sdmx_csv(frame, candidate / "indicators.sdmx.csv")
        sdmx.write_structure(candidate / "indicators.sdmx-structure.xml", codes)


def disclosure_gate(candidate: Path, warehouse: Path) -> dict:
    """The disclosure audit of what the candidate publishes (assets/disclosure/audit.py), on the exported file
    itself: every suppressed linear cell bounded by linear programming over the published values and counts;
    every published median, gap or ratio resting on published cells only; no count on a suppressed cell;
    every value at its published precision. Returns {"errors": [...], "audited": n, "seconds": s}."""
    import time

    import polars as pl

    from assets.disclosure import rules
    from assets.disclosure.audit import audit
    from assets.disclosure.control import follows, primary_cells, range_edges
    from assets.disclosure.links import KEY, Model, populated_parts, rows_from, unpooled_country_years
    from assets.warehouse import read_built

    started = time.perf_counter()
    published = pl.read_parquet(candidate / "indicators.parquet")
    cells = read_built(warehouse, "intermediate", "int_indicator_cells")
    contributions = read_built(warehouse, "intermediate", "int_factory_contributions")
    unpooled = unpooled_country_years(read_built(warehouse, "intermediate", "int_coverage"))
    model = Model(rows_from(cells.to_dicts()), populated_parts(contributions), unpooled)
    shown = {
        tuple(r[:5]): (None if r[5] == "C" else r[6])
        for r in published.select(*KEY, "obs_status", "obs_value").iter_rows()
    }
    # the sensitive cells, from the rules and the true values (the publication says C for all suppressed cells alike)
    threshold, dominated = primary_cells(cells, model, contributions)
    rounded = {
        tuple(r[:5]): r[5] for r in cells.select(*KEY, rules.rounded(pl.col("obs_value"), pl.col("unit"))).iter_rows()
    }
    sensitive = {k for k, status in threshold.items() if status == "C"} | dominated
    sensitive |= range_edges(model, rounded, {k for k, v in shown.items() if v is None})
    missed = sorted(k for k in sensitive if shown.get(k) is not None)
    result = audit(model, shown, sensitive)
    errors = [f"disclosure audit: {finding}" for finding in result.findings[:20]] + [
        f"disclosure audit: {u}" for u in result.unsolved[:20]
    ]
    errors += [f"disclosure: {key} is sensitive (a primary rule) but published" for key in missed[:20]]
    leaning = [
        r.key
        for r in model.rows
        if shown.get(r.key) is not None and any(shown.get(k) is None for k in follows(r, model))
    ]
    errors += [f"disclosure: {key} is published but rests on a suppressed cell" for key in leaning[:20]]
    counted = published.filter(
        (pl.col("obs_status") == "C") & (pl.col("n_workers").is_not_null() | pl.col("n_factories").is_not_null())
    )
    errors += [
        f"disclosure: {tuple(r)} is suppressed but shows its counts" for r in counted.select(KEY).head(20).iter_rows()
    ]
    unrounded = published.filter(
        pl.col("obs_value").is_not_null() & (pl.col("obs_value") != rules.rounded(pl.col("obs_value"), pl.col("unit")))
    )
    errors += [
        f"disclosure: {tuple(r)} is not rounded to its published precision"
        for r in unrounded.select(KEY).head(20).iter_rows()
    ]
    return {"errors": errors, "audited": result.audited, "seconds": round(time.perf_counter() - started, 2)}


def _quality(candidate: Path, previous: Path | None, staging: Path | None, warehouse: Path) -> dict:
    """The quality gates (assets/quality.py) and the disclosure gate on the candidate."""
    gate = disclosure_gate(candidate, warehouse)
    disclosure = _disclosure_report(warehouse) | {"gate_audit": {k: v for k, v in gate.items() if k != "errors"}}
    try:
        from assets.quality import validate_publication
    except ImportError:
        return {
            "success": not gate["errors"],
            "errors": gate["errors"],
            "warnings": ["quality gates not installed"],
            "disclosure": disclosure,
        }
    if previous is not None and not (previous / "indicators.parquet").exists():
        previous = None
    kept = frozenset(disclosure.get("countries_kept_previous", {}))  # their previous rows: their new data failed a gate
    report = validate_publication(
        candidate, previous, candidate / QUALITY_DIR, staging_dir=staging, kept_previous=kept, data_docs=data_docs()
    )
    return {
        "success": report.success and not gate["errors"],
        "errors": list(report.errors) + gate["errors"],
        "warnings": list(report.warnings),
        "disclosure": disclosure,
    }


def _disclosure_report(warehouse: Path) -> dict:
    """What disclosure control reported for the cells this publication carries (Paths.disclosure_report)."""
    report = Paths(warehouse.parent).disclosure_report
    return json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(a))


def _rename(source: Path, target: Path) -> None:
    os.replace(source, target)


def _swap_in(candidate: Path, out: Path) -> None:
    """Make `candidate` the publication at `out`; the one it replaces becomes `.marts.previous`."""
    previous = out.with_name(PREVIOUS)
    if not out.exists():
        _rename(candidate, out)
        return
    if _exchange(candidate, out):  # candidate now holds the old publication
        shutil.rmtree(previous, ignore_errors=True)
        _rename(candidate, previous)
        return
    shutil.rmtree(previous, ignore_errors=True)
    _rename(out, previous)
    _rename(candidate, out)


def publish(warehouse: Path, out: Path, staging: Path | None = None) -> tuple[dict[str, int], dict]:
    """Export, check and swap in. Raises PublicationRefused (the previous publication untouched) on errors."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(CANDIDATE_PREFIX + "*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    if not out.exists() and out.with_name(PREVIOUS).is_dir():  # killed between the two renames of the fallback
        _rename(out.with_name(PREVIOUS), out)
    candidate = out.with_name(f"{CANDIDATE_PREFIX}{os.getpid()}")
    try:
        counts = export_candidate(warehouse, candidate)
    except BaseException:  # a full disk, say: give the space back now, not at the next run
        shutil.rmtree(candidate, ignore_errors=True)
        raise
    (candidate / ".gitkeep").touch()  # the repository tracks data/marts/.gitkeep
    quality = _quality(candidate, out if out.exists() else None, staging, warehouse)
    quality["published_on"] = datetime.datetime.now(datetime.UTC).date().isoformat()  # the portal's "published on"
    (candidate / QUALITY_DIR).mkdir(exist_ok=True)
    (candidate / QUALITY_DIR / "last_check.json").write_text(json.dumps(quality, indent=1), encoding="utf-8")
    if not quality["success"]:
        if out.exists():  # report the refusal where users look, beside the publication it kept
            shutil.rmtree(out / QUALITY_DIR, ignore_errors=True)
            shutil.copytree(candidate / QUALITY_DIR, out / QUALITY_DIR)
        shutil.rmtree(candidate, ignore_errors=True)
        raise PublicationRefused(
            "quality gates failed, previous publication kept: " + "; ".join(quality["errors"][:10])
        )
    from assets.site.build import build as build_site

    # the constituents' portal, from the candidate's own files: swapped in with them (assets/site/)
    quality["site"] = build_site(candidate) | {"folder": str(out / "site")}
    _swap_in(candidate, out)
    return counts, quality


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "published_marts",
            deps=mart_asset_keys(),
            group_name="publication",
            kinds={"parquet", "csv", "duckdb"},
            description=(
                "Every published mart as data/marts/<table>.parquet and .csv (+ SDMX-CSV, marts.duckdb), after "
                "the quality gates; data/marts switches atomically."
            ),
        ),
        dg.AssetSpec(
            "portal_site",
            deps=["published_marts"],
            group_name="publication",
            kinds={"html"},
            description=(
                "The constituents' portal (data/marts/site, English and French), built from the published files "
                "in the same step, so that it switches with them (assets/site/, docs/portal.md)."
            ),
        ),
    ],
    name="published_marts",
    pool=WAREHOUSE_POOL,
)
def published_marts(context: dg.AssetExecutionContext):
    from assets import publication_record
    from assets.deliveries import paused_countries
    from assets.ingestion.pseudonyms import key_fingerprint, pseudonym_key

    p = paths()
    publication_record.forget(p)  # until the new publication has its record, none (a refresh then runs again)
    counts, quality = publish(p.warehouse, p.marts, p.staging)
    tags = context.run.tags
    made = json.loads(tags[MADE_WITH_TAG]) if MADE_WITH_TAG in tags else None
    made = made or publication_record.made_with(key_fingerprint(pseudonym_key(p)))
    kept = quality.get("disclosure", {}).get("countries_kept_previous", {})  # "KHM" or "KHM 2027": read again next time
    not_read = {unit.split(" ")[0] for unit in kept} | set(paused_countries(p))
    publication_record.write(p, json.loads(tags.get(DELIVERIES_TAG, "{}")), not_read, made)
    for warning in quality["warnings"]:
        context.log.warning(f"quality: {warning}")
    site = quality.get("site", {})
    if site.get(
        "untranslated"
    ):  # shown in English on the French pages until `decentwork site-messages` and a translator
        context.log.warning(
            f"portal: {len(site['untranslated'])} label(s) without a translation: {site['untranslated'][:5]}"
        )
    context.log.info(f"published {len(counts)} mart(s) to {p.marts}; the portal: {site.get('pages', 0)} pages")
    yield dg.MaterializeResult(
        asset_key="published_marts",
        metadata={
            "tables": dg.MetadataValue.json(counts),
            "folder": str(p.marts),
            "quality_warnings": len(quality["warnings"]),
        },
    )
    yield dg.MaterializeResult(
        asset_key="portal_site",
        metadata={
            "pages": site.get("pages", 0),
            "largest_page_bytes": site.get("largest_page_bytes", 0),
            "untranslated_labels": len(site.get("untranslated", [])),
            "index": dg.MetadataValue.path(str(p.marts / "site" / "index.html")),
        },
    )
