"""Every published indicator cell recomputed independently from the staged rows and the seeds.

The session's scenario sample (tests/scenario.py) runs through `decentwork run` into a temporary data root; this
module then rebuilds the whole long `indicators` table in plain polars from
data/staging/<source>/country=<ISO3>/*.parquet (worker level, pseudonymised, normalised) and
dbt_project/seeds/*.csv, following the indicator catalogue (docs/indicators.md, docs/reading-the-marts.md),
applies disclosure control from the spec's rules, and compares every row: the same keys, values to rel 1e-9, the
same status flags and counts. Nothing here reads the dbt SQL or the warehouse.

Where the spec leaves a choice open, the recomputation takes the documented convention of the project
(README, model comments) and says so next to the code:
- the pooled X_BW row carries no LCU money cells (currencies differ); its raw and median gender pay gaps are
  the average of the published national gaps weighted by their workers (docs/reading-the-marts.md), recomputed
  here from the published table (`pooled_gaps`);
- a payroll-based cell of a year with fewer than 12 months is provisional (P), a social-security cell by the
  months payroll and social security both cover (`months_of`), and a social-security cell rests on those months
  only (a payroll month whose return has not arrived is left out);
- X_BW pools, for payroll-based and social-security cells, the countries whose payroll covers every month any
  country's covers in the year (`pooled` in `worker_months`); the other indicators pool every country;
- a sex with nobody in a cell's country, year and breakdown is published as not applicable (M, counts 0)
  wherever the other sex has the cell (`not_applicable`);
- years in the programme = completed calendar years from the enrolment date to the first day of the pay month;
- the minimum wage due is pro-rated by regular hours worked / the legal regular hours of a month (a partial
  month), and SS_CONTRIB_GAP_RT takes basic pay as the insurable wage of a worker-month with no return.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "dbt_project" / "seeds"
REL = 1e-9
KEY = ["ref_area", "indicator", "sex", "classif1", "time"]
POOLED = "X_BW"

# The catalogue of spec/indicators.md, with the extracts each code needs.
CATALOGUE = {
    **{
        code: {"payroll"}
        for code in (
            "EAR_MEAN_MONTHLY",
            "EAR_MEAN_HOURLY",
            "EAR_MEDIAN_HOURLY",
            "MINW_BELOW_RT",
            "EAR_TO_MINW_RATIO",
            "HOW_OT_MEAN",
            "HOW_OT_EXCESS_RT",
            "EAR_DIGITAL_RT",
            "GPG_MEAN_HOURLY",
            "GPG_MEDIAN_HOURLY",
            "GPG_FACTOR_WEIGHTED",
            "FEMALE_SHARE_WORKFORCE",
            "FEMALE_SHARE_SUPERVISORS",
        )
    },
    "PICC_FEMALE_SHARE_WORKER_REPS": {"picc_members"},
    "PICC_REPRESENTATION_PARITY": {"picc_members", "payroll"},
    "PICC_ACTIVE_RT": {"picc_members", "factories"},
    **{
        code: {"payroll", "social_security"} for code in ("SS_REGISTERED_RT", "SS_CONTRIB_PAID_RT", "SS_CONTRIB_GAP_RT")
    },
    **{code: {"assessments"} for code in ("NC_CLUSTER_RT", "NC_CP_RT")},
    **{
        code: {"worker_survey"}
        for code in (
            "WS_CONCERN_DANGEROUS_EQUIPMENT_RT",
            "WS_CONCERN_ACCIDENTS_RT",
            "UNION_MEMBER_RT",
            "WS_COMFORT_UNION_RT",
            "WS_COMFORT_PICC_RT",
            "WS_CONCERN_SEXUAL_HARASSMENT_RT",
            "WS_CONCERN_VERBAL_ABUSE_RT",
        )
    },
}
assert len(CATALOGUE) == 28

# ---------------------------------------------------------------------------------------------------------
# inputs


def staged(root: Path, source: str) -> pl.DataFrame:
    files = sorted((root / "staging" / source).glob("country=*/*.parquet"))
    frames = [pl.read_parquet(f).with_columns(pl.lit(f.parent.name.split("=", 1)[1]).alias("country")) for f in files]
    return (
        pl.concat([f for f in frames if f.height], how="vertical_relaxed")
        if any(f.height for f in frames)
        else frames[0]
    )


def seed(name: str) -> pl.DataFrame:
    return pl.read_csv(SEEDS / f"{name}.csv", infer_schema_length=None, try_parse_dates=True)


def sdc_thresholds() -> dict:
    """The thresholds as the spec states them; disclosure control must say the same."""
    from assets.disclosure import rules

    spec = {"sdc_min_workers": 10, "sdc_min_factories": 3, "sdc_unreliable_workers": 30}
    assert tuple(spec.values()) == (rules.MIN_WORKERS, rules.MIN_FACTORIES, rules.UNRELIABLE_WORKERS)
    return spec


def published_step(value: float, unit: str) -> float:
    """The precision the spec states for a published value: rates and gaps 0.1 point, hours 0.1, ratios 0.01,
    money 4 significant figures (written here independently of assets/disclosure/rules.py)."""
    if unit in ("LCU", "USD", "PPP_USD"):
        return 0.0 if value == 0 else 10 ** (math.floor(math.log10(abs(value))) - 3)
    return {"PCT": 0.1, "HOURS": 0.1, "RATIO": 0.01}[unit]


def within_precision(published: float, true: float, unit: str) -> bool:
    return abs(published - true) <= published_step(true, unit) / 2 + 1e-9 * max(1.0, abs(true))


def completed_years(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Whole years from start to end (birthday rule), truncated towards zero."""
    before = (end.dt.month() < start.dt.month()) | (
        (end.dt.month() == start.dt.month()) & (end.dt.day() < start.dt.day())
    )
    years = end.dt.year() - start.dt.year() - before.cast(pl.Int32)
    return pl.when(years < 0).then(0).otherwise(years)


