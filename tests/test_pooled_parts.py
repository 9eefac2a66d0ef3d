"""The pooled X_BW cells add up per-country parts (issue 32: int_month_parts, int_hourly_value_buckets,
int_country_worker_counts, int_country_hourly_means, int_country_gap_parts), and a country or country-year that
fails a quality gate leaves the cells and the pool (DECENTWORK_EXCLUDED_COUNTRIES, assets/disclosure/asset.py) while
its parts stay in the warehouse. Attacked here on the scenario sample: the cells are rebuilt with nothing excluded,
with a whole country excluded and with one country-year excluded, and X_BW's means, medians, worker counts and
female share are compared with an independent computation in polars over the worker-months of the countries that
pool, so a part that leaks in (an excluded country, a country-year that does not pool) or goes missing shows.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.scenario import COUNTRIES, copy_root, warehouse_tables

CELL_MODELS = ["int_coverage", "int_indicator_cells"]


@pytest.fixture(scope="module")
def warehouse_copy(scenario, tmp_path_factory) -> Path:
    return copy_root(scenario["root"], tmp_path_factory.mktemp("pooled") / "data")


def _rebuild_cells(root: Path, excluded: str, target: Path):
    from assets.dbt_runner import invoke

    done = invoke(
        ["build", "--select", *CELL_MODELS, "--exclude-resource-type", "unit_test"],
        target,
        {"DECENTWORK_DATA_DIR": str(root), "DECENTWORK_EXCLUDED_COUNTRIES": excluded},
    )
    assert done.success, done.problems
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        cells = con.sql("select * from intermediate.int_indicator_cells").pl()
        months = con.sql(
            "select country, year, cast(worker_key as varchar) as worker_key, sex, earnings, lcu_per_usd,"
            " hourly_earnings, ppp_lcu_per_intl_usd"
            " from intermediate.int_worker_months"
        ).pl()
        coverage = con.sql("select country, year, pooled from intermediate.int_coverage where family = 'payroll'").pl()
    return cells, months, coverage


def _pooled_months(months: pl.DataFrame, coverage: pl.DataFrame, excluded: str) -> pl.DataFrame:
    """The worker-months X_BW rests on, found without the dbt project: every country-year but those whose payroll
    covers fewer months than another country's (int_coverage: pooled false) and those excluded."""
    entries = [entry for entry in excluded.split(",") if entry]
    countries = [entry for entry in entries if ":" not in entry]
    years = [entry for entry in entries if ":" in entry]
    unpooled = coverage.filter(pl.col("pooled").not_()).select("country", "year")
    return (
        months.join(unpooled, on=["country", "year"], how="anti")
        .filter(~pl.col("country").is_in(countries))
        .filter(~(pl.col("country") + ":" + pl.col("year").cast(pl.Utf8)).is_in(years))
    )


def _expected(pooled: pl.DataFrame) -> dict[tuple, float]:
    """(indicator, sex, year) -> value, over the pooled worker-months, in plain polars (floats, linear median)."""
    by_sex = pooled.with_columns(pl.col("sex").map_elements(lambda s: f"SEX_{s}", return_dtype=pl.Utf8))
    both = pooled.with_columns(pl.lit("SEX_T").alias("sex"))
    rows = pl.concat([by_sex, both]).with_columns(
        (pl.col("earnings") / pl.col("lcu_per_usd")).alias("monthly_usd"),
        (pl.col("hourly_earnings") / pl.col("ppp_lcu_per_intl_usd")).alias("hourly_ppp"),
    )
    stats = rows.group_by("year", "sex").agg(
        pl.col("monthly_usd").drop_nulls().mean().alias("EAR_MEAN_MONTHLY"),
        pl.col("hourly_ppp").drop_nulls().median().alias("EAR_MEDIAN_HOURLY"),
        pl.col("worker_key").n_unique().alias("n_workers"),
    )
    expected = {}
    for row in stats.iter_rows(named=True):
        key = (row["sex"], row["year"])
        expected[("EAR_MEAN_MONTHLY", *key)] = row["EAR_MEAN_MONTHLY"]
        expected[("EAR_MEDIAN_HOURLY", *key)] = row["EAR_MEDIAN_HOURLY"]
        expected[("n_workers", *key)] = row["n_workers"]
    for year in stats["year"].unique():
        women, total = expected.get(("n_workers", "SEX_F", year)), expected[("n_workers", "SEX_T", year)]
        expected[("FEMALE_SHARE_WORKFORCE", "SEX_T", year)] = 100 * (women or 0) / total
    return expected


