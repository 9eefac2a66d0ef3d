"""The long indicator table as SDMX-CSV 2.0, with its structure (SDMX-ML 2.1) for ILO units.

One observation per indicator cell, keyed by the dimensions REF_AREA, INDICATOR, SEX, CLASSIF1 and
TIME_PERIOD (ILOSTAT's order); OBS_VALUE is the value, empty for a confidential cell, whose status
OBS_STATUS = C says why; UNIT_MEASURE, N_WORKERS and N_FACTORIES are observation attributes. The
structure file (dataflow BW:DF_DECENT_WORK(1.0), its data structure, concept scheme and code lists)
is built with sdmx1's information model, so a standard SDMX reader can load the CSV against it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

AGENCY = "BW"
DATAFLOW = "DF_DECENT_WORK"
DSD = "DSD_DECENT_WORK"
VERSION = "1.0"
STRUCTURE_ID = f"{AGENCY}:{DATAFLOW}({VERSION})"

# SDMX component <- column of the indicators table; dimensions in key order
DIMENSIONS = {"REF_AREA": "ref_area", "INDICATOR": "indicator", "SEX": "sex", "CLASSIF1": "classif1", "TIME_PERIOD": "time"}
MEASURE = {"OBS_VALUE": "obs_value"}
ATTRIBUTES = {"OBS_STATUS": "obs_status", "UNIT_MEASURE": "unit", "N_WORKERS": "n_workers", "N_FACTORIES": "n_factories"}
CODED = {"REF_AREA": "CL_AREA", "INDICATOR": "CL_INDICATOR", "SEX": "CL_SEX", "CLASSIF1": "CL_CLASSIF1",
         "OBS_STATUS": "CL_OBS_STATUS", "UNIT_MEASURE": "CL_UNIT"}
HEADER = ["STRUCTURE", "STRUCTURE_ID", "ACTION", *DIMENSIONS, *MEASURE, *ATTRIBUTES]


def sdmx_frame(indicators: pl.DataFrame) -> pl.DataFrame:
    """The indicators as SDMX-CSV 2.0 columns, text throughout, in key order."""
    columns = {**DIMENSIONS, **MEASURE, **ATTRIBUTES}
    missing = [c for c in columns.values() if c not in indicators.columns]
    if missing:
        raise ValueError(f"the indicators table lacks {missing}: cannot write SDMX-CSV")
    return (
        indicators.sort(list(DIMENSIONS.values()))
        .select(
            pl.lit("dataflow").alias("STRUCTURE"),
            pl.lit(STRUCTURE_ID).alias("STRUCTURE_ID"),
            pl.lit("I").alias("ACTION"),
            # floats as the shortest text that reads back to the same double
            *[pl.col(column).cast(pl.String).alias(name) for name, column in columns.items()],
        )
        .select(HEADER)
    )


def write_sdmx_csv(indicators: pl.DataFrame, path: Path) -> None:
    """Write the indicators as SDMX-CSV 2.0 (empty fields for absent values)."""
    sdmx_frame(indicators).write_csv(Path(path), null_value="")


def build_structure(indicators: pl.DataFrame):
    """The dataflow with its data structure definition, concept scheme and code lists (codes from the data)."""
    from sdmx.message import Header, StructureMessage
    from sdmx.model import common, v21

    agency = common.Agency(id=AGENCY, name="Better Work (ILO and IFC)")
    maintained = dict(maintainer=agency, version=VERSION, is_final=True)
    concepts = common.ConceptScheme(id="CS_DECENT_WORK", name="Decent-work indicator concepts", **maintained)
    message = StructureMessage(header=Header(id=f"{DATAFLOW}_STRUCTURE", sender=agency))  # Prepared: the time of writing

    def concept(component: str):
        item = common.Concept(id=component, name=component)
        concepts.append(item)
        return item

    def representation(component: str, column: str):
        if component not in CODED:
            return None
        codelist = common.Codelist(id=CODED[component], name=CODED[component], **maintained)
        for code in sorted(indicators[column].drop_nulls().cast(pl.String).unique().to_list()):
            codelist.append(common.Code(id=code, name=code))
        message.add(codelist)
        return common.Representation(enumerated=codelist)

    dsd = v21.DataStructureDefinition(id=DSD, name="Decent-work indicators by sex", **maintained)
    for order, (component, column) in enumerate(DIMENSIONS.items()):
        kind = v21.TimeDimension if component == "TIME_PERIOD" else v21.Dimension
        dsd.dimensions.append(kind(id=component, concept_identity=concept(component), local_representation=representation(component, column), order=order))
    dsd.measures.append(v21.PrimaryMeasure(id="OBS_VALUE", concept_identity=concept("OBS_VALUE")))
    for component, column in ATTRIBUTES.items():
        dsd.attributes.append(
            v21.DataAttribute(
                id=component, concept_identity=concept(component), local_representation=representation(component, column),
                related_to=v21.PrimaryMeasureRelationship(), usage_status=v21.UsageStatus.conditional,
            )
        )
    dataflow = v21.DataflowDefinition(id=DATAFLOW, name="Better Work decent-work indicators", structure=dsd, **maintained)
    message.add(concepts)
    message.add(dsd)
    message.add(dataflow)
    return message


def write_structure(path: Path, indicators: pl.DataFrame) -> None:
    """Write the structure message (SDMX-ML 2.1) that `write_sdmx_csv`'s file conforms to."""
    import sdmx

    Path(path).write_bytes(sdmx.to_xml(build_structure(indicators), pretty_print=True))


def read_sdmx_csv(data: Path, structure: Path) -> pl.DataFrame:
    """Read an SDMX-CSV file with sdmx1 against its structure file: one row per observation, as text."""
    import sdmx

    dataflow = sdmx.read_sdmx(structure).dataflow[DATAFLOW]
    message = sdmx.read_sdmx(data, structure=dataflow)
    rows = [
        {
            **{k: v.value for k, v in obs.dimension.values.items()},
            "OBS_VALUE": obs.value,
            **{k: v.value for k, v in obs.attached_attribute.items()},
        }
        for dataset in message.data
        for obs in dataset.obs
    ]
    return pl.DataFrame(rows, schema={c: pl.String for c in [*DIMENSIONS, *MEASURE, *ATTRIBUTES]})
