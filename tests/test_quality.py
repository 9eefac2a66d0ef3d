"""Quality gates on the published marts (assets/quality.py): small hand-built publications."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pandas as pd
import pytest

from assets.quality import QualityReport, validate_publication


def _row(ref_area, indicator, sex, value, *, classif1="_Z", time=2023, unit="PCT", status=None, workers=120, factories=8):
    return {
        "ref_area": ref_area, "indicator": indicator, "sex": sex, "classif1": classif1, "time": time,
        "obs_value": value, "obs_status": status, "unit": unit, "n_workers": workers, "n_factories": factories,
    }


def clean_indicators() -> pd.DataFrame:
    rows = []
    for area, base in [("KHM", 1.0), ("BGD", 0.8)]:
        for sex, factor in [("SEX_T", 1.0), ("SEX_F", 0.95), ("SEX_M", 1.1)]:
            rows.append(_row(area, "EAR_MEAN_HOURLY", sex, round(base * factor, 3), classif1="CUR_TYPE_USD", unit="USD"))
            rows.append(_row(area, "EAR_MEAN_HOURLY", sex, round(base * factor * 4000, 1), classif1="CUR_TYPE_LCU", unit="LCU"))
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


def test_percentage_above_100_is_an_error_naming_the_expectation(tmp_path: Path) -> None:
    df = clean_indicators()
    df.loc[(df.indicator == "MINW_BELOW_RT") & (df.ref_area == "KHM") & (df.sex == "SEX_F"), "obs_value"] = 150.0
    report = run(tmp_path, df)
    assert not report.success
    [error] = report.errors
    assert "expect_column_values_to_be_between(obs_value)" in error
    assert "[0, 100]" in error and "150.0" in error and "MINW_BELOW_RT" in error


def test_gap_may_be_negative_but_not_beyond_minus_100(tmp_path: Path) -> None:
    df = clean_indicators()
    df.loc[(df.indicator == "GPG_MEAN_HOURLY") & (df.ref_area == "BGD"), "obs_value"] = -130.0
    report = run(tmp_path, df)
    assert not report.success
    assert any("[-100, 100]" in e for e in report.errors), report.errors


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


def test_suppression_and_key_rules(tmp_path: Path) -> None:
    df = clean_indicators()
    df.loc[df.indicator == "HOW_OT_MEAN", "obs_value"] = None  # suppressed without status C
    df = pd.concat([df, df[df.indicator == "FEMALE_SHARE_WORKFORCE"].head(1)])  # duplicate key
    df.loc[df.indicator == "EAR_TO_MINW_RATIO", "obs_status"] = "X"
    report = run(tmp_path, df)
    assert not report.success
    text = "\n".join(report.errors)
    assert "expect_column_values_to_not_be_null(obs_value)" in text
    assert "expect_compound_columns_to_be_unique" in text
    assert "expect_column_values_to_be_in_set(obs_status)" in text


def test_missing_required_column_is_an_error(tmp_path: Path) -> None:
    report = run(tmp_path, clean_indicators().drop(columns=["n_factories"]))
    assert not report.success
    assert any("expect_table_columns_to_match_set" in e and "n_factories" in e for e in report.errors), report.errors


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
    no_men = indicators[~((indicators["ref_area"] == "BGD") & (indicators["indicator"] == "EAR_MEAN_HOURLY") & (indicators["sex"] == "SEX_M"))]
    report = validate_publication(publish(tmp_path / "candidate", no_men), None, tmp_path / "docs", staging_dir=staging)
    assert not report.success
    assert any("SEX_M" in e for e in report.errors), report.errors
