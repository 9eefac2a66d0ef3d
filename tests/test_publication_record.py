"""A refresh with nothing to do ends at once, saying so (issue 28), and never when something did change.

The publication records what it was made from (assets/publication_record.py); `decentwork run` compares that with
the deliveries, code and settings it finds, before it imports Dagster.
"""

from __future__ import annotations

import os

import pytest

from assets import publication_record as record
from decentwork.settings import Paths
from tests.conftest import decentwork
from tests.scenario import KEY, copy_root

MADE = {"code": "c0de", "target": "duckdb", "key": "k3y"}


@pytest.fixture
def published(data_root: Paths) -> Paths:
    import duckdb

    duckdb.connect(str(data_root.warehouse)).close()
    data_root.marts.mkdir(parents=True)
    (data_root.marts / "indicators.parquet").write_bytes(b"a publication")
    record.write(data_root, {"KHM": "k1", "VNM": "v1"}, set(), MADE)
    return data_root


def test_the_same_deliveries_made_the_same_way_are_nothing_new(published: Paths):
    assert record.nothing_new(published, {"KHM": "k1", "VNM": "v1"}, MADE)
    assert record.nothing_new(published, {"KHM": "k1", "VNM": "v2"}, MADE, country="KHM")  # KHM's own are published


@pytest.mark.parametrize(
    ("deliveries", "made", "country"),
    [
        ({"KHM": "k2", "VNM": "v1"}, MADE, None),  # a file changed
        ({"KHM": "k1", "VNM": "v1", "BGD": "b1"}, MADE, None),  # a country delivered for the first time
        ({"KHM": "k1"}, MADE, None),  # a country's deliveries are gone
        ({"KHM": "k1", "VNM": "v1"}, MADE | {"code": "other"}, None),  # the code or reference data changed
        ({"KHM": "k1", "VNM": "v1"}, MADE | {"key": "other"}, None),  # another pseudonym key
        ({"KHM": "k1", "VNM": "v1"}, MADE | {"target": "spark"}, None),  # another dbt target
        ({"KHM": "k1", "VNM": "v2"}, MADE, "VNM"),  # the country asked for changed
        ({"KHM": "k1", "VNM": "v1"}, MADE, "BGD"),  # a country the publication never read
    ],
)
def test_anything_new_means_a_refresh(published: Paths, deliveries, made, country):
    assert record.nothing_new(published, deliveries, made, country) is None


def test_a_warehouse_that_does_not_open_means_a_refresh(published: Paths):
    published.warehouse.write_bytes(b"this is no DuckDB file" * 1000)  # tests/test_faults.py: it is rebuilt
    assert record.nothing_new(published, {"KHM": "k1", "VNM": "v1"}, MADE) is None
    published.warehouse.unlink()
    assert record.nothing_new(published, {"KHM": "k1", "VNM": "v1"}, MADE) is None


def test_no_record_or_no_publication_means_a_refresh(published: Paths):
    (published.marts / "indicators.parquet").unlink()
    assert record.nothing_new(published, {"KHM": "k1", "VNM": "v1"}, MADE) is None
    (published.marts / "indicators.parquet").write_bytes(b"a publication")
    record.forget(published)  # a publication being swapped in, or a run killed during it
    assert record.nothing_new(published, {"KHM": "k1", "VNM": "v1"}, MADE) is None


def test_countries_whose_new_data_was_not_published_stay_out_of_the_record(published: Paths):
    """A country that kept its previous rows (a gate failed) or is paused: its current deliveries were not published."""
    record.write(published, {"KHM": "k2", "VNM": "v2"}, {"KHM"}, MADE)
    assert record.read(published)["deliveries"] == {"VNM": "v2"}
    assert record.nothing_new(published, {"KHM": "k2", "VNM": "v2"}, MADE) is None


def test_a_national_refresh_adds_its_country_to_what_the_record_had(published: Paths):
    record.write(published, {"KHM": "k2"}, set(), MADE)
    assert record.read(published)["deliveries"] == {"KHM": "k2", "VNM": "v1"}
    record.write(published, {"KHM": "k3"}, set(), MADE | {"code": "new"})  # made another way: only what it read
    assert record.read(published)["deliveries"] == {"KHM": "k3"}


def test_the_code_fingerprint_follows_the_code_and_the_dbt_project(monkeypatch, tmp_path):
    before = record.code_fingerprint()
    assert before == record.code_fingerprint()
    model = tmp_path / "model.sql"
    model.write_text("select 1", encoding="utf-8")
    monkeypatch.setattr(record, "project_files", lambda: [model])
    with_model = record.code_fingerprint()
    model.write_text("select 2", encoding="utf-8")
    assert with_model != before and record.code_fingerprint() != with_model


def test_a_second_run_of_the_same_deliveries_ends_at_once_without_a_dagster_run(scenario, tmp_path):
    """On a copy of the scenario's publication: the command says there is nothing to refresh and starts no run;
    a delivery touched afterwards makes the next run refresh."""
    root = copy_root(scenario["root"], tmp_path / "data")
    runs = sorted((root / "dagster" / "history" / "runs").glob("*.db"))
    again = decentwork(root, "run", key=KEY)
    assert again.returncode == 0 and "nothing to refresh for all countries" in again.stdout, again.stdout
    assert "refreshing" not in again.stdout
    assert sorted((root / "dagster" / "history" / "runs").glob("*.db")) == runs  # no run was started
    national = decentwork(root, "run", "--country", "BGD", key=KEY)
    assert national.returncode == 0 and "nothing to refresh for BGD" in national.stdout
    from assets.deliveries import delivery_fingerprints
    from schemas.reference import programme_countries

    made = record.read(Paths(root))["made_with"]
    before = delivery_fingerprints(Paths(root), set(programme_countries()))
    assert record.nothing_new(Paths(root), before, made)
    delivered = next((root / "raw" / "payroll" / "BGD").glob("*.csv"))
    os.utime(delivered, (delivered.stat().st_atime, delivered.stat().st_mtime + 60))  # delivered again, later
    after = delivery_fingerprints(Paths(root), set(programme_countries()))
    assert after["BGD"] != before["BGD"] and record.nothing_new(Paths(root), after, made) is None