def _published_pool(cells: pl.DataFrame) -> dict[tuple, float]:
    pooled = cells.filter(pl.col("ref_area") == "X_BW")
    found = {}
    for row in pooled.iter_rows(named=True):
        key = (row["sex"], row["time"])
        if row["indicator"] == "EAR_MEAN_MONTHLY" and row["classif1"] == "CUR_TYPE_USD":
            found[("EAR_MEAN_MONTHLY", *key)] = row["obs_value"]
            found[("n_workers", *key)] = row["n_workers"]
        if row["indicator"] == "EAR_MEDIAN_HOURLY" and row["classif1"] == "CUR_TYPE_PPP":
            found[("EAR_MEDIAN_HOURLY", *key)] = row["obs_value"]
        if row["indicator"] == "FEMALE_SHARE_WORKFORCE":
            found[("FEMALE_SHARE_WORKFORCE", *key)] = row["obs_value"]
    return found


@pytest.mark.parametrize(
    "excluded",
    ["", "BGD", "KHM:2025", "BGD,VNM:2025"],
    ids=["nothing excluded", "a whole country", "a country-year", "a country and another's year"],
)
def test_pooled_cells_are_the_parts_of_the_countries_that_pool(warehouse_copy, tmp_path, excluded):
    cells, months, coverage = _rebuild_cells(warehouse_copy, excluded, tmp_path / "target")
    expected = _expected(_pooled_months(months, coverage, excluded))
    found = _published_pool(cells)
    assert expected.keys() == found.keys(), sorted(set(expected) ^ set(found))
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-9), key
    for entry in filter(None, excluded.split(",")):
        country, _, year = entry.partition(":")
        gone = cells.filter(pl.col("ref_area") == country)
        assert (gone.filter(pl.col("time") == int(year)) if year else gone).is_empty(), entry
    # the parts are kept whatever is excluded: a later run that includes the country again needs no rebuild of them
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb"), read_only=True) as con:
        kept = {row[0] for row in con.sql("select distinct country from intermediate.int_month_parts").fetchall()}
    assert kept == set(months["country"].unique())


# the models incremental by country (macros/incremental.sql: country_incremental_config)
COUNTRY_SLICED = [
    "int_worker_months",
    "int_worker_registrations",
    "int_worker_strata",
    "int_month_parts",
    "int_hourly_value_buckets",
    "int_country_worker_counts",
    "int_country_hourly_means",
    "int_country_gap_parts",
    "int_country_factory_contributions",
    "int_month_references",
    "int_country_covered_months",
]


def test_the_list_of_country_sliced_models_is_complete():
    """Each model configured by country_incremental_config() is in COUNTRY_SLICED, so the tests below cover it."""
    models = Path(__file__).resolve().parent.parent / "dbt_project" / "models"
    configured = {path.stem for path in models.rglob("*.sql") if "country_incremental_config(" in path.read_text()}
    assert configured == set(COUNTRY_SLICED)


# the rows of a slice that come from the payroll (the factory totals also count survey respondents and PICC members)
FROM_PAYROLL = {"int_country_factory_contributions": "where population = 'payroll'"}
# the slices made from the social security alone (a worker's registration date)
FROM_SOCIAL_SECURITY = {"int_worker_registrations"}
RETURNS_WITHDRAWN = "VNM"
MONTH_WITHDRAWN = ("KHM", "2025-12")  # a country rebuilt by month, its December payroll withdrawn
_ALL = {"DECENTWORK_REFRESH_COUNTRIES": None, "DECENTWORK_REFRESH_MONTHS": None}  # a full build: no plan


