"""Quality gates on the published marts: Great Expectations suites plus their Data Docs.

`validate_publication` checks a freshly exported candidate publication (the `<table>.parquet`
files written by assets/publish.py) before it replaces the published one:

One owner per rule: dbt's data tests own the marts' structure (columns by contract, keys, not-null,
code lists, value ranges by unit from the seed ref_value_ranges: dbt_project/models/marts/*.yml);
the GX suites here hold only what is about the publication as a whole, and repeat none of them:

- error level (a failure refuses the publication):
  - suite `errors.indicators` on the long `indicators` table: suppression consistency (obs_value
    null exactly when obs_status = C, or M) and sex coverage of sex-disaggregated indicators;
  - suite `errors.coverage` (with `staging_dir`): every staged country-year-sex has its headline row;
  - suite `errors.published_columns` on a catalogue of every column of every candidate table:
    no identifier or name column is ever published.
- warning level (reported, never blocking):
  - suite `warnings.changes` on the previous publication's cells joined to the candidate's:
    relative change within `tolerance_pct`, and no indicator dropped since the last publication.

The country gate (assets/disclosure/asset.py) calls this on the controlled cells before dbt builds the
marts, so a country's impossible value must be caught here to cost that country only: `_dbt_tests` runs
the project's own generic data tests of `indicators` (dbt_project/tests/generic, e.g. `within_unit_range`),
their SQL rendered as dbt would, on the candidate table; the rule stays dbt's, only attributed by country.

GX has no Polars support and no group-wise or cross-table expectations, so a little pandas
prepares the frames the suites run on (derived columns `sex_coverage`, `change_pct`,
`dropped_indicator`); every rule itself is a GX expectation, listed in `_suites()`, so it shows
in the Data Docs and in the report. GX runs in an ephemeral (in-memory) context with analytics
and progress bars off; only the Data Docs site is written to disk (`docs_dir/index.html`).
"""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # before GX is imported: never phone home

import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import jinja2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.row_conditions import Column

from decentwork.settings import DBT_PROJECT_DIR, SEEDS_DIR, Paths

KEY = ["ref_area", "indicator", "sex", "classif1", "time"]
SEXES = ["SEX_T", "SEX_F", "SEX_M"]
INDICATORS_YML = DBT_PROJECT_DIR / "models" / "marts" / "indicators.yml"
GENERIC_TESTS = DBT_PROJECT_DIR / "tests" / "generic"
# A published column whose (lower-cased) name matches any of these is an identifier or a name.
IDENTIFIER_PATTERNS = [
    r"national_?id",
    r"(?:^|_)pid$",  # worker_pid, member_pid, respondent_pid: pseudonyms are identifiers too
    r"employee_?(?:no|num|number|id)$",
    r"(?:worker|member|respondent|person)_?id$",
    r"(?:worker|member|respondent|employee|person|first|last|full|given|family)_?name$",
]

COVERAGE_OK = ["complete", "not sex-disaggregated"]
SITE_NAME = "quality_site"
FROM_ZERO = 1e9  # change_pct of a cell that moved away from 0: beyond any tolerance, but finite for JSON
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 10}

log = logging.getLogger(__name__)


@dataclass
class QualityReport:
    success: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    docs_index: Path = Path()
    # the error-level failures that rows of one country alone cause, per country (X_BW and table-level
    # failures stay global): what publication by country needs (assets/disclosure/asset.py)
    # the errors a country's own cells cause, by country-year ("KHM 2027"), or by country ("KHM") where the failing
    # rows name no year: what a gate withholds (assets/disclosure/asset.py)
    errors_by_country: dict[str, list[str]] = field(default_factory=dict)
    global_errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the expectations
