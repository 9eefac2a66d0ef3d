"""The portal's message catalogues (`decentwork site-messages`): extract, update, check.

The messages are the templates' and the site code's texts (Babel's Jinja2 and Python extractors) and the texts of
the published code lists the pages show, taken from the reference seeds the `codes` table is made of (labels of
countries, indicators, breakdowns, units and statuses; the definitions of indicators and statuses), the assessment
questions' canonical labels and the low-compliance lists' rules. The template `assets/site/locales/site.pot` is
written from them; each language's `site.po` is updated from it (Babel keeps the translations, new messages arrive
empty and old ones are dropped). `--check` writes nothing and fails when the template is out of date or a language
lacks a translation: the test suite runs it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from assets.site.i18n import DOMAIN, LANGUAGES, LOCALES, SOURCE
from schemas.codes import SEEDS_DIR, code_table

SITE = Path(__file__).parents[1] / "assets" / "site"
TEMPLATE = LOCALES / f"{DOMAIN}.pot"
SHOWN_LABELS = ("REF_AREA", "INDICATOR", "CLASSIF1", "UNIT_MEASURE", "OBS_STATUS")  # SEX: the site's own words
SHOWN_DEFINITIONS = ("INDICATOR", "OBS_STATUS")


def _catalog(locale: str | None = None) -> Catalog:
    return Catalog(
        locale=locale,
        domain=DOMAIN,
        project="decentwork portal",
        version="",
        msgid_bugs_address="",
        copyright_holder="",
        charset="utf-8",
        fuzzy=False,
    )


def _seed_rows(name: str) -> list[dict]:
    path = SEEDS_DIR / f"{name}.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def extract() -> Catalog:
    """Every message of the site, with where it comes from."""
    template = _catalog()
    method_map = [("templates/**.html", "jinja2"), ("*.py", "python")]
    options_map = {"templates/**.html": {"trimmed": "true"}, "*.py": {}}
    keywords = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    for filename, lineno, message, comments, _context in extract_from_dir(
        SITE, method_map, options_map, keywords=keywords, comment_tags=("Translators:",), strip_comment_tags=True
    ):
        if isinstance(message, str) and message:
            template.add(message, locations=[(filename, lineno)], auto_comments=comments)
    codes = code_table()
    for dimension, code, label, definition in codes.select("dimension", "code", "label", "definition").iter_rows():
        if dimension in SHOWN_LABELS and label:
            template.add(label, locations=[(f"codes:{dimension}", 0)], auto_comments=[f"{dimension} {code}"])
        if dimension in SHOWN_DEFINITIONS and definition:
            template.add(definition, locations=[(f"codes:{dimension}", 0)], auto_comments=[f"{code}: definition"])
    for row in _seed_rows("ref_question_labels"):
        if row["canonical_label"]:
            template.add(
                row["canonical_label"], locations=[("ref_question_labels", 0)], auto_comments=[row["question_key"]]
            )
    for row in _seed_rows("ref_low_compliance_lists"):
        if row.get("rule"):
            template.add(row["rule"], locations=[("ref_low_compliance_lists", 0)], auto_comments=[row["iso3"]])
    return template


def _po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=116, sort_output=False, omit_header=False, include_previous=False)
    return out.getvalue()


def _messages(catalog: Catalog) -> list[str]:
    return [m.id for m in catalog if m.id]


def problems(template: Catalog) -> list[str]:
    """What is out of date: the template file, and each language's missing or fuzzy translations."""
    found = []
    written = []
    if TEMPLATE.exists():
        with TEMPLATE.open("rb") as f:
            written = _messages(read_po(f))
    if written != _messages(template):
        found.append(f"{TEMPLATE} is out of date: run `decentwork site-messages`")
    ids = {m.id for m in template if m.id}
    for language in LANGUAGES:
        if language == SOURCE:
            continue
        path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        if not path.exists():
            found.append(f"{path} is missing: run `decentwork site-messages` and translate it")
            continue
        with path.open("rb") as f:
            catalogue = read_po(f, locale=language)
        untranslated = sorted(
            m.id for m in catalogue if m.id in ids and (not m.string or m.fuzzy) and isinstance(m.id, str)
        )
        absent = sorted(ids - {m.id for m in catalogue})
        for message in absent + untranslated:
            found.append(f"{path}: no translation of {message!r}")
    return found


def run(check: bool = False) -> list[str]:
    """Write the template and update each language's catalogue (or, with `check`, only report)."""
    template = extract()
    if check:
        return problems(template)
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_bytes(_po_bytes(template))
    for language in LANGUAGES:
        if language == SOURCE:
            continue
        path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as f:
                catalogue = read_po(f, locale=language)
        else:
            catalogue = _catalog(language)
        catalogue.update(template, no_fuzzy_matching=True)
        catalogue.obsolete.clear()
        path.write_bytes(_po_bytes(catalogue))
    return problems(template)