def _slices(warehouse: Path) -> dict[str, dict[str, int]]:
    """Rows per country of each country-sliced model: those from the payroll."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            model: dict(
                con.sql(
                    f"select country, count(*) from intermediate.{model} {FROM_PAYROLL.get(model, '')} group by country"
                ).fetchall()
            )
            for model in COUNTRY_SLICED
        }


def test_a_refreshed_country_left_without_payroll_loses_its_old_slices(scenario, tmp_path):
    """The country-incremental models replace a refreshed country's slice by its new rows. When a national refresh
    leaves the country no payroll row (its deliveries withdrawn; every row quarantined does the same), there are no
    new rows to name it, and a delete keyed on the new rows' countries kept the old slice: stale worker-months, and
    cells computed from them. Every slice of the country must go. The refresh's dbt build, as the Dagster asset runs
    it for one country (assets/dbt_models.py), on the staged files without the small country's payroll; in the same
    refresh a second country's social security is withdrawn, and its registrations (made from the returns alone)
    must go the same way, and a third country's December payroll is withdrawn and that country rebuilt by month
    (DECENTWORK_REFRESH_MONTHS): its December worker-months must go, and every table must equal a full rebuild's."""
    from assets.dbt_runner import invoke
    from tests.scenario import SMALL_COUNTRY

    root = copy_root(scenario["root"], tmp_path / "data")
    before = _slices(root / "warehouse.duckdb")
    assert all(before[model].get(SMALL_COUNTRY) for model in set(COUNTRY_SLICED) - FROM_SOCIAL_SECURITY)
    assert all(before[model].get(RETURNS_WITHDRAWN) for model in FROM_SOCIAL_SECURITY)
    staged = list((root / "staging" / "payroll").glob(f"country={SMALL_COUNTRY}/*.parquet"))
    staged += list((root / "staging" / "social_security").glob(f"country={RETURNS_WITHDRAWN}/*.parquet"))
    assert len(staged) == 2
    for file in staged:
        file.unlink()
    by_month = root / "staging" / "payroll" / f"country={MONTH_WITHDRAWN[0]}" / "part-0.parquet"
    payroll = pl.read_parquet(by_month)
    assert payroll.filter(pl.col("period") == MONTH_WITHDRAWN[1]).height > 0
    payroll.filter(pl.col("period") != MONTH_WITHDRAWN[1]).write_parquet(by_month)
    env = {
        "DECENTWORK_DATA_DIR": str(root),
        "DECENTWORK_REFRESH_COUNTRIES": f"{SMALL_COUNTRY},{RETURNS_WITHDRAWN},{MONTH_WITHDRAWN[0]}",
        "DECENTWORK_REFRESH_MONTHS": "=".join(MONTH_WITHDRAWN),
    }
    done = invoke(["run", "--exclude", "path:models/marts"], tmp_path / "target", env)
    assert done.success, done.problems
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        months = dict(
            con.execute(
                "select period, count(*) from intermediate.int_worker_months where country = ? group by period",
                [MONTH_WITHDRAWN[0]],
            ).fetchall()
        )
    assert MONTH_WITHDRAWN[1] not in months and months, months
    after = _slices(root / "warehouse.duckdb")
    for model, slices in after.items():
        assert SMALL_COUNTRY not in slices, f"{model} kept {slices[SMALL_COUNTRY]} rows of {SMALL_COUNTRY}"
    for model in FROM_SOCIAL_SECURITY:
        assert RETURNS_WITHDRAWN not in after[model], f"{model} kept {RETURNS_WITHDRAWN}'s rows without its returns"
        assert set(after[model]) == set(before[model]) - {RETURNS_WITHDRAWN}, "others kept"
    assert {c for slices in after.values() for c in slices} == set(COUNTRIES) - {SMALL_COUNTRY}, "others kept"
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        cells = con.execute(
            f"select count(*) from intermediate.int_indicator_cells where ref_area = '{SMALL_COUNTRY}'"
            " and indicator like 'EAR_%'"
        ).fetchall()
    assert cells == [(0,)], "wage cells of a country without payroll"
    refreshed = warehouse_tables(root / "warehouse.duckdb")
    rebuild = invoke(["run", "--full-refresh", "--exclude", "path:models/marts"], tmp_path / "full", env | _ALL)
    assert rebuild.success, rebuild.problems
    full = warehouse_tables(root / "warehouse.duckdb")
    assert refreshed.keys() == full.keys()
    for table in full:
        assert refreshed[table] == full[table], f"{table}: the refresh differs from a full rebuild"


