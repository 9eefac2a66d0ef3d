"""The inspectors' risk ranking (issue 31): tests that show it is honest.

On synthetic factory-month aggregates and assessments made here (the truth known: a planted relation between
underpayment and later compensation findings, or none): no feature uses data from after its planning date, and a
planted leak is refused; shuffled labels give about the base rate; the planted relation is recovered and the
no-signal sample shows no lift; the same snapshot and seed give the same artefact hash; adopting digital pay or
registering workers never raises a factory's risk; no share of women and no worker key among the features. On the
scenario sample's run: the ranking is written for the inspectorate only (owner-only files, apart from the
publication), with no worker pseudonym in it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import stat

import numpy as np
import polars as pl
import pytest

from assets.risk import features as ft
from assets.risk import model as md
from assets.risk.ranking import FOLDER, stable_skops

YEARS = (2021, 2022, 2023, 2024, 2025)
RESAMPLES = 60  # the intervals' bootstrap, lighter than the ranking's 200


def synthetic(signal: bool, factories: int = 240, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Factory-months, assessments and register of one country: a fifth of the factories underpay; with `signal`,
    their next assessments find compensation non-compliance far more often (0.75 against 0.25)."""
    rng = np.random.default_rng(seed)
    low_payer = rng.random(factories) < 0.2
    size = rng.integers(15, 300, factories)  # workers: small to large factories
    months, found = [], []
    for f in range(factories):
        n = int(size[f])
        for year in YEARS:
            for month in range(1, 13):
                below = rng.binomial(n, 0.2 if low_payer[f] else 0.02)
                registered = n - rng.binomial(n, 0.05)
                months.append(
                    (
                        f,
                        f"{year}-{month:02d}",
                        n,
                        n,
                        below,
                        below * 0.1,
                        rng.binomial(n, 0.05),
                        rng.binomial(n, 0.5),
                        n,
                        registered,
                        registered,
                        True,
                    )
                )
            date = dt.date(year, int(rng.integers(2, 12)), int(rng.integers(1, 28)))
            p = 0.75 if signal and low_payer[f] else 0.25
            found.append((f, year * 1000 + f, date, "CLU_COMPENSATION", int(rng.random() < p)))
            found.append((f, year * 1000 + f, date, "CLU_OSH", int(rng.random() < 0.5)))
    months = pl.DataFrame(
        months,
        orient="row",
        schema=[
            "factory_id",
            "period",
            "worker_months",
            "with_minimum",
            "below_minimum",
            "shortfall_sum",
            "excess_overtime",
            "digital",
            "with_method",
            "registered",
            "contribution_paid",
            "has_social_security",
        ],
    ).with_columns(pl.lit("KHM").alias("country"), pl.col("factory_id").cast(pl.Int64))
    found = pl.DataFrame(
        found, orient="row", schema=["factory_id", "assessment_id", "date", "cluster", "nc"]
    ).with_columns(
        pl.lit("KHM").alias("country"),
        pl.col("nc").cast(pl.Int8),
        pl.col("nc").cast(pl.Int8).alias("nc_public"),
        pl.col("factory_id", "assessment_id").cast(pl.Int64),
    )
    register = pl.DataFrame(
        {
            "country": ["KHM"] * factories,
            "factory_id": np.arange(factories, dtype=np.int64),
            "factory_name": [f"Factory {f}" for f in range(factories)],
            "state": rng.choice(["Phnom Penh", "Kandal"], factories),
            "enrolment_date": [dt.date(2015 + int(y), 1, 1) for y in rng.integers(0, 6, factories)],
        }
    )
    return months, found, register


def rows_of(months, found, register) -> pl.DataFrame:
    dates = [dt.date(y, 1, 1) for y in (*YEARS[1:], YEARS[-1] + 1)]
    return pl.concat([ft.feature_rows(months, found, register, d) for d in dates], how="diagonal_relaxed")


@pytest.fixture(scope="module")
def planted() -> pl.DataFrame:
    return rows_of(*synthetic(signal=True))


@pytest.fixture(scope="module")
def no_signal() -> pl.DataFrame:
    return rows_of(*synthetic(signal=False))


def _held_back(report: dict, cluster: str = "CLU_COMPENSATION") -> dict:
    years = report["clusters"][cluster]["years"]
    return next(v for v in years.values() if v.get("held_back"))


