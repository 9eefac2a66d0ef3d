"""The inspectors' ranking: train, evaluate, rank, and write the inspectorate folder (readable by its owner only).

`build(paths, capacity)` does it all from the warehouse and the staged files; `decentwork risk` prints a country's
ranked list from the folder; the Dagster asset `inspection/risk_ranking` runs `build` after every publication.
Nothing here is published: the folder is `data/inspectorate/`, apart from `data/marts/`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import polars as pl

from . import features as ft
from . import model as md

FOLDER = "inspectorate"
CAPACITY = 10  # visits per country the inspectorate can make in the planning period (default)
RANKING_COLUMNS = [  # ranking.csv, one row per factory
    "country",
    "rank",
    "region",
    "rank_in_region",
    "factory_id",
    "factory_name",
    "risk",
    "risk_ratio",
    "band",
    "cluster",
    "reasons",
    "flags",
    "inspector_decision",
]
BANDS = ((0.5, "high"), (0.25, "medium"), (0.0, "low"))  # calibrated probability -> band


def _private_write(path: Path, data: bytes) -> None:
    """Write a file readable and writable by its owner only (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def stable_skops(model) -> bytes:
    """The model as skops bytes that depend on the model only, so that the same model has the same SHA-256: skops
    names its objects and array files by Python's `id()` and stamps the zip with the time; here the ids are numbered
    in order of appearance and the time is fixed."""
    import skops.io as sio

    packed = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(packed.read("schema.json"))
    numbers: dict[int, int] = {}

    def renumber(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    node[key] = numbers.setdefault(value, len(numbers) + 1)
                elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                    node[key] = f"{numbers.setdefault(int(value[:-4]), len(numbers) + 1)}.npy"
                else:
                    renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)

    renumber(schema)
    files = {f"{numbers[int(n[:-4])]}.npy": packed.read(n) for n in packed.namelist() if n.endswith(".npy")}
    files["schema.json"] = json.dumps(schema, indent=2, sort_keys=True).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, files[name])
    return out.getvalue()


def planning_dates(months: pl.DataFrame) -> list[dt.date]:
    """1 January of every year after the first payroll year, through the year after the last (the date the
    ranking is for)."""
    if months.is_empty():
        return []
    years = sorted({int(p[:4]) for p in months["period"].to_list()})
    return [dt.date(y, 1, 1) for y in range(years[0] + 1, years[-1] + 2)]


def snapshot_hash(rows: pl.DataFrame) -> str:
    text = rows.sort("planning", "country", "factory_id", "cluster").write_csv()
    return hashlib.sha256(text.encode()).hexdigest()


def reasons(model, used: list[str], row: np.ndarray) -> list[str]:
    """The three features that raise this factory's risk most (weight x its standardised value), in words."""
    scale = model.named_steps["scale"]
    weights = model.named_steps["fit"].coef_[0]
    contribution = weights * (row - scale.mean_) / np.where(scale.scale_ == 0, 1, scale.scale_)
    order = np.argsort(-contribution, kind="stable")
    high = row > scale.mean_
    return [
        ft.REASON_WHEN_HIGH.get(used[i], ft.FEATURES[used[i]][0]) if high[i] else ft.FEATURES[used[i]][0]
        for i in order[:3]
        if contribution[i] > 0
    ]


def band(p: float) -> str:
    return next(name for low, name in BANDS if p >= low)