def _suites(tolerance_pct: float) -> dict[str, dict[str, Any]]:
    """Every rule, by suite: the level it reports at, the frame it runs on, its expectations (none that dbt's
    data tests already apply: tests/test_quality.py checks it)."""
    return {
        "errors.indicators": {
            "level": "error",
            "asset": "indicators",
            "index_columns": KEY,
            "expectations": [
                gxe.ExpectColumnValuesToBeNull(
                    column="obs_value",
                    row_condition=Column("obs_status") == "C",
                    description="confidential cells (obs_status C) are suppressed",
                ),
                gxe.ExpectColumnValuesToNotBeNull(
                    column="obs_value",
                    row_condition=(Column("obs_status") != "C") & (Column("obs_status") != "M"),
                    description="only confidential (C) and not applicable (M) cells may lack a value",
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="sex_coverage",
                    value_set=COVERAGE_OK,
                    description=(
                        "a sex-disaggregated indicator has SEX_T, SEX_F "
                        "and SEX_M rows for every (ref_area, time) it covers"
                    ),
                ),
            ],
        },
        "errors.coverage": {
            "level": "error",
            "asset": "coverage",
            "index_columns": ["source", "ref_area", "time", "sex", "indicator"],
            "expectations": [
                gxe.ExpectColumnValuesToBeInSet(
                    column="published",
                    value_set=["yes"],
                    description=(
                        "every country x year x sex with staged data has its "
                        "headline indicator row (a value or a suppression flag)"
                    ),
                ),
            ],
        },
        "errors.published_columns": {
            "level": "error",
            "asset": "published_columns",
            "index_columns": ["table", "column"],
            "expectations": [
                gxe.ExpectColumnValuesToNotMatchRegexList(
                    column="column",
                    regex_list=IDENTIFIER_PATTERNS,
                    description="published marts hold aggregates only: no identifier, pseudonym or name column",
                ),
            ],
        },
        "warnings.changes": {
            "level": "warning",
            "asset": "changes",
            "index_columns": [*KEY, "old_value", "new_value"],
            "expectations": [
                gxe.ExpectColumnValuesToBeBetween(
                    column="change_pct",
                    min_value=-tolerance_pct,
                    max_value=tolerance_pct,
                    description=f"a cell published before moves by at most {tolerance_pct:g}% of its previous value",
                ),
                gxe.ExpectColumnValuesToBeNull(
                    column="dropped_indicator",
                    description="every indicator published before is still published",
                ),
            ],
        },
    }


# --------------------------------------------------------------------------- the frames
def _indicators_frame(indicators: pd.DataFrame) -> pd.DataFrame:
    """The indicators table plus the derived column the suite's coverage rule needs."""
    df = indicators.copy()
    if {"ref_area", "indicator", "sex", "time"} <= set(df.columns):
        df["sex_coverage"] = _sex_coverage(df)
    return df


def _sex_coverage(df: pd.DataFrame) -> pd.Series:
    """Per row: 'complete', 'not sex-disaggregated', or 'missing SEX_F[, ...]' for its (ref_area, indicator, time)."""
    disaggregated = set(df.loc[df["sex"].isin(["SEX_F", "SEX_M"]), "indicator"])
    group = ["ref_area", "indicator", "time"]
    present = df.groupby(group, dropna=False)["sex"].agg(lambda s: set(s.dropna())).rename("present").reset_index()
    present["verdict"] = [
        ("missing " + ", ".join(missing)) if (missing := [s for s in SEXES if s not in have]) else "complete"
        for have in present["present"]
    ]
    verdict = df[group].merge(present[group + ["verdict"]], on=group, how="left")["verdict"].to_numpy()
    coverage = pd.Series(verdict, index=df.index, dtype=object)
    coverage[~df["indicator"].isin(disaggregated)] = "not sex-disaggregated"
    return coverage


# Per staged source: its headline indicator, the year of a row, and the sexes it is published for.
COVERAGE = {
    "payroll": ("EAR_MEAN_HOURLY", "cast(left(period, 4) as integer)", SEXES),
    "social_security": ("SS_REGISTERED_RT", "cast(left(period, 4) as integer)", SEXES),
    "worker_survey": ("UNION_MEMBER_RT", "year(survey_date)", SEXES),
    "assessments": ("NC_CLUSTER_RT", "year(assessment_start_date)", ["SEX_T"]),
}


