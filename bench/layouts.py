"""How the benchmark's two references read the raw CSV deliveries: per (source, country) the files, the
separator, decimal commas, header renames and sex codes, all taken from schemas/mappings/<ISO3>.yaml (the
same mapping files the warehouse reads). Excel deliveries (Jordan's) are left out of the references:
DuckDB reads .xlsx only through an extension it would download."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "dbt_project" / "seeds"

PAYROLL = ["factory_id", "period", "national_id", "sex", "regular_hours", "overtime_hours",
           "basic_pay", "overtime_pay", "allowances", "bonuses"]
SOCIAL_SECURITY = ["national_id", "registration_date"]


@dataclass
class Layout:
    country: str
    source: str
    files: list[str]
    separator: str = ","
    decimal_comma: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # canonical name -> delivered header
    sex: dict[str, str] = field(default_factory=dict)  # delivered code -> F / M


def layouts(raw: Path, source: str) -> list[Layout]:
    found = []
    for folder in sorted((raw / source).iterdir()):
        files = sorted(str(f) for f in folder.glob("*.csv"))
        if not files:
            continue
        mapping_file = REPO / "schemas" / "mappings" / f"{folder.name}.yaml"
        spec = (yaml.safe_load(mapping_file.read_text(encoding="utf-8")) or {}).get("sources", {}).get(source, {}) if mapping_file.exists() else {}
        read = spec.get("read", {})
        delivered = {canonical: header for header, canonical in spec.get("columns", {}).items()}
        found.append(Layout(folder.name, source, files, read.get("separator", ","), bool(read.get("decimal_comma")),
                            delivered, {str(k): v for k, v in spec.get("values", {}).get("sex", {}).items()}))
    return found


def lowest_monthly_minimum(on: str = "2025-12-31") -> dict[str, float]:
    """Per country the lowest statutory monthly minimum in force on `on` across its regions (daily rates x
    legal days a month). The references' simplification: the warehouse applies the minimum of the factory's
    own region in force in each pay month."""
    days = {r["iso3"]: float(r["days_per_month"]) for r in csv.DictReader((SEEDS / "ref_hour_limits.csv").open(encoding="utf-8"))}
    in_force: dict[tuple[str, str], tuple[str, float]] = {}
    for r in csv.DictReader((SEEDS / "ref_minimum_wages.csv").open(encoding="utf-8")):
        if r["effective_date"] <= on and r["effective_date"] >= in_force.get((r["iso3"], r["wage_region"]), ("", 0))[0]:
            amount = float(r["amount"]) * (days.get(r["iso3"], 26) if r["per"] == "day" else 1)
            in_force[(r["iso3"], r["wage_region"])] = (r["effective_date"], amount)
    lowest: dict[str, float] = {}
    for (iso3, _), (_, amount) in in_force.items():
        lowest[iso3] = min(lowest.get(iso3, amount), amount)
    return lowest


def regular_hours_month() -> dict[str, float]:
    return {r["iso3"]: float(r["regular_hours_month"]) for r in csv.DictReader((SEEDS / "ref_hour_limits.csv").open(encoding="utf-8"))}


def plan(raw: Path) -> dict:
    """Everything a reference needs, as plain JSON-able data."""
    return {"payroll": [asdict(x) for x in layouts(raw, "payroll")],
            "social_security": [asdict(x) for x in layouts(raw, "social_security")],
            "minimum": lowest_monthly_minimum(), "regular_hours": regular_hours_month()}


if __name__ == "__main__":
    import sys

    print(json.dumps(plan(Path(sys.argv[1])), indent=1))
