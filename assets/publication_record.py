"""What the current publication was made from, so that a refresh with nothing to do ends at once, saying so.

The record (`Paths.publication_record`) holds, per country, the fingerprint of the deliveries the publication
read (those of the run's start, DELIVERIES_TAG; a country whose new data failed a gate and kept its previous rows
is left out, so the next refresh tries it again), and the code, reference data, dbt target and pseudonym key (by
fingerprint) it was made with. The publication writes it after the swap and removes it before (a run killed in
between leaves no record: the next refresh runs). `decentwork run` compares it with what is there now before it
imports Dagster: nothing new, no refresh.

Light on purpose: the command reads it before anything heavy is imported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

from assets.dbt_project import project_files
from decentwork.settings import REPO_ROOT, Paths, dbt_target

CODE_FOLDERS = ("assets", "pipelines", "schemas", "decentwork")


def code_fingerprint() -> str:
    """The code and the reference data a publication is made with: the house's Python and layouts, the dbt project
    (models, macros, seeds, tests, settings) and the Dagster instance's settings."""
    files = sorted(
        f for folder in CODE_FOLDERS for f in (REPO_ROOT / folder).rglob("*") if f.suffix in {".py", ".yaml", ".yml"}
    )
    files += [*project_files(), REPO_ROOT / "dagster.yaml"]
    digest = hashlib.sha256()
    for f in files:
        name = f.relative_to(REPO_ROOT) if f.is_relative_to(REPO_ROOT) else f
        digest.update(f"{name}\0".encode() + f.read_bytes())
    return digest.hexdigest()[:16]


def made_with(key_fingerprint: str) -> dict:
    """What besides the deliveries a publication depends on."""
    return {"code": code_fingerprint(), "target": dbt_target(), "key": key_fingerprint}


def read(paths: Paths) -> dict | None:
    try:
        return json.loads(paths.publication_record.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def forget(paths: Paths) -> None:
    """Before a publication is swapped in: until it has its record, none."""
    paths.publication_record.unlink(missing_ok=True)


def write(paths: Paths, deliveries: dict[str, str], kept_previous: set[str], made: dict) -> None:
    """After a publication is swapped in: the deliveries it read (a national refresh's added to those the previous
    record had for the other countries), minus the countries that kept their previous rows."""
    before = read(paths) or {}
    published = {**before.get("deliveries", {}), **deliveries} if before.get("made_with") == made else deliveries
    record = {
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "deliveries": {c: f for c, f in sorted(published.items()) if c not in kept_previous},
        "made_with": made,
    }
    partial = paths.publication_record.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(partial, paths.publication_record)


def nothing_new(paths: Paths, deliveries: dict[str, str], made: dict, country: str | None = None) -> str | None:
    """When the current publication already holds these deliveries (of `country`, or of every country) made the
    same way: the time it was published. Otherwise None."""
    record = read(paths)
    if record is None or record.get("made_with") != made or not (paths.marts / "indicators.parquet").exists():
        return None
    published = record.get("deliveries", {})
    if country is not None:
        same = country in deliveries and published.get(country) == deliveries[country]
    else:
        same = published == deliveries
    return record.get("published_at") if same and _warehouse_opens(paths) else None


def _warehouse_opens(paths: Paths) -> bool:
    """A warehouse that cannot be opened (corrupted, or held by a refresh in progress) is something to do: the
    refresh sets an unusable one aside and rebuilds it from staging, or queues behind the one in progress."""
    import duckdb

    if not paths.warehouse.exists():
        return False
    try:
        duckdb.connect(str(paths.warehouse), read_only=True).close()
    except duckdb.Error:
        return False
    return True