def worker_months(root: Path) -> pl.DataFrame:
    """Payroll worker-months with the references in force, conversions and the social-security link."""
    pay = staged(root, "payroll")
    factories = staged(root, "factories").select("country", "factory_id", "state", "enrolment_date")
    regions = seed("ref_wage_regions").select(pl.col("iso3").alias("country"), "state", "wage_region")
    hours = seed("ref_hour_limits").select(
        pl.col("iso3").alias("country"), "regular_hours_month", "days_per_month", "overtime_limit_month"
    )
    wm = (
        pay.join(factories, on=["country", "factory_id"], how="inner")
        .join(regions, on=["country", "state"], how="left")
        .join(hours, on="country", how="left")
        .with_columns(
            pl.col("period").str.slice(0, 4).cast(pl.Int32).alias("time"),
            (pl.col("period") + "-01").str.to_date().alias("period_start"),
            (pl.col("country") + ":" + pl.col("worker_pid")).alias("worker"),
            (pl.col("country") + ":" + pl.col("factory_id").cast(pl.String)).alias("factory"),
            (pl.col("basic_pay") + pl.col("overtime_pay") + pl.col("allowances") + pl.col("bonuses")).alias("earnings"),
        )
        .with_columns(
            (pl.col("period_start").dt.offset_by("1mo").dt.offset_by("-1d")).alias("period_end"),
            pl.when(pl.col("regular_hours") + pl.col("overtime_hours") > 0)
            .then(pl.col("earnings") / (pl.col("regular_hours") + pl.col("overtime_hours")))
            .alias("hourly"),
            completed_years(pl.col("enrolment_date"), pl.col("period_start")).alias("yip"),
        )
    )
    # the statutory minimum in force on the first day of the month, for the country and the state's wage region
    mw = seed("ref_minimum_wages").select(
        pl.col("iso3").alias("country"), "wage_region", "effective_date", "amount", "per"
    )
    months = wm.select("country", "wage_region", "period_start", "days_per_month").unique()
    in_force = (
        months.join(mw, on="country", how="inner")
        .filter(
            (pl.col("wage_region").eq_missing(pl.col("wage_region_right")))
            & (pl.col("effective_date") <= pl.col("period_start"))
        )
        .sort("effective_date")
        .group_by("country", "wage_region", "period_start", maintain_order=True)
        .last()
        .select(
            "country",
            "wage_region",
            "period_start",
            pl.when(pl.col("per") == "day")
            .then(pl.col("amount") * pl.col("days_per_month"))
            .otherwise(pl.col("amount"))
            .alias("minimum_monthly"),
        )
    )
    wm = wm.join(in_force, on=["country", "wage_region", "period_start"], how="left", nulls_equal=True)
    # contribution rates: every component's latest rate in force, employer + employee
    rates = seed("ref_social_security_rates")
    due_rates = (
        wm.select("country", "period_start")
        .unique()
        .join(rates.rename({"iso3": "country"}), on="country")
        .filter(pl.col("effective_from") <= pl.col("period_start"))
        .sort("effective_from")
        .group_by("country", "period_start", "scheme", "component", maintain_order=True)
        .last()
        .group_by("country", "period_start")
        .agg((pl.col("employer_rate_pct") + pl.col("employee_rate_pct")).sum().alias("rate_pct"))
    )
    fx = seed("ref_exchange_rates").select("currency", pl.col("year").alias("time"), "lcu_per_usd")
    ppp = seed("ref_ppp_factors").select(
        pl.col("iso3").alias("country"), pl.col("year").alias("time"), "ppp_lcu_per_intl_usd"
    )
    ss = staged(root, "social_security")
    registration = ss.group_by("country", "worker_pid").agg(pl.col("registration_date").min())
    returns = ss.group_by("country", "worker_pid", "period").agg(
        pl.col("insurable_wage").sum(),
        pl.when(pl.col("paid_date").is_not_null())
        .then(pl.col("employer_contribution").fill_null(0) + pl.col("employee_contribution").fill_null(0))
        .otherwise(0)
        .sum()
        .alias("paid"),
        (
            pl.col("paid_date").is_not_null()
            & (pl.col("employer_contribution").fill_null(0) + pl.col("employee_contribution").fill_null(0) > 0)
        )
        .any()
        .alias("is_paid"),
    )
    wm = (
        wm.join(due_rates, on=["country", "period_start"], how="left")
        .join(fx, on=["currency", "time"], how="left")
        .join(ppp, on=["country", "time"], how="left")
        .join(registration, on=["country", "worker_pid"], how="left")
        .join(returns, on=["country", "worker_pid", "period"], how="left")
        # the linked indicators rest on the months both extracts cover
        .join(
            ss.select("country", "period").unique().with_columns(pl.lit(True).alias("has_ss")),
            on=["country", "period"],
            how="left",
        )
        .with_columns(pl.col("has_ss").fill_null(False))
    )
    # comparable coverage: a country-year pools into X_BW when its payroll covers every month of the year that any
    # country's payroll covers
    months = wm.select("country", "time", "period").unique()
    every = months.group_by("time").agg(pl.col("period").n_unique().alias("every"))
    pooled = (
        months.group_by("country", "time")
        .agg(pl.col("period").n_unique().alias("n"))
        .join(every, on="time")
        .select("country", "time", (pl.col("n") == pl.col("every")).alias("pooled"))
    )
    wm = wm.join(pooled, on=["country", "time"], how="left")
    return wm.with_columns(
        (
            pl.col("minimum_monthly")
            * pl.min_horizontal(pl.lit(1.0), pl.col("regular_hours") / pl.col("regular_hours_month"))
        ).alias("minimum_due"),
        (pl.col("registration_date").is_not_null() & (pl.col("registration_date") <= pl.col("period_end"))).alias(
            "registered"
        ),
        pl.col("is_paid").fill_null(False),
        (pl.col("insurable_wage").fill_null(pl.col("basic_pay")) * pl.col("rate_pct") / 100).alias("due"),
        pl.col("paid").fill_null(0.0),
        pl.when(pl.col("yip") >= 4)
        .then(pl.lit("YIP_4PLUS"))
        .otherwise(pl.lit("YIP_") + pl.col("yip").cast(pl.String))
        .alias("yip_group"),
        (pl.lit("OCU_") + pl.col("occupation").str.to_uppercase()).alias("ocu"),
    )