def _coverage_frame(staging_dir: Path, indicators: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, country, year, sex) that has staged rows: is its headline indicator published?"""
    expected = []
    with duckdb.connect() as con:
        for source, (indicator, year, sexes) in COVERAGE.items():
            files = Paths(Path(staging_dir).parent).staged_files(source)
            if not files:
                continue
            pairs = con.execute(
                f"select distinct country, {year} from read_parquet(?, "
                f"hive_partitioning = true) where {year} is not null",
                [[str(f) for f in files]],
            ).fetchall()
            expected += [(source, indicator, country, int(y), sex) for country, y in pairs for sex in sexes]
    frame = pd.DataFrame(expected, columns=["source", "indicator", "ref_area", "time", "sex"])
    published = set(
        zip(
            indicators["indicator"],
            indicators["ref_area"],
            indicators["time"].astype(int),
            indicators["sex"],
            strict=True,
        )
    )
    frame["published"] = [
        "yes" if key in published else "no"
        for key in zip(frame["indicator"], frame["ref_area"], frame["time"], frame["sex"], strict=True)
    ]
    return frame


def _units(rows: list[dict]) -> list[str] | None:
    """The country-years ("KHM 2027") failing rows belong to, or the country ("KHM") for rows without a year; None
    when a row names no country or the pooled X_BW (an error of the whole publication)."""
    out = set()
    for row in rows:
        country, year = row.get("ref_area"), row.get("time")
        if country is None or pd.isna(country) or country == "X_BW":
            return None
        out.add(country if year is None or pd.isna(year) else f"{country} {int(year)}")
    return sorted(out)


def withheld_units(units) -> tuple[set[str], set[tuple[str, int]]]:
    """("KHM", "VNM 2027", ...) -> (whole countries, (country, year) pairs)."""
    countries, pairs = set(), set()
    for unit in units:
        country, _, year = unit.partition(" ")
        if year:
            pairs.add((country, int(year)))
        else:
            countries.add(country)
    return countries, pairs


def _withheld(frame: pd.DataFrame, units) -> pd.Series:
    """Rows of `frame` (ref_area, time) that belong to a withheld country or country-year."""
    countries, pairs = withheld_units(units)
    return pd.Series(
        [c in countries or (c, int(t)) in pairs for c, t in zip(frame["ref_area"], frame["time"], strict=True)],
        index=frame.index,
        dtype=bool,
    )


def _columns_frame(tables: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(table, column.lower()) for table, columns in tables.items() for column in columns]
    return pd.DataFrame(rows, columns=["table", "column"], dtype=object)


def _changes_frame(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """One row per previously published cell, with its new value and relative change (%)."""
    old = old[KEY + ["obs_value"]].rename(columns={"obs_value": "old_value"})
    new = new[KEY + ["obs_value"]].rename(columns={"obs_value": "new_value"})
    df = old.merge(new, on=KEY, how="left")
    old_v, new_v = df["old_value"].astype(float), df["new_value"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (new_v - old_v) / old_v.abs() * 100
    # A move away from zero has no relative size: FROM_ZERO flags it.
    change = change.where(~((old_v == 0) & (new_v != 0)), np.sign(new_v) * FROM_ZERO)
    df["change_pct"] = change.replace([np.inf, -np.inf], np.nan).round(2)
    still_published = set(new["indicator"])
    df["dropped_indicator"] = df["indicator"].where(~df["indicator"].isin(still_published), None).astype(object)
    return df


# --------------------------------------------------------------------------- dbt's own tests, by country
def _dbt_test_specs() -> list[tuple[str, dict[str, Any]]]:
    """(test, its arguments) for every data test of indicators.yml that the project defines itself
    (dbt_project/tests/generic): dbt's built-in tests cannot be rendered outside dbt."""
    models = yaml.safe_load(INDICATORS_YML.read_text(encoding="utf-8"))["models"]
    model = next(m for m in models if m["name"] == "indicators")
    declared = [(test, None) for test in model.get("data_tests") or []]
    declared += [(test, column["name"]) for column in model["columns"] for test in column.get("data_tests") or []]
    specs = []
    for test, column in declared:
        name, spec = (test, {}) if isinstance(test, str) else next(iter(test.items()))
        if not (GENERIC_TESTS / f"{name}.sql").exists():
            continue
        spec = spec or {}
        arguments = dict(spec.get("arguments") or {k: v for k, v in spec.items() if k != "config"})
        if column is not None:
            arguments["column_name"] = column
        if (spec.get("config") or {}).get("where"):
            arguments["where"] = spec["config"]["where"]
        specs.append((name, arguments))
    return specs


