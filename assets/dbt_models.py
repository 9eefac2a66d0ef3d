"""The dbt project as Dagster assets: seeds, staging, intermediate and mart models, and their tests."""

import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DbtProject, dbt_assets

from assets.dbt_project import WAREHOUSE_POOL, project_files
from assets.dbt_runner import build_events
from assets.deliveries import fingerprint
from assets.ingestion.stage import staged_period_digests
from decentwork.settings import DBT_PROJECT_DIR, Paths, dbt_target, paths

REFRESH_COUNTRIES_VARIABLE = "DECENTWORK_REFRESH_COUNTRIES"  # read by dbt_project/macros/incremental.sql
REFRESH_MONTHS_VARIABLE = "DECENTWORK_REFRESH_MONTHS"  # the same
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=dbt_target())


class Translator(DagsterDbtTranslator):
    """dbt sources are the ingestion assets (staging/<source>); models keep <schema>/<name>;
    asset groups are named after the dbt folder (staging, intermediate, marts; seeds: reference)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            folder = "staging" if dbt_resource_props["source_name"] == "extracts" else dbt_resource_props["source_name"]
            return dg.AssetKey([folder, dbt_resource_props["name"]])  # staging/<extract>, disclosure/controlled_cells
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"


MARTS = "path:models/marts"  # the published models, built after disclosure control (dbt selection syntax)


def _models() -> list[dict]:
    manifest = json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))
    return [node for node in manifest["nodes"].values() if node["resource_type"] == "model"]


def mart_asset_keys() -> list[dg.AssetKey]:
    """Asset keys of the published dbt models (folder models/marts): what the publication waits for."""
    return [Translator().get_asset_key(node) for node in _models() if node["fqn"][1:2] == ["marts"]]


def model_asset_key(name: str) -> dg.AssetKey:
    (node,) = [node for node in _models() if node["name"] == name]
    return Translator().get_asset_key(node)


def build_inputs(p: Paths) -> dict[str, Any]:
    """Fingerprints of what the warehouse is built from: the dbt project's files (models, macros, seeds,
    settings) and, per country and source, its staged files, fingerprinted like the sensor's deliveries (name,
    size, modification time: ingestion rewrites a country's files only when it reloads that country), with the
    period digests of the sources keyed by month (assets/ingestion/stage.py: period_digests)."""
    project = hashlib.sha256()
    for f in project_files():
        project.update(f"{f.relative_to(DBT_PROJECT_DIR)}\0".encode() + f.read_bytes())
    staged: dict[str, dict[str, list[Path]]] = {}
    for f in p.staged_files():
        source, country = p.partition_of(f)
        staged.setdefault(country, {}).setdefault(source, []).append(f)
    return {
        "project": project.hexdigest(),
        "countries": {
            country: {source: _staged_state(p, source, files) for source, files in sorted(sources.items())}
            for country, sources in sorted(staged.items())
        },
    }


# The staged sources whose rows int_worker_months reads month by month: a change confined to some of their months
# rebuilds those months' worker-months (dbt_project/macros/incremental.sql: refreshed_months_condition).
MONTHLY_SOURCES = ("payroll", "social_security")


def _staged_state(p: Paths, source: str, files: list[Path]) -> dict[str, Any]:
    """A source's staged files (name, size, modification time) and, of a monthly source, their period digests
    (None when a file has none); the other sources' footers are not read."""
    stats = [(f, f.stat()) for f in files]
    described = [[f.relative_to(p.staging).as_posix(), st.st_size, st.st_mtime_ns] for f, st in stats]
    digests = [staged_period_digests(f) for f in files] if source in MONTHLY_SOURCES else [None]
    periods = None
    if all(d is not None for d in digests):
        periods = {period: "+".join(d.get(period, "") for d in digests) for period in sorted(set().union(*digests))}
    return {"files": fingerprint(described), "periods": periods}


MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
ISO3 = re.compile(r"[A-Z]{3}")