@pytest.mark.parametrize("build", ["full", "national"])
def test_a_failed_build_of_a_country_sliced_model_keeps_its_table(scenario, tmp_path, build):
    """The country_slices materialization (macros/incremental.sql) drops and creates the table (a full build), or
    deletes the refreshed country's slice and inserts its new rows (a national refresh), in one transaction. Its
    query failing half-way must leave the table as it was: attacked by taking away the table it reads."""
    from assets.dbt_runner import invoke

    root = copy_root(scenario["root"], tmp_path / "data")
    warehouse = root / "warehouse.duckdb"

    def covered() -> list[tuple]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return sorted(con.sql("select * from intermediate.int_country_covered_months").fetchall(), key=repr)

    before = covered()
    assert {row[0] for row in before} >= {"KHM", "VNM"}
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table intermediate.int_worker_months rename to int_worker_months_away")
    args = ["run", "--select", "int_country_covered_months"] + (["--full-refresh"] if build == "full" else [])
    env = {"DECENTWORK_DATA_DIR": str(root)} | ({"DECENTWORK_REFRESH_COUNTRIES": "KHM"} if build == "national" else {})
    done = invoke(args, tmp_path / "target", env)
    assert not done.success, "the build should fail without the worker-months"
    assert covered() == before


def test_the_worker_key_counts_each_worker_once_and_holds_no_pseudonym(scenario):
    """The worker-level models carry a worker's key (macros/join_keys.sql: a 128-bit hash of country and
    pseudonym), not the pseudonym. Every distinct count rests on it, so per country and over all countries the
    keys must number exactly the staged payroll's distinct (country, pseudonym) pairs (a collision or a key
    without its country counts fewer, a key that is not a function of the worker more), and no pseudonym may be
    left in the worker-months."""
    root = scenario["root"]
    staged = pl.concat(
        pl.read_parquet(f, columns=["worker_pid"]).with_columns(pl.lit(f.parent.name[8:]).alias("country"))
        for f in sorted((root / "staging" / "payroll").glob("country=*/*.parquet"))
    )
    workers = staged.group_by("country").agg(pl.col("worker_pid").n_unique().alias("n"))
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        keys = dict(
            con.sql(
                "select country, count(distinct worker_key) from intermediate.int_worker_months group by 1"
            ).fetchall()
        )
        all_keys = con.sql("select count(distinct worker_key) from intermediate.int_worker_months").fetchall()[0][0]
        described = con.sql("describe intermediate.int_worker_months").fetchall()
        texts = [name for (name, kind, *_) in described if kind == "VARCHAR"]
        held = con.sql(
            "select distinct v from ("
            + " union all ".join(f"select {c} as v from intermediate.int_worker_months" for c in texts)
            + ")"
        ).pl()
    assert keys == dict(workers.iter_rows()), "one key per worker and country"
    assert all_keys == workers["n"].sum(), "keys are unique across countries"
    assert "worker_pid" not in [name for (name, *_) in described]
    assert held.join(staged.select(pl.col("worker_pid").alias("v")).unique(), on="v").is_empty(), "a pseudonym is left"


