"""Delivery layouts: how a delivered file maps onto the canonical contract.

A layout describes one way files arrive: read options (separator, decimal comma, encoding, title rows, sheet),
header renames, code translations and date formats. Mapping files `schemas/mappings/*.yaml` declare named
layouts for one country (`country: VNM`) or several (`countries: [JOR, EGY]`); docs/interfaces.md gives the
format. The contract's canonical form is always a layout too (`canonical`), so a file in canonical form loads
in every country. Each delivered file is read with the layout whose header it carries
(assets/ingestion/read.py, `fitting_layouts`): a partner may switch layout, or send one month in another, without
losing the delivery. Adding a country or a partner's layout is a YAML file, not code.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from decentwork.settings import MAPPINGS_DIR
from schemas.canonical import EXTRACTS

CANONICAL = "canonical"
READ_DEFAULTS = {"separator": ",", "decimal_comma": False, "encoding": "utf8", "skip_rows": 0, "sheet": None}
ENCODINGS = {
    "utf8": "utf-8-sig",
    "utf-8": "utf-8-sig",
    "cp1252": "cp1252",
    "utf16": "utf-16",
    "utf-16": "utf-16",
    "latin1": "latin-1",
}
# Understood in every delivery (compared folded: case, spaces and non-breaking spaces ignored).
COMMON_VALUES = {"sex": {"f": "F", "m": "M", "female": "F", "male": "M"}}
# Dates the canonical layout also accepts: what spreadsheets turn ISO dates into (day first, as outside the US)
SPREADSHEET_DATES = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d")


def fold(text: object) -> str:
    """A header or a code as compared: Unicode-normalised, case-folded, every run of spaces (non-breaking and
    zero-width ones too) one space, trimmed."""
    normal = unicodedata.normalize("NFKC", str(text)).replace("\u200b", "").replace("\ufeff", "")
    return re.sub(r"\s+", " ", normal).strip().casefold()


class MappingError(ValueError):
    """A mapping file that cannot be used as written."""


@dataclass(frozen=True)
class Delivery:
    """How one layout delivers one source (for one country)."""

    country: str
    source: str
    layout: str = CANONICAL
    separator: str | None = ","  # None: the canonical layout sniffs , ; tab or |
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

    @property
    def where(self) -> str:
        """Where a partner or national team changes this layout (for error messages)."""
        if self.mapping_file is None:
            return f"a layout in schemas/mappings/{self.country}.yaml"
        return f"layout {self.layout!r} in schemas/mappings/{self.mapping_file.name}"

    def value_map(self, header: str) -> dict[str, str]:
        """Delivered code -> canonical code for a column; keys folded for a case- and space-blind match."""
        merged = dict(COMMON_VALUES.get(header, {}))
        merged.update({fold(k): str(v) for k, v in self.values.get(header, {}).items()})
        return merged


def canonical(country: str, source: str) -> Delivery:
    """The contract's own form: canonical headers, any common separator, UTF-8 (or Excel's Windows-1252)."""
    formats = tuple(dict.fromkeys((*EXTRACTS[source].date_formats, *SPREADSHEET_DATES)))
    return Delivery(country=country, source=source, layout=CANONICAL, separator=None, date_formats=formats)


def layouts(country: str, source: str) -> list[Delivery]:
    """Every layout a file of `source` from `country` may be in: the declared ones, then the canonical form."""
    declared = []
    for path in sorted(MAPPINGS_DIR.glob("*.yaml")):
        doc = _load_yaml(path, path.stat().st_mtime)
        if country in _countries(doc, path):
            for name, body in _layouts(doc, path).items():
                if body.get("defaults") or source in (body.get("sources") or {}):  # says something of this source
                    declared.append(_delivery(country, source, name, body, path))
    return [*declared, canonical(country, source)]


def delivery(country: str, source: str) -> Delivery:
    """The first declared layout of a country (the canonical form without one): for tools that read one layout."""
    return layouts(country, source)[0]


@cache
def _load_yaml(path: Path, _mtime: float) -> dict:
    """The file's mapping, cached; `_mtime` is unused but part of the cache key, so an edited file is read again."""
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    if not isinstance(doc, dict):
        raise MappingError(
            f"{path}: expected a mapping with keys country (or countries) and layouts (or defaults, sources)"
        )
    unknown = set(doc) - {"country", "countries", "layouts", "defaults", "sources"}
    if unknown:
        raise MappingError(
            f"{path}: unknown top-level keys {sorted(unknown)}; allowed: country, countries, layouts, defaults, sources"
        )
    if "layouts" in doc and ({"defaults", "sources"} & set(doc)):
        raise MappingError(f"{path}: put defaults and sources inside a named layout under `layouts`, not beside them")
    return doc


def _countries(doc: dict, path: Path) -> set[str]:
    if "countries" in doc:
        return {str(c) for c in doc["countries"]}
    return {str(doc.get("country", path.stem))}


def _layouts(doc: dict, path: Path) -> dict[str, dict]:
    """Named layouts of a mapping file; a file written without `layouts` is one layout named after the file."""
    if "layouts" not in doc:
        return {path.stem: {k: doc[k] for k in ("defaults", "sources") if k in doc}}
    named = doc["layouts"] or {}
    if not isinstance(named, dict) or not all(isinstance(v, dict) for v in named.values()):
        raise MappingError(f"{path}: `layouts` maps a layout name onto its defaults and sources")
    if CANONICAL in named:
        raise MappingError(f"{path}: {CANONICAL!r} is the contract's own layout; name yours otherwise")
    return named


def _delivery(country: str, source: str, name: str, body: dict, path: Path) -> Delivery:
    """One layout's description of one source: its defaults, then the source's own block."""
    unknown = set(body) - {"defaults", "sources"}
    if unknown:
        raise MappingError(f"{path}: layout {name!r} has unknown keys {sorted(unknown)}; allowed: defaults, sources")
    block: dict = {}
    for part in (body.get("defaults") or {}, (body.get("sources") or {}).get(source) or {}):
        for key, value in part.items():
            if key in ("read", "values") and isinstance(value, dict):
                block[key] = {**block.get(key, {}), **value}
            else:
                block[key] = value
    read = {**READ_DEFAULTS, **(block.get("read") or {})}
    if set(read) - set(READ_DEFAULTS):
        raise MappingError(f"{path}: layout {name!r}: unknown read options {sorted(set(read) - set(READ_DEFAULTS))}")
    if read["encoding"] not in ENCODINGS:
        raise MappingError(f"{path}: layout {name!r}: encoding {read['encoding']!r} not one of {sorted(ENCODINGS)}")
    extract = EXTRACTS[source]
    known = {c.header for c in extract.columns} | {c.name for c in extract.columns}
    columns = {str(k).strip(): str(v) for k, v in (block.get("columns") or {}).items()}
    bad = sorted(v for v in columns.values() if v not in known)
    if bad:
        raise MappingError(
            f"{path}: layout {name!r}: sources.{source}.columns maps onto unknown canonical columns {bad}"
        )
    formats = block.get("date_formats") or extract.date_formats
    return Delivery(
        country=country,
        source=source,
        layout=name,
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
