"""What starts a refresh on its own: a schedule per country and a sensor on the deliveries, asking only for work.

Both *request* runs of the `refresh` job; the run itself is the same as `decentwork run` or a launch from the UI
(one execution path). A requested refresh covers every country: its ingestion reads again only what changed
since it was staged (assets/ingestion/ingest.py: `unchanged_since_staged`) and dbt rebuilds only the countries that
changed, so countries due at the same minute share one run, which costs about one full refresh.

Whether a country needs a refresh (`refresh_decision`), asked by both:
- a paused country (`decentwork pause`) does not; nor one with no deliveries;
- a country already covered by a queued refresh joins it (the queued run reads every change when it starts), and
  one covered by a refresh in progress that was requested after its deliveries last changed waits for it;
- a country whose deliveries are those of its last successful refresh (DELIVERIES_TAG) does not;
- otherwise it does. Every "no" is the tick's skip reason, which the UI shows.

- `country_schedules(job)`: one schedule per country partition, monthly by default (DEFAULT_REFRESH_CRON,
  03:00 on the 2nd). DECENTWORK_REFRESH_CRON sets the cron of every country, DECENTWORK_REFRESH_CRON_<ISO3>
  (e.g. DECENTWORK_REFRESH_CRON_KHM) one country's; DECENTWORK_TIMEZONE the time zone (UTC by default). They start
  RUNNING; DECENTWORK_SCHEDULES=off starts them stopped. They fire only while `dagster dev` / `dagster-daemon` runs.
- `raw_delivery_sensor(job)`: watches `<data root>/raw/<source>/<ISO3>/`. Its first evaluation records what is
  there without launching (the schedules refresh what was delivered before); afterwards a change of a country's
  files (added, replaced or removed) requests a refresh when `refresh_decision` says one is needed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import dagster as dg

from assets.deliveries import delivery_fingerprints, fingerprint, paused_countries, scan_deliveries
from decentwork.settings import DELIVERIES_TAG, paths
from pipelines.runs import REQUESTED_FOR_TAG, TRIGGER_TAG

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
WAITING = ("QUEUED", "NOT_STARTED")
IN_PROGRESS = ("STARTING", "STARTED")

DEFAULT_REFRESH_CRON = "0 3 2 * *"  # 03:00 on the 2nd of every month
CRON_ENV = "DECENTWORK_REFRESH_CRON"  # one cron for every country; CRON_ENV + "_<ISO3>" for one
TIMEZONE_ENV = "DECENTWORK_TIMEZONE"
SENSOR_INTERVAL_SECONDS = 30


def _countries(job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition) -> list[str]:
    if job.partitions_def is None:
        raise ValueError(f"job {job.name!r} is not partitioned by country")
    return list(job.partitions_def.get_partition_keys())


# --------------------------------------------------------------------------- what needs a refresh


def covers(tags: dict[str, str], country: str, countries: list[str]) -> bool:
    """Whether a refresh run with these tags refreshes `country` (one partition, or a range of them)."""
    if tags.get("dagster/partition"):
        return tags["dagster/partition"] == country
    start, end = tags.get(RANGE_START), tags.get(RANGE_END)
    if start in countries and end in countries:
        return countries.index(start) <= countries.index(country) <= countries.index(end)
    return False


def refresh_tags(
    fingerprints: dict[str, str], countries: list[str], trigger: str, requested_for: list[str]
) -> dict[str, str]:
    """A refresh of every country (a partition range), with the deliveries it was requested for."""
    return {
        RANGE_START: countries[0],
        RANGE_END: countries[-1],
        TRIGGER_TAG: trigger,
        REQUESTED_FOR_TAG: ",".join(requested_for),
        DELIVERIES_TAG: json.dumps(fingerprints, sort_keys=True, separators=(",", ":")),
    }


def _delivered_then(tags: dict[str, str], country: str) -> str | None:
    try:
        return json.loads(tags.get(DELIVERIES_TAG, "{}")).get(country)
    except (ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class Decision:
    needed: bool
    reason: str


def refresh_decision(
    instance: dg.DagsterInstance,
    job_name: str,
    country: str,
    countries: list[str],
    fingerprints: dict[str, str],
    paused: dict[str, dict],
) -> Decision:
    """Whether `country` needs a refresh now, and why not (module docstring)."""
    if country in paused:
        return Decision(
            False,
            f"{country} is paused since {paused[country]['since']} ({paused[country]['reason']}); "
            f"`decentwork resume {country}` resumes it",
        )
    now = fingerprints.get(country)
    if now is None:
        return Decision(False, f"{country} has no deliveries under raw/<source>/{country}/")
    recent = instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=50)
    for run in recent:  # newest first
        if not covers(run.tags, country, countries):
            continue
        status = run.status.value
        if status in WAITING:
            return Decision(
                False,
                f"{country} joins the queued refresh {run.run_id[:8]}, "
                "which reads every changed delivery when it starts",
            )
        if status in IN_PROGRESS and _delivered_then(run.tags, country) == now:
            return Decision(False, f"{country} is being refreshed by run {run.run_id[:8]}, with these deliveries")
        if status == "SUCCESS":
            if _delivered_then(run.tags, country) == now:
                return Decision(
                    False, f"{country}: deliveries unchanged since its last successful refresh ({run.run_id[:8]})"
                )
            return Decision(True, f"{country}: deliveries changed since its last successful refresh ({run.run_id[:8]})")
    return Decision(True, f"{country}: no successful refresh with these deliveries yet")


# --------------------------------------------------------------------------- schedules


def refresh_cron(country: str) -> str:
    """The cron of one country's refresh: its own variable, else the common one, else monthly."""
    return (os.environ.get(f"{CRON_ENV}_{country}") or os.environ.get(CRON_ENV) or DEFAULT_REFRESH_CRON).strip()


