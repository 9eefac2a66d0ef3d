"""What starts a refresh on its own: a schedule per country and a sensor on the deliveries.

Both only *request* runs of the partitioned `refresh` job for one country; the run itself is the
same as `decentwork run` or a launch from the UI (see spec/architecture.md, one execution path).

- `country_schedules(job)`: one schedule per country partition, monthly by default
  (DEFAULT_REFRESH_CRON, 03:00 on the 2nd). DECENTWORK_REFRESH_CRON sets the cron of every
  country, DECENTWORK_REFRESH_CRON_<ISO3> (e.g. DECENTWORK_REFRESH_CRON_KHM) one country's;
  DECENTWORK_TIMEZONE the time zone (UTC by default). They start RUNNING (a monthly national
  refresh is the default); DECENTWORK_SCHEDULES=off starts them stopped, e.g. where the sensor
  alone should trigger refreshes. They fire only while `dagster dev` / `dagster-daemon` runs.
- `raw_delivery_sensor(job)`: watches `<data root>/raw/<source>/<ISO3>/` and requests a run for
  a country when its set of delivered files changes (a file added, replaced or removed). It
  starts RUNNING: dropping a file in the folder is how a delivery is announced, and the daemon
  only ticks while `dagster dev` / `dagster-daemon` runs.
"""

from __future__ import annotations

import json
import os

import dagster as dg

from assets.deliveries import fingerprint, scan_deliveries
from decentwork.settings import paths

DEFAULT_REFRESH_CRON = "0 3 2 * *"  # 03:00 on the 2nd of every month
CRON_ENV = "DECENTWORK_REFRESH_CRON"  # one cron for every country; CRON_ENV + "_<ISO3>" for one
TIMEZONE_ENV = "DECENTWORK_TIMEZONE"
SENSOR_INTERVAL_SECONDS = 30


def _countries(job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition) -> list[str]:
    if job.partitions_def is None:
        raise ValueError(f"job {job.name!r} is not partitioned by country")
    return list(job.partitions_def.get_partition_keys())


# --------------------------------------------------------------------------- schedules


def refresh_cron(country: str) -> str:
    """The cron of one country's refresh: its own variable, else the common one, else monthly."""
    return (
        os.environ.get(f"{CRON_ENV}_{country}")
        or os.environ.get(CRON_ENV)
        or DEFAULT_REFRESH_CRON
    ).strip()


def refresh_timezone() -> str:
    return os.environ.get(TIMEZONE_ENV, "").strip() or "UTC"


def _country_schedule(job, country: str, timezone: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{job.name}_{country}_schedule",
        cron_schedule=refresh_cron(country),
        execution_timezone=timezone,
        job=job,
        default_status=(
            dg.DefaultScheduleStatus.STOPPED
            if os.environ.get("DECENTWORK_SCHEDULES", "on").strip().lower() in {"off", "0", "false", "no"}
            else dg.DefaultScheduleStatus.RUNNING
        ),
        description=f"Periodic refresh of {country} (cron from {CRON_ENV}_{country} or {CRON_ENV}).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        return dg.RunRequest(partition_key=country, tags={"decentwork/trigger": "schedule"})

    return _schedule


def country_schedules(job) -> list[dg.ScheduleDefinition]:
    """One schedule per country partition of `job` (crons and time zone read now, at load)."""
    timezone = refresh_timezone()
    return [_country_schedule(job, country, timezone) for country in _countries(job)]


# --------------------------------------------------------------------------- delivery sensor


def _read_cursor(cursor: str | None) -> tuple[dict[str, str], list[str]]:
    try:
        state = json.loads(cursor) if cursor else {}
        return dict(state.get("countries", {})), list(state.get("ignored", []))
    except (ValueError, AttributeError, TypeError):
        return {}, []  # unreadable cursor: start over (at worst one extra run per country)


def raw_delivery_sensor(job, name: str = "raw_delivery_sensor") -> dg.SensorDefinition:
    """A sensor requesting one `job` run per country whose delivered files changed.

    The cursor is JSON: {"countries": {ISO3: fingerprint}, "ignored": [folders]}. The run key is
    "<ISO3>-<fingerprint>", so a given state of a country's deliveries never launches twice.
    Paths are resolved at each evaluation, so DECENTWORK_DATA_DIR set after import is honoured.
    """
    countries = set(_countries(job))

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refresh a country when files appear, change or disappear under raw/<source>/<ISO3>/.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        root = paths()
        raw = root.raw
        seen, seen_ignored = _read_cursor(context.cursor)
        files, ignored = scan_deliveries(root, countries)

        if ignored != seen_ignored and ignored:  # warn once per change, not every tick
            context.log.warning(
                f"Ignoring folders under {raw} that are no country partition: {', '.join(ignored)} "
                f"(expected one of {', '.join(sorted(countries))})"
            )

        now = {country: fingerprint(country_files) for country, country_files in files.items()}
        requests = []
        for country in sorted(set(seen) | set(now)):
            digest = now.get(country, fingerprint([]))  # every file removed: still a change
            if seen.get(country, fingerprint([])) == digest:
                continue
            context.log.info(f"{country}: deliveries changed ({len(files.get(country, []))} file(s) now)")
            requests.append(
                dg.RunRequest(
                    run_key=f"{country}-{digest}",
                    partition_key=country,
                    tags={"decentwork/trigger": "raw_delivery"},
                )
            )

        cursor = json.dumps({"countries": now, "ignored": ignored}, sort_keys=True)
        if not requests:
            return dg.SensorResult(skip_reason=f"No change under {raw}", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _sensor
