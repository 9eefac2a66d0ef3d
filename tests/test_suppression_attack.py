"""An attacker tries to recover suppressed cells of the published indicators (issue 18).

The attacker holds everything published: values (rounded), statuses, and the counts of published cells. The
publication attacked is the session's scenario sample (tests/scenario.py), which holds five usual programmes and a
small one (Haiti: four factories, a handful of men) where the primary rules alone leak. The attacker tries:

- the recovery equations of the issue, each a family of differencing: sex differencing (T less the other
  sex, weighted by counts), occupation margins (a sex's total less its published occupations), pooled
  differencing (X_BW less the published countries), gap inversion (a gap and the other sex's mean), another
  currency of a country's cell, and range edges (a total at 0 or 100 %, or a mean of 0, gives its parts);
- any linear combination: in each table (indicator, year, currency), the cells' numerators are tied by the
  links (T = F + M, a sex's total = its occupations, X_BW = the countries); a suppressed cell is exactly
  derivable when its unit vector lies in the row space of the links and the published cells. This is decided
  here by the numerical rank of the cell-level matrix (numpy), independently of the Gaussian elimination and the
  leaf model of assets/disclosure/;
- exact denominators: no suppressed cell shows a count.

Nothing may be recovered from the publication. Under primary suppression alone (the spec's thresholds,
recomputed in tests/test_indicators_independent.py), the same attacker recovers cells, which shows the attack
is real. The auditor's verdict on every publication (linear programming with protection intervals) is
checked in tests/test_disclosure.py and by the publication gate.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import numpy as np
import polars as pl
import pytest

from tests.scenario import SMALL_COUNTRY
from tests.test_indicators_independent import KEY, POOLED, disclose, recompute

CURRENCIES = ("CUR_TYPE_LCU", "CUR_TYPE_USD", "CUR_TYPE_PPP")


@pytest.fixture(scope="module")
def sample(scenario):
    return scenario


@pytest.fixture(scope="module")
def truth(sample) -> pl.DataFrame:
    return recompute(sample["root"])


# ------------------------------------------------------------------------------------------- the attacker
def _rows(table: pl.DataFrame) -> dict[tuple, dict]:
    return {tuple(r[k] for k in KEY): r for r in table.iter_rows(named=True)}


def _edge(indicator: str, unit: str, value: float) -> bool:
    if unit == "PCT" and not indicator.startswith("GPG_"):
        return value in (0.0, 100.0)
    return value == 0.0


def differencing(table: pl.DataFrame) -> list[dict]:
    """Every recovery equation of the issue computable from the published parts of `table`."""
    rows = _rows(table)
    shown = {k: r for k, r in rows.items() if r["obs_status"] != "C" and r["obs_value"] is not None}
    found = []

    def add(key, attack, estimate):
        found.append({"key": key, "attack": attack, "estimate": estimate})

    for key, row in rows.items():
        if row["obs_status"] != "C":
            continue
        area, indicator, sex, classif1, time = key
        # sex differencing
        if sex in ("SEX_F", "SEX_M"):
            other = shown.get((area, indicator, "SEX_M" if sex == "SEX_F" else "SEX_F", classif1, time))
            total = shown.get((area, indicator, "SEX_T", classif1, time))
            if (
                other
                and total
                and total["n_workers"]
                and other["n_workers"] is not None
                and total["n_workers"] > other["n_workers"]
            ):
                n_t, n_o = total["n_workers"], other["n_workers"]
                add(key, "sex differencing", (n_t * total["obs_value"] - n_o * other["obs_value"]) / (n_t - n_o))
        # occupation margins: the sex's total in local currency less its published occupations
        if indicator == "EAR_MEAN_HOURLY" and classif1.startswith("OCU_"):
            total = shown.get((area, indicator, sex, "CUR_TYPE_LCU", time))
            others = [
                r
                for k, r in rows.items()
                if k[:3] == (area, indicator, sex) and k[3].startswith("OCU_") and k[4] == time and k != key
            ]
            if total and total["n_workers"] and all(tuple(r[c] for c in KEY) in shown for r in others):
                rest_n = sum(r["n_workers"] for r in others)
                if total["n_workers"] > rest_n:
                    add(
                        key,
                        "occupation margin",
                        (total["n_workers"] * total["obs_value"] - sum(r["n_workers"] * r["obs_value"] for r in others))
                        / (total["n_workers"] - rest_n),
                    )
        # gap inversion: a country's raw gap is in its own currency, the pooled one in PPP dollars
        own_currency = "CUR_TYPE_PPP" if area == POOLED else "CUR_TYPE_LCU"
        if (
            indicator == "EAR_MEAN_HOURLY"
            and sex in ("SEX_F", "SEX_M")
            and not (classif1.startswith("CUR_TYPE_") and classif1 != own_currency)
        ):
            gap = shown.get((area, "GPG_MEAN_HOURLY", "SEX_T", "_Z" if classif1 == own_currency else classif1, time))
            other = shown.get((area, indicator, "SEX_M" if sex == "SEX_F" else "SEX_F", classif1, time))
            if gap and other:
                g = gap["obs_value"] / 100
                add(
                    key,
                    "gap inversion",
                    other["obs_value"] * (1 - g) if sex == "SEX_F" else other["obs_value"] / (1 - g),
                )
        # pooled differencing
        if area != POOLED:
            pooled = shown.get((POOLED, indicator, sex, classif1, time))
            others = [r for k, r in rows.items() if k[0] not in (area, POOLED) and k[1:] == key[1:]]
            if (
                pooled
                and pooled["n_workers"]
                and all(tuple(r[c] for c in KEY) in shown and r["n_workers"] is not None for r in others)
            ):
                rest_n = sum(r["n_workers"] for r in others)
                if pooled["n_workers"] > rest_n:
                    add(
                        key,
                        "pooled differencing",
                        (
                            pooled["n_workers"] * pooled["obs_value"]
                            - sum(r["n_workers"] * r["obs_value"] for r in others)
                        )
                        / (pooled["n_workers"] - rest_n),
                    )
        # a country's cell in another currency (one public rate converts it; the pooled cells weight countries)
        if classif1 in CURRENCIES and area != POOLED:
            for currency in CURRENCIES:
                if currency != classif1 and (area, indicator, sex, currency, time) in shown:
                    add(key, "another currency", None)
        # range edges: a total at the edge of its range gives its parts
        parents = [(area, indicator, "SEX_T", classif1, time)] if sex != "SEX_T" else []
        parents += [(POOLED, indicator, sex, classif1, time)] if area != POOLED else []
        for parent in parents:
            if parent in shown and _edge(indicator, row["unit"], shown[parent]["obs_value"]):
                add(key, "range edge", shown[parent]["obs_value"])
        # exact denominators
        if row["n_workers"] is not None or row["n_factories"] is not None:
            add(key, "exact denominator", None)
    return found


def _links(cells: list[tuple]) -> list[dict[tuple, float]]:
    """The linear links of one table's cells (numerators): T = F + M, a sex's total = its occupations,
    X_BW = the countries."""
    present = set(cells)
    links = []
    by = defaultdict(list)
    for c in cells:
        area, _indicator, sex, classif1, _time = c
        if sex != "SEX_T":
            by[("sex", area, classif1)].append(c)
        if classif1.startswith("OCU_"):
            by[("ocu", area, sex)].append(c)
        if area != POOLED:
            by[("area", sex, classif1)].append(c)
    for (kind, a, b), parts in by.items():
        if kind == "sex":
            total = (a, parts[0][1], "SEX_T", b, parts[0][4])
        elif kind == "ocu":
            total = (a, parts[0][1], b, "CUR_TYPE_LCU", parts[0][4])
        else:
            total = (POOLED, parts[0][1], a, b, parts[0][4])
        if total in present and (kind != "sex" or len(parts) == 2):
            links.append({total: 1.0, **dict.fromkeys(parts, -1.0)})
    return links


def derivable_cells(table: pl.DataFrame) -> list[tuple]:
    """Suppressed cells whose numerator is a linear combination of published numerators under the links."""
    out = []
    means = table.filter(
        ~pl.col("indicator").is_in(["EAR_MEDIAN_HOURLY", "GPG_MEDIAN_HOURLY", "PICC_REPRESENTATION_PARITY"])
        & ~pl.col("indicator").str.starts_with("GPG_MEAN")
    )
    for _, group in means.group_by("indicator", "time"):
        for currency in ("CUR_TYPE_USD", "CUR_TYPE_PPP", None):  # LCU with the occupations; each currency its own table
            if currency is None:
                cells = [k for k in _rows(group) if k[3] not in ("CUR_TYPE_USD", "CUR_TYPE_PPP")]
            else:
                cells = [k for k in _rows(group) if k[3] == currency]
            if not cells:
                continue
            index = {c: i for i, c in enumerate(cells)}
            rows = _rows(group)
            known = [np.eye(len(cells))[index[c]] for c in cells if rows[c]["obs_status"] != "C"]
            link_rows = []
            for link in _links(cells):
                v = np.zeros(len(cells))
                for c, f in link.items():
                    v[index[c]] = f
                link_rows.append(v)
            basis = np.array(known + link_rows) if known or link_rows else np.zeros((0, len(cells)))
            rank = np.linalg.matrix_rank(basis) if len(basis) else 0
            for c in cells:
                if rows[c]["obs_status"] == "C":
                    with_target = (
                        np.vstack([basis, np.eye(len(cells))[index[c]]])
                        if len(basis)
                        else np.eye(len(cells))[[index[c]]]
                    )
                    if np.linalg.matrix_rank(with_target) == rank:
                        out.append(c)
    return out


def _recovered(found: list[dict], truth: pl.DataFrame, tolerance: float) -> list[dict]:
    true = {tuple(r[k] for k in KEY): r["obs_value"] for r in truth.iter_rows(named=True)}
    return [
        f
        for f in found
        if f["estimate"] is not None
        and abs(f["estimate"] - true[f["key"]]) <= tolerance * max(1.0, abs(true[f["key"]]))
    ]


# ------------------------------------------------------------------------------------------- the tests
@pytest.fixture
def publication(sample, truth) -> dict:
    return {
        "published": sample["published"],
        "truth": truth,
        "root": sample["root"],
        # the usual programmes leak by pooled differencing, occupation margins and exact denominators; the small one
        # by range edges too
        "leaks_by": {"pooled differencing", "occupation margin", "range edge", "exact denominator"},
    }


def test_no_recovery_equation_is_computable_from_the_publication(publication):
    published = publication["published"]
    assert (published["obs_status"] == "C").sum() > 20, "the sample must suppress cells for this test to mean anything"
    found = differencing(published)
    assert found == [], f"{len(found)} recovery equations are computable, e.g. {found[:5]}"


def test_no_suppressed_cell_is_a_linear_combination_of_published_cells(publication):
    leaks = derivable_cells(publication["published"])
    assert leaks == [], f"{len(leaks)} suppressed cells follow linearly from published ones, e.g. {leaks[:5]}"


def test_the_publication_gate_audited_every_suppressed_cell(publication):
    check = json.loads((publication["root"] / "marts" / "quality" / "last_check.json").read_text(encoding="utf-8"))
    disclosure = check["disclosure"]
    assert check["success"] and disclosure["audit"]["passed"] and disclosure["gate_audit"]["audited"] > 20
    assert disclosure["suppressed"] == (publication["published"]["obs_status"] == "C").sum()


def test_primary_suppression_alone_leaks_to_the_same_attacker(publication):
    primary_only = disclose(publication["truth"])
    found = differencing(primary_only)
    kinds = {f["attack"] for f in found}
    assert publication["leaks_by"] <= kinds, kinds
    assert derivable_cells(primary_only), "the links make some primary cell derivable"
    close = _recovered(
        [f for f in found if f["attack"] in ("pooled differencing", "occupation margin", "sex differencing")],
        publication["truth"],
        tolerance=0.05,
    )
    assert close, "differencing gives suppressed cells back approximately"


def test_the_small_country_is_what_the_issue_describes(sample, truth):
    """A few factories, a handful of men: the primary rules alone leak there, and its country totals stay published."""
    small = truth.filter(
        pl.col("ref_area") == SMALL_COUNTRY,
        pl.col("indicator") == "EAR_MEAN_HOURLY",
        pl.col("classif1") == "CUR_TYPE_LCU",
    )
    men = small.filter(pl.col("sex") == "SEX_M")["n_workers"].to_list()
    assert men and max(men) < 40 and small["n_factories"].max() <= 4
    found = differencing(disclose(truth))
    assert any(f["key"][0] == SMALL_COUNTRY for f in found)
    published = sample["published"]
    pooled = published.filter(pl.col("ref_area") == POOLED)
    assert (pooled["obs_status"] == "C").sum() < pooled.height / 4, (
        "pooled cells stay published where a smaller cell can go"
    )


def test_the_gate_refuses_a_publication_that_gives_a_cell_away(sample, truth, tmp_path):
    """The publication gate audits the exported file itself: publishing the secondary suppressions back (the
    primary-only table, rounded) must be refused, naming cells an attacker narrows below their protection."""
    from assets.disclosure import rules
    from assets.publish import disclosure_gate

    candidate = tmp_path / "candidate"
    candidate.mkdir()
    leaky = (
        disclose(truth)
        .with_columns(rules.rounded(pl.col("obs_value"), pl.col("unit")).alias("obs_value"))
        .with_columns(
            pl.when(pl.col("obs_status") == "C").then(None).otherwise(pl.col(c)).alias(c)
            for c in ("n_workers", "n_factories")
        )
    )
    leaky.select([c for c in sample["published"].columns if c in leaky.columns]).write_parquet(
        candidate / "indicators.parquet"
    )
    gate = disclosure_gate(candidate, sample["root"] / "warehouse.duckdb")
    assert any("narrows it to" in e for e in gate["errors"]), gate["errors"][:5]
    honest = candidate / "honest"
    honest.mkdir()
    shutil.copy(sample["root"] / "marts" / "indicators.parquet", honest / "indicators.parquet")
    assert disclosure_gate(honest, sample["root"] / "warehouse.duckdb")["errors"] == []
