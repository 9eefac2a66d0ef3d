"""The model, its baselines and the evaluation protocol of the risk ranking.

Per cluster, a regularised logistic regression (scikit-learn, L2, fixed C, standardised features). Protective
features (digital pay, registration, contributions paid) may only lower a factory's risk: where the fit gives one a
positive weight, the model is fitted again without it, so adopting digital pay or registering workers never raises
a factory's risk (`tests/test_risk.py` checks it on every factory). A gradient-boosted challenger (scikit-learn's
histogram gradient boosting, shallow trees, the protective features constrained to lower risk only) is evaluated
beside it, and replaces the regression's probabilities only where it beats the regression's PR-AUC in every test
year by `CHALLENGER_MARGIN`, fixed before any evaluation; the reasons always come from the regression's weights.

Protocol (the inspection-targeting literature's): planning dates on 1 January; for each test year t, train on the
planning years before t and test on t; the last year is held back and scored once, with a model trained on every
year before it. Metrics at k = the inspectorate's capacity: precision, recall and lift over the base rate; PR-AUC
(average precision); Brier score, and reliability (binned predicted against observed rates) overall and by
country. Confidence intervals: factories resampled with
replacement (`RESAMPLES`, seeded). Baselines: random (seeded), "non-compliant last time", and a hand-set red-flag
score.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .features import FEATURES, PROTECTIVE

SEED = 20261206
C = 1.0  # L2 strength, fixed beforehand (not tuned on the test years)
RESAMPLES = 200
CHALLENGER_MARGIN = 0.02  # PR-AUC points a challenger must win by in every test year (fixed beforehand)
NEARLY_ALWAYS = 0.9  # a cluster non-compliant this often is no target: its publicly disclosed issues are
MIN_TRAIN_ROWS = 30
RELIABILITY_BINS = 5  # equal-width bins of predicted risk for the reliability table


def features_of(rows: pl.DataFrame, used: list[str]) -> np.ndarray:
    return rows.select(used).to_numpy().astype(float)


def fit(rows: pl.DataFrame, target: str = "nc") -> tuple[Pipeline, list[str]]:
    """A cluster's regression on its training rows, refitted without any protective feature that came out with a
    positive weight (monotonicity)."""
    used = list(FEATURES)
    y = rows[target].to_numpy().astype(int)
    while True:
        model = Pipeline(
            [("scale", StandardScaler()), ("fit", LogisticRegression(C=C, max_iter=2000, random_state=SEED))]
        )
        model.fit(features_of(rows, used), y)
        weights = dict(zip(used, model.named_steps["fit"].coef_[0], strict=True))
        wrong = [f for f in used if f in PROTECTIVE and weights[f] > 0]
        if not wrong:
            return model, used
        used = [f for f in used if f not in wrong]


def fit_challenger(rows: pl.DataFrame, used: list[str], target: str = "nc") -> HistGradientBoostingClassifier:
    """The gradient-boosted challenger on the regression's features: shallow trees, a fixed number of rounds (no
    early stopping, so no hidden validation split), and the protective features allowed only to lower risk."""
    model = HistGradientBoostingClassifier(
        max_depth=3,
        learning_rate=0.1,
        max_iter=100,
        l2_regularization=1.0,
        min_samples_leaf=10,
        early_stopping=False,
        monotonic_cst=[-1 if f in PROTECTIVE else 0 for f in used],
        random_state=SEED,
    )
    with threadpool_limits(limits=1):  # a few thousand rows: OpenMP's threads cost ~10x what they bring here
        return model.fit(features_of(rows, used), rows[target].to_numpy().astype(int))


def coefficients(model: Pipeline, used: list[str]) -> dict[str, float]:
    """The weights per standard deviation of each feature (readable: a larger weight, a stronger reason)."""
    return {f: float(w) for f, w in zip(used, model.named_steps["fit"].coef_[0], strict=True)}


def red_flags(rows: pl.DataFrame) -> np.ndarray:
    """The hand-set score an inspector might use without a model: one point per red flag."""
    return (
        (
            (rows["below_minimum_share"] > 0.05).cast(int)
            + (rows["excess_overtime_share"] > 0.10).cast(int)
            + (rows["registered_share"] < 0.90).cast(int)
            + rows["earlier_nc"].cast(int)
        )
        .to_numpy()
        .astype(float)
    )


def scores(rows: pl.DataFrame, model: Pipeline | None, used: list[str], challenger=None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    out = {
        "random": rng.random(rows.height),
        "non-compliant last time": rows["earlier_nc"].to_numpy().astype(float) + 1e-6 * rng.random(rows.height),
        "red flags": red_flags(rows) + 1e-6 * rng.random(rows.height),
    }
    if model is not None:
        out["model"] = model.predict_proba(features_of(rows, used))[:, 1]
    if challenger is not None:
        with threadpool_limits(limits=1):
            out["challenger"] = challenger.predict_proba(features_of(rows, used))[:, 1]
    return out


def at_k(y: np.ndarray, score: np.ndarray, k: int) -> dict[str, float]:
    k = min(k, y.size)
    top = np.argsort(-score, kind="stable")[:k]
    hits = y[top].sum()
    base = y.mean() if y.size else 0.0
    precision = hits / k if k else 0.0
    return {
        "precision": float(precision),
        "recall": float(hits / y.sum()) if y.sum() else 0.0,
        "lift": float(precision / base) if base else 0.0,
    }


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision (the area under the precision-recall curve as scikit-learn computes it: the sum over
    distinct score thresholds of the recall gained times the precision there), in numpy: scikit-learn's function
    checks its inputs at every call, which costs the bootstrap ~100x (tests/test_risk.py compares the two)."""
    positives = y.sum()
    if positives == 0 or positives == y.size:
        return 0.0
    order = np.argsort(-score, kind="stable")
    s, hits = score[order], np.cumsum(y[order])
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the last row of each group of tied scores
    precision = hits[last] / (last + 1)
    recall = hits[last] / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def metrics(y: np.ndarray, score: np.ndarray, k: int, groups: np.ndarray, resamples: int = RESAMPLES) -> dict:
    """Metrics at k with bootstrap intervals over factories (`groups`: one id per factory)."""
    point = at_k(y, score, k) | {"pr_auc": average_precision(y, score)}
    rng = np.random.default_rng(SEED)
    ids = np.unique(groups)
    draws = {name: [] for name in point}
    by_group = {g: np.flatnonzero(groups == g) for g in ids}
    for _ in range(resamples):
        pick = np.concatenate([by_group[g] for g in rng.choice(ids, ids.size)])
        yy, ss = y[pick], score[pick]
        m = at_k(yy, ss, k)
        m["pr_auc"] = average_precision(yy, ss)
        for name in draws:
            draws[name].append(m[name])
    return {
        name: {"value": round(value, 3), "ci95": [round(float(np.percentile(draws[name], q)), 3) for q in (2.5, 97.5)]}
        for name, value in point.items()
    }


