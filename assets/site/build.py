"""Build the static site from a publication's files (assets/site/__init__.py).

Every page is plain HTML with its data inside it (no fetch, no other host): it opens from a USB stick
(`file://`) as from any web server. Each published figure is written with its key and status
(`data-cell`, `data-status`), so a test can check every number on every page against the published table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2
import polars as pl
from jinja2.utils import markupsafe

from .i18n import LANGUAGE_NAMES, LANGUAGES, N_, SOURCE, Language

SITE_DIR = "site"
TEMPLATES = Path(__file__).parent / "templates"
POOLED = "X_BW"
TOPICS = {  # wide country mart -> the topic's title, in the fact sheet's order
    "country_wages": N_("Wages"),
    "country_gender_gaps": N_("Gender gaps"),
    "country_osh": N_("Safety, health and compliance"),
    "country_social_dialogue": N_("Social dialogue"),
    "country_social_protection": N_("Social protection"),
}
SEXES = ("SEX_T", "SEX_F", "SEX_M")
TREND_CHARTS = ("GPG_MEAN_HOURLY", "MINW_BELOW_RT", "PICC_ACTIVE_RT", "UNION_MEMBER_RT")  # a fact sheet's trend
escape = markupsafe.escape
markup = markupsafe.Markup  # an SVG drawn here, its texts escaped
SEX_LABELS = {"SEX_T": N_("Total"), "SEX_F": N_("Women"), "SEX_M": N_("Men")}
KEY = ("ref_area", "indicator", "sex", "classif1", "time")


@dataclass
class Publication:
    """What the site reads: the published files of one publication."""

    indicators: pl.DataFrame
    labels: dict[tuple[str, str], str]  # (dimension, code) -> label
    definitions: dict[str, str]  # indicator -> definition
    statuses: dict[str, tuple[str, str]]  # status -> (label, definition)
    topics: dict[str, list[str]]  # topic title -> indicators
    factories: pl.DataFrame  # factory_compliance
    low_compliance: pl.DataFrame  # low_compliance: the countries' low-compliance lists (empty where none is published)
    version: str  # a content hash of indicators.parquet: the publication's version
    check: dict  # quality/last_check.json: the publication's gates and disclosure report ({} when absent)


def read_publication(marts: Path) -> Publication:
    indicators = pl.read_parquet(marts / "indicators.parquet").sort(KEY)
    codes = pl.read_parquet(marts / "codes.parquet")
    labels = {(d, c): label for d, c, label in codes.select("dimension", "code", "label").iter_rows()}
    definitions = dict(codes.filter(pl.col("dimension") == "INDICATOR").select("code", "definition").iter_rows())
    statuses = {
        c: (label, d)
        for c, label, d in codes.filter(pl.col("dimension") == "OBS_STATUS")
        .select("code", "label", "definition")
        .iter_rows()
    }
    topics: dict[str, list[str]] = {}
    published = sorted(set(indicators["indicator"]))
    for mart, title in TOPICS.items():
        path = marts / f"{mart}.parquet"
        columns = pl.read_parquet_schema(path).keys() if path.exists() else []
        topics[title] = [
            code for code in published if any(c == code.lower() or c.startswith(code.lower() + "_") for c in columns)
        ]
    factories_path = marts / "factory_compliance.parquet"
    factories = pl.read_parquet(factories_path) if factories_path.exists() else pl.DataFrame()
    low_path = marts / "low_compliance.parquet"
    low_compliance = pl.read_parquet(low_path) if low_path.exists() else pl.DataFrame()
    version = hashlib.sha256((marts / "indicators.parquet").read_bytes()).hexdigest()[:12]
    check_path = marts / "quality" / "last_check.json"
    check = json.loads(check_path.read_text(encoding="utf-8")) if check_path.exists() else {}
    return Publication(indicators, labels, definitions, statuses, topics, factories, low_compliance, version, check)


# --------------------------------------------------------------------------------------------- figures
class Texts:
    """The publication's texts and figures in one language: labels of the code lists, definitions, figures."""

    def __init__(self, pub: Publication, lang: Language) -> None:
        self.pub, self.lang = pub, lang

    def label(self, dimension: str, code: str) -> str:
        return self.lang.gettext(self.pub.labels.get((dimension, code), code))

    def definition(self, indicator: str) -> str:
        return self.lang.gettext(self.pub.definitions.get(indicator, ""))

    def figure(self, row: dict) -> dict:
        """A published cell as a page shows it: its text in the page's language, its status and key."""
        value, status, lang = row["obs_value"], row["obs_status"], self.lang
        if value is None:
            text = {"C": lang.gettext("confidential"), "M": lang.gettext("not applicable")}.get(
                status or "", lang.gettext("no value")
            )
        elif row["unit"] in ("LCU", "USD", "PPP_USD"):
            text = lang.significant(value)
        elif row["unit"] == "RATIO":
            text = lang.number(value, 2)
        else:
            text = lang.number(value, 1)
        return {
            "text": text,
            "status": status or "",
            "cell": "|".join(str(row[k]) for k in KEY),
            "value": "" if value is None else repr(value),
            "unit": row["unit"],
        }