def rank(
    rows: pl.DataFrame, models: dict, base_rates: dict[str, float], challengers: dict | None = None
) -> pl.DataFrame:
    """Per factory at the ranking's planning date: the cluster where its risk stands highest above the cluster's
    base rate (a cluster nearly every factory fails would otherwise head every list), that risk and its band, three
    reasons, the data-completeness flags, and an empty field for the inspector's decision. Factories are ranked by
    that risk ratio. Where a cluster's challenger was adopted (`challengers`), its probability is the risk; the
    reasons stay the regression's."""
    challengers = challengers or {}
    out = []
    for r in rows.iter_rows(named=True):
        fitted = models.get(r["cluster"])
        if fitted is None:
            continue
        model, used = fitted
        x = np.array([[float(r[f]) for f in used]])
        p = float(challengers.get(r["cluster"], model).predict_proba(x)[0, 1])
        out.append(
            {
                "country": r["country"],
                "region": r["state"] or "",
                "factory_id": r["factory_id"],
                "factory_name": r["factory_name"] or "",
                "cluster": r["cluster"],
                "risk": round(p, 3),
                "risk_ratio": round(p / base_rates[r["cluster"]], 3) if base_rates.get(r["cluster"]) else 0.0,
                "reasons": "; ".join(reasons(model, used, x[0])),
                "flags": "; ".join(
                    flag
                    for flag, on in (
                        ("fewer than 6 payroll months", r["payroll_months"] < 6),
                        ("no social-security extract", not r["has_social_security"]),
                        (
                            f"fewer than {ft.MIN_RESPONDENTS} survey respondents",
                            (r["survey_respondents"] or 0) < ft.MIN_RESPONDENTS,
                        ),
                        ("never assessed before", r["assessment_known_from"] is None),
                    )
                    if on
                ),
            }
        )
    if not out:
        return pl.DataFrame()
    ranked = (
        pl.DataFrame(out)
        .sort("risk_ratio", "cluster", descending=[True, False])
        .group_by("country", "factory_id", maintain_order=True)
        .first()
        .with_columns(pl.col("risk").map_elements(band, return_dtype=pl.String).alias("band"))
        .sort("country", "risk_ratio", "factory_id", descending=[False, True, False])
        .with_columns(
            pl.int_range(1, pl.len() + 1).over("country").alias("rank"),
            pl.int_range(1, pl.len() + 1).over("country", "region").alias("rank_in_region"),
            pl.lit("").alias("inspector_decision"),
        )
    )
    return ranked.select(RANKING_COLUMNS)


def red_flag_ranking(rows: pl.DataFrame) -> pl.DataFrame:
    """Without a model (too little history to train and test one), the hand-set red flags rank the factories;
    the risk column stays empty, since no probability is estimated, and the band says so."""
    if rows.is_empty():
        return pl.DataFrame()
    factories = rows.group_by("country", "factory_id", maintain_order=True).agg(
        pl.col("state").first().fill_null("").alias("region"),
        pl.col("factory_name").first().fill_null(""),
        pl.col([f for f in ft.FEATURES if f != "earlier_nc"]).first(),
        pl.col("earlier_nc").max(),  # non-compliant in any cluster last time
        pl.col("has_social_security").first(),
    )
    flags = md.red_flags(factories)
    return (
        factories.with_columns(
            pl.Series("points", flags),
            pl.lit(None, pl.Float64).alias("risk"),
            pl.lit(None, pl.Float64).alias("risk_ratio"),
            pl.lit("").alias("cluster"),
            pl.lit("").alias("inspector_decision"),
            pl.when(pl.col("payroll_months") < 6)
            .then(pl.lit("fewer than 6 payroll months"))
            .otherwise(pl.lit(""))
            .alias("flags"),
        )
        .with_columns(
            (pl.lit("red flags: ") + pl.col("points").cast(pl.Int64).cast(pl.String) + pl.lit(" of 4")).alias("band"),
            pl.lit("no model: ranked by red flags (below minimum, excess overtime, unregistered, last finding)").alias(
                "reasons"
            ),
        )
        .sort("country", "points", "factory_id", descending=[False, True, False])
        .with_columns(
            pl.int_range(1, pl.len() + 1).over("country").alias("rank"),
            pl.int_range(1, pl.len() + 1).over("country", "region").alias("rank_in_region"),
        )
        .select(RANKING_COLUMNS)
    )