# ---------------------------------------------------------------------------------------------------------
# recomputation


def areas(frame: pl.DataFrame, by_sex: bool = True) -> pl.DataFrame:
    """Each row once for its own country and once for the pooled X_BW (rows of a country-year not pooled, column
    `pooled` false, for its country only); with its sex and SEX_T when by_sex."""
    pooled = frame.filter(pl.col("pooled")) if "pooled" in frame.columns else frame
    both = pl.concat(
        [frame.with_columns(pl.col("country").alias("ref_area")), pooled.with_columns(pl.lit(POOLED).alias("ref_area"))]
    )
    if not by_sex:
        return both.with_columns(pl.lit("SEX_T").alias("sexc"))
    return pl.concat(
        [both.with_columns(("SEX_" + pl.col("sex")).alias("sexc")), both.with_columns(pl.lit("SEX_T").alias("sexc"))]
    )


def cells(
    frame: pl.DataFrame,
    indicator: str,
    classif1,
    unit: str,
    value: pl.Expr,
    *,
    by=("ref_area", "time", "sexc"),
    workers: str | None = "worker",
    factory: str = "factory",
    basis: str = "workers",
) -> pl.DataFrame:
    """One cell per group: the value, and the distinct workers and factories the rows it rests on belong to."""
    classif = classif1 if isinstance(classif1, pl.Expr) else pl.lit(classif1)
    return (
        frame.group_by(*by)
        .agg(
            value.cast(pl.Float64).alias("obs_value"),
            (pl.col(workers).n_unique() if workers else pl.lit(None)).cast(pl.Int64).alias("n_workers"),
            pl.col(factory).n_unique().cast(pl.Int64).alias("n_factories"),
            *([classif.first().alias("classif1")] if isinstance(classif1, pl.Expr) else []),
        )
        .select(
            "ref_area",
            pl.lit(indicator).alias("indicator"),
            pl.col("sexc").alias("sex"),
            (pl.col("classif1") if isinstance(classif1, pl.Expr) else classif).alias("classif1"),
            pl.col("time").cast(pl.Int32),
            "obs_value",
            pl.lit(unit).alias("unit"),
            "n_workers",
            "n_factories",
            pl.lit(basis).alias("basis"),
        )
    )


def rate(condition: pl.Expr) -> pl.Expr:
    return 100 * condition.cast(pl.Float64).mean()


def wage_cells(wm: pl.DataFrame) -> list[pl.DataFrame]:
    x = areas(
        wm.with_columns(
            (pl.col("earnings") / pl.col("lcu_per_usd")).alias("earnings_usd"),
            (pl.col("earnings") / pl.col("ppp_lcu_per_intl_usd")).alias("earnings_ppp"),
            (pl.col("hourly") / pl.col("lcu_per_usd")).alias("hourly_usd"),
            (pl.col("hourly") / pl.col("ppp_lcu_per_intl_usd")).alias("hourly_ppp"),
        )
    )
    lcu_free = x.filter(pl.col("ref_area") != POOLED)  # local currencies cannot be pooled
    out = []
    for code, column, stat in (
        ("EAR_MEAN_MONTHLY", "earnings", "mean"),
        ("EAR_MEAN_HOURLY", "hourly", "mean"),
        ("EAR_MEDIAN_HOURLY", "hourly", "median"),
    ):
        for cur, suffix, unit, frame in (
            ("LCU", "", "LCU", lcu_free),
            ("USD", "_usd", "USD", x),
            ("PPP", "_ppp", "PPP_USD", x),
        ):
            col = column + suffix
            out.append(
                cells(
                    frame.filter(pl.col(col).is_not_null()), code, f"CUR_TYPE_{cur}", unit, getattr(pl.col(col), stat)()
                )
            )
    minw = x.filter(pl.col("minimum_due") > 0)
    out.append(cells(minw, "MINW_BELOW_RT", "_Z", "PCT", rate(pl.col("basic_pay") < pl.col("minimum_due"))))
    out.append(cells(minw, "EAR_TO_MINW_RATIO", "_Z", "RATIO", (pl.col("basic_pay") / pl.col("minimum_due")).mean()))
    out.append(cells(x, "HOW_OT_MEAN", "_Z", "HOURS", pl.col("overtime_hours").mean()))
    out.append(
        cells(
            x.filter(pl.col("overtime_limit_month").is_not_null()),
            "HOW_OT_EXCESS_RT",
            "_Z",
            "PCT",
            rate(pl.col("overtime_hours") > pl.col("overtime_limit_month")),
        )
    )
    out.append(
        cells(
            x.filter(pl.col("payment_method").is_not_null()),
            "EAR_DIGITAL_RT",
            "_Z",
            "PCT",
            rate(pl.col("payment_method").is_in(["bank", "mobile"])),
        )
    )
    ss = x.filter(pl.col("has_ss"))
    out.append(cells(ss, "SS_REGISTERED_RT", "_Z", "PCT", rate(pl.col("registered"))))
    out.append(cells(ss, "SS_CONTRIB_PAID_RT", "_Z", "PCT", rate(pl.col("is_paid"))))
    ss_due = ss.filter(pl.col("due").is_not_null())
    out.append(
        cells(
            ss_due,
            "SS_CONTRIB_GAP_RT",
            "_Z",
            "PCT",
            100 * (pl.col("due").sum() - pl.col("paid").sum()) / pl.col("due").sum(),
        )
    )
    # mean hourly earnings by occupation, in local currency
    out.append(
        cells(
            lcu_free.filter(pl.col("hourly").is_not_null(), pl.col("sexc") != "SEX_T"),
            "EAR_MEAN_HOURLY",
            pl.col("ocu"),
            "LCU",
            pl.col("hourly").mean(),
            by=("ref_area", "time", "sexc", "ocu"),
        )
    )
    # female shares: distinct workers of the year
    t = x.filter(pl.col("sexc") == "SEX_T")
    out.append(
        cells(
            t,
            "FEMALE_SHARE_WORKFORCE",
            "_Z",
            "PCT",
            100 * pl.col("worker").filter(pl.col("sex") == "F").n_unique() / pl.col("worker").n_unique(),
        )
    )
    out.append(
        cells(
            t.filter(pl.col("occupation").is_in(["supervisor", "manager"])),
            "FEMALE_SHARE_SUPERVISORS",
            "_Z",
            "PCT",
            100 * pl.col("worker").filter(pl.col("sex") == "F").n_unique() / pl.col("worker").n_unique(),
        )
    )
    return out