N_("confidential")
N_("not applicable")
N_("no value")


def _country_sheet(t: Texts, country: str) -> dict:
    pub = t.pub
    rows = pub.indicators.filter(pl.col("ref_area") == country)
    years = sorted(set(rows["time"]))
    latest = years[-1] if years else None
    by_key = {tuple(r[k] for k in KEY): r for r in rows.iter_rows(named=True)}
    sections = []
    for title, codes in pub.topics.items():
        lines = []
        for code in codes:
            of_code = rows.filter(pl.col("indicator") == code, pl.col("time") == latest)
            for classif1 in sorted(set(of_code["classif1"])):
                cells = [by_key.get((country, code, sex, classif1, latest)) for sex in SEXES]
                if not any(cells):
                    continue
                trend = [by_key.get((country, code, "SEX_T", classif1, y)) for y in years]
                first = next(c for c in cells if c)
                lines.append(
                    {
                        "indicator": code,
                        "label": t.label("INDICATOR", code),
                        "breakdown": "" if classif1 == "_Z" else t.label("CLASSIF1", classif1),
                        "unit": t.label("UNIT_MEASURE", first["unit"]),
                        "by_sex": [t.figure(c) if c else None for c in cells],
                        "trend": [t.figure(c) if c else None for c in trend],
                        "coverage": t.lang.coverage(first["coverage"] or ""),
                    }
                )
        if lines:
            years_in_programme = any(line["indicator"] == "GPG_MEAN_HOURLY" and line["breakdown"] for line in lines)
            sections.append({"title": t.lang.gettext(title), "lines": lines, "years_in_programme": years_in_programme})
    headline = by_key.get((country, "EAR_MEAN_HOURLY", "SEX_T", "CUR_TYPE_LCU", latest))
    _ = t.lang.gettext
    charts = []
    by_sex = [
        (t.lang.gettext(SEX_LABELS[sex]), False, by_key.get((country, "EAR_MEAN_HOURLY", sex, "CUR_TYPE_LCU", latest)))
        for sex in SEXES
    ]
    if any(f for _l, _p, f in by_sex):
        title = _("%(indicator)s (%(unit)s), by sex, %(year)s") % {
            "indicator": t.label("INDICATOR", "EAR_MEAN_HOURLY"),
            "unit": t.label("UNIT_MEASURE", "LCU"),
            "year": latest,
        }
        bars = [(label, p, t.figure(f) if f else None) for label, p, f in by_sex]
        charts.append({"title": title, "svg": markup(bar_chart(title, bars, "chart-sex"))})
    for code in TREND_CHARTS:  # the first headline with values in several years: its trend
        trend = [(str(y), False, by_key.get((country, code, "SEX_T", "_Z", y))) for y in years]
        if len([f for _l, _p, f in trend if f and f["obs_value"] is not None]) > 1:
            title = _("%(indicator)s (%(unit)s), by year") % {
                "indicator": t.label("INDICATOR", code),
                "unit": t.label("UNIT_MEASURE", next(f for _l, _p, f in trend if f)["unit"]),
            }
            bars = [(label, p, t.figure(f) if f else None) for label, p, f in trend]
            charts.append({"title": title, "svg": markup(bar_chart(title, bars, "chart-trend"))})
            break
    return {
        "code": country,
        "name": t.label("REF_AREA", country),
        "years": years,
        "latest": latest,
        "sections": sections,
        "charts": [c for c in charts if c["svg"]],
        "workers": t.lang.integer(headline["n_workers"]) if headline and headline["n_workers"] is not None else None,
        "factories": (
            t.lang.integer(headline["n_factories"]) if headline and headline["n_factories"] is not None else None
        ),
    }


