"""Disclosure control (assets/disclosure/): the rules, the Gaussian elimination, the auditor and the whole
procedure on hand-made linked tables with a small country, where each attack of issue 18 is tried.

The fixture builds the cells an indicator table would have from inner cells (country x sex x occupation) whose
sums and counts are known here, so every published cell is a true linear combination of them. Country S is
small: 3 factories, a handful of men, and no overtime beyond the limit (a rate of 0 %, a range edge).
"""

from __future__ import annotations

from fractions import Fraction

import polars as pl
import pytest

from assets.disclosure import gauss, rules
from assets.disclosure.audit import audit, bounds
from assets.disclosure.control import control
from assets.disclosure.links import KEY, Model, rows_from
from tests.test_suppression_attack import derivable_cells, differencing

# ------------------------------------------------------------------------------------------- rules


def test_the_p_percent_rule():
    assert rules.dominated(90, 5, 100)  # the rest (5) is under 10 % of the largest (9)
    assert not rules.dominated(50, 30, 100)
    assert rules.dominated(10, 0, 10)  # one factory alone
    assert not rules.dominated(0, 0, 0)


@pytest.mark.parametrize(
    ("value", "unit", "published"),
    [
        (42.857142857142855, "PCT", 42.9),
        (3.14159, "HOURS", 3.1),
        (1.125, "RATIO", 1.12),
        (1.1251, "RATIO", 1.13),
        (1234.5678, "LCU", 1235.0),
        (26003.34, "LCU", 26000.0),
        (0.678213, "USD", 0.6782),
        (-12.34, "PCT", -12.3),
    ],
)
def test_values_are_rounded_to_their_published_precision(value, unit, published):
    out = pl.select(rules.rounded(pl.lit(value), pl.lit(unit))).item()
    assert out == pytest.approx(published, abs=1e-12)
    assert abs(out - value) <= rules.rounding_unit(out, unit) / 2 + 1e-12


def test_protection_is_relative_with_a_floor_near_zero():
    assert rules.required_width(50.0, "PCT") == pytest.approx(20.0)
    assert rules.required_width(0.0, "PCT") == pytest.approx(1.0)  # 10 steps of 0.1 point
    assert rules.required_width(1000.0, "LCU") == pytest.approx(400.0)


# ------------------------------------------------------------------------------------------- Gaussian elimination
def _cell(key, leaves, protected=False, coefficient=1):
    return gauss.Cell(key, [dict.fromkeys(leaves, Fraction(coefficient))], protected=protected)


def test_a_two_by_two_table_needs_four_suppressions():
    """Rows a, b; columns x, y; margins. Suppressing (a, x) alone lets the margins give it back."""
    cells = [
        _cell("ax", ["ax"], protected=True),
        _cell("ay", ["ay"]),
        _cell("bx", ["bx"]),
        _cell("by", ["by"]),
        _cell("a", ["ax", "ay"]),
        _cell("b", ["bx", "by"]),
        _cell("x", ["ax", "bx"]),
        _cell("y", ["ay", "by"]),
        _cell("total", ["ax", "ay", "bx", "by"]),
    ]
    order = ["total", "a", "b", "x", "y", "by", "bx", "ay", "ax"]
    out = gauss.secondary_suppression(cells, order, {"ax"})
    assert out == {"ax", "ay", "bx", "by"}  # the inner cells go; every margin and the total stay published
    published = {c.key for c in cells} - out
    assert not gauss.derivable(cells, published, "ax")
    assert gauss.derivable(cells, published | {"by"}, "ax")


def test_the_pooled_cell_stays_and_a_small_country_pairs_with_another():
    countries = {"A": 100, "B": 60, "S": 5, "C": 40}
    cells = [_cell(c, [c], protected=(c == "S")) for c in countries] + [_cell("X_BW", list(countries))]
    order = ["X_BW", *sorted(countries, key=lambda c: -countries[c])]
    out = gauss.secondary_suppression(cells, order, {"S"})
    assert out == {"S", "C"}  # the smallest other country, not X_BW


def test_two_currencies_of_a_pooled_cell_are_two_equations():
    """X_BW in USD and in PPP dollars weight each country by its own rate: with both published, two suppressed
    countries are two unknowns in two equations. One of them has to go too."""
    rates_usd, rates_ppp = {"A": 1, "B": 4000, "S": 25000, "C": 1}, {"A": 2, "B": 1500, "S": 9000, "C": 3}
    cells = [_cell(c, [c], protected=(c == "S")) for c in rates_usd]
    cells += [
        gauss.Cell("X_USD", [{c: Fraction(1, r) for c, r in rates_usd.items()}]),
        gauss.Cell("X_PPP", [{c: Fraction(1, r) for c, r in rates_ppp.items()}]),
    ]
    out = gauss.secondary_suppression(cells, ["X_USD", "X_PPP", "A", "B", "C", "S"], {"S"})
    published = {c.key for c in cells} - out
    assert not gauss.derivable(cells, published, "S")
    assert len(out) >= 3 or "X_PPP" in out