def test_every_feature_is_known_before_its_planning_date_and_a_planted_leak_is_refused(planted):
    ft.check_no_leak(planted)
    assert (planted["latest_input"] <= planted["planning"]).all()
    months, found, register = synthetic(signal=True, factories=20)
    planning = dt.date(2024, 1, 1)
    honest = ft.feature_rows(months, found, register, planning)
    # the month of December 2023 is delivered in January 2024: known from 1 February, so not yet at the planning
    # date; make it extreme, and the features must not move
    leak = months.with_columns(
        pl.when(pl.col("period") == "2023-12")
        .then(pl.col("with_minimum"))
        .otherwise(pl.col("below_minimum"))
        .alias("below_minimum")
    )
    assert ft.feature_rows(leak, found, register, planning).equals(honest)
    # an assessment on the planning date itself is a target, never a feature: plant one for factory 0, non-compliant
    # in compensation; it must be factory 0's target and leave its earlier finding as it was
    on_the_day = (
        found.filter(pl.col("factory_id") == 0)
        .head(1)
        .with_columns(
            pl.lit(planning).alias("date"),
            pl.lit(999_999, pl.Int64).alias("assessment_id"),
            pl.lit(1, pl.Int8).alias("nc"),
        )
    )
    planted_day = ft.feature_rows(months, pl.concat([found, on_the_day]), register, planning)
    mine = (pl.col("factory_id") == 0) & (pl.col("cluster") == on_the_day["cluster"][0])
    assert planted_day.filter(mine)["target_date"].to_list() == [planning]
    assert planted_day.filter(mine)["nc"].to_list() == [1]
    assert planted_day["earlier_nc"].equals(honest["earlier_nc"])
    assert honest["earlier_nc"].is_not_null().all()
    leaked = honest.with_columns(pl.lit(dt.date(2024, 3, 1)).alias("latest_input"))
    with pytest.raises(ValueError, match="known after their planning date"):
        ft.check_no_leak(leaked)


def test_the_target_is_the_next_assessment_after_the_planning_date(planted):
    labelled = planted.filter(pl.col("nc").is_not_null())
    assert (labelled["target_date"] >= labelled["planning"]).all()
    assert ((labelled["target_date"] - labelled["planning"]).dt.total_days() < ft.HORIZON_DAYS).all()


def test_the_planted_relation_is_recovered_and_the_no_signal_sample_shows_no_lift(planted, no_signal):
    report = md.evaluate(planted, capacity=40, resamples=RESAMPLES)
    held = _held_back(report)
    model = held["results"]["model"]
    assert model["lift"]["value"] > 1.5 and model["lift"]["ci95"][0] > 1.0
    assert model["pr_auc"]["value"] > held["results"]["random"]["pr_auc"]["value"] + 0.1
    fitted, used = md.fit(planted.filter(pl.col("cluster") == "CLU_COMPENSATION", pl.col("nc").is_not_null()))
    weights = md.coefficients(fitted, used)
    assert max(weights, key=lambda f: abs(weights[f])) in {"below_minimum_share", "minimum_shortfall_pct"}
    groups = held["by_group"]  # recall and false alarms reported by country and size band
    assert set(groups["size_band"]) == {"small", "medium", "large"} and set(groups["country"]) == {"KHM"}
    assert all(0 <= g["false_alarm_rate"] <= 1 for g in groups["size_band"].values())
    quiet = _held_back(md.evaluate(no_signal, capacity=40, resamples=RESAMPLES))["results"]["model"]
    assert quiet["lift"]["ci95"][0] <= 1.0 <= quiet["lift"]["ci95"][1] + 0.05, quiet


def test_shuffled_labels_give_about_the_base_rate(planted):
    labelled = planted.filter(pl.col("nc").is_not_null())
    shuffled = labelled.with_columns(  # within each planning year and cluster: the base rates stay
        pl.col("nc").shuffle(seed=3).over("planning", "cluster")
    )
    held = _held_back(md.evaluate(shuffled, capacity=40, resamples=RESAMPLES))
    precision = held["results"]["model"]["precision"]
    assert precision["ci95"][0] <= held["base_rate"] <= precision["ci95"][1], (precision, held["base_rate"])


def test_the_same_snapshot_and_seed_give_the_same_artefact_hash(planted):
    import skops.io as sio

    train = planted.filter(pl.col("cluster") == "CLU_COMPENSATION", pl.col("nc").is_not_null())
    first, used = md.fit(train)
    again, _ = md.fit(train.sample(fraction=1.0, shuffle=True, seed=1).sort("planning", "country", "factory_id"))
    a, b = stable_skops(first), stable_skops(again)
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    loaded = sio.loads(a, trusted=sio.get_untrusted_types(data=a))
    x = md.features_of(train, used)
    assert np.array_equal(loaded.predict_proba(x), first.predict_proba(x))