def _comparison(t: Texts, indicator: str) -> dict:
    pub, _ = t.pub, t.lang.gettext
    rows = pub.indicators.filter(pl.col("indicator") == indicator, pl.col("sex") == "SEX_T")
    years = sorted(set(rows["time"]))
    areas = sorted(set(rows["ref_area"]) - {POOLED}) + ([POOLED] if POOLED in set(rows["ref_area"]) else [])
    classif = sorted(set(rows["classif1"]))
    by_key = {tuple(r[k] for k in KEY): r for r in rows.iter_rows(named=True)}
    tables = []
    for classif1 in classif:
        breakdown = "" if classif1 == "_Z" else t.label("CLASSIF1", classif1)
        latest = years[-1]
        bars = [
            (
                t.label("REF_AREA", area),
                area == POOLED,
                t.figure(c) if (c := by_key.get((area, indicator, "SEX_T", classif1, latest))) else None,
            )
            for area in areas
        ]
        subject = t.label("INDICATOR", indicator) + (": " + breakdown if breakdown else "")
        title = _("%(subject)s, total, %(year)s") % {"subject": subject, "year": latest}
        tables.append(
            {
                "breakdown": breakdown,
                "chart": markup(bar_chart(title, bars, f"chart-{len(tables)}")),
                "chart_title": title,
                "rows": [
                    {
                        "area": area,
                        "name": t.label("REF_AREA", area),
                        "cells": [
                            t.figure(c) if (c := by_key.get((area, indicator, "SEX_T", classif1, y))) else None
                            for y in years
                        ],
                        "coverage": t.lang.coverage(
                            next((by_key[k]["coverage"] or "" for k in by_key if k[0] == area and k[3] == classif1), "")
                        ),
                    }
                    for area in areas
                ],
            }
        )
    return {
        "code": indicator,
        "label": t.label("INDICATOR", indicator),
        "definition": t.definition(indicator),
        "years": years,
        "tables": tables,
    }


def bar_chart(title: str, bars: list[tuple[str, bool, dict | None]], name: str) -> str:
    """A horizontal bar chart as inline SVG, drawn here (no library, nothing loaded when viewed): one bar per
    (label, pooled, figure) with a value, the pooled X_BW hatched so that it differs by more than colour, the values
    written beside the bars, and a text description for screen readers. Each bar carries its cell's key and status
    like a table cell. `name`: unique on its page (the ids of its title, description and pattern)."""
    shown = [
        (f"{label} (X_BW)" if pooled else label, pooled, f) for label, pooled, f in bars if f is not None and f["value"]
    ]
    if not shown:
        return ""
    values = [float(f["value"]) for _, _, f in shown]
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1.0
    left, width, row = 150, 360, 22
    zero = left + width * (0 - low) / span
    height = row * len(shown) + 10
    description = "; ".join(
        f"{label}: {f['text']}{' (' + f['status'] + ')' if f['status'] else ''}" for label, _, f in shown
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{name}-t {name}-d" '
        f'width="{left + width + 90}" height="{height}" viewBox="0 0 {left + width + 90} {height}">',
        f'<title id="{name}-t">{escape(title)}</title><desc id="{name}-d">{escape(description)}</desc>',
        f'<defs><pattern id="{name}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#0b4f8a"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="3"/></pattern></defs>',
    ]
    for i, (label, pooled, f) in enumerate(shown):
        value = float(f["value"])
        x = min(zero, left + width * (value - low) / span)
        w = max(abs(width * value / span), 1.0)
        y = 5 + i * row
        fill = f"url(#{name}-hatch)" if pooled else "#0b4f8a"
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="12">{escape(label)}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{fill}" '
            f'data-cell="{escape(f["cell"])}" data-value="{escape(f["value"])}" data-status="{escape(f["status"])}"/>'
            f'<text x="{max(zero, x + w) + 4:.1f}" y="{y + 14}" font-size="12">{escape(f["text"])}'
            f"{' ' + escape(f['status']) if f['status'] else ''}</text>"
        )
    parts.append(f'<line x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{height}" stroke="#1a1a1a"/></svg>')
    return "".join(parts)


