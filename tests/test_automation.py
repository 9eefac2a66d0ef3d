"""Schedules and the delivery sensor ask only for work to do (evaluated here; tests/test_daemon.py runs them)."""

from __future__ import annotations

import json
import os

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_run_id

from assets.deliveries import set_paused
from decentwork.settings import DELIVERIES_TAG
from pipelines.automation import DEFAULT_REFRESH_CRON, RANGE_END, RANGE_START, country_schedules, raw_delivery_sensor
from pipelines.definitions import defs, refresh_job
from pipelines.runs import REQUESTED_FOR_TAG
from tests.conftest import deliver

# Built at import, before the data_root fixture sets DECENTWORK_DATA_DIR: the sensor must
# resolve the data root when it evaluates, not when it is defined.
SENSOR = raw_delivery_sensor(refresh_job)
COUNTRIES = refresh_job.partitions_def.get_partition_keys()


def with_automation() -> dg.Definitions:
    """The project's Definitions with the schedules and sensor (added here until they are wired in).

    The sensor context needs the repository to check each requested partition against the job.
    """
    if any(s.name == SENSOR.name for s in defs.sensors or []):
        return defs
    return dg.Definitions.merge(defs, dg.Definitions(schedules=country_schedules(refresh_job), sensors=[SENSOR]))


DEFS = with_automation()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def tick(cursor: str | None = None, instance: dg.DagsterInstance | None = None):
    """One evaluation: (requested runs, new cursor, skip reason). The first look of a sensor records only, so a
    test that wants a request starts from the cursor of an evaluation of the empty raw folder (FIRST_LOOK)."""
    context = dg.build_sensor_context(
        cursor=cursor, definitions=DEFS, instance=instance or dg.DagsterInstance.ephemeral()
    )
    result = SENSOR.evaluate_tick(context)
    return result.run_requests or [], result.cursor, result.skip_message


FIRST_LOOK = json.dumps({"countries": {}, "ignored": []})


def requested_for(request: dg.RunRequest) -> list[str]:
    return request.tags[REQUESTED_FOR_TAG].split(",")


def test_first_look_records_the_deliveries_without_launching(data_root):
    deliver(data_root, "payroll", "KHM", "payroll_2024.csv", "a,b\n1,2\n")
    requests, cursor, skip = tick(None)
    assert requests == []
    assert "First look" in skip and "KHM" in skip
    assert json.loads(cursor)["countries"].keys() == {"KHM"}
    assert tick(cursor)[0] == []  # nothing changed since


def test_new_delivery_requests_one_refresh_for_its_country_only(data_root):
    deliver(data_root, "payroll", "KHM", "payroll_2024.csv", "a,b\n1,2\n")
    requests, cursor, _ = tick(FIRST_LOOK)
    assert len(requests) == 1 and requested_for(requests[0]) == ["KHM"]
    assert requests[0].run_key and requests[0].run_key.startswith("refresh-")
    again, cursor_again, _ = tick(cursor)
    assert again == []
    assert cursor_again == cursor


def test_changed_or_removed_file_requests_the_country_again(data_root):
    target = deliver(data_root, "payroll", "KHM", "payroll_2024.csv", "a,b\n1,2\n", mtime=1_700_000_000)
    first, cursor, _ = tick(FIRST_LOOK)

    deliver(data_root, "payroll", "KHM", "payroll_2024.csv", "a,b\n1,2\n3,4\n", mtime=1_700_100_000)
    changed, cursor, _ = tick(cursor)
    assert [requested_for(r) for r in changed] == [["KHM"]]
    assert changed[0].run_key != first[0].run_key

    target.unlink()
    removed, cursor, _ = tick(cursor)  # every file gone: the country has no deliveries, nothing to refresh
    assert removed == []
    assert tick(cursor)[0] == []


def test_factories_delivery_requests_only_that_country(data_root):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n")
    deliver(data_root, "payroll", "VNM", "payroll.csv", "a\n1\n")
    _, cursor, _ = tick(None)

    deliver(data_root, "factories", "VNM", "register.xlsx", "not really excel")
    requests, _, _ = tick(cursor)
    assert [requested_for(r) for r in requests] == [["VNM"]]