def gap_cells(wm: pl.DataFrame) -> list[pl.DataFrame]:
    """Raw gaps (mean by _Z / YIP / occupation, median overall) and the ILO factor-weighted gap."""
    x = areas(wm.filter(pl.col("hourly").is_not_null()))
    # a country's gap in its own currency, the pooled one in PPP dollars
    x = x.with_columns(
        pl.when(pl.col("ref_area") == POOLED)
        .then(pl.col("hourly") / pl.col("ppp_lcu_per_intl_usd"))
        .otherwise(pl.col("hourly"))
        .alias("h")
    ).filter(pl.col("sexc") != "SEX_T")
    out = []
    for breakdown, stats in (("_Z", ("mean", "median")), ("yip_group", ("mean",)), ("ocu", ("mean",))):
        classif = pl.lit("_Z") if breakdown == "_Z" else pl.col(breakdown)
        per_sex = (
            x.with_columns(classif.alias("classif1"))
            .group_by("ref_area", "time", "classif1", "sexc")
            .agg(
                pl.col("h").mean().alias("mean"),
                pl.col("h").median().alias("median"),
                pl.col("worker").n_unique().alias("n"),
                pl.col("factory").n_unique().alias("nf"),
                pl.col("factory").unique().alias("factories"),
            )
        )
        women = per_sex.filter(pl.col("sexc") == "SEX_F").drop("sexc")
        men = per_sex.filter(pl.col("sexc") == "SEX_M").drop("sexc")
        pair = women.join(men, on=["ref_area", "time", "classif1"], suffix="_m")
        for stat in stats:
            code = "GPG_MEAN_HOURLY" if stat == "mean" else "GPG_MEDIAN_HOURLY"
            out.append(
                pair.filter(pl.col(f"{stat}_m") > 0).select(
                    "ref_area",
                    pl.lit(code).alias("indicator"),
                    pl.lit("SEX_T").alias("sex"),
                    "classif1",
                    pl.col("time").cast(pl.Int32),
                    (100 * (pl.col(f"{stat}_m") - pl.col(stat)) / pl.col(f"{stat}_m")).alias("obs_value"),
                    pl.lit("PCT").alias("unit"),
                    (pl.col("n") + pl.col("n_m")).cast(pl.Int64).alias("n_workers"),
                    pl.concat_list("factories", "factories_m").list.n_unique().cast(pl.Int64).alias("n_factories"),
                    pl.lit("gap").alias("basis"),
                    pl.col("n").cast(pl.Int64).alias("n_workers_f"),
                    pl.col("n_m").cast(pl.Int64).alias("n_workers_m"),
                    pl.col("nf").cast(pl.Int64).alias("n_factories_f"),
                    pl.col("nf_m").cast(pl.Int64).alias("n_factories_m"),
                )
            )
    # ILO Global Wage Report: gap within each factory x occupation stratum, weighted by the stratum's workers
    strata = (
        areas(wm.filter(pl.col("hourly").is_not_null()), by_sex=False)
        .group_by("ref_area", "time", "factory", "occupation")
        .agg(
            pl.col("worker").n_unique().alias("w"),
            pl.col("worker").filter(pl.col("sex") == "F").n_unique().alias("women"),
            pl.col("worker").filter(pl.col("sex") == "M").n_unique().alias("men"),
            pl.col("hourly").filter(pl.col("sex") == "F").mean().alias("mean_f"),
            pl.col("hourly").filter(pl.col("sex") == "M").mean().alias("mean_m"),
        )
        .filter((pl.col("women") > 0) & (pl.col("men") > 0))
    )
    strata = strata.with_columns((100 * (pl.col("mean_m") - pl.col("mean_f")) / pl.col("mean_m")).alias("gap"))
    out.append(
        strata.group_by("ref_area", "time")
        .agg(
            ((pl.col("w") * pl.col("gap")).sum() / pl.col("w").sum()).alias("obs_value"),
            pl.col("w").sum().alias("n_workers"),
            pl.col("factory").n_unique().alias("n_factories"),
            pl.col("women").sum().alias("n_workers_f"),
            pl.col("men").sum().alias("n_workers_m"),
        )
        .select(
            "ref_area",
            pl.lit("GPG_FACTOR_WEIGHTED").alias("indicator"),
            pl.lit("SEX_T").alias("sex"),
            pl.lit("_Z").alias("classif1"),
            pl.col("time").cast(pl.Int32),
            "obs_value",
            pl.lit("PCT").alias("unit"),
            pl.col("n_workers").cast(pl.Int64),
            pl.col("n_factories").cast(pl.Int64),
            pl.lit("gap").alias("basis"),
            pl.col("n_workers_f").cast(pl.Int64),
            pl.col("n_workers_m").cast(pl.Int64),
            pl.col("n_factories").cast(pl.Int64).alias("n_factories_f"),
            pl.col("n_factories").cast(pl.Int64).alias("n_factories_m"),
        )
    )
    return out


