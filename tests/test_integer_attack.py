"""Disclosure control against an outsider who counts (issue 29).

Hand-made factory-based tables (non-compliance by cluster and by compliance point, with X_BW), generated from
per-factory findings so that every cell is a true count: two usual programmes and small ones with one, two, three,
five or seven assessed factories in a year, where a cluster is planted at zero (no factory non-compliant) or full
(every factory non-compliant). Each is controlled by assets/disclosure/control.py and attacked by the independent
outsider of tests/integer_attacker.py: nothing suppressed may come out exactly, no sensitive cell may be narrowed
below its protection. With the integer programs switched off, the same outsider derives cells (the attack of the
issue is real), and the audit itself reports them.
"""

from __future__ import annotations

import random

import polars as pl
import pytest

from assets.disclosure import audit as audit_module
from assets.disclosure import rules
from assets.disclosure.control import control
from schemas.codes import compliance_point_clusters
from tests.integer_attacker import findings

CLUSTERS = compliance_point_clusters()
USED = ("CLU_OSH", "CLU_WORKING_TIME", "CLU_FORCED_LABOUR")  # a big cluster, a small one, a rare one
POINTS = {cluster: sorted(cp for cp, c in CLUSTERS.items() if c == cluster) for cluster in USED}
RARE = {"CLU_FORCED_LABOUR": 0.03, "CLU_WORKING_TIME": 0.7, "CLU_OSH": 0.35}  # chance a point is non-compliant
CONTRIBUTION_COLUMNS = {
    "population": pl.String,
    "country": pl.String,
    "year": pl.Int64,
    "sex": pl.String,
    "breakdown": pl.String,
    "factory_key": pl.String,
    "n": pl.Int64,
}


def _findings(n: int, plant: str | None, rng: random.Random) -> list[dict[str, bool]]:
    """Per factory, each compliance point's finding (True: non-compliant). `plant`: 'zero' makes OSH compliant in
    every factory, 'full' makes working time non-compliant in every factory."""
    out = []
    for _ in range(n):
        points = {}
        for cluster, cps in POINTS.items():
            for cp in cps:
                points[cp] = rng.random() < RARE[cluster]
            if plant == "zero" and cluster == "CLU_OSH":
                points |= dict.fromkeys(cps, False)
            if plant == "full" and cluster == "CLU_WORKING_TIME":
                points[cps[0]] = True
        out.append(points)
    return out


def tables(programmes: dict[str, dict[int, tuple[int, str | None]]], seed: int = 7) -> pl.DataFrame:
    """The cells before control. `programmes`: country -> year -> (factories assessed, planted pattern)."""
    rng = random.Random(seed)
    factories = {
        (country, year): _findings(n, plant, rng)
        for country, years in programmes.items()
        for year, (n, plant) in years.items()
    }
    rows = []
    years = sorted({year for _, year in factories})
    for year in years:
        members = {c: f for (c, y), f in factories.items() if y == year}
        for area in [*sorted(members), "X_BW"]:
            scope = [f for c, fs in members.items() for f in fs] if area == "X_BW" else members[area]
            for cluster, cps in POINTS.items():
                cells = [("NC_CLUSTER_RT", cluster, [any(f[cp] for cp in cps) for f in scope])]
                cells += [("NC_CP_RT", cp, [f[cp] for f in scope]) for cp in cps]
                for indicator, classif1, flags in cells:
                    k, n = sum(flags), len(flags)
                    rows.append(
                        {
                            "ref_area": area,
                            "indicator": indicator,
                            "sex": "SEX_T",
                            "classif1": classif1,
                            "time": year,
                            "obs_value": 100 * k / n,
                            "unit": "PCT",
                            "n_workers": None,
                            "n_factories": n,
                            "basis": "factories",
                            "n_workers_f": None,
                            "n_workers_m": None,
                            "n_factories_f": None,
                            "n_factories_m": None,
                            "numerator": float(100 * k),
                            "denominator": float(n),
                        }
                    )
    return pl.DataFrame(rows, schema_overrides={"n_workers": pl.Int64, "n_workers_f": pl.Int64})


def _truth(cells: pl.DataFrame) -> dict[tuple, float]:
    return {
        (r["ref_area"], r["indicator"], r["classif1"], r["time"]): r["obs_value"] for r in cells.iter_rows(named=True)
    }


def _assessed(programmes) -> dict[tuple[str, int], int]:
    return {(c, y): n for c, years in programmes.items() for y, (n, _) in years.items()}


