"""What the two references read: per (source, country) the delivered files and how to read them.

Everything country-specific comes from schemas/mappings/<ISO3>.yaml through the warehouse's own parser
(`schemas.mapping.delivery`): separator, decimal commas, rows above the header, header renames, sex codes
and date formats. No per-country code. Files are ordered as the warehouse orders deliveries (file time, then
name), so "the later delivery wins" means the same thing in the references. Excel workbooks (Jordan's) are
read with fastexcel, the reader the warehouse uses: DuckDB reads .xlsx only through an extension it would
download, and pandas' own Excel engines (openpyxl, calamine) are not installed.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "dbt_project" / "seeds"
sys.path.insert(0, str(REPO))

from schemas.mapping import delivery  # noqa: E402

SUFFIXES = (".csv", ".xlsx", ".parquet")
PAYROLL = [
    "factory_id",
    "period",
    "national_id",
    "sex",
    "regular_hours",
    "overtime_hours",
    "basic_pay",
    "overtime_pay",
    "allowances",
    "bonuses",
]
NUMBERS = PAYROLL[4:]
SOCIAL_SECURITY = ["national_id", "registration_date"]
KEY = ["country", "factory_id", "period", "national_id"]  # payroll's natural key (national id, not its pseudonym)
ID_PUNCTUATION = r"[\s\-\./]"  # an id compares equal whatever its spacing, dashes or case (as the warehouse)


@dataclass
class Layout:
    """How one country delivers one source."""

    country: str
    source: str
    files: list[Path]  # oldest delivery first
    separator: str = ","
    decimal_comma: bool = False
    skip_rows: int = 0
    sheet: str | None = None
    rename: dict[str, str] = field(default_factory=dict)  # delivered header -> canonical name
    sex: dict[str, str] = field(default_factory=dict)  # lower-cased delivered code -> F / M
    date_formats: tuple[str, ...] = ()

    def header(self, canonical: str) -> str:
        """The delivered header of a canonical column."""
        return next((h for h, c in self.rename.items() if c == canonical), canonical)


def layouts(raw: Path, source: str) -> list[Layout]:
    """One Layout per country folder of `raw/<source>/` that holds files."""
    found = []
    for folder in sorted(p for p in (raw / source).iterdir() if p.is_dir()):
        files = [f for f in folder.iterdir() if f.suffix.lower() in SUFFIXES and not f.name.startswith(".")]
        if not files:
            continue
        d = delivery(folder.name, source)
        if d.encoding not in ("utf8", "utf-8"):
            raise SystemExit(f"{folder}: encoding {d.encoding} is not handled by the benchmark references")
        found.append(
            Layout(
                folder.name,
                source,
                sorted(files, key=lambda f: (f.stat().st_mtime_ns, f.name)),
                d.separator or ",",  # the canonical layout sniffs its separator; the sample writes commas
                d.decimal_comma,
                d.skip_rows,
                d.sheet,
                d.columns,
                d.value_map("sex") if source != "social_security" else {},
                d.date_formats,
            )
        )
    return found


def read_excel(path: Path, layout: Layout):
    """One sheet as an Arrow table of strings (the header row after `skip_rows` rows)."""
    import fastexcel

    sheet = layout.sheet if layout.sheet is not None else 0
    return fastexcel.read_excel(path).load_sheet(sheet, header_row=layout.skip_rows, dtypes="string").to_arrow()


def lowest_monthly_minimum(on: str = "2025-12-31") -> dict[str, float]:
    """Per country the lowest statutory monthly minimum in force on `on` across its wage regions (daily rates x
    legal days a month). The references' simplification: the warehouse applies the minimum of the factory's
    own region in force in each pay month."""
    days = {r["iso3"]: float(r["days_per_month"]) for r in _seed("ref_hour_limits")}
    in_force: dict[tuple[str, str], tuple[str, float]] = {}
    for r in _seed("ref_minimum_wages"):
        if r["effective_date"] <= on and r["effective_date"] >= in_force.get((r["iso3"], r["wage_region"]), ("", 0))[0]:
            amount = float(r["amount"]) * (days.get(r["iso3"], 26) if r["per"] == "day" else 1)
            in_force[(r["iso3"], r["wage_region"])] = (r["effective_date"], amount)
    lowest: dict[str, float] = {}
    for (iso3, _), (_, amount) in in_force.items():
        lowest[iso3] = min(lowest.get(iso3, amount), amount)
    return lowest


def regular_hours_month() -> dict[str, float]:
    return {r["iso3"]: float(r["regular_hours_month"]) for r in _seed("ref_hour_limits")}


def _seed(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


if __name__ == "__main__":
    for source in ("payroll", "social_security"):
        for x in layouts(Path(sys.argv[1]), source):
            print(
                x.source,
                x.country,
                len(x.files),
                "files",
                x.separator,
                x.decimal_comma,
                x.skip_rows,
                x.rename and "renames",
                x.sex,
            )