SURVEY_FLAGS = {
    "UNION_MEMBER_RT": "union_member",
    "WS_CONCERN_DANGEROUS_EQUIPMENT_RT": "concern_dangerous_equipment",
    "WS_CONCERN_ACCIDENTS_RT": "concern_accidents",
    "WS_CONCERN_SEXUAL_HARASSMENT_RT": "concern_sexual_harassment",
    "WS_CONCERN_VERBAL_ABUSE_RT": "concern_verbal_abuse",
}
SURVEY_COMFORT = {"WS_COMFORT_UNION_RT": "comfort_union", "WS_COMFORT_PICC_RT": "comfort_picc"}


def survey_cells(root: Path) -> list[pl.DataFrame]:
    s = staged(root, "worker_survey").with_columns(
        pl.col("survey_date").dt.year().alias("time"),
        (pl.col("country") + ":" + pl.col("respondent_pid") + ":" + pl.col("survey_round").cast(pl.String)).alias(
            "respondent"
        ),
        (pl.col("country") + ":" + pl.col("factory_id").cast(pl.String)).alias("factory"),
    )
    x = areas(s)
    out = [
        cells(x.filter(pl.col(col).is_not_null()), code, "_Z", "PCT", rate(pl.col(col) == 1), workers="respondent")
        for code, col in SURVEY_FLAGS.items()
    ]
    out += [
        cells(x.filter(pl.col(col).is_between(1, 5)), code, "_Z", "PCT", rate(pl.col(col) <= 2), workers="respondent")
        for code, col in SURVEY_COMFORT.items()
    ]
    return out


def compliance_cells(root: Path) -> list[pl.DataFrame]:
    """Non-compliance of each factory's latest assessment (largest Quest ID) among those started in the year."""
    a = staged(root, "assessments").with_columns(pl.col("assessment_start_date").dt.year().alias("time"))
    latest = a.group_by("country", "factory_id", "time").agg(pl.col("assessment_id").max())
    clusters = (
        seed("ref_clusters")
        .filter(pl.col("is_compliance_cluster"))
        .select(pl.col("cluster_label").alias("cluster"), "cluster_code")
    )
    points = seed("ref_compliance_points").select(pl.col("cp_label").alias("compliance_point"), "cp_code")
    ncq = (
        a.join(latest, on=["country", "factory_id", "time", "assessment_id"])
        .filter(pl.col("question_type") == "NCQ")
        .join(clusters, on="cluster")
        .join(points, on="compliance_point", how="left")
        .with_columns(
            pl.col("cp_code").fill_null(
                "CP_"
                + pl.col("compliance_point")
                .str.replace_all("[^A-Za-z0-9]+", "_")
                .str.strip_chars("_")
                .str.to_uppercase()
            ),
            pl.col("finding").cast(pl.Int32).alias("non_compliant"),
            (pl.col("country") + ":" + pl.col("factory_id").cast(pl.String)).alias("factory"),
        )
    )
    out = []
    for code, level in (("NC_CLUSTER_RT", "cluster_code"), ("NC_CP_RT", "cp_code")):
        per_factory = ncq.group_by("country", "time", "factory", level).agg(pl.col("non_compliant").max())
        out.append(
            cells(
                areas(per_factory, by_sex=False),
                code,
                pl.col(level),
                "PCT",
                rate(pl.col("non_compliant") == 1),
                by=("ref_area", "time", "sexc", level),
                workers=None,
                basis="factories",
            )
        )
    return out


def picc_cells(root: Path, wm: pl.DataFrame) -> list[pl.DataFrame]:
    """Members current on 31 December of every year the country has payroll, assessment or survey data for."""
    years = pl.concat(
        [
            wm.select("country", "time"),
            staged(root, "assessments").select(
                "country", pl.col("assessment_start_date").dt.year().cast(pl.Int32).alias("time")
            ),
            staged(root, "worker_survey").select(
                "country", pl.col("survey_date").dt.year().cast(pl.Int32).alias("time")
            ),
        ]
    ).unique()
    members = staged(root, "picc_members").with_columns(
        pl.when(pl.col("title").is_in(["Ms.", "Mrs.", "Miss"]))
        .then(pl.lit("F"))
        .when(pl.col("title") == "Mr.")
        .then(pl.lit("M"))
        .alias("sex"),
        (pl.col("country") + ":" + pl.col("member_pid")).alias("member"),
        (pl.col("country") + ":" + pl.col("factory_id").cast(pl.String)).alias("factory"),
    )
    current = years.join(members, on="country").filter(
        pl.col("date_joined") <= pl.date(pl.col("time"), 12, 31),
        pl.col("date_left").is_null() | (pl.col("date_left") > pl.date(pl.col("time"), 12, 31)),
    )
    reps = areas(current.filter(pl.col("category") == "Workers"), by_sex=False)
    out = [cells(reps, "PICC_FEMALE_SHARE_WORKER_REPS", "_Z", "PCT", rate(pl.col("sex") == "F"), workers="member")]
    # parity: the reps' female share over the female share of the same factories' payroll workforce
    rep_factories = current.filter(pl.col("category") == "Workers").select("country", "time", "factory").unique()
    workforce = (
        # the same factories as the reps, of every country: PICC indicators pool every country (no month coverage)
        areas(wm.drop("pooled").join(rep_factories, on=["country", "time", "factory"]), by_sex=False)
        .group_by("ref_area", "time")
        .agg(
            (100 * pl.col("worker").filter(pl.col("sex") == "F").n_unique() / pl.col("worker").n_unique()).alias(
                "workforce_share"
            )
        )
    )
    share = out[0].join(workforce, on=["ref_area", "time"]).filter(pl.col("workforce_share") > 0)
    out.append(
        share.with_columns(
            pl.lit("PICC_REPRESENTATION_PARITY").alias("indicator"),
            (pl.col("obs_value") / pl.col("workforce_share")).alias("obs_value"),
            pl.lit("RATIO").alias("unit"),
        ).drop("workforce_share")
    )
    # active, non-obsolete register factories whose PICC has current members on both sides
    register = staged(root, "factories").filter(
        pl.col("status") == "Active", ~pl.col("factory_name").str.contains("(Obsolete)", literal=True)
    )
    sides = current.group_by("country", "time", "factory").agg(
        ((pl.col("category") == "Workers").any() & (pl.col("category") == "Management").any()).alias("both")
    )
    active = (
        years.join(
            register.select(
                "country", (pl.col("country") + ":" + pl.col("factory_id").cast(pl.String)).alias("factory")
            ),
            on="country",
        )
        .join(sides, on=["country", "time", "factory"], how="left")
        .with_columns(pl.col("both").fill_null(False))
    )
    out.append(
        cells(
            areas(active, by_sex=False),
            "PICC_ACTIVE_RT",
            "_Z",
            "PCT",
            rate(pl.col("both")),
            workers=None,
            basis="factories",
        )
    )
    return out