def _sensitive(cells: pl.DataFrame) -> set[tuple]:
    """The cells the threshold rule suppresses (fewer than MIN_FACTORIES factories), from the spec's rule."""
    small = cells.filter(pl.col("n_factories") < rules.MIN_FACTORIES)
    return {(r["ref_area"], r["indicator"], r["classif1"], r["time"]) for r in small.iter_rows(named=True)}


def _publish(programmes, seed=7) -> tuple[pl.DataFrame, pl.DataFrame]:
    cells = tables(programmes, seed)
    controlled = control(cells, pl.DataFrame(schema=CONTRIBUTION_COLUMNS))
    return cells, controlled


USUAL = {"A": {2025: (40, None)}, "B": {2025: (25, None)}}
# the family: one small programme or two, 1 to 7 factories, a cluster at zero, full or nothing planted, one year or two
FAMILY = {
    "one factory, nothing planted": {**USUAL, "S": {2025: (1, None)}},
    "two factories, a cluster at zero": {**USUAL, "S": {2025: (2, "zero")}},
    "three factories, a cluster full": {**USUAL, "S": {2025: (3, "full")}},
    "five factories, a cluster at zero": {**USUAL, "S": {2025: (5, "zero")}},
    "two small programmes at zero (the issue)": {**USUAL, "S": {2025: (2, "zero")}, "T": {2025: (5, "zero")}},
    "two small programmes, full": {**USUAL, "S": {2025: (3, "full")}, "T": {2025: (7, "full")}},
    "a small programme's second year": {
        "A": {2024: (38, None), 2025: (40, None)},
        "B": {2024: (22, None), 2025: (25, None)},
        "S": {2024: (2, "zero"), 2025: (3, "zero")},
    },
}


@pytest.mark.parametrize("name", list(FAMILY))
def test_an_outsider_who_counts_gets_nothing(name):
    programmes = FAMILY[name]
    cells, controlled = _publish(programmes)
    assert controlled.audit.passed, [str(f) for f in controlled.audit.findings[:5]]
    published = controlled.frame
    if any(n < rules.MIN_FACTORIES for n in _assessed(programmes).values()):
        assert (published["obs_status"] == "C").sum() > 0, "the small programme's cells are suppressed"
    leaks = findings(published, _truth(cells), _sensitive(cells), _assessed(programmes), CLUSTERS)
    assert leaks == {}, list(leaks.values())[:5]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_two_small_programmes_at_an_edge_hold_whatever_the_findings(seed):
    """The issue's pattern with other random findings: two small programmes beside two usual ones."""
    programmes = {**USUAL, "S": {2025: (2 + seed % 2, "zero")}, "T": {2025: (4 + seed, "full")}}
    cells, controlled = _publish(programmes, seed)
    assert controlled.audit.passed
    assert findings(controlled.frame, _truth(cells), _sensitive(cells), _assessed(programmes), CLUSTERS) == {}


@pytest.fixture
def linear_only(monkeypatch):
    """Control and audit as before issue 29: counts relaxed to real numbers."""
    monkeypatch.setattr(audit_module, "integer_bounds", lambda model, published, wanted: {})


def test_without_integers_the_outsider_derives_cells(linear_only):
    programmes = FAMILY["two small programmes at zero (the issue)"]
    cells, controlled = _publish(programmes)
    assert controlled.audit.passed, "the linear relaxation alone sees nothing wrong"
    leaks = findings(controlled.frame, _truth(cells), _sensitive(cells), _assessed(programmes), CLUSTERS)
    assert any("derived exactly" in leak for leak in leaks.values()), leaks


def test_the_integer_audit_finds_what_the_outsider_derives(monkeypatch):
    """The pattern control chose without integers, audited with them: refused, naming cells derived or narrowed."""
    programmes = FAMILY["two small programmes at zero (the issue)"]
    with monkeypatch.context() as patch:
        patch.setattr(audit_module, "integer_bounds", lambda model, published, wanted: {})
        cells, weak = _publish(programmes)
    from assets.disclosure.links import Model, rows_from

    model = Model(rows_from(cells.to_dicts()))
    published = {
        (r["ref_area"], r["indicator"], r["sex"], r["classif1"], r["time"]): r["obs_value"]
        for r in weak.frame.iter_rows(named=True)
    }
    sensitive = {
        (a, i, "SEX_T", c, t) for a, i, c, t in _sensitive(cells) if published.get((a, i, "SEX_T", c, t)) is None
    }
    result = audit_module.audit(model, published, sensitive)
    assert not result.passed
    attacker = findings(weak.frame, _truth(cells), _sensitive(cells), _assessed(programmes), CLUSTERS)
    audited = {f.key for f in result.findings}
    assert attacker, "the outsider finds cells in the pattern chosen without integers"
    for (
        area,
        indicator,
        classif1,
        time,
    ), leak in attacker.items():  # what the independent outsider finds, the audit finds
        assert (area, indicator, "SEX_T", classif1, time) in audited, leak