def test_a_share_reveals_its_numerator():
    """A share of women publishes the count of women: suppressing the women's cell must suppress the share."""
    cells = [
        _cell("F", ["F"], protected=True),
        _cell("M", ["M"]),
        _cell("T", ["F", "M"]),
        gauss.Cell("share", [{"F": Fraction(1)}, {"F": Fraction(1), "M": Fraction(1)}]),
    ]
    out = gauss.secondary_suppression(cells, ["T", "share", "M", "F"], {"F"})
    assert {"F", "share"} <= out and ("M" in out)


# ------------------------------------------------------------------------------------------- a small country
RATES = {
    "A": (1.0, 1.0, 2.0),
    "B": (1.0, 4100.0, 1500.0),
    "S": (1.0, 0.71, 0.29),
}  # LCU per LCU, per USD, per PPP dollar
OCCUPATIONS = ("SEWING_OPERATOR", "SUPERVISOR", "MECHANIC")


def _inner() -> pl.DataFrame:
    """Inner cells: (country, sex, occupation) with worker-months, workers, factories and the sums of hourly
    earnings (in local currency) and of 'overtime beyond the limit' (0/1)."""
    rows = []
    plan = {  # country: {(sex, occupation): (workers, factories)}
        "A": {
            ("F", "SEWING_OPERATOR"): (900, 30),
            ("M", "SEWING_OPERATOR"): (300, 25),
            ("F", "SUPERVISOR"): (60, 20),
            ("M", "SUPERVISOR"): (50, 18),
            ("F", "MECHANIC"): (8, 5),
            ("M", "MECHANIC"): (90, 25),
        },
        "B": {
            ("F", "SEWING_OPERATOR"): (700, 22),
            ("M", "SEWING_OPERATOR"): (200, 20),
            ("F", "SUPERVISOR"): (40, 15),
            ("M", "SUPERVISOR"): (45, 15),
            ("F", "MECHANIC"): (12, 6),
            ("M", "MECHANIC"): (70, 20),
        },
        "S": {
            ("F", "SEWING_OPERATOR"): (40, 3),
            ("M", "SEWING_OPERATOR"): (3, 2),
            ("F", "SUPERVISOR"): (4, 3),
            ("M", "SUPERVISOR"): (2, 2),
            ("F", "MECHANIC"): (1, 1),
            ("M", "MECHANIC"): (1, 1),
        },
    }
    wage = {"SEWING_OPERATOR": 1.0, "SUPERVISOR": 1.6, "MECHANIC": 1.3}
    for country, cells in plan.items():
        for (sex, occupation), (workers, factories) in cells.items():
            months = 3 * workers
            hourly = wage[occupation] * (0.9 if sex == "F" else 1.0) * RATES[country][2]  # a PPP dollar or so, in LCU
            excess = 0 if country == "S" else round(0.2 * months)
            rows.append(
                {
                    "country": country,
                    "sex": sex,
                    "occupation": occupation,
                    "months": months,
                    "workers": workers,
                    "factories": factories,
                    "hourly_sum": hourly * months,
                    "excess": excess * 100.0,
                }
            )
    return pl.DataFrame(rows)


