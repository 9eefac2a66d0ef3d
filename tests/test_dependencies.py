"""Every third-party module the house imports is a declared dependency of the part that needs it.

A plain `pip install .` must run the pipeline and publish (issue 22: sdmx1 was a dev extra while every publication
imported it). The imports are read from the code (ast), not listed by hand, and mapped to the distributions that
provide them; each must be named in pyproject.toml's runtime dependencies, or in the extra that a lazy import
(inside a function) needs: PostgreSQL's driver only with the `postgres` extra.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOUSE = ("assets", "pipelines", "schemas", "decentwork")
OWN = set(HOUSE)
# imports that only an optional setting reaches, and the extra that provides them
OPTIONAL = {"psycopg2": "postgres"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_modules() -> dict[str, list[str]]:
    """Top-level module -> the files importing it, for every file of the house."""
    found: dict[str, list[str]] = {}
    for folder in HOUSE:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in OWN and top not in sys.stdlib_module_names and top != "__future__":
                        found.setdefault(top, []).append(str(path.relative_to(REPO)))
    return found


def test_every_third_party_import_is_declared_where_it_is_needed():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {extra: {_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    providers = importlib.metadata.packages_distributions()
    missing = []
    for module, files in sorted(_imported_modules().items()):
        distributions = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert distributions, f"{module} (imported by {files}) is provided by no installed distribution"
        declared = extras[OPTIONAL[module]] if module in OPTIONAL else runtime
        if not distributions & declared:
            missing.append(f"{module} ({'/'.join(sorted(distributions))}), imported by {sorted(set(files))}")
    assert not missing, "imported but not declared where needed:\n" + "\n".join(missing)


def test_heavy_and_tool_only_packages_stay_out_of_the_runtime():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    assert not runtime & {"pyspark", "dbt-spark", "psutil", "pytest", "ruff", "sqlfluff"}, runtime


def test_the_lock_pins_every_declared_requirement_at_its_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = dict(
        line.split("==")
        for line in (REPO / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    )
    lock = {k.lower().replace("_", "-"): v for k, v in lock.items()}
    requirements = project["dependencies"] + [r for reqs in project["optional-dependencies"].values() for r in reqs]
    for requirement in requirements:
        name = _name(requirement)
        assert name in lock, f"{name} is not in requirements.lock: run the command at its top"
        pinned = re.search(r"==([^;\s]+)", requirement)
        if pinned:
            assert lock[name] == pinned.group(1), f"{name}: pyproject pins {pinned.group(1)}, the lock {lock[name]}"
