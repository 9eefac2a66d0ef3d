"""The Dagster asset applying disclosure control between dbt's two builds of a refresh.

dbt builds the cells (`int_indicator_cells`) and the factory totals (`int_factory_contributions`); this asset
reads them read-only, applies assets/disclosure/control.py and writes `<data root>/disclosure/`:
`controlled_cells.parquet`, which dbt's marts read (source `disclosure`), and `report.json`, the information
lost and the audit's verdict. When the audit still finds a cell narrowed below its protection, the asset
fails: nothing downstream runs and the previous publication stays.
"""


import json
import os

import dagster as dg

from assets.disclosure.control import control
from assets.transform import WAREHOUSE_POOL, model_asset_key
from assets.warehouse import read_built
from decentwork.settings import paths

ASSET_KEY = dg.AssetKey(["disclosure", "controlled_cells"])


class DisclosureAuditFailed(RuntimeError):
    pass


def control_warehouse() -> dict:
    """Control the warehouse's cells into paths().disclosure; the report. Raises DisclosureAuditFailed."""
    p = paths()
    cells = read_built(p.warehouse, "intermediate", "int_indicator_cells")
    contributions = read_built(p.warehouse, "intermediate", "int_factory_contributions")
    controlled = control(cells, contributions)
    p.disclosure.mkdir(parents=True, exist_ok=True)
    if not controlled.audit.passed:  # write the report for `decentwork status`, but no cells dbt could publish
        _write(p.disclosure_report, json.dumps(controlled.report, indent=1))
        problems = [str(f) for f in controlled.audit.findings[:5]] + controlled.audit.unsolved[:5]
        raise DisclosureAuditFailed("disclosure audit failed, nothing published: " + "; ".join(problems))
    tmp = p.controlled_cells.with_name(f".{p.controlled_cells.name}.tmp")
    controlled.frame.write_parquet(tmp)
    os.replace(tmp, p.controlled_cells)
    _write(p.disclosure_report, json.dumps(controlled.report, indent=1))
    return controlled.report


def _write(target, text: str) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


@dg.asset(
    key=ASSET_KEY,
    deps=[model_asset_key("int_indicator_cells"), model_asset_key("int_factory_contributions")],
    group_name="disclosure",
    kinds={"python", "parquet"},
    pool=WAREHOUSE_POOL,  # reads the warehouse: never while dbt writes it
    description="The indicator cells after disclosure control (thresholds, p% dominance, range edges, secondary "
    "suppression over linked tables, rounding), audited by linear programming (docs/disclosure.md).",
)
def controlled_cells(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    report = control_warehouse()
    audit = report["audit"]
    context.log.info(
        f"disclosure: {report['suppressed']} of {report['cells']} cells suppressed ({report['primary']} primary, "
        f"{report['secondary']} secondary, {report['range_edges']} range edges; {report['suppressed_pooled']} of "
        f"{report['pooled']} pooled cells); audit passed on {audit['suppressed_cells_audited']} suppressed cells"
    )
    return dg.MaterializeResult(metadata={k: v for k, v in report.items() if k != "audit"} | {"audit": dg.MetadataValue.json(audit)})