def test_adopting_digital_pay_or_registering_workers_never_raises_risk(planted):
    """Even where the training data tempts the regression the wrong way (here the factories paying digitally and
    registering everyone are planted as the non-compliant ones), raising a protective feature never raises risk."""
    tempting = planted.with_columns(
        pl.when(pl.col("nc") == 1).then(1.0).otherwise(pl.col("digital_pay_share")).alias("digital_pay_share"),
        pl.when(pl.col("nc") == 1).then(1.0).otherwise(pl.col("registered_share")).alias("registered_share"),
    )
    train = tempting.filter(pl.col("cluster") == "CLU_COMPENSATION", pl.col("nc").is_not_null())
    model, used = md.fit(train)
    before = model.predict_proba(md.features_of(train, used))[:, 1]
    for feature in ft.PROTECTIVE:
        raised = train.with_columns(pl.lit(1.0).alias(feature))
        after = model.predict_proba(md.features_of(raised, used))[:, 1]
        assert (after <= before + 1e-12).all(), feature


def test_average_precision_is_scikit_learns():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(11)
    for _ in range(50):
        n = int(rng.integers(5, 300))
        y = (rng.random(n) < rng.uniform(0.05, 0.9)).astype(int)
        score = np.round(rng.random(n), int(rng.integers(1, 4)))  # ties too
        if 0 < y.sum() < n:
            assert md.average_precision(y, score) == pytest.approx(average_precision_score(y, score), abs=1e-12)


def test_no_share_of_women_and_no_worker_key_is_a_feature():
    for name in ft.FEATURES:
        assert not any(word in name for word in ("female", "women", "woman", "sex", "worker_pid", "pid"))


def test_the_ranking_is_written_for_the_inspectorate_only(scenario):
    """The scenario's `decentwork run` ran the ranking after its publication: owner-only files in
    data/inspectorate/, nothing of it in the publication, no worker pseudonym in it."""
    root = scenario["root"]
    folder = root / FOLDER
    assert (folder / "model_card.md").exists() and (folder / "evaluation.json").exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    published = [p.name for p in (root / "marts").rglob("*")]
    assert not any("ranking" in n or "model_card" in n or n.endswith(".skops") for n in published)
    pids = pl.read_parquet(root / "staging" / "payroll" / "*" / "*.parquet", columns=["worker_pid"])["worker_pid"]
    pids = pids.unique().head(2000).to_list()
    text = b"".join(f.read_bytes() for f in folder.iterdir() if f.suffix in {".csv", ".json", ".md"})
    assert pids and not any(pid.encode() in text for pid in pids)


def test_a_survey_round_counts_once_its_answers_are_known_and_with_enough_respondents():
    months, found, register = synthetic(signal=True, factories=3)
    planning = dt.date(2024, 1, 1)

    def rate(rounds: list[tuple[dt.date, int, int, int]]) -> list:
        survey = pl.DataFrame(
            [(0, d, n, c, a) for d, n, c, a in rounds],
            orient="row",
            schema=["factory_id", "survey_date", "respondents", "concerns", "answers"],
        ).with_columns(pl.lit("KHM").alias("country"), pl.col("factory_id").cast(pl.Int64))
        rows = ft.feature_rows(months, found, register, planning, survey=survey)
        ft.check_no_leak(rows)
        return rows.filter(pl.col("factory_id") == 0)["survey_concern_rate"].unique().to_list()

    assert rate([(dt.date(2023, 9, 1), 20, 10, 100)]) == [0.1]
    assert rate([(dt.date(2023, 9, 1), 20, 10, 100), (dt.date(2023, 12, 20), 20, 100, 100)]) == [0.1]  # not known yet
    assert rate([(dt.date(2023, 9, 1), ft.MIN_RESPONDENTS - 1, 9, 9)]) == [0.0]  # too few respondents: no feature


def test_a_committee_is_active_with_current_members_on_both_sides():
    months, found, register = synthetic(signal=True, factories=3)
    planning = dt.date(2024, 1, 1)
    members = pl.DataFrame(
        {
            "country": ["KHM"] * 4,
            "factory_id": [0, 0, 1, 1],
            "category": ["Workers", "Management", "Workers", "Management"],
            "date_joined": [dt.date(2020, 1, 1)] * 4,
            "date_left": [None, None, None, dt.date(2023, 6, 1)],  # factory 1's management side left
        }
    )
    rows = ft.feature_rows(months, found, register, planning, members=members)
    active = dict(rows.group_by("factory_id").agg(pl.col("picc_active").first()).iter_rows())
    assert active == {0: 1.0, 1: 0.0, 2: 0.0}


