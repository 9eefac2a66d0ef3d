"""Per-country mapping files: how a national delivery maps onto the canonical contract.

`schemas/mappings/<ISO3>.yaml` declares read options, header renames, code translations and
date formats (format in docs/interfaces.md). A country without a file delivers canonical form.
Adding a country or a new partner layout is a new or edited YAML file, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from decentwork.settings import MAPPINGS_DIR
from schemas.canonical import EXTRACTS

READ_DEFAULTS = {"separator": ",", "decimal_comma": False, "encoding": "utf8", "skip_rows": 0, "sheet": None}
ENCODINGS = {"utf8": "utf-8-sig", "utf-8": "utf-8-sig", "cp1252": "cp1252", "utf16": "utf-16", "utf-16": "utf-16", "latin1": "latin-1"}

# Understood in every delivery without a mapping (compared case-insensitively).
COMMON_VALUES = {"sex": {"f": "F", "m": "M", "female": "F", "male": "M"}}


class MappingError(ValueError):
    """A mapping file that cannot be used as written."""


@dataclass(frozen=True)
class Delivery:
    """How one country delivers one source."""

    country: str
    source: str
    separator: str = ","
    decimal_comma: bool = False
    encoding: str = "utf8"
    skip_rows: int = 0
    sheet: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # delivered header -> canonical header
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # canonical header -> {code: canonical}
    date_formats: tuple[str, ...] = ()
    mapping_file: Path | None = None

    @property
    def python_encoding(self) -> str:
        return ENCODINGS[self.encoding]

    def value_map(self, header: str) -> dict[str, str]:
        """Delivered code -> canonical code for a column; keys lower-cased for a case-blind match."""
        merged = {k: v for k, v in COMMON_VALUES.get(header, {}).items()}
        merged.update({str(k).strip().lower(): str(v) for k, v in self.values.get(header, {}).items()})
        return merged


def mapping_path(country: str) -> Path:
    return MAPPINGS_DIR / f"{country}.yaml"


@lru_cache(maxsize=None)
def _load_yaml(path: Path, mtime: float) -> dict:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    if not isinstance(doc, dict):
        raise MappingError(f"{path}: expected a mapping with keys country, defaults, sources")
    return doc


def delivery(country: str, source: str) -> Delivery:
    """The merged delivery description (defaults, then the source's own block) for a country."""
    path = mapping_path(country)
    if not path.exists():
        return Delivery(country=country, source=source, date_formats=EXTRACTS[source].date_formats)
    doc = _load_yaml(path, path.stat().st_mtime)
    unknown = set(doc) - {"country", "defaults", "sources"}
    if unknown:
        raise MappingError(f"{path}: unknown top-level keys {sorted(unknown)}; allowed: country, defaults, sources")
    if doc.get("country", country) != country:
        raise MappingError(f"{path}: says country {doc.get('country')!r} but is the file for {country}")
    block: dict = {}
    for part in (doc.get("defaults") or {}, (doc.get("sources") or {}).get(source) or {}):
        for key, value in part.items():
            if key in ("read", "values") and isinstance(value, dict):
                merged = dict(block.get(key, {}))
                merged.update(value)
                block[key] = merged
            else:
                block[key] = value
    read = {**READ_DEFAULTS, **(block.get("read") or {})}
    if set(read) - set(READ_DEFAULTS):
        raise MappingError(f"{path}: unknown read options {sorted(set(read) - set(READ_DEFAULTS))}")
    if read["encoding"] not in ENCODINGS:
        raise MappingError(f"{path}: encoding {read['encoding']!r} not one of {sorted(ENCODINGS)}")
    extract = EXTRACTS[source]
    canonical = {c.header for c in extract.columns} | {c.name for c in extract.columns}
    columns = {str(k).strip(): str(v) for k, v in (block.get("columns") or {}).items()}
    bad = sorted(v for v in columns.values() if v not in canonical)
    if bad:
        raise MappingError(f"{path}: sources.{source}.columns maps onto unknown canonical columns {bad}")
    formats = block.get("date_formats") or extract.date_formats
    return Delivery(
        country=country,
        source=source,
        separator=str(read["separator"]),
        decimal_comma=bool(read["decimal_comma"]),
        encoding=str(read["encoding"]),
        skip_rows=int(read["skip_rows"]),
        sheet=read["sheet"],
        columns=columns,
        values={str(k): dict(v) for k, v in (block.get("values") or {}).items()},
        date_formats=tuple(formats) if isinstance(formats, (list, tuple)) else (str(formats),),
        mapping_file=path,
    )