def _cells() -> pl.DataFrame:
    inner = _inner()
    out = []

    def add(area, indicator, sex, classif1, unit, part, numerator, denominator, currency=0):
        def rate(c):
            return RATES[c][currency]

        num = sum(r[numerator] / rate(r["country"]) for r in part.iter_rows(named=True))
        den = sum(r[denominator] for r in part.iter_rows(named=True))
        out.append(
            {
                "ref_area": area,
                "indicator": indicator,
                "sex": sex,
                "classif1": classif1,
                "time": 2025,
                "obs_value": num / den,
                "unit": unit,
                "n_workers": int(part["workers"].sum()),
                "n_factories": int(part["factories"].sum()),
                "basis": "workers",
                "n_workers_f": None,
                "n_workers_m": None,
                "n_factories_f": None,
                "n_factories_m": None,
                "numerator": num,
                "denominator": float(den),
            }
        )

    for area in ("A", "B", "S", "X_BW"):
        scope = inner if area == "X_BW" else inner.filter(pl.col("country") == area)
        for sex in ("SEX_T", "SEX_F", "SEX_M"):
            part = scope if sex == "SEX_T" else scope.filter(pl.col("sex") == sex[-1])
            for currency, classif1, unit in (
                (0, "CUR_TYPE_LCU", "LCU"),
                (1, "CUR_TYPE_USD", "USD"),
                (2, "CUR_TYPE_PPP", "PPP_USD"),
            ):
                if not (area == "X_BW" and currency == 0):
                    add(area, "EAR_MEAN_HOURLY", sex, classif1, unit, part, "hourly_sum", "months", currency)
            add(area, "HOW_OT_EXCESS_RT", sex, "_Z", "PCT", part, "excess", "months")
            if area != "X_BW" and sex != "SEX_T":
                for occupation in OCCUPATIONS:
                    add(
                        area,
                        "EAR_MEAN_HOURLY",
                        sex,
                        f"OCU_{occupation}",
                        "LCU",
                        part.filter(pl.col("occupation") == occupation),
                        "hourly_sum",
                        "months",
                    )
    return pl.DataFrame(out)


def _contributions() -> pl.DataFrame:
    """Each inner cell's workers spread evenly over its factories (no factory dominates)."""
    rows = []
    for r in _inner().iter_rows(named=True):
        for f in range(r["factories"]):
            share = r["workers"] // r["factories"] + (1 if f < r["workers"] % r["factories"] else 0)
            for breakdown in ("_Z", f"OCU_{r['occupation']}"):
                rows.append(
                    {
                        "population": "payroll",
                        "country": r["country"],
                        "year": 2025,
                        "sex": r["sex"],
                        "breakdown": breakdown,
                        "factory_key": f"{r['country']}:{f}",
                        "n": share,
                    }
                )
    frame = pl.DataFrame(rows)
    return frame.group_by("population", "country", "year", "sex", "breakdown", "factory_key").agg(pl.col("n").sum())


@pytest.fixture(scope="module")
def cells() -> pl.DataFrame:
    return _cells()


@pytest.fixture(scope="module")
def controlled(cells):
    return control(cells, _contributions())


def _primary_only(cells: pl.DataFrame) -> pl.DataFrame:
    status = rules.threshold_status(pl.col("n_workers"), pl.col("n_factories"))
    return cells.with_columns(
        pl.when(status == "C").then(pl.lit("C")).otherwise(None).alias("obs_status")
    ).with_columns(pl.when(pl.col("obs_status") == "C").then(None).otherwise(pl.col("obs_value")).alias("obs_value"))


def test_the_fixture_leaks_under_primary_suppression_alone(cells):
    primary = _primary_only(cells)
    kinds = {f["attack"] for f in differencing(primary)}
    assert {
        "occupation margin",
        "sex differencing",
        "pooled differencing",
        "range edge",
        "exact denominator",
    } <= kinds, kinds
    assert derivable_cells(primary)


def test_no_attack_recovers_anything_after_control(controlled):
    published = controlled.frame
    assert (published["obs_status"] == "C").sum() >= 10
    assert differencing(published) == []
    assert derivable_cells(published) == []


def test_the_audit_passes_and_the_pooled_cells_stay(controlled):
    assert controlled.audit.passed and controlled.audit.audited >= 10
    pooled = controlled.frame.filter(pl.col("ref_area") == "X_BW")
    assert pooled["obs_status"].is_null().all(), pooled.filter(pl.col("obs_status").is_not_null())
    # the big countries' earnings totals stay published; the 0 % total of S pairs with one other total only
    totals = controlled.frame.filter(pl.col("ref_area").is_in(["A", "B"]), pl.col("sex") == "SEX_T")
    assert totals.filter(pl.col("indicator") == "EAR_MEAN_HOURLY")["obs_status"].is_null().all()
    assert (totals.filter(pl.col("indicator") == "HOW_OT_EXCESS_RT")["obs_status"] == "C").sum() == 1


def test_the_range_edge_is_suppressed(controlled):
    """S has no overtime beyond the limit: its total is 0 % while its men are suppressed."""
    row = controlled.frame.filter(
        pl.col("ref_area") == "S", pl.col("indicator") == "HOW_OT_EXCESS_RT", pl.col("sex") == "SEX_T"
    )
    assert row["obs_status"].item() == "C"
    assert controlled.report["range_edges"] >= 1


