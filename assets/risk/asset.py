"""The risk ranking's Dagster asset: its own group, after the publication (docs/risk.md)."""

import dagster as dg

from assets.dbt_project import WAREHOUSE_POOL
from decentwork.settings import paths


@dg.asset(
    key=["inspection", "risk_ranking"],
    deps=["published_marts"],
    group_name="inspection",
    kinds={"scikit-learn", "csv"},
    pool=WAREHOUSE_POOL,
    description=(
        "The inspectors' risk ranking: per country, the factories most likely to be non-compliant at their next "
        "assessment, with reasons and a model card (data/inspectorate/, owner-only; never published)."
    ),
)
def risk_ranking(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from assets.risk.ranking import FOLDER, build

    p = paths()
    done = build(p.warehouse, p.staging, p.root / FOLDER)
    context.log.info(
        f"risk ranking: {done['factories_ranked']} factories ranked, {done['clusters_modelled']} clusters modelled "
        f"({done['folder']}, readable by its owner only)"
    )
    return dg.MaterializeResult(
        metadata={"factories_ranked": done["factories_ranked"], "clusters_modelled": done["clusters_modelled"]}
    )
