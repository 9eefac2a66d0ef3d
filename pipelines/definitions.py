"""The Dagster Definitions: every asset, the jobs that run them and the resources they need.

`decentwork run`, the schedules and the UI (`dagster dev -m pipelines.definitions`) all
materialise these same assets.
"""

from __future__ import annotations

import dagster as dg

from assets.disclosure.asset import controlled_cells
from assets.publish import published_marts
from assets.staging import staging_assets
from assets.transform import mart_models, warehouse_models
from decentwork.settings import export_environment
from pipelines.automation import country_schedules, raw_delivery_sensor
from pipelines.partitions import country_partitions
from pipelines.resources import dbt_resource

export_environment()

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    partitions_def=country_partitions,
    description="Ingest the selected countries' deliveries, rebuild the warehouse with dbt and publish the marts.",
)

defs = dg.Definitions(
    assets=[*staging_assets, warehouse_models, controlled_cells, mart_models, published_marts],
    jobs=[refresh_job],
    schedules=country_schedules(refresh_job),
    sensors=[raw_delivery_sensor(refresh_job)],
    resources={"dbt": dbt_resource()},
)