def _render_dbt_test(name: str, arguments: dict[str, Any], table: str) -> str:
    """The SQL of generic test `name` on `table`, as dbt renders it (its `ref` reads the seed's CSV file)."""
    text = (GENERIC_TESTS / f"{name}.sql").read_text(encoding="utf-8")
    text = re.sub(r"\{%-?\s*test\s", "{% macro ", text)
    text = re.sub(r"\{%-?\s*endtest\s*-?%\}", "{% endmacro %}", text)

    def ref(seed: str) -> str:
        path = str(SEEDS_DIR / f"{seed}.csv").replace("'", "''")
        return f"read_csv('{path}', header = true)"

    arguments = dict(arguments)
    where = arguments.pop("where", None)
    model = f"(select * from {table} where {where})" if where else table
    macro = getattr(jinja2.Environment().from_string(text, globals={"ref": ref}).module, name)
    return str(macro(model=model, **arguments))


def _dbt_tests(indicators: pd.DataFrame) -> list[tuple[str, pd.DataFrame | None]]:
    """(message, failing rows) for each of the project's own data tests of `indicators` that fails on this table."""
    failures: list[tuple[str, pd.DataFrame | None]] = []
    with duckdb.connect() as con:
        con.register("candidate_indicators", indicators)
        for name, arguments in _dbt_test_specs():
            target = arguments.get("column_name") or ", ".join(arguments.get("columns") or []) or "table"
            text = f"dbt test {name}({target})"
            try:
                rows = con.execute(_render_dbt_test(name, arguments, "candidate_indicators")).df()
            except duckdb.Error as e:
                failures.append((f"{text} could not run: {e}", None))
                continue
            if len(rows):
                head = rows.head(5).astype(object)
                examples = _plain(head.where(head.notna(), None).to_dict("records"))
                failures.append((f"{text} failed: {len(rows)} rows, e.g. {examples}", rows))
    return failures


# --------------------------------------------------------------------------- GX plumbing
def _context(docs_dir: Path):
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _clear_site(docs_dir: Path) -> None:
    """Remove what a previous Data Docs build wrote (and nothing else that lives in docs_dir)."""
    for name in ("expectations", "validations", "static"):
        shutil.rmtree(docs_dir / name, ignore_errors=True)
    (docs_dir / "index.html").unlink(missing_ok=True)


