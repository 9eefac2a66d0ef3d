"""The floor: the headline indicators straight from the raw CSVs with bare DuckDB, no validation, no
lineage, no pseudonyms, no disclosure control. Prints {country: {sex: {indicator: value}}} as JSON.

    python bench/floor_duckdb.py <raw folder>

Per country and sex over all delivered months: mean hourly earnings (earnings / all hours), the raw gender
pay gap, the share of worker-months whose basic pay is below the country's lowest monthly minimum
(pro-rated by regular hours; bench/layouts.py), and the share of payroll worker-months whose national id has
a social-security registration on or before the month's end. Cells that do not parse are NULL and drop out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layouts import PAYROLL, SOCIAL_SECURITY, plan  # noqa: E402


def _select(layout: dict, wanted: list[str]) -> str:
    files = ", ".join(f"'{f}'" for f in layout["files"])
    cols = ", ".join(f'"{layout["columns"].get(c, c)}" as {c}' for c in wanted)
    return (f"select '{layout['country']}' as country, {cols} from read_csv([{files}], delim = '{layout['separator']}', "
            f"header = true, all_varchar = true, union_by_name = true, null_padding = true, ignore_errors = true)")


def _number(column: str, comma: bool) -> str:
    value = f"replace({column}, ',', '.')" if comma else column
    return f"try_cast({value} as double)"


def main(raw: Path) -> dict:
    p = plan(raw)
    con = duckdb.connect()
    con.execute("create table minimum as select * from (values " + ", ".join(
        f"('{c}', {m}, {p['regular_hours'].get(c, 208)})" for c, m in p["minimum"].items()) + ") as t(country, minimum, hours_month)")
    payroll = " union all ".join(
        f"select country, upper(coalesce({_sex(x)}, sex)) as sex, period, replace(national_id, ' ', '') as national_id, "
        + ", ".join(f"{_number(c, x['decimal_comma'])} as {c}" for c in PAYROLL[4:])
        + f" from ({_select(x, PAYROLL)})"
        for x in p["payroll"])
    con.execute(f"create table payroll as {payroll}")
    ss = " union all ".join(
        f"select country, replace(national_id, ' ', '') as national_id, "
        "coalesce(try_strptime(registration_date, '%Y-%m-%d'), try_strptime(registration_date, '%d/%m/%Y'))::date as registration_date "
        f"from ({_select(x, SOCIAL_SECURITY)})" for x in p["social_security"])
    con.execute(f"create table registrations as select country, national_id, min(registration_date) as registration_date from ({ss}) group by all")
    rows = con.execute("""
        with months as (
            select payroll.*, (basic_pay + overtime_pay + allowances + bonuses) / nullif(regular_hours + overtime_hours, 0) as hourly,
                   basic_pay < minimum.minimum * least(1, regular_hours / minimum.hours_month) as below,
                   registrations.registration_date <= last_day(try_strptime(period || '-01', '%Y-%m-%d')::date) as registered,
                   exists (select 1 from registrations r where r.country = payroll.country) as has_ss
            from payroll
            left join minimum using (country)
            left join registrations using (country, national_id)
            where sex in ('F', 'M')
        )
        select country, sex, avg(hourly), 100 * avg(below::int), case when bool_or(has_ss) then 100 * avg(coalesce(registered, false)::int) end
        from months group by grouping sets ((country, sex), (country)) order by all
    """).fetchall()
    out: dict = {}
    for country, sex, hourly, below, registered in rows:
        out.setdefault(country, {})[sex or "T"] = {"EAR_MEAN_HOURLY": hourly, "MINW_BELOW_RT": below, "SS_REGISTERED_RT": registered}
    for sexes in out.values():
        if "F" in sexes and "M" in sexes:
            sexes["T"]["GPG_MEAN_HOURLY"] = 100 * (sexes["M"]["EAR_MEAN_HOURLY"] - sexes["F"]["EAR_MEAN_HOURLY"]) / sexes["M"]["EAR_MEAN_HOURLY"]
    return out


def _sex(layout: dict) -> str:
    if not layout["sex"]:
        return "null"
    return "case sex " + " ".join(f"when '{k}' then '{v}'" for k, v in layout["sex"].items()) + " end"


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