def _factories(t: Texts) -> list[dict]:
    """One entry per listed factory (the factory_compliance mart's rules): its latest assessment's findings by
    cluster, on the publicly reported questions the mart holds. A question label the catalogue does not translate
    (a tool's new wording) is shown as delivered, marked as English for screen readers."""
    pub, lang = t.pub, t.lang
    if pub.factories.is_empty():
        return []
    out = []
    for (country, factory_id), rows in pub.factories.sort("cluster_code", "question_id").group_by(
        "country", "factory_id", maintain_order=True
    ):
        first = rows.row(0, named=True)
        clusters = []
        for (cluster,), of_cluster in rows.group_by("cluster_code", maintain_order=True):
            findings = [
                {
                    "question": q,
                    "label": lang.messages.get(label, label),  # English has no messages: the label as delivered
                    "label_lang": "" if lang.translated(label) else SOURCE,
                    "non_compliant": bool(nc),
                }
                for q, label, nc in of_cluster.select("question_id", "question_label", "non_compliant").iter_rows()
            ]
            clusters.append(
                {
                    "code": cluster,
                    "label": t.label("CLASSIF1", cluster),
                    "findings": findings,
                    "non_compliant": sum(f["non_compliant"] for f in findings),
                }
            )
        out.append(
            {
                "country": country,
                "country_name": t.label("REF_AREA", country),
                "id": factory_id,
                "slug": f"{country}-{factory_id}",
                "name": first["factory_name"],
                "date": lang.date(first["assessment_start_date"]),
                "iso_date": str(first["assessment_start_date"]),
                "cycle": first["cycle"],
                "assessments": first["n_assessments"],
                "clusters": clusters,
                "issues": sorted({c["code"] for c in clusters if c["non_compliant"]}),
            }
        )
    return sorted(out, key=lambda f: (f["country"], f["name"]))


def _low_compliance(t: Texts, listed: set[str]) -> list[dict]:
    """The low-compliance lists of the countries whose programme publishes one (seed ref_low_compliance_lists): the
    rule as the seed states it, and the factories it names (linked to their page where they have one)."""
    pub, lang = t.pub, t.lang
    if pub.low_compliance.is_empty():
        return []
    lists = []
    for (country,), rows in pub.low_compliance.sort("country", "compliance_rate_pct").group_by(
        "country", maintain_order=True
    ):
        factories = [
            {
                "name": r["factory_name"],
                "slug": slug if (slug := f"{country}-{r['factory_id']}") in listed else "",
                "date": lang.date(r["assessment_start_date"]),
                "iso_date": str(r["assessment_start_date"]),
                "assessments": r["n_assessments"],
                "rate": lang.number(r["compliance_rate_pct"], 1),
                "threshold": lang.number(r["threshold_pct"], 1),
            }
            for r in rows.iter_rows(named=True)
            if r["factory_id"] is not None
        ]
        lists.append(
            {
                "country": country,
                "country_name": t.label("REF_AREA", country),
                "rule": lang.gettext(rows["rule"][0]),
                "factories": factories,
            }
        )
    return lists


# --------------------------------------------------------------------------------------------- the build
def _environment(lang: Language) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # a message's line breaks and indentation are the template's, not its text
    env.install_gettext_callables(lang.gettext, lang.ngettext, newstyle=True)
    # data for a page's script: JSON, with "</" escaped so that no value can close the script element
    # (templates mark it `| safe`: JSON in a script element is no HTML text)
    env.filters["tojson_safe"] = lambda v: json.dumps(v, ensure_ascii=False).replace("</", "<\\/")
    env.filters["integer"] = lang.integer
    env.filters["coverage"] = lang.coverage
    return env


