"""Shared fixtures: a temporary data root so no test touches data/, the session's scenario sample published once
(tests/scenario.py), and `decentwork` commands run in this process."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from decentwork.settings import Paths

PAYROLL_HEADER = (
    "factory_id,period,employee_no,national_id,worker_name,sex,birth_date,hire_date,occupation,contract_type,pay_basis,"
    "days_worked,regular_hours,overtime_hours,basic_pay,overtime_pay,allowances,bonuses,deductions,"
    "social_security_employee,net_pay,currency,payment_method"
)
REGISTER_HEADER = (
    "ID,Name,Country Code,State,Enrolment Date,Status,Total Workers,Female Workers,Male Workers,First Product"
)


# Test files with a minute or more of work, longest first (CI's `--durations` lists them): pytest-xdist gives them
# out first, so that no worker is left alone with one at the end. make test's, then the slow tests'.
LONGEST_FILES = (
    "test_site_browser.py",
    "test_deliveries_end_to_end.py",
    "test_operations.py",
    "test_bad_deliveries.py",
    "test_pooled_parts.py",
    "test_spark.py",
    "test_crash_safety.py",
    "test_daemon.py",
    "test_run_operations.py",
    "test_idempotency.py",
    "test_risk_end_to_end.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order in which pytest-xdist hands out test files (pyproject.toml: `--dist loadfile
    --no-loadscope-reorder`): first the longest file that needs the scenario sample (its worker builds the sample),
    then every file that does not need it (the other worker runs them meanwhile instead of waiting for the
    sample's lock), then the other files, the longest first. Tests keep their order within a file."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)

    def needs_scenario(name: str) -> bool:
        return any("scenario" in item.fixturenames for item in files[name])

    def longest_first(name: str) -> int:
        base = Path(name).name
        return LONGEST_FILES.index(base) if base in LONGEST_FILES else len(LONGEST_FILES)

    with_scenario = sorted((n for n in files if needs_scenario(n)), key=longest_first)
    without = sorted((n for n in files if not needs_scenario(n)), key=longest_first)
    order = with_scenario[:1] + without + with_scenario[1:]
    items[:] = [item for name in order for item in files[name]]


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    root = tmp_path / "data"
    (root / "raw").mkdir(parents=True)
    monkeypatch.setenv("DECENTWORK_DATA_DIR", str(root))
    return Paths(root)


def deliver(paths: Paths, source: str, country: str, name: str, text: str, mtime: float | None = None) -> Path:
    """Drop a delivery under raw/<source>/<country>/ (optionally with a delivery time)."""
    target = paths.raw_dir(source, country) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(target, (mtime, mtime))
    return target


@dataclass
class Done:
    """What a command run in this process did: as subprocess.CompletedProcess has it."""

    returncode: int
    stdout: str
    stderr: str


def decentwork(root: Path, *args: str, key: str | None = None, env: dict[str, str | None] | None = None) -> Done:
    """`decentwork <args>` on data root `root`, run in this process (the command's own main; Dagster, dbt and the
    rest imported once per test session). `env` sets (or, with None, removes) variables while it runs; the
    environment is restored after. For the tests of the pipeline's behaviour; tests of the command's process
    itself (crash safety, start-up refusals) start it as a child."""
    from decentwork import cli

    before = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ["DECENTWORK_DATA_DIR"] = str(root)
        if key is not None:
            os.environ["DECENTWORK_PSEUDONYM_KEY"] = key
        for name, value in (env or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
                if not isinstance(exc.code, int) and exc.code is not None:
                    print(exc.code, file=err)
    finally:
        os.environ.clear()
        os.environ.update(before)
    return Done(code or 0, out.getvalue(), err.getvalue())


def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's temporary folder that every pytest-xdist worker sees (its own basetemp without workers)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The scenario sample (tests/scenario.py) generated and published by one `decentwork run`, shared by every
    end-to-end test of the session: with pytest-xdist's workers too (the first to ask builds it, under a file lock,
    in the folder the workers share; the others wait and read it). Read it; a test that changes it works on
    `copy_root` of it."""
    import json

    import polars as pl
    from filelock import FileLock

    from tests import scenario as plan

    shared = shared_folder(tmp_path_factory)
    root, record = shared / "scenario" / "data", shared / "scenario" / "built.json"
    with FileLock(str(shared / "scenario.lock")):
        if not record.exists():
            manifest = plan.build(root / "raw")
            done = decentwork(root, "run", key=plan.KEY, env={"DECENTWORK_DATA_DOCS": "off"})  # no test reads its pages
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
            record.write_text(json.dumps({"manifest": manifest, "done": done.__dict__}), encoding="utf-8")
        built = json.loads(record.read_text(encoding="utf-8"))
    return {
        "root": root,
        "paths": Paths(root),
        "manifest": built["manifest"],
        "plants": built["manifest"]["plants"],
        "done": Done(**built["done"]),
        "published": pl.read_parquet(root / "marts" / "indicators.parquet"),
    }
