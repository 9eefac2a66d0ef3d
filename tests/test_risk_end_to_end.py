"""The risk ranking end to end (issue 31): generated samples of three years, with the planted payroll relation and
without it, through `decentwork sample` and `decentwork run`, then `decentwork risk`.

The planted relation must travel from the generator's payroll through ingestion, the warehouse and the features to
the model: with `--risk-signal 1` underpaying factories are more often non-compliant on compensation at their next
assessment, heavy-overtime ones on working time. With `--risk-signal 0` no payroll trait is tied to a finding (the
factories' own persistence and their improvement over cycles remain, as in real data, so the model may still beat
random through the earlier findings and years in the programme; `tests/test_risk.py` tests the pure null on
synthetic data). Slow: two full runs, about a minute each.
"""

from __future__ import annotations

import csv
import json
import stat

import duckdb
import pytest

from assets.risk.ranking import FOLDER, RANKING_COLUMNS
from tests.conftest import decentwork

pytestmark = pytest.mark.slow  # two full runs: run by CI after `make test` (.ci/run), or with -m slow

SAMPLE = ("--factories", "80", "--workers", "2400", "--months", "36")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    out = {}
    for signal in ("1", "0"):
        root = tmp_path_factory.mktemp(f"risk-signal-{signal}") / "data"
        done = decentwork(root, "sample", *SAMPLE, "--risk-signal", signal, "--out", str(root / "raw"))
        assert done.returncode == 0, done.stderr
        done = decentwork(root, "run", env={"DECENTWORK_DATA_DOCS": "off"})
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        out[signal] = {"root": root, "evaluation": json.loads((root / FOLDER / "evaluation.json").read_text())}
    return out


def _held_back(evaluation: dict, cluster: str) -> dict:
    return next(v for v in evaluation["evaluation"]["clusters"][cluster]["years"].values() if v.get("held_back"))


def _weight(evaluation: dict, cluster: str, feature: str) -> float:
    return evaluation["models"][cluster]["coefficients"].get(feature, 0.0)


def test_the_planted_payroll_relation_is_found_and_absent_without_the_signal(runs):
    signal, quiet = runs["1"]["evaluation"], runs["0"]["evaluation"]
    assert signal["evaluation"]["planning_years"] == [2024, 2025]  # two test years, the last held back
    for cluster, feature in (
        ("CLU_COMPENSATION", "below_minimum_share"),
        ("CLU_WORKING_TIME", "excess_overtime_share"),
    ):
        held = _held_back(signal, cluster)
        model = held["results"]["model"]["pr_auc"]
        # a random ranking's expected average precision is the base rate
        assert model["value"] > held["base_rate"] + 0.1, (cluster, model, held["base_rate"])
        assert model["value"] > held["results"]["non-compliant last time"]["pr_auc"]["value"], cluster
        assert _weight(signal, cluster, feature) > 0.1, (cluster, signal["models"][cluster]["coefficients"])
        assert abs(_weight(quiet, cluster, feature)) < _weight(signal, cluster, feature) / 2, cluster
    # the survey has a round in every year, so its concern rate is a feature with a weight somewhere
    assert any(abs(m["coefficients"].get("survey_concern_rate", 0.0)) > 0.01 for m in signal["models"].values())


def test_the_evaluation_reports_calibration_reliability_groups_and_the_challenger(runs):
    evaluation = runs["1"]["evaluation"]
    for cluster, entry in evaluation["evaluation"]["clusters"].items():
        held = _held_back(evaluation, cluster)
        assert {"model", "challenger", "random", "non-compliant last time", "red flags"} == set(held["results"])
        assert sum(b["rows"] for b in held["calibration"]["reliability"]) == held["rows"], cluster
        assert set(held["by_group"]["size_band"]) <= {"small", "medium", "large"}
        assert isinstance(entry["challenger_adopted"], bool)
        if entry["challenger_adopted"]:
            assert "challenger" in evaluation["models"][cluster]
    card = (runs["1"]["root"] / FOLDER / "model_card.md").read_text()
    assert "**Reliability**" in card and "**Challenger.**" in card and "No model" not in card


def test_the_ranking_lists_every_country_for_the_inspectorate_only(runs):
    root = runs["1"]["root"]
    folder = root / FOLDER
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in folder.iterdir())
    with (folder / "ranking.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == RANKING_COLUMNS
    countries = {r["country"] for r in rows}
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        with_payroll = {
            c for (c,) in con.execute("select distinct country from intermediate.int_worker_months").fetchall()
        }
    assert countries == with_payroll and len(countries) >= 4
    for country in countries:
        ranks = [int(r["rank"]) for r in rows if r["country"] == country]
        assert sorted(ranks) == list(range(1, len(ranks) + 1)), country
        risks = [
            float(r["risk_ratio"])
            for r in sorted((r for r in rows if r["country"] == country), key=lambda r: int(r["rank"]))
        ]
        assert risks == sorted(risks, reverse=True), country
    assert all(r["band"] in {"high", "medium", "low"} and r["inspector_decision"] == "" for r in rows)
    assert all(r["reasons"] for r in rows if r["rank"] == "1")
    published = [p.name for p in (root / "marts").rglob("*")]
    assert not any(n == "ranking.csv" or n.endswith(".skops") or n == "model_card.md" for n in published)

    done = decentwork(root, "risk", "--country", "KHM", "--capacity", "3")
    assert done.returncode == 0, done.stderr
    khm = [r for r in rows if r["country"] == "KHM"]
    top = sorted(khm, key=lambda r: int(r["rank"]))[:3]
    assert all(r["factory_name"] in done.stdout for r in top)
    fourth = sorted(khm, key=lambda r: int(r["rank"]))[3:4]
    assert not fourth or fourth[0]["factory_name"] not in done.stdout


def test_the_same_warehouse_gives_the_same_snapshot_and_model_hashes_in_another_process(runs, tmp_path):
    """Each build in its own process (DuckDB's row order and float sums may differ between processes; the snapshot
    and the models must not)."""
    import subprocess
    import sys

    root = runs["1"]["root"]
    hashes = []
    for name in ("again", "once more"):
        out = tmp_path / name
        code = (
            "import sys; from pathlib import Path; from assets.risk.ranking import build; "
            "r = Path(sys.argv[1]); build(r / 'warehouse.duckdb', r / 'staging', Path(sys.argv[2]))"
        )
        subprocess.run([sys.executable, "-c", code, str(root), str(out)], check=True)
        evaluation = json.loads((out / "evaluation.json").read_text())
        hashes.append(
            (evaluation["training_snapshot_sha256"], {c: m["sha256"] for c, m in evaluation["models"].items()})
        )
    original = runs["1"]["evaluation"]
    assert (
        hashes[0]
        == hashes[1]
        == (
            original["training_snapshot_sha256"],
            {c: m["sha256"] for c, m in original["models"].items()},
        )
    )
