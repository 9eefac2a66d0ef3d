"""The Dagster Definitions: every asset, the jobs that run them and the resources they need.

`decentwork run`, the schedules and the UI (`dagster dev -m pipelines.definitions`) all
materialise these same assets.

A refresh executes its steps in one process, as `decentwork run` does: one Python process per step costs
seconds of imports each and, with several runs at once, gigabytes. DECENTWORK_RUN_EXECUTOR=multiprocess gives
each step a process of its own (steps of different extracts then ingest side by side). How many refreshes run at
once is the instance's run queue (dagster.yaml, `concurrency: runs: max_concurrent_runs`, 1 by default).
"""

from __future__ import annotations

import os
import socket

import dagster as dg

import pipelines.sqlite_history  # noqa: F401  (the run history's SQLite without an fsync per event)
from assets.dbt_models import mart_models, warehouse_models
from assets.disclosure.asset import controlled_cells
from assets.ingestion.asset import ingestion_assets
from assets.partitions import country_partitions
from assets.publish import published_marts
from assets.risk.asset import risk_ranking
from decentwork.settings import export_environment
from pipelines.automation import country_schedules, raw_delivery_sensor
from pipelines.runs import HOST_TAG
from pipelines.sensors import interrupted_runs_sensor, refresh_failure_sensor

export_environment()


def refresh_executor() -> dg.ExecutorDefinition:
    choice = os.environ.get("DECENTWORK_RUN_EXECUTOR", "in_process").strip().lower()
    if choice not in {"in_process", "multiprocess"}:
        raise ValueError(f"DECENTWORK_RUN_EXECUTOR={choice!r}: use in_process (the default) or multiprocess")
    return dg.multiprocess_executor if choice == "multiprocess" else dg.in_process_executor


refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    partitions_def=country_partitions,
    executor_def=refresh_executor(),
    tags={HOST_TAG: socket.gethostname()},  # where the code location loads, the default launcher starts the run
    description="Ingest the selected countries' deliveries, rebuild the warehouse with dbt and publish the marts.",
)

defs = dg.Definitions(
    assets=[*ingestion_assets, warehouse_models, controlled_cells, mart_models, published_marts, risk_ranking],
    jobs=[refresh_job],
    schedules=country_schedules(refresh_job),
    sensors=[raw_delivery_sensor(refresh_job), refresh_failure_sensor, interrupted_runs_sensor],
)