def test_several_changed_countries_share_one_refresh(data_root):
    for country in ("KHM", "VNM", "BGD"):
        deliver(data_root, "payroll", country, "payroll.csv", "a\n1\n")
    requests, _, _ = tick(FIRST_LOOK)
    assert len(requests) == 1
    assert requested_for(requests[0]) == ["BGD", "KHM", "VNM"]
    assert (requests[0].tags[RANGE_START], requests[0].tags[RANGE_END]) == (COUNTRIES[0], COUNTRIES[-1])


def test_unknown_folders_hidden_and_other_files_request_nothing(data_root):
    deliver(data_root, "payroll", "XXX", "payroll.csv", "a\n1\n")
    deliver(data_root, "payroll", "KHM", ".payroll.csv.partial", "a\n")
    deliver(data_root, "payroll", "KHM", "notes.txt", "hello")
    deliver(data_root, "payroll", "KHM", "~$payroll.xlsx", "lock")
    deliver(data_root, "not_a_source", "KHM", "payroll.csv", "a\n1\n")
    requests, cursor, _ = tick(FIRST_LOOK)
    assert requests == []
    assert tick(cursor)[0] == []


def test_empty_or_missing_raw_folder_requests_nothing(data_root):
    assert tick(FIRST_LOOK)[0] == []
    os.rmdir(data_root.raw)
    assert tick(FIRST_LOOK)[0] == []


def test_run_requests_are_valid_for_the_job(data_root):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n")
    requests, _, _ = tick(FIRST_LOOK)
    assert requests[0].partition_key_range == dg.PartitionKeyRange(COUNTRIES[0], COUNTRIES[-1])
    assert requests[0].job_name in (None, "refresh")


# --------------------------------------------------------------------------- what a schedule tick asks for


def schedule_tick(country: str, instance: dg.DagsterInstance):
    schedule = DEFS.resolve_schedule_def(f"refresh_{country}_schedule")
    result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    return result.run_requests or [], result.skip_message


def add_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, tags: dict[str, str]) -> dg.DagsterRun:
    """A refresh run in `status` (a queued one is added as not started, then enqueued, as the queue would)."""
    origin = RemoteJobOrigin(  # a queued run must say where its code is; this one is never launched
        RemoteRepositoryOrigin(
            InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="pipelines.definitions")), "__repository__"
        ),
        "refresh",
    )
    run = dg.DagsterRun(
        job_name="refresh", run_id=make_new_run_id(), status=status, tags=tags, remote_job_origin=origin
    )
    instance.add_run(run)
    assert instance.get_run_by_id(run.run_id).status == status
    return run


def test_a_country_without_deliveries_is_skipped_with_a_reason(data_root, instance):
    requests, skip = schedule_tick("EGY", instance)
    assert requests == [] and "EGY has no deliveries" in skip


def test_a_paused_country_is_skipped_and_resumed(data_root, instance):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n")
    set_paused(data_root, "KHM", "waiting for the ministry's corrections")
    requests, skip = schedule_tick("KHM", instance)
    assert requests == [] and "paused" in skip and "ministry's corrections" in skip
    assert tick(FIRST_LOOK, instance)[0] == []  # the sensor holds it too
    set_paused(data_root, "KHM", None)
    assert len(schedule_tick("KHM", instance)[0]) == 1


def test_a_country_with_a_queued_refresh_joins_it(data_root, instance):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n")
    deliver(data_root, "payroll", "VNM", "payroll.csv", "a\n1\n")
    (request,), _ = schedule_tick("KHM", instance)
    queued = add_run(instance, dg.DagsterRunStatus.QUEUED, request.tags)
    for country in ("KHM", "VNM"):
        requests, skip = schedule_tick(country, instance)
        assert requests == [] and f"joins the queued refresh {queued.run_id[:8]}" in skip