def recompute(root: Path) -> pl.DataFrame:
    """The long indicator table before disclosure control."""
    wm = worker_months(root)
    frames = wage_cells(wm) + gap_cells(wm) + survey_cells(root) + compliance_cells(root) + picc_cells(root, wm)
    gap_counts = ["n_workers_f", "n_workers_m", "n_factories_f", "n_factories_m"]
    frames = [
        f if "n_workers_f" in f.columns else f.with_columns(pl.lit(None, pl.Int64).alias(c) for c in gap_counts)
        for f in frames
    ]
    return pl.concat(
        [f.select(*KEY, "obs_value", "unit", "n_workers", "n_factories", "basis", *gap_counts) for f in frames],
        how="vertical_relaxed",
    ).filter(pl.col("obs_value").is_not_null() & pl.col("obs_value").is_not_nan())


def disclose(cells_: pl.DataFrame) -> pl.DataFrame:
    """Primary disclosure control as the spec writes it (thresholds: C, U), a gap judged by the counts of each
    sex. What an attacker would face without secondary suppression (tests/test_suppression_attack.py); the
    published table must suppress at least these cells."""
    t = sdc_thresholds()

    def primary(workers: pl.Expr, factories: pl.Expr) -> pl.Expr:
        return (
            pl.when(factories < t["sdc_min_factories"])
            .then(pl.lit("C"))
            .when(workers.is_not_null() & (workers < t["sdc_min_workers"]))
            .then(pl.lit("C"))
            .when(workers.is_not_null() & (workers < t["sdc_unreliable_workers"]))
            .then(pl.lit("U"))
            .otherwise(pl.lit(None, pl.String))
        )

    either_sex_c = (primary(pl.col("n_workers_f"), pl.col("n_factories_f")) == "C") | (
        primary(pl.col("n_workers_m"), pl.col("n_factories_m")) == "C"
    )
    status = (
        pl.when((pl.col("basis") == "gap") & either_sex_c)
        .then(pl.lit("C"))
        .when(pl.col("basis") == "factories")
        .then(primary(pl.lit(None, pl.Int64), pl.col("n_factories")))
        .otherwise(primary(pl.col("n_workers"), pl.col("n_factories")))
    )
    out = cells_.with_columns(status.alias("obs_status"))
    return out.with_columns(
        pl.when(pl.col("obs_status") == "C").then(None).otherwise(pl.col("obs_value")).alias("obs_value")
    )


MONTH_FAMILIES = {"payroll": ("EAR_", "HOW_", "MINW_", "GPG_", "FEMALE_SHARE_"), "social_security": ("SS_",)}


def months_of(root: Path) -> dict[tuple[str, int, str], int]:
    """(area, year, family) -> months covered: a country's payroll months, the months its payroll and social
    security both cover; X_BW the months of the countries it pools (those covering every month of the year)."""

    def periods(source: str) -> pl.DataFrame:
        return (
            staged(root, source)
            .select("country", "period")
            .unique()
            .with_columns(pl.col("period").str.slice(0, 4).cast(pl.Int32).alias("year"))
        )

    payroll, social = periods("payroll"), periods("social_security")
    linked = payroll.join(social, on=["country", "period", "year"], how="inner")
    out: dict[tuple[str, int, str], int] = {}
    for family, frame in (("payroll", payroll), ("social_security", linked)):
        for country, year, n in frame.group_by("country", "year").agg(pl.len()).iter_rows():
            out[(country, year, family)] = n
    for year in set(payroll["year"]):
        every = payroll.filter(pl.col("year") == year)["period"].n_unique()
        pooled = [c for (c, y, f), n in out.items() if y == year and f == "payroll" and n == every]
        out[(POOLED, year, "payroll")] = every
        linked_months = [out[(c, year, "social_security")] for c in pooled if (c, year, "social_security") in out]
        if linked_months:
            out[(POOLED, year, "social_security")] = min(linked_months)
    return out


