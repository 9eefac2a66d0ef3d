"""Schedules and the delivery sensor request the right country runs (evaluated, never launched)."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from pipelines.automation import DEFAULT_REFRESH_CRON, country_schedules, raw_delivery_sensor
from pipelines.definitions import defs, refresh_job
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


def tick(cursor: str | None = None):
    """One evaluation: (requested runs, new cursor)."""
    result = SENSOR.evaluate_tick(dg.build_sensor_context(cursor=cursor, definitions=DEFS))
    return result.run_requests or [], result.cursor


def test_new_delivery_requests_one_run_for_its_country_only(data_root):
    deliver(data_root, "payroll", "KHM", "payroll_2024.csv", "a,b\n1,2\n")
    requests, cursor = tick()
    assert [r.partition_key for r in requests] == ["KHM"]
    assert requests[0].run_key and requests[0].run_key.startswith("KHM-")

    again, cursor_again = tick(cursor)
    assert again == []
    assert cursor_again == cursor


def test_changed_or_removed_file_requests_the_country_again(data_root):
    target = deliver(data_root, "payroll", "KHM", "payroll_2024.csv", "a,b\n1,2\n", mtime=1_700_000_000)
    first, cursor = tick()

    deliver(data_root, "payroll", "KHM", "payroll_2024.csv", "a,b\n1,2\n3,4\n", mtime=1_700_100_000)
    changed, cursor = tick(cursor)
    assert [r.partition_key for r in changed] == ["KHM"]
    assert changed[0].run_key != first[0].run_key

    target.unlink()
    removed, cursor = tick(cursor)
    assert [r.partition_key for r in removed] == ["KHM"]
    assert tick(cursor)[0] == []


def test_factories_delivery_requests_only_that_country(data_root):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n")
    deliver(data_root, "payroll", "VNM", "payroll.csv", "a\n1\n")
    _, cursor = tick()

    deliver(data_root, "factories", "VNM", "register.xlsx", "not really excel")
    requests, _ = tick(cursor)
    assert [r.partition_key for r in requests] == ["VNM"]


def test_unknown_folders_hidden_and_other_files_request_nothing(data_root):
    deliver(data_root, "payroll", "XXX", "payroll.csv", "a\n1\n")
    deliver(data_root, "payroll", "KHM", ".payroll.csv.partial", "a\n")
    deliver(data_root, "payroll", "KHM", "notes.txt", "hello")
    deliver(data_root, "not_a_source", "KHM", "payroll.csv", "a\n1\n")
    requests, cursor = tick()
    assert requests == []
    assert tick(cursor)[0] == []


def test_empty_or_missing_raw_folder_requests_nothing(data_root):
    assert tick()[0] == []
    os.rmdir(data_root.raw)
    assert tick()[0] == []


def test_run_requests_are_valid_for_the_job(data_root):
    deliver(data_root, "payroll", "KHM", "payroll.csv", "a\n1\n")
    requests, _ = tick()
    assert requests[0].partition_key in COUNTRIES
    assert requests[0].job_name in (None, "refresh")


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

    khm = next(s for s in schedules if s.name == "refresh_KHM_schedule")
    request = khm(dg.build_schedule_context())
    assert request.partition_key == "KHM"


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
