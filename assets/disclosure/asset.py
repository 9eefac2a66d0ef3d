"""The Dagster asset applying disclosure control and the per-country gates between dbt's two builds of a refresh.

dbt builds the cells (`int_indicator_cells`) and the factory totals (`int_factory_contributions`); this asset
reads them, applies assets/disclosure/control.py and writes `<data root>/disclosure/`: `controlled_cells.parquet`,
which dbt's marts read (source `disclosure`), and `report.json`, the information lost, the audit's verdict and the
countries the publication covers. When the audit still finds a cell narrowed below its protection, the asset
fails: nothing downstream runs and the previous publication stays.

Publication by country-year: the quality gates that judge a country's own cells (assets/quality.py: values,
statuses, sex coverage, the headline indicator of every staged country-year) run here on the controlled cells. A
country-year that fails ("KHM 2027") keeps its previously published rows (none for a year never published); the
country's other years publish. A failure that names no year withholds the whole country. The cells are rebuilt
without what failed (DECENTWORK_EXCLUDED_COUNTRIES, dbt_project/macros/excluded_countries.sql), so the pooled X_BW
covers only what publishes, and the report names it. The run ends non-zero and says which gate failed where;
everything else publishes.
"""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl

from assets.dbt_models import model_asset_key
from assets.dbt_project import WAREHOUSE_POOL
from assets.disclosure import rules
from assets.disclosure.control import control
from assets.disclosure.links import POOLED, unpooled_country_years
from assets.warehouse import read_built
from decentwork.settings import Paths, paths

ASSET_KEY = dg.AssetKey(["disclosure", "controlled_cells"])
EXCLUDED_VARIABLE = "DECENTWORK_EXCLUDED_COUNTRIES"  # read by dbt_project/macros/excluded_countries.sql
CELL_MODELS = ("int_coverage", "int_indicator_cells", "int_factory_contributions")


class DisclosureAuditFailed(RuntimeError):
    pass


def country_gates(frame: pl.DataFrame, p: Paths, kept: set[str]) -> dict[str, list[str]]:
    """The quality gates' errors that a country's own cells cause, per country (global errors are left to the
    publication's gates, which refuse the whole publication)."""
    from assets.quality import validate_publication

    with tempfile.TemporaryDirectory() as tmp:
        frame.write_parquet(Path(tmp) / "indicators.parquet")
        report = validate_publication(
            Path(tmp),
            None,
            Path(tmp) / "quality",
            staging_dir=p.staging,
            kept_previous=frozenset(kept),
            data_docs=False,  # a country's gates: their pages are thrown away
        )
    return report.errors_by_country


def rebuild_cells(excluded: list[str], log: Callable[[str], None]) -> None:
    """dbt builds the cell models again without `excluded` ("KHM" or "KHM 2027"; this asset holds the warehouse
    pool's slot)."""
    from assets.dbt_runner import invoke

    log(
        f"rebuilding the indicator cells without {', '.join(excluded)} "
        "(failed a quality gate, keep their previous publication)"
    )
    done = invoke(
        ["build", "--select", *CELL_MODELS, "--exclude-resource-type", "unit_test"],
        paths().dbt_artifacts,
        {EXCLUDED_VARIABLE: ",".join(unit.replace(" ", ":") for unit in excluded)},
    )
    done.raise_on_failure(f"dbt could not rebuild the cells without {excluded}")