def test_the_audit_catches_what_primary_suppression_leaves(cells):
    """The auditor, given the primary-only publication, finds cells an attacker pins down."""
    primary = _primary_only(cells)
    shown = {
        tuple(r[:5]): (None if r[5] == "C" else r[6])
        for r in primary.select(*KEY, "obs_status", "obs_value").iter_rows()
    }
    result = audit(Model(rows_from(cells.to_dicts())), shown, {k for k, v in shown.items() if v is None})
    assert result.findings, "primary suppression alone must fail the audit"
    narrowed = {f.key[0] for f in result.findings}
    assert "S" in narrowed


def test_the_audit_bounds_contain_the_truth(cells, controlled):
    """The attacker's interval of every suppressed cell contains its true value: the model is the data's."""
    shown = {
        tuple(r[:5]): (None if r[5] == "C" else r[6])
        for r in controlled.frame.select(*KEY, "obs_status", "obs_value").iter_rows()
    }
    truth = {tuple(r[:5]): r[5] for r in cells.select(*KEY, "obs_value").iter_rows()}
    intervals = bounds(Model(rows_from(cells.to_dicts())), shown)
    assert len(intervals) >= 10 and all(i is not None for i in intervals.values())
    for key, (low, high) in intervals.items():
        assert low - 1e-6 * abs(truth[key]) <= truth[key] <= high + 1e-6 * abs(truth[key]), (key, low, truth[key], high)


def test_suppressed_cells_show_no_counts_and_values_are_rounded(controlled):
    frame = controlled.frame
    suppressed = frame.filter(pl.col("obs_status") == "C")
    assert (
        suppressed["obs_value"].is_null().all()
        and suppressed["n_workers"].is_null().all()
        and suppressed["n_factories"].is_null().all()
    )
    shown = frame.filter(pl.col("obs_value").is_not_null())
    assert (shown["obs_value"] == shown.select(rules.rounded(pl.col("obs_value"), pl.col("unit"))).to_series()).all()


def test_one_dominant_factory_makes_a_cell_sensitive(cells, controlled):
    """A's male sewing operators, published above, but one factory employs 290 of the 300: the p% rule
    suppresses them."""
    key = {"ref_area": "A", "sex": "SEX_M", "classif1": "OCU_SEWING_OPERATOR"}
    assert controlled.frame.filter(**key)["obs_status"].item() is None
    contributions = _contributions()
    part = (pl.col("country") == "A") & (pl.col("sex") == "M") & (pl.col("breakdown") == "OCU_SEWING_OPERATOR")
    heavy = pl.DataFrame(
        {
            "population": "payroll",
            "country": "A",
            "year": 2025,
            "sex": "M",
            "breakdown": "OCU_SEWING_OPERATOR",
            "factory_key": ["A:0", "A:1", "A:2"],
            "n": [290, 6, 4],
        }
    ).cast(contributions.schema)
    out = control(cells, pl.concat([contributions.filter(~part), heavy]))
    assert out.frame.filter(**key)["obs_status"].item() == "C" and out.report["primary_by_dominance"] >= 1
    assert out.audit.passed and differencing(out.frame) == []


def test_a_pooled_gap_follows_a_country_whose_part_has_one_sex_only():
    """A has 5 women and no men among its mechanics, so no gap of its own; the pooled gap of mechanics averages
    them all the same: it follows A's women's cell, and its count covers A."""
    from assets.disclosure.control import _apply_follows, follows

    def row(area, indicator, sex, n, basis="workers"):
        return {
            "ref_area": area,
            "indicator": indicator,
            "sex": sex,
            "classif1": "OCU_MECHANIC",
            "time": 2025,
            "unit": "LCU",
            "basis": basis,
            "n_workers": n,
            "n_factories": 3,
            "obs_value": 1.0,
            "numerator": float(n),
            "denominator": float(n),
        }

    rows = [row("A", "EAR_MEAN_HOURLY", "SEX_F", 5)]
    for area in ("B", "C"):
        rows += [
            row(area, "EAR_MEAN_HOURLY", "SEX_F", 50),
            row(area, "EAR_MEAN_HOURLY", "SEX_M", 50),
            row(area, "GPG_MEAN_HOURLY", "SEX_T", 100, "gap"),
        ]
    rows.append(row("X_BW", "GPG_MEAN_HOURLY", "SEX_T", 205, "gap"))
    for r in rows:
        if r["basis"] == "gap":
            r.update(numerator=None, denominator=None, unit="PCT")
    model = Model(rows_from(rows))
    pooled = model.by_key[("X_BW", "GPG_MEAN_HOURLY", "SEX_T", "OCU_MECHANIC", 2025)]
    assert model.countries(pooled) == {"A", "B", "C"}
    assert ("A", "EAR_MEAN_HOURLY", "SEX_F", "OCU_MECHANIC", 2025) in follows(pooled, model)
    assert {leaf[2] for leaf in model.count_vectors(pooled)[0]} == {"A", "B", "C"}
    assert pooled.key in _apply_follows(model, {("A", "EAR_MEAN_HOURLY", "SEX_F", "OCU_MECHANIC", 2025)})