def test_the_integer_bounds_contain_the_truth():
    programmes = FAMILY["two small programmes at zero (the issue)"]
    cells, controlled = _publish(programmes)
    from assets.disclosure.links import Model, rows_from

    model = Model(rows_from(cells.to_dicts()))
    published = {
        (r["ref_area"], r["indicator"], r["sex"], r["classif1"], r["time"]): r["obs_value"]
        for r in controlled.frame.iter_rows(named=True)
    }
    wanted = {k: 1e9 for k, v in published.items() if v is None}  # no early stop: the exact extremes
    bounds = audit_module.integer_bounds(model, published, wanted)
    assert bounds and all(b is not None and b.decided for b in bounds.values())
    for key, bound in bounds.items():
        true = model.by_key[key].value
        assert bound.low - 1e-6 <= true <= bound.high + 1e-6, (key, bound, true)


# ------------------------------------------------------------------------------------------- links of the catalogue
def _payroll_row(indicator: str, unit: str, numerator: float, denominator: float) -> dict:
    return {
        "ref_area": "KHM",
        "indicator": indicator,
        "sex": "SEX_F",
        "classif1": "_Z",
        "time": 2025,
        "unit": unit,
        "basis": "workers",
        "n_workers": 20,
        "n_factories": 4,
        "obs_value": numerator / denominator,
        "numerator": numerator,
        "denominator": denominator,
    }


@pytest.mark.parametrize(
    ("target", "linked", "published", "side", "bound"),
    [
        # 60 worker-months, 3 above Cambodia's 52 h: the share is 5 %; a mean of 4.0 h caps it at 100 x 4.05 / 52
        ("HOW_OT_EXCESS_RT", "HOW_OT_MEAN", 4.0, "high", 100 * 4.05 / 52),
        # the other way: a share of 5.0 % above 52 h puts the mean above 52 x 4.95 / 100
        ("HOW_OT_MEAN", "HOW_OT_EXCESS_RT", 5.0, "low", 52 * 4.95 / 100),
        # a mean ratio to the minimum of 0.80: at least 100 x (1 - 0.805) % below the minimum
        ("MINW_BELOW_RT", "EAR_TO_MINW_RATIO", 0.80, "low", 100 * (1 - 0.805)),
        # 30 % below the minimum: a mean ratio of at least 1 - 0.3005
        ("EAR_TO_MINW_RATIO", "MINW_BELOW_RT", 30.0, "low", 1 - 0.3005),
    ],
)
def test_a_published_linked_cell_bounds_a_suppressed_one(target, linked, published, side, bound):
    """The links the catalogue seed declares (sdc_link) narrow the audit's interval for the cell of the same key."""
    from assets.disclosure.links import Model, rows_from

    true = {
        "HOW_OT_EXCESS_RT": ("PCT", 100 * 3.0, 60.0),
        "HOW_OT_MEAN": ("HOURS", 4.0 * 60, 60.0),
        "MINW_BELOW_RT": ("PCT", 100 * 18.0, 60.0),
        "EAR_TO_MINW_RATIO": ("RATIO", 0.80 * 60, 60.0),
    }
    rows = rows_from([_payroll_row(i, *true[i]) for i in (target, linked)])
    model = Model(rows)
    target_row = model.by_key[("KHM", target, "SEX_F", "_Z", 2025)]
    values = {("KHM", linked, "SEX_F", "_Z", 2025): published, target_row.key: None}
    low, high = audit_module._linked(model, values, target_row, (0.0, 1000.0))
    assert (high if side == "high" else low) == pytest.approx(bound)
    assert (low if side == "high" else high) == (0.0 if side == "high" else 1000.0)
    assert low <= target_row.value <= high