def control_warehouse(rebuild: Callable[[list[str]], None] | None = None) -> dict:
    """Control the warehouse's cells into paths().disclosure; the report. With `rebuild`, countries failing a gate
    keep their previous rows and the cells are rebuilt without them (module docstring). Raises DisclosureAuditFailed."""
    p = paths()
    kept: dict[str, list[str]] = {}
    while True:
        cells = read_built(p.warehouse, "intermediate", "int_indicator_cells")
        contributions = read_built(p.warehouse, "intermediate", "int_factory_contributions")
        unpooled = unpooled_country_years(read_built(p.warehouse, "intermediate", "int_coverage"))
        controlled = control(cells, contributions, unpooled)
        p.disclosure.mkdir(parents=True, exist_ok=True)
        # the country gates first: one country's impossible value (a rate out of its range) would also make the
        # audit's linear programs unsolvable, and must cost that country only
        failing = country_gates(controlled.frame, p, set(kept)) if rebuild is not None else {}
        new = {c: errors for c, errors in failing.items() if c not in kept}
        if new:
            kept |= new
            rebuild(sorted(kept))
            continue
        if not controlled.audit.passed:  # write the report for `decentwork status`, but no cells dbt could publish
            _write(p.disclosure_report, json.dumps(controlled.report, indent=1))
            problems = [str(f) for f in controlled.audit.findings[:5]] + controlled.audit.unsolved[:5]
            raise DisclosureAuditFailed("disclosure audit failed, nothing published: " + "; ".join(problems))
        break
    frame = controlled.frame
    if kept:
        frame = pl.concat([frame, _previous_rows(p, set(kept)).cast(frame.schema)]).sort(frame.columns[:5])
    report = controlled.report | {
        "countries_kept_previous": kept,
        "pooled_countries": sorted(set(controlled.frame["ref_area"]) - {POOLED}),
    }
    tmp = p.controlled_cells.with_name(f".{p.controlled_cells.name}.tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, p.controlled_cells)
    _write(p.disclosure_report, json.dumps(report, indent=1))
    return report


def _previous_rows(p: Paths, units: set[str]) -> pl.DataFrame:
    """What the current publication shows for `units`, countries and country-years ("KHM", "KHM 2027"; nothing for
    one never published before)."""
    from assets.quality import withheld_units

    countries, pairs = withheld_units(units)
    published = p.marts / "indicators.parquet"
    schema = {
        "ref_area": pl.String,
        "indicator": pl.String,
        "sex": pl.String,
        "classif1": pl.String,
        "time": pl.Int32,
        "obs_value": pl.Float64,
        "obs_status": pl.String,
        "unit": pl.String,
        "n_workers": pl.Int64,
        "n_factories": pl.Int64,
        "months_covered": pl.Int64,
        "coverage": pl.String,
    }
    if not published.exists():
        return pl.DataFrame(schema=schema)
    rows = pl.read_parquet(published).filter(
        pl.col("ref_area").is_in(sorted(countries))
        | pl.struct("ref_area", "time").map_elements(
            lambda r: (r["ref_area"], int(r["time"])) in pairs, return_dtype=pl.Boolean
        )
    )
    rows = rows.select(
        [(pl.col(c) if c in rows.columns else pl.lit(None)).cast(t).alias(c) for c, t in schema.items()]
    )  # older versions lack some
    # as this version publishes: rounded, no counts on a confidential cell (a publication of an older version
    # carried exact values and counts)
    confidential = pl.col("obs_status") == "C"
    return rows.with_columns(
        pl.when(confidential)
        .then(None)
        .otherwise(rules.rounded(pl.col("obs_value"), pl.col("unit")))
        .alias("obs_value"),
        *[pl.when(confidential).then(None).otherwise(pl.col(c)).alias(c) for c in ("n_workers", "n_factories")],
    )


def _write(target, text: str) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


@dg.asset(
    key=ASSET_KEY,
    deps=[model_asset_key(name) for name in CELL_MODELS],
    group_name="disclosure",
    kinds={"python", "parquet"},
    pool=WAREHOUSE_POOL,  # reads the warehouse: never while dbt writes it
    description="The indicator cells after disclosure control (thresholds, p% dominance, range edges, secondary "
    "suppression over linked tables, rounding), audited by linear programming (docs/disclosure.md).",
)
def controlled_cells(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    report = control_warehouse(rebuild=lambda countries: rebuild_cells(countries, context.log.warning))
    for held, errors in report["countries_kept_previous"].items():
        context.log.error(f"{held} keeps its previous publication: " + "; ".join(e.split(", e.g.")[0] for e in errors))
    audit = report["audit"]
    context.log.info(
        f"disclosure: {report['suppressed']} of {report['cells']} cells suppressed ({report['primary']} primary, "
        f"{report['secondary']} secondary, {report['range_edges']} range edges; {report['suppressed_pooled']} of "
        f"{report['pooled']} pooled cells); audit passed on {audit['suppressed_cells_audited']} suppressed cells"
    )
    return dg.MaterializeResult(
        metadata={k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in report.items()}
    )
