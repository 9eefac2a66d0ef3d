"""`decentwork query` is confined to the published marts (issue 18).

A data root holds what an attacker would want: a raw payroll file with national ids and names, staged
Parquet with pseudonyms, a warehouse with a worker-level table, a secret in the environment. Every way
out of `marts.duckdb` that DuckDB offers is tried; each must be refused with a clear message that quotes
none of it, while ordinary SQL on the marts keeps working (tests/test_end_to_end.py queries every
published mart of a real run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from assets.published import QueryRefused, query_published_marts

NATIONAL_ID = "KH-1234567890"
PSEUDONYM = "f" * 64
SECRET = "a-pseudonym-key-that-must-never-leave-the-environment"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sandbox") / "data"
    raw = root / "raw" / "payroll" / "KHM"
    raw.mkdir(parents=True)
    (raw / "payroll.csv").write_text(f"national_id,worker_name\n{NATIONAL_ID},Sok Dara\n", encoding="utf-8")
    staged = root / "staging" / "payroll" / "country=KHM"
    staged.mkdir(parents=True)
    pl.DataFrame({"worker_pid": [PSEUDONYM]}).write_parquet(staged / "part-0.parquet")
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.execute("create schema intermediate")
        con.execute(f"create table intermediate.int_worker_months as select '{PSEUDONYM}' as worker_pid")
    (root / "marts").mkdir()
    with duckdb.connect(str(root / "marts" / "marts.duckdb")) as con:
        con.execute(
            "create table indicators as select 'KHM' as ref_area, 'EAR_MEAN_HOURLY' as indicator, 1.5 as obs_value"
        )
        con.execute("create table country_wages as select 'KHM' as ref_area, 2025 as time, 1.5 as ear_mean_hourly_lcu")
    return root


ESCAPES = {
    "read a system file": "select * from read_csv('/etc/passwd')",
    "read a file as text": "select content from read_text('/etc/passwd')",
    "read a file as bytes": "select content from read_blob('/etc/passwd')",
    "a path in FROM": "select * from '{root}/raw/payroll/KHM/payroll.csv'",
    "read a raw delivery": "select * from read_csv_auto('{root}/raw/payroll/KHM/payroll.csv')",
    "read staged Parquet": "select * from read_parquet('{root}/staging/payroll/*/*.parquet')",
    "list files": "select * from glob('{root}/**')",
    "sniff a file": "select * from sniff_csv('{root}/raw/payroll/KHM/payroll.csv')",
    "attach the warehouse": "attach '{root}/warehouse.duckdb' as w",
    "attach read-only": "attach '{root}/warehouse.duckdb' as w (read_only)",
    "attach then read": "attach '{root}/warehouse.duckdb' as w; select * from w.intermediate.int_worker_months",
    "copy out": "copy indicators to '{root}/out.csv'",
    "copy into the publication": "copy indicators to '{root}/marts/indicators.csv'",
    "copy a query out": "copy (select 1) to '/tmp/decentwork-escape.parquet' (format parquet)",
    "export the database": "export database '{root}/export'",
    "import a database": "import database '{root}/export'",
    "install an extension": "install httpfs",
    "load an extension": "load httpfs",
    "install from a repository": "install httpfs from 'http://example.org'",
    "re-enable external access": "set enable_external_access = true",
    "change a setting": "set memory_limit = '1GB'",
    "change a setting by pragma": "pragma memory_limit = '1GB'",
    "reset a setting": "reset enable_external_access",
    "write a table": "create table stolen as select 1 as x",
    "change a table": "update indicators set obs_value = 0",
    "drop a table": "drop table indicators",
    "create a view over a file": "create view v as select * from read_csv('/etc/passwd')",
    "create a secret store": "create persistent secret s (type s3, key_id 'a', secret 'b')",
}


@pytest.mark.parametrize("attempt", sorted(ESCAPES))
def test_every_escape_from_the_marts_is_refused(root, attempt):
    sql = ESCAPES[attempt].format(root=root)
    with pytest.raises((QueryRefused, duckdb.Error)) as refused:
        query_published_marts(root / "marts" / "marts.duckdb", sql)
    text = str(refused.value)
    assert NATIONAL_ID not in text and PSEUDONYM not in text and "Sok Dara" not in text
    assert not (root / "out.csv").exists() and not (root / "export").exists()
    assert not Path("/tmp/decentwork-escape.parquet").exists()


def test_file_and_setting_escapes_say_why(root):
    for sql in (
        ESCAPES["read a raw delivery"],
        ESCAPES["attach the warehouse"],
        ESCAPES["copy out"],
        ESCAPES["install an extension"],
        ESCAPES["re-enable external access"],
        ESCAPES["write a table"],
    ):
        with pytest.raises(QueryRefused, match="published marts"):
            query_published_marts(root / "marts" / "marts.duckdb", sql.format(root=root))


def test_ordinary_queries_still_work(root):
    marts = root / "marts" / "marts.duckdb"
    assert query_published_marts(marts, "select count(*) as n from indicators")["n"].item() == 1
    joined = query_published_marts(
        marts, "select i.ref_area, w.time from indicators i join country_wages w using (ref_area)"
    )
    assert joined.rows() == [("KHM", 2025)]
    tables = set(query_published_marts(marts, "select table_name from information_schema.tables")["table_name"])
    assert tables == {"indicators", "country_wages"}


def test_the_command_refuses_with_one_line_and_exit_1(root):
    env = {**os.environ, "DECENTWORK_DATA_DIR": str(root), "DECENTWORK_PSEUDONYM_KEY": SECRET}
    command = [str(Path(sys.executable).parent / "decentwork"), "query"]
    done = subprocess.run(
        [*command, ESCAPES["attach then read"].format(root=root)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.startswith("query refused:") and "Traceback" not in done.stderr
    assert PSEUDONYM not in done.stdout + done.stderr
    ok = subprocess.run(
        [*command, "select obs_value from indicators", "--format", "csv"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and ok.stdout.split() == ["obs_value", "1.5"]