def _pages(pub: Publication, lang: Language) -> dict[str, str]:
    """Every page of the site in one language, by its path under the language's folder."""
    t = Texts(pub, lang)
    env = _environment(lang)
    countries = sorted(set(pub.indicators["ref_area"]) - {POOLED})
    sheets = [_country_sheet(t, c) for c in countries]
    indicators = sorted(set(pub.indicators["indicator"]))
    factories = _factories(t)
    prefix = "" if lang.code == SOURCE else f"{lang.code}/"
    common = {
        "lang": lang.code,
        "version": pub.version,
        "published_on": lang.date(pub.check["published_on"]) if pub.check.get("published_on") else "",
        "countries": [{"code": s["code"], "name": s["name"]} for s in sheets],
        "pooled_name": t.label("REF_AREA", POOLED),
        "statuses": {code: (lang.gettext(label), lang.gettext(d)) for code, (label, d) in pub.statuses.items()},
        "sex_labels": {code: lang.gettext(label) for code, label in SEX_LABELS.items()},
    }
    pages: dict[str, str] = {}

    def render(path: str, template: str, **context) -> None:
        site_root = "../" * (prefix + path).count("/")
        switch = [
            (code, LANGUAGE_NAMES[code], site_root + ("" if code == SOURCE else f"{code}/") + path)
            for code in LANGUAGES
            if code != lang.code
        ]
        pages[path] = env.get_template(template).render(
            root="../" * path.count("/"), site_root=site_root, path=path, switch=switch, **common, **context
        )

    render("index.html", "index.html", sheets=sheets, years=sorted(set(pub.indicators["time"])))
    for sheet in sheets:
        render(f"country/{sheet['code']}.html", "country.html", sheet=sheet)
    comparisons = [_comparison(t, code) for code in indicators]
    for comparison in comparisons:
        render(f"compare/{comparison['code']}.html", "compare.html", comparison=comparison)
    issues = sorted({code for f in factories for code in f["issues"]})
    render(
        "factories/index.html",
        "factories.html",
        factories=factories,
        issues=[(code, t.label("CLASSIF1", code)) for code in issues],
        low_compliance=_low_compliance(t, {f["slug"] for f in factories}),
    )
    for factory in factories:
        render(f"factories/{factory['slug']}.html", "factory.html", factory=factory)
    explorer_rows = [
        {k: r[k] for k in (*KEY, "obs_value", "obs_status", "unit", "n_workers", "n_factories")}
        for r in pub.indicators.iter_rows(named=True)
    ]
    render(
        "explorer.html",
        "explorer.html",
        rows=explorer_rows,
        indicator_labels={c: t.label("INDICATOR", c) for c in indicators},
        breakdowns=[(c, t.label("CLASSIF1", c)) for c in sorted(set(pub.indicators["classif1"]) - {"_Z"})],
        years=sorted(set(pub.indicators["time"])),
    )
    disclosure = pub.check.get("disclosure", {})
    render(
        "quality.html",
        "quality.html",
        check=pub.check,
        disclosure=disclosure,
        audit=disclosure.get("audit", {}),
    )
    render(
        "methods.html",
        "methods.html",
        indicators=[(c, t.label("INDICATOR", c), t.definition(c)) for c in indicators],
        comparisons=comparisons,
    )
    return {prefix + path: html for path, html in pages.items()}


def build(marts: Path, out: Path | None = None) -> dict:
    """Write the site of the publication in `marts` to `out` (default: `marts/site`), replacing it whole: English
    at the top, French under fr/. Returns {"pages": n, "largest_page_bytes": b, "untranslated": [...], "folder"}."""
    marts = Path(marts)
    out = Path(out) if out is not None else marts / SITE_DIR
    pub = read_publication(marts)
    pages: dict[str, str] = {}
    untranslated: set[str] = set()
    for code in LANGUAGES:
        lang = Language(code)
        pages |= _pages(pub, lang)
        untranslated |= lang.missing

    tmp = out.with_name(f".{out.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    for path, html in pages.items():
        target = tmp / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    return {
        "pages": len(pages),
        "largest_page_bytes": max(len(h.encode("utf-8")) for h in pages.values()),
        "untranslated": sorted(untranslated),
        "folder": str(out),
    }
