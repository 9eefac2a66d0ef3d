"""The long indicator table as SDMX-CSV 2.0 data with an SDMX-ML 3.0 structure: both SDMX 3.0.

Data (`write_sdmx_csv`): one row per observation, keyed by REF_AREA, INDICATOR, SEX, CLASSIF1 and
TIME_PERIOD (ILOSTAT's order); OBS_VALUE is the measure; OBS_STATUS, UNIT_MEASURE, N_WORKERS and
N_FACTORIES are attributes attached to the observation.

Missing values follow the SDMX-CSV field guide (github.com/sdmx-twg/sdmx-csv, data-message/docs/
sdmx-csv-field-guide.md, "Intentionally missing values"): an intentionally missing value of a
float/double component is written `NaN` (`#N/A` for other types). The guide states this since
SDMX-CSV 2.1 (issue #27); the 2.0.0 text is silent, and `NaN` is what the SDMX-ML 2.0 spec already
prescribed for missing observation values and what xs:double spells "not a number". So a suppressed
(C) or not-applicable (M) observation is `OBS_VALUE=NaN` plus its OBS_STATUS, never an empty cell
(which sdmx1 has to parse as a number and cannot). An absent attribute (no status on a normal
observation, an unknown count) is an empty cell, which the guide defines as "omitted"; with ACTION
`R` (replace: "existing observations are to be fully replaced") an omitted attribute means the
observation has none, not "keep whatever was there before" as under `I` (information, loaded as
append).

Structure (`write_structure`): dataflow, data structure, concept scheme and code lists written as
SDMX-ML 3.0 with lxml (sdmx1 writes only SDMX-ML 2.1, but reads 3.0, and its SDMX-CSV reader is
for 2.x, i.e. SDMX 3.0, only). Code lists come from the full reference code table, never from the
exported rows, so every export (whatever its filter) carries the same structure, byte for byte
(codes sorted; the header's Prepared is PREPARED, the date of VERSION, not the time of writing).
All artefacts share VERSION (semantic, as SDMX 3.0 wants); bump it whenever
`codelists_digest(codes)` changes. The digest is written as an annotation (CODELISTS_SHA256) on the
dataflow, so a code list changed under an unchanged version can be spotted.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import polars as pl
from lxml import etree

AGENCY = "BW"
AGENCY_NAME = "Better Work (ILO and IFC)"
DATAFLOW = "DF_DECENT_WORK"
DSD = "DSD_DECENT_WORK"
CONCEPTS = "CS_DECENT_WORK"
VERSION = "1.1.0"
PREPARED = "2026-12-01T00:00:00Z"  # when VERSION was prepared: fixed, so the structure file is deterministic
STRUCTURE_ID = f"{AGENCY}:{DATAFLOW}({VERSION})"
# the code lists VERSION was released with (codelists_digest of schemas/codes.py's table): a change to the reference
# lists changes it, and tests/test_sdmx.py then asks for a new VERSION and this digest
RELEASED_CODELISTS = "596931e46f98e0984c924f26a84d72c61b3dd9d1c83faa8a3dafef37a4b96ec2"
ACTION = "R"

# SDMX component <- column of the indicators table; dimensions in key order
DIMENSIONS = {
    "REF_AREA": "ref_area",
    "INDICATOR": "indicator",
    "SEX": "sex",
    "CLASSIF1": "classif1",
    "TIME_PERIOD": "time",
}
MEASURE = {"OBS_VALUE": "obs_value"}
ATTRIBUTES = {
    "OBS_STATUS": "obs_status",
    "UNIT_MEASURE": "unit",
    "N_WORKERS": "n_workers",
    "N_FACTORIES": "n_factories",
}
CODELISTS = {
    "REF_AREA": ("CL_AREA", "Reference area"),
    "INDICATOR": ("CL_INDICATOR", "Indicator"),
    "SEX": ("CL_SEX", "Sex"),
    "CLASSIF1": ("CL_CLASSIF1", "Classification"),
    "OBS_STATUS": ("CL_OBS_STATUS", "Observation status"),
    "UNIT_MEASURE": ("CL_UNIT", "Unit of measure"),
}
TEXT_TYPES = {
    "TIME_PERIOD": "ObservationalTimePeriod",
    "OBS_VALUE": "Double",
    "N_WORKERS": "Integer",
    "N_FACTORIES": "Integer",
}
CONCEPT_NAMES = {
    "REF_AREA": "Reference area",
    "INDICATOR": "Indicator",
    "SEX": "Sex",
    "CLASSIF1": "Classification",
    "TIME_PERIOD": "Time period",
    "OBS_VALUE": "Observation value",
    "OBS_STATUS": "Observation status",
    "UNIT_MEASURE": "Unit of measure",
    "N_WORKERS": "Number of workers behind the value",
    "N_FACTORIES": "Number of factories behind the value",
}
HEADER = ["STRUCTURE", "STRUCTURE_ID", "ACTION", *DIMENSIONS, *MEASURE, *ATTRIBUTES]

NS = {
    p: f"http://www.sdmx.org/resources/sdmxml/schemas/v3_0/{s}"
    for p, s in [("mes", "message"), ("str", "structure"), ("com", "common")]
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SDMX_ID = re.compile(r"[A-Za-z0-9_@$\-]+")


def check_codes(indicators: pl.DataFrame, codes: pl.DataFrame) -> None:
    """Raise ValueError naming each coded component whose values in `indicators` are not in `codes`."""
    unknown = {}
    for component, column in {**DIMENSIONS, **ATTRIBUTES}.items():
        if component in CODELISTS:
            known = set(codes.filter(pl.col("dimension") == component)["code"].to_list())
            if bad := sorted(set(indicators[column].drop_nulls().to_list()) - known):
                unknown[component] = bad
    if unknown:
        raise ValueError(
            "codes absent from the code lists: " + "; ".join(f"{c}: {', '.join(v)}" for c, v in unknown.items())
        )


def sdmx_frame(indicators: pl.DataFrame) -> pl.DataFrame:
    """The indicators as SDMX-CSV 2.0 columns, text throughout, in key order."""
    columns = {**DIMENSIONS, **MEASURE, **ATTRIBUTES}
    if missing := [c for c in columns.values() if c not in indicators.columns]:
        raise ValueError(f"the indicators table lacks {missing}: cannot write SDMX-CSV")
    if indicators["obs_value"].cast(pl.Float64).is_infinite().any():
        raise ValueError("infinite obs_value: SDMX has no text for it")
    value = pl.col("obs_value").cast(pl.Float64).cast(pl.String)  # shortest text that reads back to the same double
    return indicators.sort(list(DIMENSIONS.values())).select(
        pl.lit("dataflow").alias("STRUCTURE"),
        pl.lit(STRUCTURE_ID).alias("STRUCTURE_ID"),
        pl.lit(ACTION).alias("ACTION"),
        *[pl.col(column).cast(pl.String).alias(name) for name, column in DIMENSIONS.items()],
        value.fill_null("NaN").alias("OBS_VALUE"),  # intentionally missing (its status says why)
        *[pl.col(column).cast(pl.String).alias(name) for name, column in ATTRIBUTES.items()],  # null: omitted
    )


def write_sdmx_csv(indicators: pl.DataFrame, path: Path) -> None:
    """Write the indicators as SDMX-CSV 2.0 (`NaN` for a missing value, empty for an absent attribute)."""
    sdmx_frame(indicators).write_csv(Path(path), null_value="")


def _codelists(codes: pl.DataFrame) -> dict[str, list[tuple[str, str, str | None]]]:
    """Component -> sorted (code, label, definition), checked: every list present, ids valid, labels given,
    no duplicates."""
    if unknown := set(codes["dimension"].unique().to_list()) - set(CODELISTS):
        raise ValueError(f"codes for unknown dimensions {sorted(map(str, unknown))}")
    result = {}
    for component in CODELISTS:
        rows = codes.filter(pl.col("dimension") == component).sort("code")
        ids = rows["code"].to_list()
        if not ids:
            raise ValueError(f"no codes for {component}")
        if bad := [c for c in ids if c is None or not SDMX_ID.fullmatch(c)] + [c for c in set(ids) if ids.count(c) > 1]:
            raise ValueError(f"{component}: invalid or duplicate codes {bad}")
        if rows["label"].is_null().any() or (rows["label"].str.strip_chars() == "").any():
            raise ValueError(f"{component}: codes without a label")
        result[component] = list(zip(ids, rows["label"].to_list(), rows["definition"].to_list(), strict=True))
    return result


def codelists_digest(codes: pl.DataFrame) -> str:
    """SHA-256 of the code lists `codes` gives (ids, labels, definitions): a new digest needs a new VERSION."""
    return hashlib.sha256(json.dumps(_codelists(codes), sort_keys=True).encode()).hexdigest()


def _urn(kind: str, id: str, item: str | None = None) -> str:
    return f"urn:sdmx:org.sdmx.infomodel.{kind}={AGENCY}:{id}({VERSION})" + (f".{item}" if item else "")


def _el(parent, tag: str, text: str | None = None, **attrib):
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", {k: v for k, v in attrib.items() if v is not None})
    element.text = text
    return element


def _names(parent, name: str, description: str | None = None) -> None:
    _el(parent, "com:Name", name, **{XML_LANG: "en"})
    if description:
        _el(parent, "com:Description", description, **{XML_LANG: "en"})


def _maintainable(parent, tag: str, kind: str, id: str, name: str, annotation: tuple[str, str] | None = None):
    element = _el(parent, tag, urn=_urn(kind, id), agencyID=AGENCY, id=id, version=VERSION)
    if annotation:  # (type, title); annotations precede names
        note = _el(_el(element, "com:Annotations"), "com:Annotation", id=annotation[0])
        _el(note, "com:AnnotationTitle", annotation[1])
        _el(note, "com:AnnotationType", annotation[0])
    _names(element, name)
    return element


def _component(parent, tag: str, kind: str, id: str, **attrib):
    """A DSD component: its concept, and its code list or text type."""
    element = _el(parent, tag, id=id, urn=_urn(f"datastructure.{kind}", DSD, id), **attrib)
    _el(element, "str:ConceptIdentity", _urn("conceptscheme.Concept", CONCEPTS, id))
    representation = _el(element, "str:LocalRepresentation")
    if id in CODELISTS:
        _el(representation, "str:Enumeration", _urn("codelist.Codelist", CODELISTS[id][0]))
    else:
        _el(representation, "str:TextFormat", textType=TEXT_TYPES[id])
    return element


def build_structure(codes: pl.DataFrame) -> etree._Element:
    """The SDMX-ML 3.0 structure message: code lists, concept scheme, data structure, dataflow."""
    codelists = _codelists(codes)
    root = etree.Element(f"{{{NS['mes']}}}Structure", nsmap=NS)
    header = _el(root, "mes:Header")
    _el(header, "mes:ID", f"{DATAFLOW}_STRUCTURE_{VERSION.replace('.', '_')}")
    _el(header, "mes:Test", "false")
    _el(header, "mes:Prepared", PREPARED)
    _names(_el(header, "mes:Sender", id=AGENCY), AGENCY_NAME)
    structures = _el(root, "mes:Structures")

    section = _el(structures, "str:Codelists")
    for component, (cl_id, cl_name) in CODELISTS.items():
        codelist = _maintainable(section, "str:Codelist", "codelist.Codelist", cl_id, cl_name)
        for code, label, definition in codelists[component]:
            _names(_el(codelist, "str:Code", id=code, urn=_urn("codelist.Code", cl_id, code)), label, definition)

    section = _el(structures, "str:ConceptSchemes")
    scheme = _maintainable(
        section, "str:ConceptScheme", "conceptscheme.ConceptScheme", CONCEPTS, "Decent-work indicator concepts"
    )
    for concept, name in CONCEPT_NAMES.items():
        _names(_el(scheme, "str:Concept", id=concept, urn=_urn("conceptscheme.Concept", CONCEPTS, concept)), name)

    section = _el(structures, "str:DataStructures")
    dsd = _maintainable(
        section, "str:DataStructure", "datastructure.DataStructure", DSD, "Decent-work indicators by sex"
    )
    components = _el(dsd, "str:DataStructureComponents")
    descriptor = {
        name: _el(
            components,
            f"str:{name}List",
            id=f"{name}Descriptor",
            urn=_urn(f"datastructure.{name}Descriptor", DSD, f"{name}Descriptor"),
        )
        for name in ["Dimension", "Attribute", "Measure"]
    }  # the order SDMX-ML 3.0 wants
    for position, id in enumerate(DIMENSIONS, start=1):
        if id == "TIME_PERIOD":
            _component(descriptor["Dimension"], "str:TimeDimension", "TimeDimension", id)
        else:
            _component(descriptor["Dimension"], "str:Dimension", "Dimension", id, position=str(position))
    for id in ATTRIBUTES:
        attribute = _component(descriptor["Attribute"], "str:Attribute", "DataAttribute", id, usage="optional")
        _el(_el(attribute, "str:AttributeRelationship"), "str:Observation")
    _component(descriptor["Measure"], "str:Measure", "Measure", "OBS_VALUE")

    section = _el(structures, "str:Dataflows")
    annotation = ("CODELISTS_SHA256", codelists_digest(codes))
    dataflow = _maintainable(
        section, "str:Dataflow", "datastructure.Dataflow", DATAFLOW, "Better Work decent-work indicators", annotation
    )
    _el(dataflow, "str:Structure", _urn("datastructure.DataStructure", DSD))
    return root


def write_structure(path: Path, codes: pl.DataFrame) -> None:
    """Write the SDMX-ML 3.0 structure message that `write_sdmx_csv`'s files conform to."""
    Path(path).write_bytes(
        etree.tostring(build_structure(codes), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )


def read_sdmx_csv(data: Path, structure: Path) -> pl.DataFrame:
    """Read an SDMX-CSV file with sdmx1 against its structure file: one row per observation, as text.

    An empty cell (an omitted attribute) comes back as null; a missing value as the text `NaN`.
    """
    import sdmx

    dataflow = sdmx.read_sdmx(structure).dataflow[DATAFLOW]
    message = sdmx.read_sdmx(data, structure=dataflow)
    rows = [
        {
            **{k: v.value for k, v in obs.dimension.values.items()},
            "OBS_VALUE": obs.value,
            **{k: v.value or None for k, v in obs.attached_attribute.items()},
        }
        for dataset in message.data
        for obs in dataset.obs
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys([*DIMENSIONS, *MEASURE, *ATTRIBUTES], pl.String))