def reliability(y: np.ndarray, p: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict]:
    """The reliability table: per bin of predicted risk (equal width), its rows, mean predicted and observed rate.
    A calibrated model's two rates agree in every bin that holds enough rows."""
    which = np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], p, side="left")  # an edge in the lower bin
    return [
        {
            "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
            "rows": int((which == b).sum()),
            "mean_predicted": round(float(p[which == b].mean()), 3),
            "observed": round(float(y[which == b].mean()), 3),
        }
        for b in range(bins)
        if (which == b).any()
    ]


def calibration(y: np.ndarray, p: np.ndarray, countries: np.ndarray) -> dict:
    return {
        "brier": round(float(brier_score_loss(y, p)), 4),
        "reliability": reliability(y, p),
        "by_country": {
            c: {
                "mean_predicted": round(float(p[countries == c].mean()), 3),
                "observed": round(float(y[countries == c].mean()), 3),
                "reliability": reliability(y[countries == c], p[countries == c]),
            }
            for c in sorted(set(countries))
        },
    }


def by_group(test: pl.DataFrame, y: np.ndarray, score: np.ndarray, k: int) -> dict:
    """Recall and false alarms of the top k, by country and by size band (terciles of the workforce): who the
    ranking misses and whom it sends inspectors to in vain."""
    top = np.zeros(y.size, bool)
    top[np.argsort(-score, kind="stable")[:k]] = True
    size = test["log_workers"].to_numpy()
    edges = np.quantile(size, [1 / 3, 2 / 3]) if size.size else [0, 0]
    frame = pl.DataFrame(
        {
            "country": test["country"],
            "size_band": np.where(size <= edges[0], "small", np.where(size <= edges[1], "medium", "large")),
            "y": y,
            "top": top,
        }
    )
    out = {}
    for column in ("country", "size_band"):
        rows = frame.group_by(column).agg(
            (pl.col("top") & (pl.col("y") == 1)).sum().alias("found"),
            (pl.col("y") == 1).sum().alias("positives"),
            (pl.col("top") & (pl.col("y") == 0)).sum().alias("false_alarms"),
            (pl.col("y") == 0).sum().alias("negatives"),
        )
        out[column] = {
            r[column]: {
                "recall": round(r["found"] / r["positives"], 3) if r["positives"] else None,
                "false_alarm_rate": round(r["false_alarms"] / r["negatives"], 3) if r["negatives"] else None,
            }
            for r in rows.sort(column).iter_rows(named=True)
        }
    return out