# ------------------------------------------------------------------------------------------- the publication gate
def test_the_gate_refuses_a_weakened_suppression_an_outsider_who_counts_undoes(scenario, tmp_path, monkeypatch):
    """The scenario's cells controlled as before issue 29 (counts relaxed to real numbers): a pattern the linear
    audit passes. The publication gate audits the exported file with integers and refuses it; the pattern control
    chooses with integers passes the same gate."""
    from assets.disclosure.links import unpooled_country_years
    from assets.publish import disclosure_gate
    from assets.warehouse import read_built

    warehouse = scenario["root"] / "warehouse.duckdb"
    cells = read_built(warehouse, "intermediate", "int_indicator_cells")
    contributions = read_built(warehouse, "intermediate", "int_factory_contributions")
    unpooled = unpooled_country_years(read_built(warehouse, "intermediate", "int_coverage"))
    with monkeypatch.context() as patch:
        patch.setattr(audit_module, "integer_bounds", lambda model, published, wanted: {})
        weak = control(cells, contributions, unpooled)
    assert weak.audit.passed, "the linear audit alone passes the weakened pattern"
    published = scenario["published"]
    weaker = (published["obs_status"] == "C").sum() - (weak.frame["obs_status"] == "C").sum()
    assert weaker > 0, "the scenario has cells only an outsider who counts needs suppressed"
    from tests.test_indicators_independent import recompute

    leaks = _outsider_on(weak.frame, recompute(scenario["root"]))  # the independent outsider undoes it: Haiti's cells
    assert any(key[0] == "HTI" and "derived exactly" in leak for key, leak in leaks.items()), leaks
    candidate = tmp_path / "weak"
    candidate.mkdir()
    weak.frame.write_parquet(candidate / "indicators.parquet")
    gate = disclosure_gate(candidate, warehouse)
    assert any("counting in whole units derives it exactly" in e or "narrows it to" in e for e in gate["errors"]), gate[
        "errors"
    ][:5]
    honest = tmp_path / "honest"
    honest.mkdir()
    (honest / "indicators.parquet").write_bytes((scenario["root"] / "marts" / "indicators.parquet").read_bytes())
    assert disclosure_gate(honest, warehouse)["errors"] == []


def _outsider_on(published: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """The independent outsider on a publication of factory tables, with the truth recomputed from the raw files."""
    nc = truth.filter(pl.col("indicator").is_in(["NC_CLUSTER_RT", "NC_CP_RT"]), pl.col("sex") == "SEX_T")
    values = {(r["ref_area"], r["indicator"], r["classif1"], int(r["time"])): r["obs_value"] for r in nc.to_dicts()}
    assessed = {
        (r["ref_area"], int(r["time"])): int(r["n"])
        for r in nc.filter(pl.col("ref_area") != "X_BW")
        .group_by("ref_area", "time")
        .agg(pl.col("n_factories").max().alias("n"))
        .to_dicts()
    }
    small = nc.filter(pl.col("n_factories") < rules.MIN_FACTORIES)
    sensitive = {(r["ref_area"], r["indicator"], r["classif1"], int(r["time"])) for r in small.to_dicts()}
    return findings(published, values, sensitive, assessed, CLUSTERS)


def test_an_outsider_who_counts_gets_nothing_from_the_scenario(scenario):
    """The scenario's publication (a small programme, Haiti, beside five usual ones), truth recomputed from the raw
    files by tests/test_indicators_independent.py."""
    from tests.test_indicators_independent import recompute

    truth = recompute(scenario["root"])
    published = scenario["published"]
    assert (published.filter(pl.col("indicator").str.starts_with("NC_"))["obs_status"] == "C").sum() > 0
    assert _outsider_on(published, truth) == {}


@pytest.mark.slow
def test_an_outsider_who_counts_gets_nothing_from_the_default_sample(tmp_path):
    """`make run`'s default sample, where the issue's outsider derived 35 cells exactly (the two smallest programmes'
    first year): published by an in-process `decentwork run`, attacked with the truth recomputed from its raw files."""
    from decentwork.sample import generate
    from tests.conftest import decentwork
    from tests.test_indicators_independent import recompute

    root = tmp_path / "data"
    generate(root / "raw")
    done = decentwork(root, "run", env={"DECENTWORK_DATA_DOCS": "off"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    published = pl.read_parquet(root / "marts" / "indicators.parquet")
    assert (published.filter(pl.col("indicator").str.starts_with("NC_"))["obs_status"] == "C").sum() > 30
    assert _outsider_on(published, recompute(root)) == {}