def test_a_national_refresh_tests_the_refreshed_countries_rows_of_the_sliced_relations(scenario, tmp_path):
    """A national refresh's data tests read only the refreshed countries' rows of the staged extracts and of the
    country-incremental models (macros/incremental.sql: get_where_subquery); the other countries' rows are those the
    last successful build tested. Attacked with a duplicate social-security return planted in KHM's staged file:
    KHM's refresh and a full build fail on it; VNM's refresh does not read it (the narrowing is real); the tests of a
    relation built over every country (int_latest_assessments) are never narrowed. The test reports each duplicated
    key once, as polars counts them (one return twice, another three times: two), whatever its hashed first pass
    (dbt_project/tests/generic/unique_combination.sql) does."""
    from assets.dbt_runner import invoke

    root = copy_root(scenario["root"], tmp_path / "data")
    planted = root / "staging" / "social_security" / "country=KHM" / "part-0.parquet"
    returns = pl.read_parquet(planted)
    pl.concat([returns, returns.slice(0, 1), returns.slice(1, 1), returns.slice(1, 1)]).write_parquet(planted)
    duplicated_keys = (
        pl.scan_parquet(root / "staging" / "social_security" / "**" / "*.parquet", hive_partitioning=True)
        .group_by("country", "factory_id", "period", "worker_pid")
        .len()
        .filter(pl.col("len") > 1)
        .collect()
        .height
    )
    assert duplicated_keys == 2

    def data_tests(refreshed: str | None):
        env = {"DECENTWORK_DATA_DIR": str(root)}
        if refreshed is not None:
            env["DECENTWORK_REFRESH_COUNTRIES"] = refreshed
        target = tmp_path / f"target-{refreshed or 'full'}"
        done = invoke(["test", "--select", "stg_social_security", "int_latest_assessments"], target, env)
        compiled = {f.name: f.read_text(encoding="utf-8") for f in (target / "compiled").rglob("*.sql")}
        return done, compiled

    for refreshed in ("KHM", "VNM,KHM", None):
        done, _ = data_tests(refreshed)
        assert not done.success, f"the duplicate in KHM's staged returns passed a build refreshing {refreshed}"
        unique_test = [p for p in done.problems if p.startswith("unique_combination_stg_social_security")]
        assert unique_test and f"Got {duplicated_keys} results" in unique_test[0], done.problems

    done, compiled = data_tests("VNM")
    assert done.success, done.problems
    staged_tests = [sql for name, sql in compiled.items() if "stg_social_security" in name]
    assert staged_tests and all("country in ('VNM')" in sql for sql in staged_tests)
    whole = [sql for name, sql in compiled.items() if "int_latest_assessments" in name]
    assert whole and not any("country in (" in sql for sql in whole)


def test_the_months_condition_in_the_compiled_sql(scenario, tmp_path):
    """The plan as dbt reads it (macros/incremental.sql: refreshed_months_condition): the worker-months of a
    country rebuilt by month restricted to its months, of a country rebuilt whole to the country, none of a country
    planned with no month; a model sliced by country only keeps the countries; the data tests of the staged returns
    read the refreshed slices only."""
    from assets.dbt_runner import invoke

    root = copy_root(scenario["root"], tmp_path / "data")
    env = {
        "DECENTWORK_DATA_DIR": str(root),
        "DECENTWORK_REFRESH_COUNTRIES": "KHM,VNM,HTI",
        "DECENTWORK_REFRESH_MONTHS": "KHM=2025-12 2026-01,HTI=",
    }

    def compiled(*command: str) -> dict[str, str]:
        target = tmp_path / command[0]
        done = invoke(list(command), target, env)
        assert done.success, done.problems
        return {f.name: f.read_text(encoding="utf-8") for f in (target / "compiled").rglob("*.sql")}

    models = compiled("compile", "--select", "int_worker_months", "int_worker_strata")
    condition = "(country in ('VNM') or (country = 'KHM' and period in ('2025-12', '2026-01')))"
    assert models["int_worker_months.sql"].count(f"where {condition}") == 2  # the payroll and the returns
    assert "where country in ('KHM', 'VNM', 'HTI')" in models["int_worker_strata.sql"]
    staged_tests = compiled("test", "--select", "stg_social_security", "--exclude-resource-type", "unit_test")
    assert staged_tests and all(condition in sql for sql in staged_tests.values())
