"""Reference look-ups ingestion checks rows against, read from the dbt seeds (the one copy of each list)."""

from __future__ import annotations

import csv
from functools import lru_cache

from decentwork.settings import SEEDS_DIR

# The seeds these look-ups read: their content is part of what staging is made from (assets/ingestion/ingest.py).
REFERENCE_SEEDS = (SEEDS_DIR / "ref_countries.csv", SEEDS_DIR / "ref_minimum_wages.csv")


@lru_cache(maxsize=1)
def programme_countries() -> dict[str, str]:
    """ISO3 -> ISO2 of the programme countries, from the reference seed (the one list of countries)."""
    with (SEEDS_DIR / "ref_countries.csv").open(encoding="utf-8") as fh:
        return {row["iso3"]: row["iso2"] for row in csv.DictReader(fh)}


@lru_cache(maxsize=1)
def monthly_minimum_wages() -> dict[tuple[str, str], float]:
    """(ISO3, currency) -> the highest monthly minimum wage of the reference seed (daily rates x 31)."""
    highest: dict[tuple[str, str], float] = {}
    with (SEEDS_DIR / "ref_minimum_wages.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            monthly = float(row["amount"]) * (31 if row["per"] == "day" else 1)
            key = (row["iso3"], row["currency"])
            highest[key] = max(highest.get(key, 0.0), monthly)
    return highest
