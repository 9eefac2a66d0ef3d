"""The dbt project as Dagster assets: seeds, staging, intermediate and mart models, and their tests."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from pipelines.resources import dbt_project

WAREHOUSE_POOL = "warehouse"  # DuckDB has one writer: everything writing the warehouse queues here

class Translator(DagsterDbtTranslator):
    """dbt sources are the ingestion assets (staging/<source>); models keep <schema>/<name>;
    asset groups are named after the dbt folder (staging, intermediate, marts; seeds: reference)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["staging", dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"

@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=Translator(), pool=WAREHOUSE_POOL)
def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build`: every model and its tests, once per run (dbt start-up is the dominant fixed cost)."""
    yield from dbt.cli(["build"], context=context).stream()