def provisional(frame: pl.DataFrame, months: dict[tuple[str, int, str], int]) -> pl.DataFrame:
    """P for a cell whose family's months in its year are fewer than 12 (C stays C)."""

    def family(indicator: str) -> str | None:
        return next((f for f, prefixes in MONTH_FAMILIES.items() if indicator.startswith(prefixes)), None)

    covered = [
        months.get((a, t, family(i) or ""), 12) for a, i, t in frame.select("ref_area", "indicator", "time").iter_rows()
    ]
    return (
        frame.with_columns(pl.Series("_months", covered))
        .with_columns(
            pl.when(pl.col("obs_status").ne_missing("C") & (pl.col("_months") < 12))
            .then(pl.lit("P"))
            .otherwise(pl.col("obs_status"))
            .alias("obs_status")
        )
        .drop("_months")
    )


def pooled_country_years(root: Path) -> pl.DataFrame:
    """(country, time) of the country-years X_BW pools for payroll-based cells (`worker_months`' rule)."""
    return worker_months(root).filter(pl.col("pooled")).select("country", "time").unique()


def pooled_gaps(published: pl.DataFrame, pooled: pl.DataFrame) -> pl.DataFrame:
    """X_BW's raw and median gaps as the published national gaps, of the country-years X_BW pools, weighted by
    their workers."""
    national = published.join(
        pooled.select(pl.col("country").alias("ref_area"), pl.col("time").cast(pl.Int32)), on=["ref_area", "time"]
    ).filter(
        pl.col("indicator").is_in(["GPG_MEAN_HOURLY", "GPG_MEDIAN_HOURLY"]),
        pl.col("obs_value").is_not_null(),
        pl.col("n_workers") > 0,
    )
    return (
        national.group_by("indicator", "sex", "classif1", "time")
        .agg(
            ((pl.col("n_workers") * pl.col("obs_value")).sum() / pl.col("n_workers").sum()).alias("obs_value"),
            pl.col("n_workers").sum(),
            pl.col("n_factories").sum(),
        )
        .with_columns(pl.lit(POOLED).alias("ref_area"))
    )


