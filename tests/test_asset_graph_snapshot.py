"""The asset graph, snapshotted: every asset key with its group, its partitioning and its upstream keys, and every
asset check, as text in tests/snapshots/asset_graph.txt.

A change to the graph (a model added, renamed, regrouped, rewired) fails here until the snapshot is written
again and the diff reviewed with the change:

    DECENTWORK_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_asset_graph_snapshot.py
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def describe_graph() -> str:
    graph = defs.resolve_asset_graph()
    lines = ["# asset key | group | partitioned | upstream keys  (tests/test_asset_graph_snapshot.py writes this)"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitioned = "by country" if node.partitions_def is not None else "-"
        parents = ", ".join(sorted(k.to_user_string() for k in node.parent_keys)) or "-"
        lines.append(f"{key.to_user_string()} | {node.group_name} | {partitioned} | {parents}")
    lines.append("# asset checks")
    lines += sorted(f"{check.asset_key.to_user_string()}:{check.name}" for check in graph.asset_check_keys)
    return "\n".join(lines) + "\n"


def test_the_asset_graph_matches_its_snapshot():
    now = describe_graph()
    if os.environ.get("DECENTWORK_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(now, encoding="utf-8")
    assert SNAPSHOT.exists(), (
        f"no snapshot yet: write it with DECENTWORK_UPDATE_SNAPSHOTS=1 ({__doc__.splitlines()[-2]})"
    )
    assert now == SNAPSHOT.read_text(encoding="utf-8"), (
        "the asset graph changed: review the difference and, if it is meant, write the snapshot again with "
        "DECENTWORK_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_asset_graph_snapshot.py"
    )
