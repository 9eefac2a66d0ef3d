"""Features and targets of the risk ranking, each stamped with the time the warehouse had it.

Inputs are aggregates only: factory-months (counts over a factory's workers in a month, summed in DuckDB inside
the warehouse; no worker key leaves it), the staged assessments reduced to one row per assessment and cluster, and
the factory register. A factory-month counts as known `DELIVERY_LAG_MONTHS` after its month ends (partners deliver
a month's payroll and social security in the month after); an assessment's findings from the day after it started.
Every feature of a planning date D uses only what was known before D (`known_before`), and `tests/test_risk.py`
plants a leak to show that the check catches it.

No worker-level data, no assessor, no buyer, and no share of women: a ranking must never send inspectors to
factories because they employ women.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

DELIVERY_LAG_MONTHS = 1
SURVEY_LAG_DAYS = 31  # a survey round's answers are known a month after the interviews
MIN_RESPONDENTS = 10  # below this, a factory's survey concern rate is no feature (0, and flagged)
CONCERNS = (
    "concern_sexual_harassment",
    "concern_verbal_abuse",
    "concern_dangerous_equipment",
    "concern_accidents",
    "concern_late_pay",
)
WINDOW_MONTHS = 12  # the payroll months before a planning date that its features summarise
HORIZON_DAYS = 366  # a target: the factory's next assessment within a year after the planning date
SEEDS = Path(__file__).parents[2] / "dbt_project" / "seeds"

# feature -> (the reason in plain words when it raises a factory's risk, the direction it may act in:
# +1 may only raise risk, -1 may only lower it, 0 either)
FEATURES: dict[str, tuple[str, int]] = {
    "below_minimum_share": ("many worker-months paid below the minimum wage", +1),
    "minimum_shortfall_pct": ("pay far below the minimum where it is below", +1),
    "excess_overtime_share": ("many worker-months above the legal overtime limit", +1),
    "digital_pay_share": ("few workers paid by bank or mobile money", -1),
    "registered_share": ("workers on the payroll not registered with social security", -1),
    "contribution_paid_share": ("social-security contributions not paid for the month", -1),
    "payroll_months": ("few months of payroll delivered", 0),
    "survey_concern_rate": ("workers' survey: many report concerns (accidents, harassment, abuse, late pay)", +1),
    "picc_active": ("no active bipartite committee (PICC) on the planning date", 0),
    "earlier_nc": ("non-compliant in this cluster at the last assessment", +1),
    "earlier_nc_clusters": ("non-compliant in many clusters at the last assessment", +1),
    "years_in_programme": ("few years in the programme", 0),
    "log_workers": ("a small workforce", 0),
}
PROTECTIVE = [name for name, (_, direction) in FEATURES.items() if direction < 0]  # never raise risk
REASON_WHEN_HIGH = {  # the features that may act either way: the reason when a high value raises the risk
    "picc_active": "an active bipartite committee (PICC) on the planning date",
    "payroll_months": "many months of payroll delivered",
    "years_in_programme": "many years in the programme",
    "log_workers": "a large workforce",
}
REASON_WHEN_LOW = {"log_workers": "a small workforce"}


def factory_months(warehouse: Path) -> pl.DataFrame:
    """One row per factory and month: counts summed in the warehouse (int_worker_months; registered by the month's
    end as int_month_parts counts it, from int_worker_registrations), nothing per worker."""
    sql = """
        select
            country, factory_id, period,
            count(*) as worker_months,
            count(*) filter (where minimum_wage_due is not null) as with_minimum,
            count(*) filter (where basic_pay < minimum_wage_due) as below_minimum,
            sum(case when basic_pay < minimum_wage_due then (minimum_wage_due - basic_pay) / minimum_wage_due end)
                as shortfall_sum,
            count(*) filter (where overtime_hours > overtime_limit_month) as excess_overtime,
            count(*) filter (where payment_method in ('bank', 'mobile')) as digital,
            count(*) filter (where payment_method is not null) as with_method,
            count(*) filter (where registration_date <= last_day(period_start)) as registered,
            count(*) filter (where is_contribution_paid) as contribution_paid,
            bool_or(has_social_security) as has_social_security
        from intermediate.int_worker_months
        left join intermediate.int_worker_registrations using (country, worker_key)
        group by country, factory_id, period
        order by country, factory_id, period  -- a fixed order: the features' float sums, and so the snapshot's hash
    """
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return pl.from_arrow(con.sql(sql).to_arrow_table())


def _staged(staging: Path, source: str, schema: dict) -> pl.DataFrame:
    """The columns `schema` names of a source's staged files, all countries (a `country` column added); an empty
    frame of that schema when nothing is staged."""
    files = sorted(staging.glob(f"{source}/country=*/*.parquet"))
    frames = [
        pl.read_parquet(f, columns=list(schema)).with_columns(pl.lit(f.parent.name[8:]).alias("country")) for f in files
    ]
    empty = pl.DataFrame(schema=schema | {"country": pl.String})
    return pl.concat(frames, how="diagonal_relaxed") if frames else empty


def assessments(staging: Path) -> pl.DataFrame:
    """One row per assessment and cluster: its date and whether it found a non-compliance there (any NCQ
    question; `nc_public`: any publicly disclosed one)."""
    clusters = pl.read_csv(SEEDS / "ref_clusters.csv").filter(pl.col("cluster_code").is_not_null())
    return (
        _staged(staging, "assessments", ASSESSMENT_COLUMNS)
        .filter(pl.col("question_type") == "NCQ")
        .join(clusters.select(pl.col("cluster_label").alias("cluster"), "cluster_code"), on="cluster")
        .with_columns(
            (pl.col("finding") == "1").cast(pl.Int8).alias("_nc"),
            pl.col("tags").fill_null("").str.contains("Public Disclosure").alias("_public"),
        )
        .group_by("country", "factory_id", "assessment_id", pl.col("cluster_code").alias("cluster"))
        .agg(
            pl.col("assessment_start_date").min().alias("date"),
            pl.col("_nc").max().alias("nc"),
            (pl.col("_nc") * pl.col("_public").cast(pl.Int8)).max().alias("nc_public"),
        )
        .sort("country", "factory_id", "date", "assessment_id", "cluster")
    )


ASSESSMENT_COLUMNS = {
    "factory_id": pl.Int64,
    "assessment_id": pl.Int64,
    "assessment_start_date": pl.Date,
    "cluster": pl.String,
    "question_type": pl.String,
    "finding": pl.String,
    "tags": pl.String,
}


def surveys(staging: Path) -> pl.DataFrame:
    """Per factory and interview date: respondents, and concerns reported among the answers given (0 or 1; the
    survey's missing codes left out). Counted here; no respondent key is kept."""
    rows = _staged(
        staging, "worker_survey", {"factory_id": pl.Int64, "survey_date": pl.Date} | dict.fromkeys(CONCERNS, pl.Int64)
    )
    answered = [pl.col(c).is_in([0, 1]).cast(pl.Int64) for c in CONCERNS]
    reported = [(pl.col(c) == 1).fill_null(False).cast(pl.Int64) for c in CONCERNS]
    return rows.group_by("country", "factory_id", "survey_date").agg(
        pl.len().alias("respondents"),
        pl.sum_horizontal(reported).sum().alias("concerns"),
        pl.sum_horizontal(answered).sum().alias("answers"),
    )


def picc_members(staging: Path) -> pl.DataFrame:
    """The committees' members by side and dates (no member key kept)."""
    schema = {"factory_id": pl.Int64, "category": pl.String, "date_joined": pl.Date, "date_left": pl.Date}
    return _staged(staging, "picc_members", schema)


def factories(staging: Path) -> pl.DataFrame:
    schema = {"factory_id": pl.Int64, "factory_name": pl.String, "state": pl.String, "enrolment_date": pl.Date}
    return _staged(staging, "factories", schema).unique(["country", "factory_id"], keep="last")


def known_from_month(period: pl.Expr) -> pl.Expr:
    """The first day a factory-month is known: the first day of the month after its delivery month."""
    start = period.str.to_date("%Y-%m")
    return start.dt.offset_by(f"{DELIVERY_LAG_MONTHS + 1}mo")


def check_no_leak(rows: pl.DataFrame) -> None:
    """Refuse feature rows built from anything the warehouse did not have before their planning date."""
    leaked = rows.filter(pl.col("latest_input") > pl.col("planning"))
    if leaked.height:
        first = leaked.row(0, named=True)
        raise ValueError(
            f"{leaked.height} feature row(s) use data known after their planning date, e.g. factory "
            f"{first['country']} {first['factory_id']}: input known from {first['latest_input']}, planning "
            f"{first['planning']}"
        )


def known_before(frame: pl.DataFrame, planning: dt.date, column: str = "known_from") -> pl.DataFrame:
    return frame.filter(pl.col(column) <= planning)


def feature_rows(
    months: pl.DataFrame,
    found: pl.DataFrame,
    register: pl.DataFrame,
    planning: dt.date,
    survey: pl.DataFrame | None = None,
    members: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The features of every factory at a planning date, one row per factory and cluster, each computed from what
    was known before the date. `known_from` of each row's newest input is kept (`latest_input`) for the leak test."""
    window_start = planning.replace(year=planning.year - 1)
    payroll = known_before(months.with_columns(known_from_month(pl.col("period")).alias("known_from")), planning)
    payroll = payroll.filter(pl.col("period").str.to_date("%Y-%m") >= window_start)
    summary = payroll.group_by("country", "factory_id", maintain_order=True).agg(
        (pl.col("below_minimum").sum() / pl.col("with_minimum").sum()).alias("below_minimum_share"),
        (100 * pl.col("shortfall_sum").sum() / pl.col("below_minimum").sum())
        .fill_nan(0)
        .alias("minimum_shortfall_pct"),
        (pl.col("excess_overtime").sum() / pl.col("worker_months").sum()).alias("excess_overtime_share"),
        (pl.col("digital").sum() / pl.col("with_method").sum()).alias("digital_pay_share"),
        (pl.col("registered").sum() / pl.col("worker_months").sum()).alias("registered_share"),
        (pl.col("contribution_paid").sum() / pl.col("worker_months").sum()).alias("contribution_paid_share"),
        pl.col("period").n_unique().alias("payroll_months"),
        (pl.col("worker_months").sum() / pl.col("period").n_unique()).log1p().alias("log_workers"),
        pl.col("has_social_security").any().alias("has_social_security"),
        pl.col("known_from").max().alias("payroll_known_from"),
    )
    known = found.with_columns((pl.col("date") + pl.duration(days=1)).alias("known_from"))
    before = known_before(known, planning)
    last = before.filter(
        pl.col("assessment_id") == pl.col("assessment_id").sort_by("date").last().over("country", "factory_id")
    )
    per_factory = last.group_by("country", "factory_id").agg(
        pl.col("nc").sum().alias("earlier_nc_clusters"), pl.col("known_from").max().alias("assessment_known_from")
    )
    per_cluster = last.select("country", "factory_id", "cluster", pl.col("nc").alias("earlier_nc"))
    after = found.filter(pl.col("date") >= planning, pl.col("date") < planning + dt.timedelta(days=HORIZON_DAYS))
    following = after.filter(
        pl.col("assessment_id") == pl.col("assessment_id").sort_by("date").first().over("country", "factory_id")
    ).select("country", "factory_id", "cluster", "nc", "nc_public", pl.col("date").alias("target_date"))
    window = (pl.col("survey_date") >= window_start) & (
        pl.col("survey_date") + pl.duration(days=SURVEY_LAG_DAYS) <= planning
    )
    survey = survey if survey is not None else surveys(Path("/nonexistent"))
    heard = (
        survey.filter(window)
        .group_by("country", "factory_id")
        .agg(
            pl.col("respondents").sum().alias("survey_respondents"),
            (pl.col("concerns").sum() / pl.col("answers").sum()).alias("_rate"),
            (pl.col("survey_date").max() + pl.duration(days=SURVEY_LAG_DAYS)).alias("survey_known_from"),
        )
        .with_columns(
            pl.when(pl.col("survey_respondents") >= MIN_RESPONDENTS).then(pl.col("_rate")).alias("survey_concern_rate")
        )
        .drop("_rate")
    )
    members = members if members is not None else picc_members(Path("/nonexistent"))
    current = members.filter(
        pl.col("date_joined") < planning, pl.col("date_left").is_null() | (pl.col("date_left") >= planning)
    )
    committees = current.group_by("country", "factory_id").agg(
        (pl.col("category").n_unique() >= 2).cast(pl.Float64).alias("picc_active")
    )
    factory_rows = (
        summary.join(per_factory, on=["country", "factory_id"], how="left")
        .join(heard, on=["country", "factory_id"], how="left")
        .join(committees, on=["country", "factory_id"], how="left")
        .join(
            register.select("country", "factory_id", "factory_name", "state", "enrolment_date"),
            on=["country", "factory_id"],
            how="left",
        )
        .with_columns(
            ((pl.lit(planning) - pl.col("enrolment_date")).dt.total_days() / 365.25)
            .clip(0)
            .fill_null(0)
            .alias("years_in_programme"),
            pl.lit(planning).alias("planning"),
            pl.max_horizontal("payroll_known_from", "assessment_known_from", "survey_known_from").alias("latest_input"),
        )
    )
    # every factory with payroll features gets a row per cluster; its target is its next assessment's finding there
    clusters = pl.DataFrame({"cluster": sorted(set(found["cluster"]))}, schema={"cluster": pl.String})
    return (
        factory_rows.join(clusters, how="cross")
        .join(per_cluster, on=["country", "factory_id", "cluster"], how="left")
        .join(following, on=["country", "factory_id", "cluster"], how="left")
        .with_columns(pl.col(list(FEATURES)).fill_null(0).cast(pl.Float64))
        .sort("country", "factory_id", "cluster")
    )