def refresh_timezone() -> str:
    return os.environ.get(TIMEZONE_ENV, "").strip() or "UTC"


def _country_schedule(job, country: str, timezone: str) -> dg.ScheduleDefinition:
    countries = _countries(job)

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
        description=(
            f"Periodic refresh of {country} when its deliveries changed (cron from {CRON_ENV}_{country} or {CRON_ENV})."
        ),
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        p = paths()
        fingerprints = delivery_fingerprints(p, set(countries))
        decision = refresh_decision(context.instance, job.name, country, countries, fingerprints, paused_countries(p))
        if not decision.needed:
            return dg.SkipReason(decision.reason)
        context.log.info(decision.reason)
        return dg.RunRequest(tags=refresh_tags(fingerprints, countries, "schedule", [country]))

    return _schedule


def country_schedules(job) -> list[dg.ScheduleDefinition]:
    """One schedule per country partition of `job` (crons and time zone read now, at load)."""
    timezone = refresh_timezone()
    return [_country_schedule(job, country, timezone) for country in _countries(job)]


# --------------------------------------------------------------------------- delivery sensor


def _read_cursor(cursor: str | None) -> tuple[dict[str, str], list[str]] | None:
    """(fingerprints, ignored folders), or None before the first evaluation (or for an unreadable cursor)."""
    try:
        state = json.loads(cursor) if cursor else None
        return (dict(state.get("countries", {})), list(state.get("ignored", []))) if state is not None else None
    except (ValueError, AttributeError, TypeError):
        return None


def raw_delivery_sensor(job, name: str = "raw_delivery_sensor") -> dg.SensorDefinition:
    """A sensor requesting one refresh when countries' delivered files changed and they need one.

    The cursor is JSON: {"countries": {ISO3: fingerprint}, "ignored": [folders]}. The run key is made of the changed
    countries' fingerprints, so one state of the deliveries never launches twice. Paths are resolved at each
    evaluation, so DECENTWORK_DATA_DIR set after import is honoured.
    """
    countries = _countries(job)

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Refresh when files appear, change or disappear under raw/<source>/<ISO3>/ (not on its first look)."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext):
        p = paths()
        state = _read_cursor(context.cursor)
        files, ignored = scan_deliveries(p, set(countries))
        if ignored and (state is None or ignored != state[1]):  # warn once per change, not every tick
            context.log.warning(
                f"Ignoring folders under {p.raw} that are no country partition: {', '.join(ignored)} "
                f"(expected one of {', '.join(countries)})"
            )
        now = {country: fingerprint(country_files)[:16] for country, country_files in sorted(files.items())}
        cursor = json.dumps({"countries": now, "ignored": ignored}, sort_keys=True)
        if state is None:
            return dg.SensorResult(
                skip_reason=(
                    f"First look: recorded the deliveries of {len(now)} countries ({', '.join(now) or 'none'}); "
                    "a change from now on requests a refresh (the schedules refresh what was delivered before)"
                ),
                cursor=cursor,
            )
        seen = state[0]
        changed = [c for c in sorted(set(seen) | set(now)) if seen.get(c) != now.get(c)]
        if not changed:
            return dg.SensorResult(skip_reason=f"No change under {p.raw}", cursor=cursor)
        paused = paused_countries(p)
        decisions = {c: refresh_decision(context.instance, job.name, c, countries, now, paused) for c in changed}
        due = [c for c, d in decisions.items() if d.needed]
        for decision in decisions.values():
            context.log.info(decision.reason)
        if not due:
            return dg.SensorResult(skip_reason="; ".join(d.reason for d in decisions.values()), cursor=cursor)
        key = fingerprint([[c, now.get(c, "")] for c in due])[:16]
        request = dg.RunRequest(run_key=f"refresh-{key}", tags=refresh_tags(now, countries, "raw_delivery", due))
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _sensor
