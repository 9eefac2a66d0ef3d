"""What a researcher would write instead: pandas reads the raw CSVs, pandera (pandas backend) validates them
and drops the rows that fail, pandas computes the headline indicators of bench/floor_duckdb.py (same
definitions and simplifications). Prints the same JSON.

    python bench/reference_pandas.py <raw folder>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layouts import PAYROLL, SOCIAL_SECURITY, plan  # noqa: E402

PAYROLL_SCHEMA = pa.DataFrameSchema({
    "factory_id": pa.Column(int, coerce=True),
    "period": pa.Column(str, pa.Check.str_matches(r"^\d{4}-(0[1-9]|1[0-2])$")),
    "national_id": pa.Column(str),
    "sex": pa.Column(str, pa.Check.isin(["F", "M"])),
    "regular_hours": pa.Column(float, pa.Check.in_range(0, 310), coerce=True),
    "overtime_hours": pa.Column(float, pa.Check.in_range(0, 200), coerce=True),
    **{c: pa.Column(float, pa.Check.ge(0), coerce=True) for c in ("basic_pay", "overtime_pay", "allowances", "bonuses")},
})
SS_SCHEMA = pa.DataFrameSchema({
    "national_id": pa.Column(str),
    "registration_date": pa.Column("datetime64[ns]", nullable=True),
})


def _read(layout: dict, wanted: list[str]) -> pd.DataFrame:
    frames = [pd.read_csv(f, sep=layout["separator"], dtype=str, keep_default_na=False, na_values=[""]) for f in layout["files"]]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.rename(columns={v: k for k, v in layout["columns"].items()})[wanted].copy()
    if layout["decimal_comma"]:
        for c in wanted:
            if c in PAYROLL[4:]:
                frame[c] = frame[c].str.replace(",", ".", regex=False)
    if "sex" in frame and layout["sex"]:
        frame["sex"] = frame["sex"].map(lambda v: layout["sex"].get(v, v))
    frame["country"] = layout["country"]
    return frame


def _valid(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Validate lazily; drop every row a check names, then validate what is left (coercing the types)."""
    try:
        return schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        bad = err.failure_cases["index"].dropna().unique()
        return schema.validate(frame.drop(index=bad), lazy=True)


def main(raw: Path) -> dict:
    p = plan(raw)
    payroll = _valid(pd.concat([_read(x, PAYROLL) for x in p["payroll"]], ignore_index=True).assign(
        sex=lambda d: d["sex"].str.upper()), PAYROLL_SCHEMA)
    ss = pd.concat([_read(x, SOCIAL_SECURITY) for x in p["social_security"]], ignore_index=True)
    ss["registration_date"] = pd.to_datetime(ss["registration_date"], format="%Y-%m-%d", errors="coerce").fillna(
        pd.to_datetime(ss["registration_date"], format="%d/%m/%Y", errors="coerce"))
    ss = _valid(ss, SS_SCHEMA)
    ss["national_id"] = ss["national_id"].str.replace(" ", "", regex=False)
    registrations = ss.groupby(["country", "national_id"], as_index=False)["registration_date"].min()

    payroll["national_id"] = payroll["national_id"].str.replace(" ", "", regex=False)
    payroll["hourly"] = (payroll[["basic_pay", "overtime_pay", "allowances", "bonuses"]].sum(axis=1, min_count=4)
                         / (payroll["regular_hours"] + payroll["overtime_hours"]).replace(0, float("nan")))
    minimum = payroll["country"].map(p["minimum"])
    hours = payroll["country"].map(p["regular_hours"]).fillna(208)
    payroll["below"] = (payroll["basic_pay"] < minimum * (payroll["regular_hours"] / hours).clip(upper=1)).astype(float)
    payroll = payroll.merge(registrations, on=["country", "national_id"], how="left")
    month_end = pd.to_datetime(payroll["period"] + "-01") + pd.offsets.MonthEnd(0)
    payroll["registered"] = (payroll["registration_date"] <= month_end).astype(float)
    with_ss = set(registrations["country"])

    out: dict = {}
    for keys, group in list(payroll.groupby(["country", "sex"])) + [((c, "T"), g) for c, g in payroll.groupby("country")]:
        country, sex = keys
        out.setdefault(country, {})[sex] = {
            "EAR_MEAN_HOURLY": group["hourly"].mean(), "MINW_BELOW_RT": 100 * group["below"].mean(),
            "SS_REGISTERED_RT": 100 * group["registered"].mean() if country in with_ss else None}
    for sexes in out.values():
        if "F" in sexes and "M" in sexes:
            sexes["T"]["GPG_MEAN_HOURLY"] = 100 * (sexes["M"]["EAR_MEAN_HOURLY"] - sexes["F"]["EAR_MEAN_HOURLY"]) / sexes["M"]["EAR_MEAN_HOURLY"]
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
