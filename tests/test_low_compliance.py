"""The low-compliance list (issue 30): the published mart `low_compliance` against an independent computation.

Better Factories Cambodia names, on a second level of its Transparency Portal, the factories with at least three
assessments whose compliance is two standard deviations below the mean; the seed ref_low_compliance_lists says
which country programmes publish such a list (off by default, Cambodia on). Here, on the session's scenario sample
(tests/conftest.py: `scenario`), the list is worked out again in polars from the staged assessments (what dbt reads;
not the model's SQL): each factory's latest assessment (largest Quest ID), its share of NCQ questions found
compliant, the country's mean and sample standard deviation over every factory's latest assessment, the threshold.
The planted cases (1, 2 and 3+ assessments, a factory far below the mean, a country switched off) are the dbt unit
test beside the model (dbt_project/models/marts/low_compliance.yml, run by tests/test_dbt_unit_coverage.py).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from decentwork.settings import SEEDS_DIR

COLUMNS = [
    "country",
    "factory_id",
    "factory_name",
    "assessment_id",
    "assessment_start_date",
    "n_assessments",
    "compliance_rate_pct",
    "country_mean_pct",
    "country_sd_pct",
    "threshold_pct",
    "n_factories_compared",
    "rule",
]
ROUNDING = 0.05 + 1e-9  # every published figure is rounded to 0.1


def lists() -> pl.DataFrame:
    return pl.read_csv(SEEDS_DIR / "ref_low_compliance_lists.csv")


def staged(root: Path, source: str) -> pl.DataFrame:
    return pl.read_parquet(sorted((root / "staging" / source).glob("country=*/*.parquet")), hive_partitioning=True)


def expected_lists(root: Path, switched_on: pl.DataFrame) -> pl.DataFrame:
    """Every factory compared in the countries of `switched_on` (iso3, min_assessments, sd_below), with `listed`."""
    findings = staged(root, "assessments")
    assessments = findings.group_by("country", "factory_id", "assessment_id").agg(pl.col("assessment_start_date").min())
    counted = assessments.group_by("country", "factory_id").agg(
        pl.len().alias("n_assessments"), pl.col("assessment_id").max()
    )
    latest = counted.join(assessments, on=["country", "factory_id", "assessment_id"])
    rates = (
        findings.filter(pl.col("question_type") == "NCQ")
        .group_by("country", "assessment_id")
        .agg((100 * (pl.col("finding").cast(pl.Int64) == 0).sum() / pl.len()).alias("rate"))
    )
    compared = latest.join(rates, on=["country", "assessment_id"]).join(switched_on, left_on="country", right_on="iso3")
    stats = compared.group_by("country").agg(
        pl.col("rate").mean().alias("mean"), pl.col("rate").std(ddof=1).alias("sd"), pl.len().alias("n_factories")
    )
    return (
        compared.join(stats, on="country")
        .with_columns((pl.col("mean") - pl.col("sd_below") * pl.col("sd")).alias("threshold"))
        .with_columns(
            ((pl.col("n_assessments") >= pl.col("min_assessments")) & (pl.col("rate") < pl.col("threshold"))).alias(
                "listed"
            )
        )
    )


@pytest.fixture(scope="module")
def published(scenario) -> dict:
    root = scenario["root"]
    return {"root": root, "list": pl.read_parquet(root / "marts" / "low_compliance.parquet")}


def test_the_seed_has_one_row_per_programme_country_off_but_in_cambodia():
    seed = lists()
    countries = pl.read_csv(SEEDS_DIR / "ref_countries.csv")
    assert sorted(seed["iso3"]) == sorted(countries["iso3"])
    assert seed.filter(pl.col("published"))["iso3"].to_list() == ["KHM"]
    assert {"source", "source_year", "rule"} <= set(seed.columns)
    for row in seed.iter_rows(named=True):  # the rule states the numbers the mart applies
        assert f"at least {row['min_assessments']} assessments" in row["rule"], row
        assert f"{row['sd_below']:g} standard deviations below the mean" in row["rule"], row


def test_only_the_countries_switched_on_appear(published):
    frame = published["list"]
    assert frame.columns == COLUMNS
    on = set(lists().filter(pl.col("published"))["iso3"])
    assert set(frame["country"]) <= on
    # switched on everywhere, the scenario would list factories elsewhere too: the switch is what keeps them out
    everywhere = expected_lists(published["root"], lists().select("iso3", "min_assessments", "sd_below"))
    assert set(everywhere.filter("listed")["country"]) - on, "no factory to keep out: the test shows nothing"


def test_the_list_is_the_independent_computation(published):
    frame = published["list"]
    expected = expected_lists(
        published["root"], lists().filter(pl.col("published")).select("iso3", "min_assessments", "sd_below")
    )
    listed = expected.filter("listed")
    assert listed.height > 0, "the scenario lists no factory: the test shows nothing"
    assert frame.height > 0 and "KHM" in set(frame["country"])
    assert sorted(frame.select("country", "factory_id").iter_rows()) == sorted(
        listed.select("country", "factory_id").iter_rows()
    )
    names = staged(published["root"], "factories").select("country", "factory_id", "factory_name")
    rules = lists().select(pl.col("iso3").alias("country"), "rule")
    both = frame.join(listed, on=["country", "factory_id"], suffix="_expected")
    both = both.join(names, on=["country", "factory_id"], how="left", suffix="_register").join(
        rules, on="country", suffix="_seed"
    )
    for r in both.iter_rows(named=True):
        assert r["assessment_id"] == r["assessment_id_expected"], r
        assert r["assessment_start_date"] == r["assessment_start_date_expected"], r
        assert r["n_assessments"] == r["n_assessments_expected"], r
        assert r["n_factories_compared"] == r["n_factories"], r
        assert r["factory_name"] == r["factory_name_register"] and r["rule"] == r["rule_seed"], r
        for column, value in [
            ("compliance_rate_pct", r["rate"]),
            ("country_mean_pct", r["mean"]),
            ("country_sd_pct", r["sd"]),
            ("threshold_pct", r["threshold"]),
        ]:
            assert abs(r[column] - value) <= ROUNDING, (column, r)
            assert r[column] == round(r[column], 1), (column, r)  # published at 0.1


def test_every_listed_factory_follows_the_rule(published):
    frame = published["list"].join(lists(), left_on="country", right_on="iso3")
    assert frame.height > 0
    assessments = (
        staged(published["root"], "assessments")
        .group_by("country", "factory_id")
        .agg(pl.col("assessment_id").n_unique().alias("n"))
    )
    counted = frame.join(assessments, on=["country", "factory_id"], how="left")
    for r in counted.iter_rows(named=True):
        assert r["n_assessments"] == r["n"] >= r["min_assessments"] >= 3, r
        # the threshold is the mean less sd_below standard deviations, to the rounding of the three figures
        assert abs(r["threshold_pct"] - (r["country_mean_pct"] - r["sd_below"] * r["country_sd_pct"])) <= ROUNDING * (
            2 + r["sd_below"]
        ), r
        assert 0 <= r["compliance_rate_pct"] <= r["threshold_pct"] < r["country_mean_pct"] <= 100, r
        # of n values, none lies more than (n - 1) / sqrt(n) sample standard deviations from their mean
        assert (r["n_factories_compared"] - 1) / r["n_factories_compared"] ** 0.5 > r["sd_below"], r


def test_the_list_is_published_with_its_descriptions(published):
    marts = published["root"] / "marts"
    schema = pq.read_schema(marts / "low_compliance.parquet")
    assert b"low-compliance" in schema.metadata[b"description"]
    assert (marts / "low_compliance.csv").exists()
    with duckdb.connect(str(marts / "marts.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from low_compliance").fetchone()[0] == published["list"].height