def build(warehouse: Path, staging: Path, out: Path, capacity: int = CAPACITY) -> dict:
    """Train, evaluate, rank and write the inspectorate folder `out`. Returns a summary for the run's metadata
    (counts only: no factory is named in it)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # small models: one thread is faster than OpenMP's (see model.fit_challenger)
        return _build(warehouse, staging, out, capacity)


def _build(warehouse: Path, staging: Path, out: Path, capacity: int) -> dict:
    months = ft.factory_months(warehouse)
    found = ft.assessments(staging)
    register = ft.factories(staging)
    survey, members = ft.surveys(staging), ft.picc_members(staging)
    dates = planning_dates(months)
    rows = (
        pl.concat([ft.feature_rows(months, found, register, d, survey, members) for d in dates], how="diagonal_relaxed")
        if dates
        else pl.DataFrame()
    )
    if rows.height:
        ft.check_no_leak(rows)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    for stale in [*out.glob("model_*.skops"), out / "ranking.csv"]:  # an earlier run's, never shown as this one's
        stale.unlink(missing_ok=True)
    labelled = rows.filter(pl.col("nc").is_not_null()) if rows.height else rows
    report = md.evaluate(labelled, capacity) if labelled.height else {"planning_years": [], "clusters": {}}
    models: dict = {}
    challengers: dict = {}
    artefacts: dict = {}
    for cluster in sorted(report["clusters"]):
        of_cluster = labelled.filter(pl.col("cluster") == cluster)
        target = report["clusters"][cluster]["target"]
        y = of_cluster[target].to_numpy()
        if of_cluster.height < md.MIN_TRAIN_ROWS or y.min() == y.max():
            continue
        model, used = md.fit(of_cluster, target)
        models[cluster] = (model, used)
        data = stable_skops(model)
        name = f"model_{cluster}.skops"
        _private_write(out / name, data)
        artefacts[cluster] = {
            "file": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "features": used,
            "coefficients": md.coefficients(model, used),
            "intercept": float(model.named_steps["fit"].intercept_[0]),
        }
        if report["clusters"][cluster]["challenger_adopted"]:
            challengers[cluster] = md.fit_challenger(of_cluster, used, target)
            data = stable_skops(challengers[cluster])
            name = f"model_{cluster}_challenger.skops"
            _private_write(out / name, data)
            artefacts[cluster]["challenger"] = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
    ranking_date = dates[-1] if dates else None
    current = rows.filter(pl.col("planning") == ranking_date) if ranking_date else pl.DataFrame()
    base_rates = {c: e["base_rate"] for c, e in report["clusters"].items()}
    ranked = rank(current, models, base_rates, challengers) if models else red_flag_ranking(current)
    summary = {
        "ranking_date": str(ranking_date) if ranking_date else None,
        "training_snapshot_sha256": snapshot_hash(labelled) if labelled.height else None,
        "seed": md.SEED,
        "capacity": capacity,
        "models": artefacts,
        "evaluation": report,
        "factories_ranked": ranked.height,
    }
    _private_write(out / "evaluation.json", json.dumps(summary, indent=1, default=str).encode())
    if ranked.height:
        _private_write(out / "ranking.csv", ranked.write_csv().encode())
    _private_write(out / "model_card.md", model_card(summary).encode())
    return {"factories_ranked": ranked.height, "clusters_modelled": len(models), "folder": str(out)}


def model_card(summary: dict) -> str:
    """The model card: data, protocol, results, limits, intended use (docs/risk.md explains it further)."""
    no_model = not summary["models"]
    lines = [
        "# Inspectors' risk ranking: model card",
        "",
        *(
            [
                "**No model.** The warehouse holds too little history to train a model and test it on a later year "
                "(it needs payroll of at least two years before the assessments of a third); the ranking uses the "
                "hand-set red flags, without probabilities.",
                "",
            ]
            if no_model
            else []
        ),
        f"Ranking for the planning date {summary['ranking_date']}; training snapshot SHA-256 "
        f"`{summary['training_snapshot_sha256']}`; seed {summary['seed']}; capacity k = {summary['capacity']}.",
        "",
        "**Intended use.** Advice to labour inspectors planning visits; an inspector decides. Keep a share of visits "
        "random, so that the model's blind spots are found and its next evaluation is fair. Not for publication; "
        "never a sanction by itself.",
        "",
        "**Data.** Factory-month aggregates of payroll and social security (known one month after the month), the "
        "worker survey's concern rate (known a month after the interviews, at least 10 respondents), an active PICC, "
        "the factories' earlier assessment findings, years in the programme and size. No worker-level data, no "
        "assessor, no buyer, no share of women.",
        "",
        "**Protocol.** Planning dates on 1 January; train on earlier years, test on the next; the last year held back "
        "and scored once. Baselines: random, non-compliant last time, red flags. 95 % intervals: factories resampled.",
        "",
        "| cluster | target | base rate | year | k | model precision@k | last time precision@k | red flags "
        "precision@k | random precision@k | model PR-AUC | last time PR-AUC | challenger PR-AUC | model lift@k "
        "| Brier |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for cluster, entry in summary["evaluation"]["clusters"].items():
        for year, v in entry["years"].items():
            if "results" not in v:
                lines.append(
                    f"| {cluster} | {entry['target']} | {entry['base_rate']} | {year} | | {v['skipped']} |||||||| "
                )
                continue
            r = v["results"]
            held = " (held back)" if v["held_back"] else ""
            lines.append(
                f"| {cluster} | {entry['target']} | {v['base_rate']} | {year}{held} | {v['k']} | "
                f"{_ci(r['model']['precision'])} | {_ci(r['non-compliant last time']['precision'])} | "
                f"{_ci(r['red flags']['precision'])} | {_ci(r['random']['precision'])} | "
                f"{_ci(r['model']['pr_auc'])} | {_ci(r['non-compliant last time']['pr_auc'])} | "
                f"{_ci(r['challenger']['pr_auc'])} | {r['model']['lift']['value']} | {v['calibration']['brier']} |"
            )
        if not entry["beats_last_time"]:
            verdicts.append(cluster)
    lines += [
        "",
        "**Who it misses, whom it sends in vain** (held-back year, the model that ranks at k: recall / false-alarm "
        "rate):",
        "",
    ]
    for label, groups in _held_back_of_ranking_model(summary, "by_group"):
        parts = [
            f"{name} {g['recall']} / {g['false_alarm_rate']}"
            for column in ("country", "size_band")
            for name, g in groups[column].items()
        ]
        lines.append(f"- {label}: " + "; ".join(parts))
    lines += [
        "",
        "**Reliability** (held-back year, the model that ranks: predicted risk bin: rows, mean predicted / observed; "
        "by country in `evaluation.json`):",
        "",
    ]
    for label, calibrated in _held_back_of_ranking_model(summary, "calibration"):
        bins = [f"{b['bin']}: {b['rows']}, {b['mean_predicted']} / {b['observed']}" for b in calibrated["reliability"]]
        lines.append(f"- {label}: " + "; ".join(bins))
    adopted = [c for c, e in summary["evaluation"]["clusters"].items() if e.get("challenger_adopted")]
    lines += [
        "",
        "**Challenger.** A gradient-boosted model replaces the regression's risk only where it beats the regression's "
        f"PR-AUC by {md.CHALLENGER_MARGIN} in every rolling test year (fixed beforehand; the held-back year does not "
        "choose). "
        + (
            "Adopted for: " + ", ".join(adopted) + " (the reasons still come from the regression)."
            if adopted
            else "Adopted for no cluster: the regression ranks."
        ),
        "",
        "**Result.** "
        + (
            'The model does not beat "non-compliant last time" on PR-AUC in every test year for: '
            + ", ".join(verdicts)
            + ". There, the simpler rule is as good: prefer it."
            if verdicts
            else 'The model beats "non-compliant last time" on PR-AUC in every test year of every cluster.'
        ),
        "",
        "**Limits.** Small samples: wide intervals. The relation learnt is the one in past assessments, which were not "
        'random visits. Assessments follow a programme cycle, so "next assessment" is not an inspection.',
        "",
        "**Models.** "
        + "; ".join(f"{c}: `{a['file']}` SHA-256 `{a['sha256'][:16]}...`" for c, a in summary["models"].items()),
    ]
    return "\n".join(lines) + "\n"


def _held_back_of_ranking_model(summary: dict, table: str):
    """Per cluster with a scored held-back year: its label and that year's `table` (by_group, calibration) of the
    model that ranks, the challenger's where it was adopted."""
    for cluster, entry in summary["evaluation"]["clusters"].items():
        held = next((v for v in entry["years"].values() if v.get("held_back") and table in v), None)
        if held:
            adopted = entry.get("challenger_adopted")
            yield f"{cluster}{' (challenger)' if adopted else ''}", held[f"challenger_{table}" if adopted else table]


def _ci(m: dict) -> str:
    return f"{m['value']} [{m['ci95'][0]}, {m['ci95'][1]}]"
