"""SDMX-CSV 2.0 export (assets/sdmx.py): what sdmx1, a standard SDMX reader, loads back is what was written."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import sdmx

from assets.sdmx import DATAFLOW, HEADER, read_sdmx_csv, write_sdmx_csv, write_structure


def indicators() -> pl.DataFrame:
    rows = [
        ("KHM", "EAR_MEAN_HOURLY", "SEX_F", "CUR_TYPE_USD", 2025, 1.2345678901234567, None, "USD", 812, 14),
        ("KHM", "EAR_MEAN_HOURLY", "SEX_M", "CUR_TYPE_USD", 2025, 1.3, "U", "USD", 25, 9),
        ("KHM", "GPG_MEAN_HOURLY", "SEX_T", "_Z", 2025, -3.0000000000000004, None, "PCT", 837, 14),
        ("VNM", "NC_CLUSTER_RT", "SEX_T", "CLU_OSH", 2024, None, "C", "PCT", None, 2),
        ("X_BW", "FEMALE_SHARE_WORKFORCE", "SEX_T", "_Z", 2025, 78.25, None, "PCT", 12000, 60),
        ("X_BW", "EAR_MEAN_HOURLY", "SEX_F", "OCU_SEWING", 2025, 1e-7, None, "PPP_USD", 40, 3),
    ]
    columns = ["ref_area", "indicator", "sex", "classif1", "time", "obs_value", "obs_status", "unit", "n_workers", "n_factories"]
    schema = dict(zip(columns, [pl.String] * 4 + [pl.Int32, pl.Float64, pl.String, pl.String, pl.Int64, pl.Int64]))
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_sdmx_csv_round_trips_through_sdmx1(tmp_path: Path) -> None:
    frame = indicators()
    write_sdmx_csv(frame, tmp_path / "ind.csv")
    write_structure(tmp_path / "structure.xml", frame)
    back = read_sdmx_csv(tmp_path / "ind.csv", tmp_path / "structure.xml")
    assert back.height == frame.height
    got = {
        (r["REF_AREA"], r["INDICATOR"], r["SEX"], r["CLASSIF1"], int(r["TIME_PERIOD"])): r for r in back.iter_rows(named=True)
    }
    for row in frame.iter_rows(named=True):
        obs = got[(row["ref_area"], row["indicator"], row["sex"], row["classif1"], row["time"])]
        if row["obs_value"] is None:
            assert obs["OBS_VALUE"] in ("", None) and obs["OBS_STATUS"] == "C"
        else:
            assert float(obs["OBS_VALUE"]) == row["obs_value"]  # exact: the text reads back to the same double
        assert (obs["OBS_STATUS"] or None) == row["obs_status"]
        assert obs["UNIT_MEASURE"] == row["unit"]
        assert (int(obs["N_WORKERS"]) if obs["N_WORKERS"] else None) == row["n_workers"]
        assert int(obs["N_FACTORIES"]) == row["n_factories"]


def test_header_is_sdmx_csv_2_with_dataflow_reference(tmp_path: Path) -> None:
    write_sdmx_csv(indicators(), tmp_path / "ind.csv")
    lines = (tmp_path / "ind.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == HEADER
    assert lines[1].startswith("dataflow,BW:DF_DECENT_WORK(1.0),I,")


def test_structure_lists_every_code_used(tmp_path: Path) -> None:
    frame = indicators()
    write_structure(tmp_path / "structure.xml", frame)
    message = sdmx.read_sdmx(tmp_path / "structure.xml")
    dsd = message.dataflow[DATAFLOW].structure
    assert [d.id for d in dsd.dimensions.components] == ["REF_AREA", "INDICATOR", "SEX", "CLASSIF1", "TIME_PERIOD"]
    for codelist, column in [("CL_AREA", "ref_area"), ("CL_INDICATOR", "indicator"), ("CL_CLASSIF1", "classif1"), ("CL_OBS_STATUS", "obs_status")]:
        codes = {c.id for c in message.codelist[codelist]}
        assert codes == set(frame[column].drop_nulls().to_list()), codelist


def test_written_values_are_finite_or_empty(tmp_path: Path) -> None:
    write_sdmx_csv(indicators(), tmp_path / "ind.csv")
    values = pl.read_csv(tmp_path / "ind.csv", infer_schema=False)["OBS_VALUE"].to_list()
    assert all(v is None or math.isfinite(float(v)) for v in values)