def test_unchanged_deliveries_since_the_last_successful_refresh_skip(data_root, instance):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n", mtime=1_700_000_000)
    (request,), _ = schedule_tick("KHM", instance)
    add_run(instance, dg.DagsterRunStatus.FAILURE, request.tags)
    assert len(schedule_tick("KHM", instance)[0]) == 1, "a failed refresh is no reason to skip"
    done = add_run(instance, dg.DagsterRunStatus.SUCCESS, request.tags)
    requests, skip = schedule_tick("KHM", instance)
    assert requests == [] and f"unchanged since its last successful refresh ({done.run_id[:8]})" in skip

    deliver(data_root, "payroll", "KHM", "payroll_2.csv", "a\n2\n", mtime=1_700_100_000)
    (again,), _ = schedule_tick("KHM", instance)
    assert json.loads(again.tags[DELIVERIES_TAG])["KHM"] != json.loads(request.tags[DELIVERIES_TAG])["KHM"]


def test_a_refresh_in_progress_with_these_deliveries_is_waited_for(data_root, instance):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n", mtime=1_700_000_000)
    (request,), _ = schedule_tick("KHM", instance)
    running = add_run(instance, dg.DagsterRunStatus.STARTED, request.tags)
    requests, skip = schedule_tick("KHM", instance)
    assert requests == [] and f"being refreshed by run {running.run_id[:8]}" in skip
    deliver(data_root, "payroll", "KHM", "payroll_late.csv", "a\n2\n", mtime=1_700_100_000)
    assert len(schedule_tick("KHM", instance)[0]) == 1, "a delivery after the running refresh started needs another"


def test_a_national_run_counts_for_its_country_only(data_root, instance):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n")
    deliver(data_root, "payroll", "VNM", "payroll.csv", "a\n1\n")
    (request,), _ = schedule_tick("KHM", instance)
    fingerprints = json.loads(request.tags[DELIVERIES_TAG])
    add_run(
        instance,
        dg.DagsterRunStatus.SUCCESS,
        {"dagster/partition": "KHM", DELIVERIES_TAG: json.dumps({"KHM": fingerprints["KHM"]})},
    )
    assert schedule_tick("KHM", instance)[0] == []
    assert len(schedule_tick("VNM", instance)[0]) == 1


def test_one_running_monthly_schedule_per_country(monkeypatch):
    monkeypatch.delenv("DECENTWORK_REFRESH_CRON", raising=False)
    monkeypatch.delenv("DECENTWORK_SCHEDULES", raising=False)
    monkeypatch.delenv("DECENTWORK_TIMEZONE", raising=False)
    schedules = country_schedules(refresh_job)
    assert len(schedules) == len(COUNTRIES)
    assert {s.name for s in schedules} == {f"refresh_{c}_schedule" for c in COUNTRIES}
    for schedule in schedules:
        assert schedule.cron_schedule == DEFAULT_REFRESH_CRON
        assert schedule.execution_timezone == "UTC"
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert schedule.job_name == "refresh"


def test_schedules_can_start_stopped(monkeypatch):
    monkeypatch.setenv("DECENTWORK_SCHEDULES", "off")
    assert {s.default_status for s in country_schedules(refresh_job)} == {dg.DefaultScheduleStatus.STOPPED}


def test_schedules_honour_cron_and_timezone_variables(monkeypatch):
    monkeypatch.setenv("DECENTWORK_REFRESH_CRON", "30 1 * * 1")
    monkeypatch.setenv("DECENTWORK_REFRESH_CRON_KHM", "0 6 15 * *")
    monkeypatch.setenv("DECENTWORK_TIMEZONE", "Asia/Phnom_Penh")
    crons = {s.name: s.cron_schedule for s in country_schedules(refresh_job)}
    assert crons.pop("refresh_KHM_schedule") == "0 6 15 * *"
    assert set(crons.values()) == {"30 1 * * 1"}
    assert {s.execution_timezone for s in country_schedules(refresh_job)} == {"Asia/Phnom_Penh"}


def test_invalid_cron_fails_at_load(monkeypatch):
    monkeypatch.setenv("DECENTWORK_REFRESH_CRON", "every month please")
    with pytest.raises(dg.DagsterInvalidDefinitionError):
        country_schedules(refresh_job)


def test_definitions_with_automation_load():
    dg.Definitions.validate_loadable(DEFS)
    for country in COUNTRIES:
        assert DEFS.resolve_schedule_def(f"refresh_{country}_schedule").job_name == "refresh"
    assert DEFS.resolve_sensor_def("raw_delivery_sensor").default_status == dg.DefaultSensorStatus.RUNNING