def with_pooled_gaps(frame: pl.DataFrame, published: pl.DataFrame, pooled: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its X_BW raw and median gaps (value and counts) as `pooled_gaps` makes them."""
    gaps = pooled_gaps(published, pooled)
    return frame.update(
        gaps.select(*KEY, *[c for c in ("obs_value", "n_workers", "n_factories") if c in frame.columns]), on=KEY
    )


def not_applicable(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with a not-applicable row (M: no value, counts 0) for each sex that has no cell where the other sex
    has one and the total exists: nobody of that sex in the country, year and breakdown the cell covers."""
    group = ["ref_area", "indicator", "classif1", "time"]
    by_sex = frame.filter(pl.col("sex") != "SEX_T")
    totals = frame.filter(pl.col("sex") == "SEX_T").join(by_sex.select(group).unique(), on=group)
    missing = (
        totals.select(*group, "unit")
        .join(pl.DataFrame({"sex": ["SEX_F", "SEX_M"]}), how="cross")
        .join(by_sex.select(*group, "sex"), on=[*group, "sex"], how="anti")
        .with_columns(
            pl.lit(None, pl.Float64).alias("obs_value"),
            pl.lit("M").alias("obs_status"),
            pl.lit(0, pl.Int64).alias("n_workers"),
            pl.lit(0, pl.Int64).alias("n_factories"),
        )
    )
    return pl.concat([frame, missing.select(*[c for c in frame.columns if c in missing.columns])], how="diagonal")


# ---------------------------------------------------------------------------------------------------------
# tests


@pytest.fixture(scope="module")
def sample(scenario):
    return scenario


@pytest.fixture(scope="module")
def truth(sample) -> pl.DataFrame:
    return with_pooled_gaps(recompute(sample["root"]), sample["published"], pooled_country_years(sample["root"]))


@pytest.fixture(scope="module")
def expected(sample, truth) -> pl.DataFrame:
    return not_applicable(provisional(disclose(truth), months_of(sample["root"])))


def test_every_published_cell_is_recomputed_and_nothing_is_missing(sample, expected):
    published = sample["published"].select(KEY)
    mine = expected.select(KEY)
    extra = published.join(mine, on=KEY, how="anti").sort(KEY)
    missing = mine.join(published, on=KEY, how="anti").sort(KEY)
    assert extra.height == 0, f"published but not in the recomputation:\n{extra}"
    assert missing.height == 0, f"recomputed but not published:\n{missing}"
    assert published.height == published.unique().height


def test_every_published_value_agrees_within_its_published_precision(sample, truth):
    """Values are rounded to the spec's precision; the true value lies within half a step of the published one."""
    both = sample["published"].join(truth, on=KEY, suffix="_true").filter(pl.col("obs_value").is_not_null())
    wrong = [
        (r["ref_area"], r["indicator"], r["sex"], r["classif1"], r["time"], r["obs_value"], r["obs_value_true"])
        for r in both.iter_rows(named=True)
        if not within_precision(r["obs_value"], r["obs_value_true"], r["unit"])
    ]
    assert not wrong, f"{len(wrong)} values differ, e.g. {wrong[:10]}"
    assert both.height > 1000
    # and they are rounded: no published value carries more digits than its precision
    unrounded = [
        r
        for r in both.iter_rows(named=True)
        if r["obs_value"] != 0
        and abs(
            r["obs_value"] / published_step(r["obs_value"], r["unit"])
            - round(r["obs_value"] / published_step(r["obs_value"], r["unit"]))
        )
        > 1e-6
    ]
    assert not unrounded, unrounded[:5]


def test_every_primary_cell_is_suppressed_and_shows_no_counts(sample, expected):
    both = sample["published"].join(expected, on=KEY, suffix="_spec")
    missed = both.filter((pl.col("obs_status_spec") == "C") & pl.col("obs_status").ne_missing("C"))
    assert missed.height == 0, (
        f"cells the spec's thresholds suppress are published:\n{missed.select(*KEY, 'obs_status')}"
    )
    suppressed = both.filter(pl.col("obs_status") == "C")
    assert (
        suppressed.height > missed.height
        and (
            suppressed["obs_value"].is_null() & suppressed["n_workers"].is_null() & suppressed["n_factories"].is_null()
        ).all()
    )
    # secondary suppression adds cells beyond the primary ones (the attack and the audit test that they suffice)
    assert suppressed.height > both.filter(pl.col("obs_status_spec") == "C").height


def test_flags_units_and_counts_of_published_cells_agree(sample, expected):
    both = sample["published"].join(expected, on=KEY, suffix="_mine").filter(pl.col("obs_status").ne_missing("C"))
    for column in ("obs_status", "unit", "n_workers", "n_factories"):
        differ = both.filter(~pl.col(column).eq_missing(pl.col(f"{column}_mine")))
        assert differ.height == 0, f"{column} differs:\n{differ.select(*KEY, column, f'{column}_mine')}"
    counts = dict(sample["published"]["obs_status"].fill_null("").value_counts().iter_rows())
    assert counts.get("", 0) > counts.get("C", 0) > 0 and counts.get("U", 0) > 0


def test_every_catalogue_code_appears_for_every_country_with_its_data(sample):
    root, published = sample["root"], sample["published"]
    sources = {
        s: set(staged(root, s)["country"].unique().to_list()) if staged(root, s).height else set()
        for s in ("payroll", "social_security", "assessments", "worker_survey", "picc_members", "factories")
    }
    countries = set().union(*sources.values())
    assert countries >= {"BGD", "KHM", "VNM", "IDN", "JOR"}
    assert "BGD" not in sources["social_security"]  # the sample's BGD delivers no social-security extract
    # a cell appears (suppressed or not) wherever its extracts have data; PICC comfort only where a PICC exists
    codes = {area: set(g["indicator"]) for (area,), g in published.group_by("ref_area")}
    survey = staged(root, "worker_survey")
    with_picc = set(survey.filter(pl.col("comfort_picc").cast(pl.Int64, strict=False).is_between(1, 5))["country"])
    for country in countries:
        for code, needs in CATALOGUE.items():
            has = all(country in sources[s] for s in needs) and (code != "WS_COMFORT_PICC_RT" or country in with_picc)
            assert (code in codes.get(country, set())) == has, (country, code, has)
    assert set(CATALOGUE) == codes[POOLED]
    assert set(published["indicator"]) == set(CATALOGUE)


def test_breakdowns_cover_currencies_clusters_points_years_in_programme_and_occupations(sample):
    root, p = sample["root"], sample["published"]

    def classes(code: str, area: str | None = None) -> set[str]:
        rows = p.filter(pl.col("indicator") == code)
        return set((rows.filter(pl.col("ref_area") == area) if area else rows)["classif1"])

    for code in ("EAR_MEAN_MONTHLY", "EAR_MEAN_HOURLY", "EAR_MEDIAN_HOURLY"):
        assert {"CUR_TYPE_LCU", "CUR_TYPE_USD", "CUR_TYPE_PPP"} <= classes(code, "KHM")
        assert {"CUR_TYPE_USD", "CUR_TYPE_PPP"} == {c for c in classes(code, POOLED) if c.startswith("CUR_")}
    clusters = set(seed("ref_clusters").filter(pl.col("is_compliance_cluster"))["cluster_code"])
    assert classes("NC_CLUSTER_RT") == clusters  # every compliance cluster, Systems merged into OSH
    assert "CP_EMERGENCY_PREPAREDNESS" in classes("NC_CP_RT") and len(classes("NC_CP_RT")) > 20
    assert {f"YIP_{y}" for y in ("0", "1", "2", "3", "4PLUS")} <= classes("GPG_MEAN_HOURLY")
    occupations = {"OCU_" + o.upper() for o in staged(root, "payroll")["occupation"].unique()}
    assert occupations <= classes("GPG_MEAN_HOURLY") and occupations <= classes("EAR_MEAN_HOURLY")
    # the pooled row exists for every code and rests on the workers of the countries it pools
    pooled = p.filter(
        pl.col("ref_area") == POOLED,
        pl.col("indicator") == "EAR_MEAN_HOURLY",
        pl.col("sex") == "SEX_T",
        pl.col("classif1") == "CUR_TYPE_PPP",
    )
    single = p.filter(
        pl.col("ref_area") != POOLED,
        pl.col("indicator") == "EAR_MEAN_HOURLY",
        pl.col("sex") == "SEX_T",
        pl.col("classif1") == "CUR_TYPE_PPP",
    )
    by_year = dict(
        single.join(pooled_country_years(root).rename({"country": "ref_area"}), on=["ref_area", "time"])
        .group_by("time")
        .agg(pl.col("n_workers").sum())
        .iter_rows()
    )
    assert len(by_year) == pooled.height == 2  # 2025, and the new year
    for year, n_workers in pooled.select("time", "n_workers").iter_rows():
        assert n_workers == by_year[year]  # the countries X_BW pools that year, and no other


def test_recomputation_is_not_vacuous(expected):
    """Spot checks on the recomputation itself, so agreement cannot come from two empty or constant tables."""
    gap = expected.filter(
        pl.col("indicator") == "GPG_FACTOR_WEIGHTED", pl.col("obs_value").is_not_null(), pl.col("ref_area") != POOLED
    )
    # one value per country-year (X_BW of the new year is Cambodia's alone: Jordan's January has women only)
    assert gap.height >= 5 and gap["obs_value"].n_unique() == gap.height
    assert expected.filter(pl.col("indicator") == "MINW_BELOW_RT")["obs_value"].drop_nulls().max() > 0
    ss = expected.filter(
        pl.col("indicator") == "SS_CONTRIB_GAP_RT", pl.col("sex") == "SEX_T", pl.col("obs_value").is_not_null()
    )
    assert set(ss["ref_area"]) == {"IDN", "JOR", "KHM", "VNM", POOLED} and (ss["obs_value"] > 0).all()
