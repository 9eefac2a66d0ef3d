"""The dbt project as Dagster assets: seeds, staging, intermediate and mart models, and their tests."""

import json
from collections.abc import Mapping
from pathlib import Path
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

def mart_asset_keys() -> list[dg.AssetKey]:
    """Asset keys of the published dbt models (folder models/marts): what the publication waits for."""
    manifest = json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))
    translator = Translator()
    return [
        translator.get_asset_key(node)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1:2] == ["marts"]
    ]


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=Translator(), pool=WAREHOUSE_POOL)
def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build`: every model and its tests, once per run (dbt start-up is the dominant fixed cost).

    One target folder for every run (runs queue in the warehouse pool), not dagster-dbt's default of a new
    folder per run, which piled up 5 MB of artifacts per refresh under dbt_project/target/."""
    yield from dbt.cli(["build"], context=context, target_path=Path("target") / "warehouse_models").stream()
