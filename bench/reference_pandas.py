"""What a researcher would write instead: pandas reads the raw deliveries, pandera (pandas backend) validates
them and drops the rows that fail, pandas computes the headline indicators of bench/floor_duckdb.py (same
definitions and simplifications, see its docstring). Prints the same JSON.

    python bench/reference_pandas.py <raw folder>

CSVs are read with pandas.read_csv; Excel workbooks with fastexcel (.to_pandas()), since pandas' own Excel
engines are not installed here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layouts import (
    ID_PUNCTUATION,
    KEY,
    NUMBERS,
    PAYROLL,
    SOCIAL_SECURITY,
    Layout,
    layouts,
    lowest_monthly_minimum,
    read_excel,
    regular_hours_month,
)

PAYROLL_SCHEMA = pa.DataFrameSchema(
    {
        "factory_id": pa.Column(int, coerce=True),
        "period": pa.Column(str, pa.Check.str_matches(r"^\d{4}-(0[1-9]|1[0-2])$")),
        "national_id": pa.Column(str),
        "sex": pa.Column(str, pa.Check.isin(["F", "M"])),
        "regular_hours": pa.Column(float, pa.Check.in_range(0, 310), coerce=True),
        "overtime_hours": pa.Column(float, pa.Check.in_range(0, 200), coerce=True),
        **{
            c: pa.Column(float, pa.Check.ge(0), coerce=True)
            for c in ("basic_pay", "overtime_pay", "allowances", "bonuses")
        },
    }
)
SS_SCHEMA = pa.DataFrameSchema(
    {
        "national_id": pa.Column(str),
        "registration_date": pa.Column("datetime64[ns]", nullable=True),
    }
)


def _read_file(path: Path, x: Layout) -> pd.DataFrame:
    if path.suffix.lower() == ".xlsx":
        return read_excel(path, x).to_pandas()
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path).astype(str)
    return pd.read_csv(path, sep=x.separator, skiprows=x.skip_rows, dtype=str, keep_default_na=False, na_values=[""])


def _read(x: Layout, wanted: list[str]) -> pd.DataFrame:
    """Every file of a layout, renamed to canonical columns, decimal commas and sex codes translated."""
    frames = [_read_file(f, x).assign(file_order=i) for i, f in enumerate(x.files)]
    frame = pd.concat(frames, ignore_index=True).rename(columns=x.rename)[[*wanted, "file_order"]].copy()
    if x.decimal_comma:
        for c in wanted:
            if c in NUMBERS:
                frame[c] = frame[c].str.replace(",", ".", regex=False)
    if "sex" in frame:
        frame["sex"] = frame["sex"].str.strip().str.lower().map(x.sex)
    frame["national_id"] = frame["national_id"].str.upper().str.replace(ID_PUNCTUATION, "", regex=True)
    frame["country"] = x.country
    return frame


def _valid(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Validate lazily; drop every row a check names, then validate what is left (coercing the types)."""
    try:
        return schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        bad = err.failure_cases["index"].dropna().unique()
        return schema.validate(frame.drop(index=bad), lazy=True)


def _dates(values: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for f in formats:
        parsed = parsed.fillna(pd.to_datetime(values, format=f, errors="coerce"))
    return parsed


def main(raw: Path) -> dict:
    payroll = _valid(pd.concat([_read(x, PAYROLL) for x in layouts(raw, "payroll")], ignore_index=True), PAYROLL_SCHEMA)
    payroll = payroll.sort_values("file_order", kind="stable").drop_duplicates(
        KEY, keep="last"
    )  # the later delivery wins

    parts = []
    for x in layouts(raw, "social_security"):
        part = _read(x, SOCIAL_SECURITY)
        part["registration_date"] = _dates(part["registration_date"], x.date_formats)
        parts.append(part)
    ss = _valid(pd.concat(parts, ignore_index=True), SS_SCHEMA)
    registrations = ss.groupby(["country", "national_id"], as_index=False)["registration_date"].min()

    payroll["hourly"] = payroll[["basic_pay", "overtime_pay", "allowances", "bonuses"]].sum(axis=1, min_count=4) / (
        payroll["regular_hours"] + payroll["overtime_hours"]
    ).replace(0, float("nan"))
    minimum = payroll["country"].map(lowest_monthly_minimum())
    hours = payroll["country"].map(regular_hours_month()).fillna(208)
    payroll["below"] = (payroll["basic_pay"] < minimum * (payroll["regular_hours"] / hours).clip(upper=1)).astype(float)
    payroll = payroll.merge(registrations, on=["country", "national_id"], how="left")
    month_end = pd.to_datetime(payroll["period"] + "-01") + pd.offsets.MonthEnd(0)
    payroll["registered"] = (payroll["registration_date"] <= month_end).astype(float)
    with_ss = set(registrations["country"])

    out: dict = {}
    groups = list(payroll.groupby(["country", "sex"])) + [((c, "T"), g) for c, g in payroll.groupby("country")]
    for (country, sex), group in groups:
        out.setdefault(country, {})[sex] = {
            "EAR_MEAN_HOURLY": group["hourly"].mean(),
            "MINW_BELOW_RT": 100 * group["below"].mean(),
            "SS_REGISTERED_RT": 100 * group["registered"].mean() if country in with_ss else None,
        }
    for sexes in out.values():
        if "F" in sexes and "M" in sexes:
            sexes["T"]["GPG_MEAN_HOURLY"] = (
                100 * (sexes["M"]["EAR_MEAN_HOURLY"] - sexes["F"]["EAR_MEAN_HOURLY"]) / sexes["M"]["EAR_MEAN_HOURLY"]
            )
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