def test_a_pooled_gap_is_the_employment_weighted_average_of_the_published_national_gaps():
    """KHM's raw gap is 10 % over 100 workers, VNM's 20 % over 300: X_BW's is (100 x 10 + 300 x 20) / 400 = 17.5,
    between the two (a raw gap over the pooled workers can fall outside both, as 7.0 % does here), resting on 400
    workers and 5 factories. JOR's gap is confidential and BGD's year is not pooled (fewer months): neither counts.
    With no published national gap (the cutters), the pooled gap is confidential too; other cells pass unchanged."""
    from assets.disclosure.control import PUBLISHED_COLUMNS, pooled_gaps

    rows = [
        ("KHM", "GPG_MEAN_HOURLY", "SEX_T", "_Z", 2025, 10.0, None, "PCT", 100, 2, 12, "payroll"),
        ("VNM", "GPG_MEAN_HOURLY", "SEX_T", "_Z", 2025, 20.0, None, "PCT", 300, 3, 12, "payroll"),
        ("JOR", "GPG_MEAN_HOURLY", "SEX_T", "_Z", 2025, None, "C", "PCT", None, None, 12, "payroll"),
        ("BGD", "GPG_MEAN_HOURLY", "SEX_T", "_Z", 2025, -50.0, "P", "PCT", 900, 9, 11, "payroll"),
        ("X_BW", "GPG_MEAN_HOURLY", "SEX_T", "_Z", 2025, 7.0, None, "PCT", 1500, 19, 12, "pools"),
        ("JOR", "GPG_MEAN_HOURLY", "SEX_T", "OCU_CUTTER", 2025, None, "C", "PCT", None, None, 12, "payroll"),
        ("X_BW", "GPG_MEAN_HOURLY", "SEX_T", "OCU_CUTTER", 2025, 4.0, None, "PCT", 40, 4, 12, "pools"),
        ("X_BW", "GPG_MEDIAN_HOURLY", "SEX_T", "_Z", 2025, None, "C", "PCT", None, None, 12, "pools"),
        ("X_BW", "EAR_MEAN_HOURLY", "SEX_F", "CUR_TYPE_PPP", 2025, 2.5, None, "PPP_USD", 700, 9, 12, "pools"),
    ]
    frame = pl.DataFrame(
        rows,
        schema=dict(
            zip(
                PUBLISHED_COLUMNS,
                [pl.String] * 4 + [pl.Int32, pl.Float64, pl.String, pl.String, pl.Int64, pl.Int64, pl.Int64, pl.String],
                strict=True,
            )
        ),
        orient="row",
    )
    out, lost = pooled_gaps(frame, unpooled=frozenset({("BGD", 2025)}))
    by_key = {(r["ref_area"], r["indicator"], r["classif1"]): r for r in out.iter_rows(named=True)}
    pooled = by_key[("X_BW", "GPG_MEAN_HOURLY", "_Z")]
    assert (pooled["obs_value"], pooled["obs_status"], pooled["n_workers"], pooled["n_factories"]) == (
        17.5,
        None,
        400,
        5,
    )
    assert (
        pooled["coverage"] == "employment-weighted average of the national gaps of KHM (100 workers), VNM (300 workers)"
    )
    cutters = by_key[("X_BW", "GPG_MEAN_HOURLY", "OCU_CUTTER")]
    assert (cutters["obs_value"], cutters["obs_status"], cutters["n_workers"]) == (None, "C", None)
    assert lost == {("X_BW", "GPG_MEAN_HOURLY", "SEX_T", "OCU_CUTTER", 2025)}
    assert by_key[("X_BW", "GPG_MEDIAN_HOURLY", "_Z")]["obs_status"] == "C"  # suppressed by control: stays so
    unchanged = [k for k in by_key if k[0] != "X_BW" or k[1] == "EAR_MEAN_HOURLY"]
    original = {(r["ref_area"], r["indicator"], r["classif1"]): r for r in frame.iter_rows(named=True)}
    assert all(by_key[k] == original[k] for k in unchanged)
