"""Quality gates on the published marts (assets/quality.py): small hand-built publications."""

from __future__ import annotations

import math
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from assets.disclosure import rules
from assets.quality import INDICATORS_YML, KEY, QualityReport, _suites, validate_publication
from decentwork import catalogue
from schemas.codes import value_range


def _row(
    ref_area, indicator, sex, value, *, classif1="_Z", time=2023, unit="PCT", status=None, workers=120, factories=8
):
    return {
        "ref_area": ref_area,
        "indicator": indicator,
        "sex": sex,
        "classif1": classif1,
        "time": time,
        "obs_value": value,
        "obs_status": status,
        "unit": unit,
        "n_workers": workers,
        "n_factories": factories,
    }


def clean_indicators() -> pd.DataFrame:
    rows = []
    for area, base in [("KHM", 1.0), ("BGD", 0.8)]:
        for sex, factor in [("SEX_T", 1.0), ("SEX_F", 0.95), ("SEX_M", 1.1)]:
            rows.append(
                _row(area, "EAR_MEAN_HOURLY", sex, round(base * factor, 3), classif1="CUR_TYPE_USD", unit="USD")
            )
            rows.append(
                _row(area, "EAR_MEAN_HOURLY", sex, round(base * factor * 4000, 1), classif1="CUR_TYPE_LCU", unit="LCU")
            )
            rows.append(_row(area, "MINW_BELOW_RT", sex, 12.5 * factor))
        rows.append(_row(area, "GPG_MEAN_HOURLY", "SEX_T", -13.6))  # a negative gap is legitimate
        rows.append(_row(area, "FEMALE_SHARE_WORKFORCE", "SEX_T", 78.0))
        rows.append(_row(area, "EAR_TO_MINW_RATIO", "SEX_T", 1.2, unit="RATIO"))
    rows.append(_row("X_BW", "NC_CLUSTER_RT", "SEX_T", None, classif1="CLU_OSH", status="C", workers=None, factories=2))
    rows.append(_row("X_BW", "HOW_OT_MEAN", "SEX_T", 31.0, unit="HOURS", status="U", workers=25))
    df = pd.DataFrame(rows)
    return df.astype({"time": "int64", "obs_value": "float64", "n_workers": "Int64", "n_factories": "int64"})


def publish(directory: Path, indicators: pd.DataFrame, **other_tables: pd.DataFrame) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    indicators.to_parquet(directory / "indicators.parquet", index=False)
    for name, frame in other_tables.items():
        frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory


def run(tmp_path: Path, indicators: pd.DataFrame, previous: pd.DataFrame | None = None, **other) -> QualityReport:
    candidate = publish(tmp_path / "candidate", indicators, **other)
    previous_dir = publish(tmp_path / "published", previous) if previous is not None else None
    started = time.perf_counter()
    report = validate_publication(candidate, previous_dir, tmp_path / "docs")
    print(f"validate_publication: {time.perf_counter() - started:.2f} s")
    return report


