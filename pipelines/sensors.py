"""The daemon's two watchmen: failures reach the national team, and runs whose process is gone free their slot."""

from __future__ import annotations

import dagster as dg

from decentwork.settings import paths
from pipelines.runs import failure_record, record_failure, recover_interrupted_runs


@dg.run_failure_sensor(
    name="refresh_failure_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records each failed run's country, step and reason for `decentwork status`, and "
    "passes it to DECENTWORK_FAILURE_COMMAND / DECENTWORK_FAILURE_WEBHOOK.",
)
def refresh_failure_sensor(context: dg.RunFailureSensorContext):
    record = failure_record(context.dagster_run, context.get_step_failure_events(), context.failure_event.message or "")
    for problem in record_failure(paths(), record):
        context.log.warning(problem)


@dg.sensor(
    name="interrupted_runs_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the runs whose process is gone, and frees the warehouse slots they held.",
)
def interrupted_runs_sensor(context: dg.SensorEvaluationContext):
    recovered = recover_interrupted_runs(context.instance, say=context.log.warning)
    return dg.SkipReason(f"marked {len(recovered)} interrupted run(s) failed" if recovered else "no interrupted run")