def _describe(suite_name: str, result: Any) -> str:
    config = result.expectation_config
    kwargs = config.kwargs
    target = kwargs.get("column") or ", ".join(kwargs.get("column_list") or []) or "table"
    text = f"{suite_name}: {config.type}({target})"
    if config.description:
        text += f" [{config.description}]"
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return f"{text} could not run: {info.get('exception_message')}"
    res = result.result or {}
    if "unexpected_count" in res:
        text += f" failed: {res['unexpected_count']} of {res.get('element_count')} rows unexpected"
        examples = res.get("partial_unexpected_index_list") or res.get("partial_unexpected_list") or []
        if examples:
            text += f", e.g. {_plain(examples[:5])}"
    elif "observed_value" in res:
        missing = ((res.get("details") or {}).get("mismatched") or {}).get("missing")
        text = (
            f"{text} failed: missing columns {_plain(missing)}"
            if missing
            else f"{text} failed: observed {_plain(res['observed_value'])}"
        )
    else:
        text += " failed"
    return text


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so messages read (and serialise) cleanly."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- entry point
def validate_publication(
    candidate_dir: Path,
    previous_dir: Path | None,
    docs_dir: Path,
    tolerance_pct: float = 50.0,
    staging_dir: Path | None = None,
    kept_previous: frozenset[str] = frozenset(),
    data_docs: bool = True,
) -> QualityReport:
    """Validate the candidate marts (and their change against the previous publication); build Data Docs (unless
    `data_docs` is false: a check whose pages nobody reads, such as a country's gates before the marts are built).

    With `staging_dir` (data/staging), also check coverage: every country, year and sex with staged
    rows has its headline indicator in the candidate; except the countries and country-years of `kept_previous`
    ("KHM", "KHM 2027"), which publish their previous rows this time (their staged data failed a gate)."""
    candidate_dir, docs_dir = Path(candidate_dir), Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    warnings: list[str] = []
    errors_by_country: dict[str, list[str]] = {}
    global_errors: list[str] = []

    tables = {p.stem: pq.read_schema(p).names for p in sorted(candidate_dir.glob("*.parquet"))}
    frames: dict[str, pd.DataFrame] = {"published_columns": _columns_frame(tables)}
    indicators_path = candidate_dir / "indicators.parquet"
    if indicators_path.exists():
        indicators = pd.read_parquet(indicators_path)
        for text, rows in _dbt_tests(indicators):
            errors.append(text)
            units = _units(rows.to_dict("records")) if rows is not None and "ref_area" in rows else None
            if units is None:
                global_errors.append(text)
            else:
                for unit in units:
                    errors_by_country.setdefault(unit, []).append(text)
        frames["indicators"] = _indicators_frame(indicators)
        if staging_dir is not None and {"indicator", "ref_area", "time", "sex"} <= set(indicators.columns):
            coverage = _coverage_frame(staging_dir, indicators)
            frames["coverage"] = coverage[~_withheld(coverage, kept_previous)]
        previous_path = Path(previous_dir) / "indicators.parquet" if previous_dir else None
        if previous_path is not None and previous_path.exists() and set(KEY + ["obs_value"]) <= set(indicators.columns):
            previous = pd.read_parquet(previous_path)
            if set(KEY + ["obs_value"]) <= set(previous.columns):
                frames["changes"] = _changes_frame(indicators, previous)
    else:
        errors.append(f"indicators.parquet missing from {candidate_dir}")
        global_errors.append(errors[-1])

    context = _context(docs_dir)
    source = context.data_sources.add_pandas("published_marts")
    for suite_name, spec in _suites(tolerance_pct).items():
        frame = frames.get(spec["asset"])
        if frame is None:
            continue
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=spec["expectations"]))
        batch = source.add_dataframe_asset(spec["asset"]).add_batch_definition_whole_dataframe("whole")
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
        )
        index_columns = [c for c in spec["index_columns"] if c in frame.columns]
        complete = spec["level"] == "error" and "ref_area" in index_columns  # every failing row, to tell the countries
        result = validation.run(
            batch_parameters={"dataframe": frame},
            result_format={**RESULT_FORMAT, "unexpected_index_column_names": index_columns}
            | ({"result_format": "COMPLETE"} if complete else {}),
        )
        for r in result.results:
            if r.success:
                continue
            text = _describe(suite_name, r)
            if spec["level"] != "error":
                warnings.append(text)
                continue
            errors.append(text)
            rows = [row for row in (r.result or {}).get("unexpected_index_list") or [] if isinstance(row, dict)]
            units = _units(rows) if rows else None
            if units is None:
                global_errors.append(text)
            else:
                for unit in units:
                    errors_by_country.setdefault(unit, []).append(text)

    _clear_site(docs_dir)  # the in-memory stores know this run only: drop last run's pages, not orphan them
    urls = context.build_data_docs(site_names=[SITE_NAME]) if data_docs else {}
    docs_index = docs_dir / "index.html"
    log.info("quality: %d errors, %d warnings; Data Docs at %s", len(errors), len(warnings), urls.get(SITE_NAME))
    return QualityReport(
        success=not errors,
        errors=errors,
        warnings=warnings,
        docs_index=docs_index,
        errors_by_country=errors_by_country,
        global_errors=global_errors,
    )