def test_clean_publication_passes_and_writes_data_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError(f"quality gates tried to open a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    wages = pd.DataFrame({"ref_area": ["KHM"], "time": [2023], "mean_hourly_usd": [1.0]})
    report = run(tmp_path, clean_indicators(), previous=clean_indicators(), wages_country=wages)
    assert report.success, report.errors
    assert report.errors == [] and report.warnings == []
    assert report.docs_index == tmp_path / "docs" / "index.html"
    assert report.docs_index.is_file()
    assert "errors.indicators" in report.docs_index.read_text(encoding="utf-8")


def test_data_docs_show_the_latest_check_only(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "last_check.json").write_text("{}")  # publish.py's file beside the site stays
    run(tmp_path, clean_indicators())
    run(tmp_path, clean_indicators())
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    assert len(pages) == 2  # errors.indicators + errors.published_columns, once each
    assert (tmp_path / "docs" / "last_check.json").exists()


def test_first_publication_without_previous_passes(tmp_path: Path) -> None:
    report = run(tmp_path, clean_indicators(), previous=None)
    assert report.success, report.errors
    assert report.warnings == []


def test_percentage_above_100_fails_dbts_range_test_for_that_country_only(tmp_path: Path) -> None:
    """The range is dbt's test (seed ref_value_ranges); the gate runs it to tell the country (one country's
    failure never stops another's publication)."""
    df = clean_indicators()
    df.loc[(df.indicator == "MINW_BELOW_RT") & (df.ref_area == "KHM") & (df.sex == "SEX_F"), "obs_value"] = 150.0
    report = run(tmp_path, df)
    assert not report.success
    [error] = report.errors
    assert "dbt test within_unit_range(obs_value) failed: 1 rows" in error
    assert "150.0" in error and "MINW_BELOW_RT" in error and "'max_value': 100.0" in error
    # by country-year: the gate withholds Cambodia's 2023 only (issue 29)
    assert report.errors_by_country == {"KHM 2023": [error]} and report.global_errors == []


def test_gap_may_be_negative_but_not_beyond_minus_100(tmp_path: Path) -> None:
    df = clean_indicators()
    df.loc[(df.indicator == "GPG_MEAN_HOURLY") & (df.ref_area == "BGD"), "obs_value"] = -130.0
    report = run(tmp_path, df)
    assert not report.success
    [error] = report.errors
    assert "within_unit_range" in error and "-130.0" in error and "GPG_MEAN_HOURLY" in error
    assert list(report.errors_by_country) == ["BGD 2023"]


def test_ranges_by_unit_and_indicator_prefix(tmp_path: Path) -> None:
    df = pd.concat(
        [
            clean_indicators(),
            pd.DataFrame(
                [
                    _row("KHM", "SS_CONTRIB_GAP_RT", "SEX_T", -12.0),  # more paid than due: no floor (ref_value_ranges)
                    _row("KHM", "HOW_OT_MEAN", "SEX_T", 800.0, unit="HOURS"),  # beyond 744 hours in a month
                    _row("BGD", "EAR_MEAN_HOURLY", "SEX_T", -1.0, classif1="CUR_TYPE_PPP", unit="PPP_USD"),
                ]
            ),
        ]
    ).astype({"n_workers": "Int64"})
    report = run(tmp_path, df)
    [error] = report.errors
    assert "2 rows" in error and "800.0" in error and "-1.0" in error and "SS_CONTRIB_GAP_RT" not in error
    assert set(report.errors_by_country) == {"KHM 2023", "BGD 2023"}


def test_a_pooled_cell_out_of_range_is_a_global_error(tmp_path: Path) -> None:
    df = clean_indicators()
    df.loc[df.indicator == "HOW_OT_MEAN", "obs_value"] = -3.0  # X_BW's row
    report = run(tmp_path, df)
    assert not report.success and report.errors_by_country == {} and report.global_errors == report.errors


@pytest.mark.parametrize("column", ["worker_pid", "national_id", "first_name"])
def test_identifier_column_in_any_published_table_is_an_error(tmp_path: Path, column: str) -> None:
    df = clean_indicators()
    df[column] = "x"
    report = run(tmp_path, df)
    assert not report.success
    assert any("errors.published_columns" in e and column in e for e in report.errors), report.errors


def test_identifier_column_in_another_mart_is_an_error(tmp_path: Path) -> None:
    leaky = pd.DataFrame({"ref_area": ["KHM"], "member_pid": ["a1b2"], "picc_members": [3]})
    report = run(tmp_path, clean_indicators(), picc_country=leaky)
    assert not report.success
    assert any("picc_country" in e and "member_pid" in e for e in report.errors), report.errors


def test_missing_sex_f_for_a_country_year_is_an_error(tmp_path: Path) -> None:
    df = clean_indicators()
    df = df[~((df.indicator == "MINW_BELOW_RT") & (df.ref_area == "BGD") & (df.sex == "SEX_F"))]
    report = run(tmp_path, df)
    assert not report.success
    [error] = report.errors
    assert "sex_coverage" in error and "BGD" in error and "MINW_BELOW_RT" in error


def test_errors_of_rows_without_a_year_withhold_the_whole_country(tmp_path: Path) -> None:
    from assets.quality import _units

    assert _units([{"ref_area": "KHM", "time": 2027}, {"ref_area": "KHM", "time": 2026}]) == ["KHM 2026", "KHM 2027"]
    assert _units([{"ref_area": "KHM"}, {"ref_area": "VNM", "time": None}]) == ["KHM", "VNM"]
    assert _units([{"ref_area": "KHM", "time": 2027}, {"ref_area": "X_BW", "time": 2027}]) is None  # global
    assert _units([{"time": 2027}]) is None


def test_suppression_and_key_rules(tmp_path: Path) -> None:
    df = clean_indicators()
    df.loc[df.indicator == "HOW_OT_MEAN", "obs_value"] = None  # suppressed without status C
    df = pd.concat([df, df[df.indicator == "FEMALE_SHARE_WORKFORCE"].head(1)])  # duplicate key
    report = run(tmp_path, df)
    assert not report.success
    text = "\n".join(report.errors)
    assert "expect_column_values_to_not_be_null(obs_value)" in text  # suppression consistency: GX's
    assert "dbt test unique_combination(ref_area, indicator, sex, classif1, time) failed" in text  # the key: dbt's
    assert report.errors_by_country["KHM 2023"] == [next(e for e in report.errors if "unique_combination" in e)]


# GX expectation -> the dbt tests that apply the same kind of rule (a contract fixes the column set)
SAME_KIND = {
    "ExpectColumnValuesToNotBeNull": {"not_null"},
    "ExpectColumnValuesToBeInSet": {"accepted_values"},
    "ExpectColumnValuesToBeBetween": {"within_unit_range"},
    "ExpectCompoundColumnsToBeUnique": {"unique_combination"},
    "ExpectTableColumnsToMatchSet": {"contract"},
}


def _dbt_tests_by_column() -> dict[str | None, set[str]]:
    """indicators.yml's data tests by column (None: the model's own tests and its contract)."""
    model = yaml.safe_load(INDICATORS_YML.read_text(encoding="utf-8"))["models"][0]
    assert model["name"] == "indicators"

    def names(tests):
        return {t if isinstance(t, str) else next(iter(t)) for t in tests or []}

    out = {c["name"]: names(c.get("data_tests")) for c in model["columns"]}
    out[None] = names(model.get("data_tests")) | ({"contract"} if model["config"]["contract"]["enforced"] else set())
    return out


def test_gx_suites_repeat_no_dbt_test_of_the_same_column() -> None:
    dbt = _dbt_tests_by_column()
    for name, suite in _suites(50.0).items():
        if suite["asset"] != "indicators":
            continue
        for expectation in suite["expectations"]:
            kind = type(expectation).__name__
            column = getattr(expectation, "column", None)
            repeated = SAME_KIND.get(kind, set()) & dbt.get(column, set())
            assert not repeated, f"{name}: {kind}({column}) repeats dbt's {repeated}"


@pytest.mark.parametrize(
    ("indicator", "unit", "tested", "a_priori"),
    [
        ("MINW_BELOW_RT", "PCT", (0, 100), (0, 100)),
        ("GPG_MEAN_HOURLY", "PCT", (-100, 100), (-100, 100)),
        ("SS_CONTRIB_GAP_RT", "PCT", (-math.inf, 100), (-math.inf, 100)),  # more paid than due: negative
        ("EAR_MEAN_HOURLY", "LCU", (0, 1e12), (0, math.inf)),  # a plausibility cap only: no attacker knows it
        ("EAR_MEAN_HOURLY", "USD", (0, 1e9), (0, math.inf)),
        ("HOW_OT_MEAN", "HOURS", (0, 744), (0, math.inf)),
        ("EAR_TO_MINW_RATIO", "RATIO", (0, 1000), (0, math.inf)),
    ],
)
def test_one_table_of_ranges_for_the_tests_and_disclosure_control(indicator, unit, tested, a_priori) -> None:
    """seeds/ref_value_ranges.csv is the only definition: dbt's tests, the catalogue's and disclosure control
    read it."""
    found = value_range(indicator, unit)
    assert (found.min_value, found.max_value) == tested
    assert rules.value_range(indicator, unit) == a_priori
    assert catalogue._range(indicator, {"LCU": "CUR_TYPE_LCU", "USD": "CUR_TYPE_USD"}.get(unit, "_Z"), unit) == tested


def test_the_structural_rules_are_dbts() -> None:
    dbt = _dbt_tests_by_column()
    assert {"unique_combination", "contract"} <= dbt[None]
    assert all("not_null" in dbt[c] for c in [*KEY, "unit", "n_factories"])
    assert all("accepted_values" in dbt[c] for c in ["sex", "obs_status", "unit"])
    assert "within_unit_range" in dbt["obs_value"]


def test_large_change_and_dropped_indicator_are_warnings_only(tmp_path: Path) -> None:
    previous = clean_indicators()
    new = clean_indicators()
    new.loc[(new.indicator == "EAR_TO_MINW_RATIO") & (new.ref_area == "KHM"), "obs_value"] = 2.4  # +100 %
    new = new[new.indicator != "HOW_OT_MEAN"]
    report = run(tmp_path, new, previous=previous)
    assert report.success, report.errors
    assert len(report.warnings) == 2, report.warnings
    change, dropped = report.warnings
    assert "change_pct" in change and "EAR_TO_MINW_RATIO" in change and "KHM" in change
    assert "dropped_indicator" in dropped and "HOW_OT_MEAN" in dropped


def _stage_payroll(staging: Path, country: str, periods: list[str]) -> None:
    target = staging / "payroll" / f"country={country}" / "part-0.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"period": periods, "basic_pay": [1.0] * len(periods)}).to_parquet(target, index=False)


def test_staged_country_year_with_its_headline_published_is_covered(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    _stage_payroll(staging, "KHM", ["2023-01", "2023-02"])
    _stage_payroll(staging, "BGD", ["2023-12"])
    candidate = publish(tmp_path / "candidate", clean_indicators())
    report = validate_publication(candidate, None, tmp_path / "docs", staging_dir=staging)
    assert report.success, report.errors


def test_staged_year_missing_from_the_publication_is_an_error(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    _stage_payroll(staging, "KHM", ["2023-06", "2024-01"])  # 2024 has rows but no published EAR_MEAN_HOURLY
    candidate = publish(tmp_path / "candidate", clean_indicators())
    report = validate_publication(candidate, None, tmp_path / "docs", staging_dir=staging)
    assert not report.success
    assert any("published" in e and "2024" in e and "KHM" in e for e in report.errors), report.errors


def test_one_sex_missing_for_a_staged_country_is_an_error(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    _stage_payroll(staging, "BGD", ["2023-03"])
    indicators = clean_indicators()
    no_men = indicators[
        ~(
            (indicators["ref_area"] == "BGD")
            & (indicators["indicator"] == "EAR_MEAN_HOURLY")
            & (indicators["sex"] == "SEX_M")
        )
    ]
    report = validate_publication(publish(tmp_path / "candidate", no_men), None, tmp_path / "docs", staging_dir=staging)
    assert not report.success
    assert any("SEX_M" in e for e in report.errors), report.errors


def test_a_value_out_of_its_units_range_fails_dbts_tests_on_the_indicators_and_the_wide_marts(tmp_path: Path) -> None:
    """The range rule lives in dbt (seed ref_value_ranges: test within_unit_range on the long table, wide_mart_values
    on each wide mart), not in a GX suite; each failing test names what it found."""
    from assets.dbt_runner import invoke

    cells = clean_indicators()
    cells.loc[(cells.indicator == "MINW_BELOW_RT") & (cells.sex == "SEX_F"), "obs_value"] = 150.0
    cells = cells.astype({"time": "int32"}).assign(months_covered=pd.array([12] * len(cells), dtype="Int32"))
    cells["coverage"] = "2023"
    (tmp_path / "disclosure").mkdir()
    cells.to_parquet(tmp_path / "disclosure" / "controlled_cells.parquet", index=False)
    done = invoke(
        [
            "build",
            "--select",
            "ref_value_ranges",
            "indicators",
            "country_wages",
            "--exclude-resource-type",
            "unit_test",
        ],
        tmp_path / "target",
        {"DECENTWORK_DATA_DIR": str(tmp_path), "DECENTWORK_DBT_TARGET": "duckdb"},
    )
    assert not done.success
    failed = {r["data"]["node_info"]["node_name"]: r["data"] for r in done.results if r["data"]["status"] == "fail"}
    assert failed.keys() == {"within_unit_range_indicators_obs_value", next(k for k in failed if "wide_mart" in k)}
    assert failed["within_unit_range_indicators_obs_value"]["num_failures"] == 2  # KHM's and BGD's SEX_F rows
    wide = next(v for k, v in failed.items() if k.startswith("wide_mart_values_country_wages"))
    assert wide["num_failures"] == 2  # the same two rows, by country and sex, in the wide mart
    assert len(done.problems) == 2  # every other test of the two marts passes