def countries_to_rebuild(p: Paths, inputs: dict[str, Any]) -> dict[str, list[str] | None] | None:
    """What the next build must rebuild since the last successful one: None for the whole warehouse (no record of
    a build: first run, or the last build failed or was killed before it finished; another dbt project; a country
    gone from staging; every country changed and none of them by month), else {country: its months to rebuild, or
    None for the whole country} for each country whose staged files changed. A country is rebuilt by month when
    only its payroll or social security changed, each with the digests of its months, before and after: the months
    whose digest differs (added, withdrawn or changed) in either source."""
    try:
        last = json.loads(p.build_state.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if not p.warehouse.exists() or last.get("project") != inputs["project"]:
        return None
    before, now = last.get("countries", {}), inputs["countries"]
    # the countries are written into SQL (macros/incremental.sql): a staged folder named otherwise gives a full build
    if set(before) - set(now) or not all(ISO3.fullmatch(country) for country in now):
        return None
    changed = sorted(c for c in now if before.get(c) != now[c])
    plan = {country: _months_changed(before.get(country), now[country]) for country in changed}
    # every country rebuilt whole is a full build (tables created, not sliced); months of any country are not
    if len(changed) == len(now) and all(months is None for months in plan.values()):
        return None
    return plan


def _months_changed(before: dict | None, now: dict) -> list[str] | None:
    """The months whose digests differ in a country's monthly sources, or None if anything else changed or a
    digest is missing (a file staged before they were recorded)."""
    if not isinstance(before, dict) or set(before) != set(now):
        return None
    months: set[str] = set()
    for source in now:
        old, new = before[source], now[source]
        if old == new:
            continue
        if source not in MONTHLY_SOURCES or not isinstance(old, dict) or None in (old.get("periods"), new["periods"]):
            return None
        months |= {
            m for m in set(old["periods"]) | set(new["periods"]) if old["periods"].get(m) != new["periods"].get(m)
        }
    # the months are written into SQL (macros/incremental.sql): anything but YYYY-MM rebuilds the whole country
    return sorted(months) if all(MONTH.fullmatch(m) for m in months) else None


def plan_variables(plan: dict[str, list[str] | None] | None) -> dict[str, str | None]:
    """The environment of dbt for a build plan (`countries_to_rebuild`): the refreshed countries, and the months of
    those rebuilt by month as `ISO3=YYYY-MM YYYY-MM,...` (no variable: every country, every month)."""
    if plan is None:
        return {REFRESH_COUNTRIES_VARIABLE: None, REFRESH_MONTHS_VARIABLE: None}
    by_month = [f"{country}={' '.join(months)}" for country, months in plan.items() if months is not None]
    return {REFRESH_COUNTRIES_VARIABLE: ",".join(plan), REFRESH_MONTHS_VARIABLE: ",".join(by_month)}


def describe_plan(plan: dict[str, list[str] | None]) -> str:
    """`KHM (months 2025-12), VNM` for the log; `no country` for an empty plan."""

    def one(country: str, months: list[str] | None) -> str:
        if months is None:
            return country
        return f"{country} ({'months ' + ', '.join(months) if months else 'no month'})"

    return ", ".join(one(country, months) for country, months in plan.items()) or "no country"


def set_aside_unusable_warehouse(p: Paths) -> str | None:
    """A warehouse DuckDB cannot open (a corrupted file, a disk that filled up mid-write) is moved aside, so
    dbt rebuilds it from staging: it holds nothing staging does not. Returns what was done, or None."""
    if not p.warehouse.exists():
        return None
    try:
        duckdb.connect(str(p.warehouse), read_only=True).close()
        return None
    except duckdb.Error as exc:
        problem = str(exc).strip().splitlines()[0]
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = p.warehouse.with_name(f"{p.warehouse.name}.unusable-{stamp}")
    os.replace(p.warehouse, aside)
    for extra in (p.warehouse.with_name(p.warehouse.name + ".wal"), p.build_state):
        extra.unlink(missing_ok=True)
    return (
        f"the warehouse {p.warehouse} could not be opened ({problem}): set aside as {aside.name}, rebuilt from staging"
    )


def _record_build(p: Paths, inputs: dict[str, Any]) -> None:
    partial = p.build_state.with_suffix(".partial")
    partial.write_text(json.dumps(inputs, indent=2), encoding="utf-8")
    os.replace(partial, p.build_state)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=Translator(),
    pool=WAREHOUSE_POOL,
    exclude=MARTS,
    name="warehouse_models",
)
def warehouse_models(context: dg.AssetExecutionContext):
    """`dbt build` of every model but the published marts, with its data tests: seeds, staging, intermediate
    up to the indicator cells. Disclosure control (assets/disclosure/asset.py) runs next, then `mart_models`.

    The unit tests (fixed inputs, hand-worked outputs) are left to the test suite
    (tests/test_dbt_unit_coverage.py runs them against a built warehouse), as dbt advises for production:
    they cannot change with the data, and six of them sat on the build's critical path (about 7 s).

    On DuckDB the worker-level models are incremental by country (dbt_project/macros/incremental.sql):
    a national refresh rebuilds only the slices of the countries whose staged files changed since the last
    successful build, so it costs that country's share plus the models over all countries. Of a country whose
    change is confined to months of its payroll or social security, `int_worker_months` rebuilds those months only
    (REFRESH_MONTHS_VARIABLE; `countries_to_rebuild` says when). The seeds are loaded
    only by a full build (a changed project, the seeds among its files, always gives one). A build that
    fails or is killed leaves no record, and the next run rebuilds what it would have.

    The plan reaches dbt in the environment (`plan_variables`), not as `--vars`: the project is
    parsed once per process (assets/dbt_runner.py), and command-line vars would be part of that parse.
    dbt runs in this process. Artifacts go to one folder per data root (Paths.dbt_artifacts; runs queue in the
    warehouse pool), not dagster-dbt's default of a new folder per run, which piled up 5 MB of artifacts per
    refresh."""
    p = paths()
    args = ["--exclude-resource-type", "unit_test"]
    inputs = plan = None
    if dbt_target() == "duckdb":
        set_aside = set_aside_unusable_warehouse(p)
        if set_aside:
            context.log.warning(set_aside)
        inputs = build_inputs(p)
        plan = countries_to_rebuild(p, inputs)
        if plan is None:
            context.log.info("dbt: full build of every country's worker-level models")
            args.append("--full-refresh")
        else:
            # the same project as the last successful build: its seeds (reference data) are in the warehouse already
            args += ["--exclude-resource-type", "seed"]
            context.log.info(
                f"dbt: worker-level models rebuilt for {describe_plan(plan)}; other countries kept; "
                "reference seeds unchanged"
            )
        p.build_state.unlink(missing_ok=True)  # until this build succeeds, nothing is known to be current
    yield from build_events(context, args, p.dbt_artifacts, plan_variables(plan))
    if inputs is not None:
        _record_build(p, inputs)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=Translator(),
    pool=WAREHOUSE_POOL,
    select=MARTS,
    name="mart_models",
)
def mart_models(context: dg.AssetExecutionContext):
    """`dbt build` of the published marts and their tests, from the disclosure-controlled cells (the second dbt
    invocation of a refresh, in the same process as the first)."""
    yield from build_events(context, ["--exclude-resource-type", "unit_test"], paths().dbt_artifacts)
