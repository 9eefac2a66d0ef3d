"""The Dagster Definitions load and the asset graph is the one the README describes."""

import dagster as dg

from decentwork.settings import SOURCES
from pipelines.definitions import defs


def asset_graph():
    return defs.resolve_asset_graph()


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("refresh") is not None


def test_ingestion_assets_are_country_partitioned_and_feed_dbt_sources():
    graph = asset_graph()
    for source in SOURCES:
        node = graph.get(dg.AssetKey(["staging", source]))
        assert node.partitions_def is not None
        assert {"BGD", "KHM", "VNM", "IDN", "JOR"} <= set(node.partitions_def.get_partition_keys())
        assert node.child_keys, f"staging/{source} feeds no dbt model"
    # every other source checks factory ids against the register, so it waits for it
    assert dg.AssetKey(["staging", "factories"]) in graph.get(dg.AssetKey(["staging", "payroll"])).parent_keys


def ancestors(graph, key):
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_indicators_mart_is_built_by_dbt_from_every_extract_and_published():
    graph = asset_graph()
    indicators = graph.get(dg.AssetKey(["marts", "indicators"]))
    assert indicators.group_name == "marts"
    assert dg.AssetKey(["published_marts"]) in indicators.child_keys
    assert {dg.AssetKey(["staging", s]) for s in SOURCES} <= ancestors(graph, dg.AssetKey(["marts", "indicators"]))


def test_disclosure_control_stands_between_the_cells_and_the_marts():
    """The marts read only the disclosure-controlled cells: no published model depends on the cells directly."""
    graph = asset_graph()
    controlled = dg.AssetKey(["disclosure", "controlled_cells"])
    node = graph.get(controlled)
    assert node.group_name == "disclosure"
    assert {k.path[-1] for k in node.parent_keys} == {
        "int_coverage",
        "int_indicator_cells",
        "int_factory_contributions",
    }
    indicators = graph.get(dg.AssetKey(["marts", "indicators"]))
    assert indicators.parent_keys == {controlled}
    cells = next(k for k in node.parent_keys if k.path[-1] == "int_indicator_cells")
    assert not [k for k in graph.get(cells).child_keys if k.path[0] == "marts"]


def test_dbt_runs_in_this_process_without_a_child(tmp_path, monkeypatch):
    """A refresh's dbt builds run in its own process (assets/dbt_runner.py): no `dbt` child process, whose imports and
    parse cost about 5 s a build."""
    import subprocess

    from assets.dbt_runner import invoke

    started = subprocess.Popen.__init__

    def refuse_dbt(self, command, *args, **kwargs):
        program = command[0] if isinstance(command, (list, tuple)) else str(command).split()[0]
        assert not str(program).endswith("dbt"), f"a dbt child process was started: {command}"
        started(self, command, *args, **kwargs)  # Python's `platform` asks `uname`: not dbt

    monkeypatch.setenv("DECENTWORK_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_dbt)
    done = invoke(["ls", "--select", "stg_factories", "--quiet"], tmp_path / "dbt")
    assert done.success, done.problems
    again = invoke(["ls", "--select", "no_such_model", "--quiet"], tmp_path / "dbt")  # a second invocation
    assert again.success
