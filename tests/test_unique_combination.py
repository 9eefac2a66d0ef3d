"""The project's unique_combination data test (dbt_project/tests/generic/unique_combination.sql) returns exactly the
combinations found more than once, with their counts, as polars counts them: on duplicates with nulls in any column,
on none, and with a hash so weak that most distinct rows collide (its first, hashed grouping must only narrow the
second, never decide). Rendered as dbt renders it (assets/quality.py) and run on DuckDB, in process."""

from __future__ import annotations

import random

import duckdb
import polars as pl
import pytest

from assets.quality import _render_dbt_test

COLUMNS = ["factory_id", "worker_pid", "period"]


def rows(n: int, seed: int, domain: int) -> pl.DataFrame:
    pick = random.Random(seed)
    factories, pseudonyms, periods = list(range(domain)), [f"{i:064x}" for i in range(domain)], ["2025-01", "2025-02"]

    def value(values: list):
        return None if pick.random() < 0.1 else pick.choice(values)

    return pl.DataFrame(
        {
            "factory_id": [value(factories) for _ in range(n)],
            "worker_pid": [value(pseudonyms) for _ in range(n)],
            "period": [value(periods) for _ in range(n)],
        },
        schema={"factory_id": pl.Int64, "worker_pid": pl.String, "period": pl.String},
    )


def failures(frame: pl.DataFrame, weak_hash: bool) -> set[tuple]:
    sql = _render_dbt_test("unique_combination", {"columns": COLUMNS}, "extract")
    with duckdb.connect() as con:
        con.register("extract", frame.to_arrow())
        if weak_hash:  # three hash values for every row: nearly every pair of distinct rows collides
            con.execute("create macro weak_hash(a, b, c) as hash(a, b, c) % 3")
            assert sql.count("hash(") == 3
            sql = sql.replace("hash(", "weak_hash(")
        return set(con.execute(sql).fetchall())


def independent(frame: pl.DataFrame) -> set[tuple]:
    counted = frame.group_by(COLUMNS).len().filter(pl.col("len") > 1)
    return set(counted.select(*COLUMNS, "len").iter_rows())


@pytest.mark.parametrize("weak_hash", [False, True])
@pytest.mark.parametrize(("n", "domain"), [(2000, 12), (300, 40), (60, 1)])
def test_duplicated_combinations_are_those_polars_counts(n: int, domain: int, weak_hash: bool) -> None:
    frame = rows(n, seed=n + domain, domain=domain)
    expected = independent(frame)
    assert expected, "the sample has duplicates"
    assert any(None in combination for combination in expected), "and duplicates holding a null"
    assert failures(frame, weak_hash) == expected


@pytest.mark.parametrize("weak_hash", [False, True])
def test_no_duplicates_no_failures(weak_hash: bool) -> None:
    frame = rows(3000, seed=1, domain=10_000).unique(COLUMNS)
    assert not independent(frame)
    assert failures(frame, weak_hash) == set()
