"""An attacker tries to recover suppressed cells of the published indicators (issue 3, spec: disclosure control).

The attacker holds everything published: values, statuses, n_workers and n_factories of every cell. Four
recovery equations are tried on every suppressed cell:

- sex differencing: SEX_T and the other sex stand with their counts, so
  v_F ~ (n_T * v_T - n_M * v_M) / (n_T - n_M);
- gap inversion: a published gap and the other sex's mean give v_F = v_M * (1 - gap / 100) (and back);
- pooled differencing: X_BW and every other country stand, so the lone suppressed country follows from
  the pooled value less the others, weighted by their counts;
- another currency: the same cell in USD or PPP dollars is published, so LCU = USD x rate.

Against the published table no equation may even be computable. Against the same cells under primary
suppression only, the attack must recover true values (in the default test sample: 8 means exactly by gap
inversion, 23 cells by pooled differencing, 22 of them exactly where the counts are the rate's own
denominator; sex differencing and another currency find nothing there in this sample, since a sex
breakdown without SEX_T has no total and the currencies share their counts) (the truth comes from the independent recomputation
of test_indicators_independent), which shows the attack is real and the secondary rules are what stop it.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from tests.test_indicators_independent import KEY, POOLED, disclose, published_sample, recompute

CELL = ["ref_area", "indicator", "classif1", "time"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return published_sample(tmp_path_factory)


@pytest.fixture(scope="module")
def truth(sample) -> pl.DataFrame:
    return recompute(sample["root"])


def _rows(table: pl.DataFrame) -> dict[tuple, dict]:
    return {tuple(r[k] for k in KEY): r for r in table.iter_rows(named=True)}


def attack(table: pl.DataFrame) -> list[dict]:
    """Every recovery equation computable from the published parts of `table`: the target cell and its estimate."""
    rows = _rows(table)
    shown = {k: r for k, r in rows.items() if r["obs_status"] != "C" and r["obs_value"] is not None}
    found = []
    for key, row in rows.items():
        if row["obs_status"] != "C":
            continue
        area, indicator, sex, classif1, time = key
        # sex differencing
        if sex in ("SEX_F", "SEX_M"):
            other = (area, indicator, "SEX_M" if sex == "SEX_F" else "SEX_F", classif1, time)
            total = (area, indicator, "SEX_T", classif1, time)
            if other in shown and total in shown and shown[total]["n_workers"] and shown[other]["n_workers"] is not None:
                n_t, n_o = shown[total]["n_workers"], shown[other]["n_workers"]
                if n_t > n_o:
                    estimate = (n_t * shown[total]["obs_value"] - n_o * shown[other]["obs_value"]) / (n_t - n_o)
                    found.append({"key": key, "attack": "sex differencing", "estimate": estimate})
        # gap inversion: a country's raw gap is in its own currency, the pooled one in PPP dollars
        own_currency = "CUR_TYPE_PPP" if area == POOLED else "CUR_TYPE_LCU"
        if indicator == "EAR_MEAN_HOURLY" and sex in ("SEX_F", "SEX_M") and not (classif1.startswith("CUR_TYPE_") and classif1 != own_currency):
            gap = shown.get((area, "GPG_MEAN_HOURLY", "SEX_T", "_Z" if classif1 == own_currency else classif1, time))
            other = shown.get((area, indicator, "SEX_M" if sex == "SEX_F" else "SEX_F", classif1, time))
            if gap and other:
                g = gap["obs_value"] / 100
                estimate = other["obs_value"] * (1 - g) if sex == "SEX_F" else other["obs_value"] / (1 - g)
                found.append({"key": key, "attack": "gap inversion", "estimate": estimate})
        # pooled differencing
        if area != POOLED and row["n_workers"] is not None:
            pooled = shown.get((POOLED, indicator, sex, classif1, time))
            others = [r for k, r in rows.items() if k[0] not in (area, POOLED) and k[1:] == key[1:]]
            if pooled and pooled["n_workers"] and all(tuple(r[c] for c in KEY) in shown for r in others):
                rest = sum(r["n_workers"] * r["obs_value"] for r in others)
                n_rest = sum(r["n_workers"] for r in others)
                if pooled["n_workers"] > n_rest:
                    estimate = (pooled["n_workers"] * pooled["obs_value"] - rest) / (pooled["n_workers"] - n_rest)
                    found.append({"key": key, "attack": "pooled differencing", "estimate": estimate})
        # the same cell in another currency
        if classif1.startswith("CUR_TYPE_"):
            for currency in ("CUR_TYPE_LCU", "CUR_TYPE_USD", "CUR_TYPE_PPP"):
                if currency != classif1 and (area, indicator, sex, currency, time) in shown:
                    found.append({"key": key, "attack": "another currency", "estimate": None})
    return found


def _recovered(found: list[dict], truth: pl.DataFrame, rel: float) -> list[dict]:
    true = {k: r["obs_value"] for k, r in _rows(truth.with_columns(pl.lit(None, pl.String).alias("obs_status"))).items()}
    return [f for f in found if f["estimate"] is not None and math.isclose(f["estimate"], true[f["key"]], rel_tol=rel)]


def test_no_suppressed_cell_can_be_recovered_from_the_published_table(sample):
    published = sample["published"]
    assert (published["obs_status"] == "C").sum() > 20, "the sample must suppress cells for this test to mean anything"
    found = attack(published)
    assert found == [], f"{len(found)} recovery equations are computable, e.g. {found[:5]}"


def test_the_attack_recovers_cells_under_primary_suppression_alone(truth):
    primary_only = disclose(truth, secondary=False)
    found = attack(primary_only)
    kinds = {f["attack"] for f in found}
    assert {"gap inversion", "pooled differencing"} <= kinds, kinds
    exact = _recovered([f for f in found if f["attack"] == "gap inversion"], truth, rel=1e-9)
    assert exact, "a gap and the other sex's mean give a suppressed mean back exactly"
    close = _recovered([f for f in found if f["attack"] == "pooled differencing"], truth, rel=0.05)
    assert close, "the pooled row less the other countries gives a lone suppressed country back approximately"
