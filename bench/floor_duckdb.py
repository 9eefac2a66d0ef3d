"""The floor: the headline indicators straight from the raw deliveries with bare DuckDB. No validation, no
quarantine, no lineage, no pseudonyms, no disclosure control. Prints {country: {sex: {indicator: value}}}
as JSON (sex F, M and T = both).

    python bench/floor_duckdb.py <raw folder>

Per country and sex over all delivered months:
- EAR_MEAN_HOURLY: mean of (basic + overtime pay + allowances + bonuses) / (regular + overtime hours);
- GPG_MEAN_HOURLY: (men's - women's) / men's mean hourly earnings x 100;
- MINW_BELOW_RT: % of worker-months whose basic pay is below the country's LOWEST monthly minimum in force
  at the end of 2025, pro-rated by regular hours (simplified: the warehouse uses the factory's region and
  the minimum in force in each month, and counts full-time worker-months);
- SS_REGISTERED_RT: % of payroll worker-months whose national id has a social-security registration on or
  before the month's end (null for a country without social-security deliveries).
A worker's month delivered twice (a correction) counts once, from the later delivery. Cells that do not
parse are NULL and drop out; rows with a sex code outside the mapping drop out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

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


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _relation(con: duckdb.DuckDBPyConnection, x: Layout, wanted: list[str]) -> str:
    """A SELECT of the canonical columns `wanted` (all text) plus `filename` over every file of a layout."""
    parts = []
    cols = ", ".join(f'"{x.header(c)}" as {c}' for c in wanted)
    csvs = [f for f in x.files if f.suffix.lower() == ".csv"]
    if csvs:
        parts.append(
            f"select filename, {cols} from read_csv([{', '.join(_quote(str(f)) for f in csvs)}], "
            f"delim = {_quote(x.separator)}, skip = {x.skip_rows}, header = true, all_varchar = true, "
            "union_by_name = true, null_padding = true, ignore_errors = true, filename = true)"
        )
    for f in x.files:
        if f.suffix.lower() == ".xlsx":
            name = f"xlsx_{len(con.execute('show tables').fetchall())}"
            con.register(name, read_excel(f, x))
            parts.append(f"select {_quote(str(f))} as filename, {cols} from {name}")
        elif f.suffix.lower() == ".parquet":
            parts.append(
                f"select filename, {', '.join(f'{c}::varchar as {c}' for c in wanted)} "
                f"from read_parquet({_quote(str(f))}, filename = true)"
            )
    return " union all by name ".join(parts)


def _number(column: str, comma: bool) -> str:
    value = f"replace({column}, ',', '.')" if comma else column
    return f"try_cast({value} as double)"


def _sex(x: Layout) -> str:
    return "case lower(trim(sex)) " + " ".join(f"when {_quote(k)} then {_quote(v)}" for k, v in x.sex.items()) + " end"


def _date(column: str, formats: tuple[str, ...]) -> str:
    return "coalesce(" + ", ".join(f"try_strptime({column}, {_quote(f)})::date" for f in formats) + ")"


def _id(column: str) -> str:
    return f"regexp_replace(upper({column}), {_quote(ID_PUNCTUATION)}, '', 'g')"


def main(raw: Path) -> dict:
    con = duckdb.connect()
    minimum, hours = lowest_monthly_minimum(), regular_hours_month()
    con.execute("create table minimum (country varchar, minimum double, hours_month double)")
    con.executemany("insert into minimum values (?, ?, ?)", [(c, m, hours.get(c, 208)) for c, m in minimum.items()])

    pay = layouts(raw, "payroll")
    con.execute("create table file_order (filename varchar, file_order int)")
    con.executemany("insert into file_order values (?, ?)", [(str(f), i) for x in pay for i, f in enumerate(x.files)])
    payroll = " union all ".join(
        f"select {_quote(x.country)} as country, filename, try_cast(factory_id as bigint) as factory_id, period, "
        f"{_id('national_id')} as national_id, {_sex(x)} as sex, "
        + ", ".join(f"{_number(c, x.decimal_comma)} as {c}" for c in NUMBERS)
        + f" from ({_relation(con, x, PAYROLL)})"
        for x in pay
    )
    con.execute(f"""create table payroll as
        select * from ({payroll}) join file_order using (filename)
        qualify row_number() over (partition by {", ".join(KEY)} order by file_order desc) = 1""")

    ss = " union all ".join(
        f"select {_quote(x.country)} as country, {_id('national_id')} as national_id, "
        f"{_date('registration_date', x.date_formats)} as registration_date from ({_relation(con, x, SOCIAL_SECURITY)})"
        for x in layouts(raw, "social_security")
    )
    con.execute(
        "create table registrations as select country, national_id, "
        f"min(registration_date) as registration_date from ({ss}) group by all"
    )

    rows = con.execute("""
        with months as (
            select payroll.country, payroll.sex,
                   (basic_pay + overtime_pay + allowances + bonuses)
                       / nullif(regular_hours + overtime_hours, 0) as hourly,
                   basic_pay < minimum.minimum * least(1, regular_hours / minimum.hours_month) as below,
                   coalesce(
                       registrations.registration_date <= last_day(try_strptime(period || '-01', '%Y-%m-%d')::date),
                       false
                   ) as registered
            from payroll
            left join minimum using (country)
            left join registrations using (country, national_id)
            where sex in ('F', 'M')
        )
        select country, coalesce(sex, 'T'), avg(hourly), 100 * avg(below::int),
               case when country in (select country from registrations) then 100 * avg(registered::int) end
        from months group by grouping sets ((country, sex), (country)) order by all
    """).fetchall()
    out: dict = {}
    for country, sex, hourly, below, registered in rows:
        out.setdefault(country, {})[sex] = {
            "EAR_MEAN_HOURLY": hourly,
            "MINW_BELOW_RT": below,
            "SS_REGISTERED_RT": registered,
        }
    for sexes in out.values():
        if "F" in sexes and "M" in sexes:
            sexes["T"]["GPG_MEAN_HOURLY"] = (
                100 * (sexes["M"]["EAR_MEAN_HOURLY"] - sexes["F"]["EAR_MEAN_HOURLY"]) / sexes["M"]["EAR_MEAN_HOURLY"]
            )
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