def challenger_wins(tested_years: list[dict]) -> bool:
    """The challenger replaces the regression only if it beats it by the fixed margin in every rolling test year.
    The held-back year does not choose: it is scored once, for both, after the choice. PR-AUC is compared as
    reported, to 3 decimals, so a win of exactly the margin counts whatever floating point makes of the sum."""
    rolling = [v for v in tested_years if not v.get("held_back")]
    return bool(rolling) and all(
        round(v["results"]["challenger"]["pr_auc"]["value"] - v["results"]["model"]["pr_auc"]["value"], 3)
        >= CHALLENGER_MARGIN
        for v in rolling
    )


def target_of(rows: pl.DataFrame) -> tuple[str, float]:
    """The cluster's target: any non-compliance, or the publicly disclosed issues where the cluster is nearly
    always non-compliant (the base rate says so)."""
    labelled = rows.filter(pl.col("nc").is_not_null())
    base = float(labelled["nc"].mean()) if labelled.height else 0.0
    return ("nc_public", base) if base >= NEARLY_ALWAYS else ("nc", base)


def evaluate(rows: pl.DataFrame, capacity: int, resamples: int = RESAMPLES) -> dict:
    """The rolling-year protocol per cluster. `rows`: feature_rows of every planning date, with targets."""
    labelled = rows.filter(pl.col("nc").is_not_null())
    years = sorted(set(labelled["planning"].dt.year()))
    report: dict = {"planning_years": years, "capacity": capacity, "clusters": {}}
    for (cluster,), of_cluster in labelled.sort("cluster").group_by("cluster", maintain_order=True):
        target, base = target_of(of_cluster)
        entry: dict = {"target": target, "base_rate": round(base, 3), "years": {}}
        for i, year in enumerate(years):
            if i == 0:
                continue
            train = of_cluster.filter(pl.col("planning").dt.year() < year)
            test = of_cluster.filter(pl.col("planning").dt.year() == year)
            y_train = train[target].to_numpy()
            if train.height < MIN_TRAIN_ROWS or y_train.min() == y_train.max() or test.height == 0:
                entry["years"][year] = {"skipped": f"{train.height} training rows, too few or one class"}
                continue
            model, used = fit(train, target)
            challenger = fit_challenger(train, used, target)
            y = test[target].to_numpy().astype(int)
            groups = (test["country"] + ":" + test["factory_id"].cast(pl.String)).to_numpy()
            k = max(1, min(capacity, test.height))
            scored = scores(test, model, used, challenger)
            results = {name: metrics(y, score, k, groups, resamples) for name, score in scored.items()}
            entry["years"][year] = {
                "held_back": i == len(years) - 1,
                "rows": test.height,
                "base_rate": round(float(y.mean()), 3),
                "k": k,
                "results": results,
                "calibration": calibration(y, scored["model"], test["country"].to_numpy()),
                "by_group": by_group(test, y, scored["model"], k),
                # the challenger's own, shown instead of the regression's where it is adopted
                "challenger_calibration": calibration(y, scored["challenger"], test["country"].to_numpy()),
                "challenger_by_group": by_group(test, y, scored["challenger"], k),
            }
        tested = [v for v in entry["years"].values() if "results" in v]
        entry["beats_last_time"] = bool(tested) and all(
            v["results"]["model"]["pr_auc"]["value"] > v["results"]["non-compliant last time"]["pr_auc"]["value"]
            for v in tested
        )
        entry["challenger_adopted"] = challenger_wins(tested)
        report["clusters"][cluster] = entry
    return report
