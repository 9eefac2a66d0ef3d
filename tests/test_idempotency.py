"""Idempotency and corrections at the level of the publication (issue 5).

Ingestion-level rules (one file delivered twice loads once, a later file supersedes, a same-name
correction replaces) are in test_ingest.py and the planted corrections in test_end_to_end.py; here whole
`decentwork run`s are compared with the clean reference run of test_crash_safety by content digest.
"""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from tests.test_crash_safety import decentwork_run, fresh_root, publication_digest, reference_run

pytestmark = pytest.mark.slow  # several full runs: run by CI after `make test` (.ci/run), or with -m slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return reference_run(tmp_path_factory)


def _staged(root, source: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in sorted((root / "staging" / source).glob("country=*/part-0.parquet"))])


def _quarantined(root, source: str) -> pl.DataFrame:
    return pl.concat(
        [pl.read_parquet(f) for f in sorted((root / "quarantine" / source).glob("country=*/quarantine.parquet"))]
    )


def test_loading_the_same_deliveries_again_publishes_identical_marts(reference):
    root = reference["base"] / "again" / "data"
    shutil.rmtree(root.parent, ignore_errors=True)
    shutil.copytree(reference["root"], root)  # warehouse, staging and Dagster instance of the clean run
    before = {s: _staged(root, s).drop("_loaded_at") for s in ("payroll", "factories")}
    assert "nothing to refresh" in decentwork_run(root)  # the publication already holds them: no run at all
    (root / "published-from.json").unlink()  # a refresh that cannot know: it loads them again, and nothing changes
    assert "refreshing all countries" in decentwork_run(root)
    assert publication_digest(root / "marts") == reference["digest"]
    for source, frame in before.items():
        assert _staged(root, source).drop("_loaded_at").equals(frame)
    assert _quarantined(root, "payroll").equals(_quarantined(reference["root"], "payroll"))


def test_a_correction_delivered_later_replaces_the_rows_it_corrects_and_they_stay_traceable(reference):
    superseded = reference["manifest"]["superseded_rows"]
    assert superseded
    correction = {row["by"] for row in superseded}
    assert len(correction) == 1
    correction = correction.pop()
    root = fresh_root(reference, "late-correction")
    held_back = root.parent / "held-back.csv"
    shutil.move(root / "raw" / correction, held_back)

    decentwork_run(root)  # the partner's first delivery only
    before = publication_digest(root / "marts")
    keys = pl.DataFrame(
        {"_source_file": [r["file"] for r in superseded], "_source_row": [r["row"] for r in superseded]}
    )
    staged = _staged(root, "payroll")
    assert staged.join(keys, on=["_source_file", "_source_row"]).height == len(superseded)
    first_pay = staged.join(keys, on=["_source_file", "_source_row"]).sort("_source_row")["basic_pay"]

    shutil.copy2(held_back, root / "raw" / correction)  # copy2 keeps its (later) delivery time
    decentwork_run(root)
    assert publication_digest(root / "marts") == reference["digest"]  # as if it had come with the rest
    assert before["indicators.parquet"] != reference["digest"]["indicators.parquet"]

    staged = _staged(root, "payroll")
    assert staged.join(keys, on=["_source_file", "_source_row"]).height == 0
    corrected = staged.filter(pl.col("_source_file") == correction).sort("_source_row")
    assert corrected.height == len(superseded)
    assert corrected["basic_pay"].to_list() == pytest.approx((first_pay * 1.02).round(2).to_list())
    quarantine = _quarantined(root, "payroll").join(keys, on=["_source_file", "_source_row"])
    assert quarantine.height == len(superseded)
    assert all(reason.startswith(f"superseded by {correction} row ") for reason in quarantine["reason"])
    files = pl.read_parquet(root / "quarantine" / "payroll" / f"country={superseded[0]['country']}" / "files.parquet")
    assert files.filter(pl.col("file") == superseded[0]["file"])["rows_superseded"].to_list() == [len(superseded)]