def test_the_challenger_replaces_the_regression_only_by_the_fixed_margin_in_every_test_year():
    def year(model: float, challenger: float, held_back: bool = False) -> dict:
        pr_auc = {"model": {"pr_auc": {"value": model}}, "challenger": {"pr_auc": {"value": challenger}}}
        return {"results": pr_auc, "held_back": held_back}

    margin = md.CHALLENGER_MARGIN
    assert md.challenger_wins([year(0.5, 0.5 + margin), year(0.6, 0.7)])
    assert not md.challenger_wins([year(0.5, 0.5 + margin - 0.001), year(0.6, 0.7)])  # short of the margin once
    assert not md.challenger_wins([year(0.5, 0.9), year(0.6, 0.5)])  # a large win does not excuse a loss
    assert not md.challenger_wins([])  # no test year, no evidence
    # a win of exactly the margin counts, for every reported PR-AUC (to 3 decimals), whatever floating point does
    assert all(md.challenger_wins([year(m / 1000, round(m / 1000 + margin, 3))]) for m in range(981))
    # the held-back year does not choose: it is scored once, after the choice
    assert not md.challenger_wins([year(0.5, 0.9, held_back=True)])
    assert md.challenger_wins([year(0.5, 0.6), year(0.5, 0.4, held_back=True)])


def test_the_challenger_is_evaluated_and_never_raises_risk_for_digital_pay_or_registration(planted):
    report = md.evaluate(planted, capacity=40, resamples=5)
    held = _held_back(report)
    assert {"model", "challenger"} <= set(held["results"])
    assert isinstance(report["clusters"]["CLU_COMPENSATION"]["challenger_adopted"], bool)
    tempting = planted.with_columns(
        pl.when(pl.col("nc") == 1).then(1.0).otherwise(pl.col(f)).alias(f) for f in ft.PROTECTIVE
    )
    train = tempting.filter(pl.col("cluster") == "CLU_COMPENSATION", pl.col("nc").is_not_null())
    challenger = md.fit_challenger(train, list(ft.FEATURES))
    before = challenger.predict_proba(md.features_of(train, list(ft.FEATURES)))[:, 1]
    for feature in ft.PROTECTIVE:
        raised = train.with_columns(pl.lit(1.0).alias(feature))
        after = challenger.predict_proba(md.features_of(raised, list(ft.FEATURES)))[:, 1]
        assert (after <= before + 1e-12).all(), feature


def test_the_reliability_table_agrees_with_scikit_learns_calibration_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(5)
    p = np.r_[rng.beta(2, 3, 795), 0.2, 0.4, 0.6, 0.8, 1.0]  # bin edges too: each in the lower bin, as scikit-learn
    y = (rng.random(800) < p * 0.8).astype(int)  # over-confident: observed below predicted
    table = md.reliability(y, p)
    observed, predicted = calibration_curve(y, p, n_bins=md.RELIABILITY_BINS, strategy="uniform")
    assert [b["observed"] for b in table] == pytest.approx(observed, abs=1e-3)
    assert [b["mean_predicted"] for b in table] == pytest.approx(predicted, abs=1e-3)
    assert sum(b["rows"] for b in table) == 800
    countries = np.where(rng.random(800) < 0.5, "KHM", "VNM")
    by_country = md.calibration(y, p, countries)["by_country"]
    assert sum(b["rows"] for c in by_country.values() for b in c["reliability"]) == 800


def test_a_run_without_a_ranking_leaves_no_earlier_ranking_or_model_behind(tmp_path):
    """An earlier run's ranking.csv and model files are removed before a run that writes none, so no one reads
    them as this run's."""
    import duckdb

    from assets.risk.ranking import build

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:  # a warehouse with no payroll months yet
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_worker_months (country varchar, factory_id bigint, worker_key uhugeint,"
            " period varchar, period_start date, minimum_wage_due double, basic_pay double, overtime_hours double,"
            " overtime_limit_month double, payment_method varchar, is_contribution_paid boolean,"
            " has_social_security boolean)"
        )
        con.execute(
            "create table intermediate.int_worker_registrations (country varchar, worker_key uhugeint,"
            " registration_date date)"
        )
    out = tmp_path / FOLDER
    out.mkdir()
    for stale in ("ranking.csv", "model_CLU_OSH.skops", "model_CLU_OSH_challenger.skops"):
        (out / stale).write_text("an earlier run's")
    done = build(warehouse, tmp_path / "staging", out)
    assert done["factories_ranked"] == 0
    assert sorted(f.name for f in out.iterdir()) == ["evaluation.json", "model_card.md"]
    assert "No model" in (out / "model_card.md").read_text()
