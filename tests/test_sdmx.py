"""SDMX export (assets/sdmx.py): sdmx1, a standard SDMX reader, loads back into pandas what was written."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import polars as pl
import pytest
import sdmx
from lxml import etree
from sdmx.model import common

from assets.sdmx import VERSION, check_codes, codelists_digest, read_sdmx_csv, write_sdmx_csv, write_structure

CODES = [  # dimension, code, label, definition
    ("REF_AREA", "KHM", "Cambodia", None),
    ("REF_AREA", "VNM", "Viet Nam", None),
    ("REF_AREA", "BGD", "Bangladesh", None),
    ("REF_AREA", "X_BW", "Better Work countries", "All countries with a Better Work programme"),
    ("INDICATOR", "EAR_MEAN_HOURLY", "Mean hourly earnings", "Average gross hourly earnings of employees"),
    ("INDICATOR", "GPG_MEAN_HOURLY", "Gender pay gap, mean hourly earnings", None),
    ("INDICATOR", "NC_CLUSTER_RT", "Non-compliance rate by cluster", None),
    ("INDICATOR", "FEMALE_SHARE_WORKFORCE", "Share of women in the workforce", None),
    ("INDICATOR", "HOURS_WEEKLY", "Weekly hours worked", None),
    ("INDICATOR", "PAY_RATIO", "Pay ratio", None),
    ("SEX", "SEX_T", "Total", None),
    ("SEX", "SEX_F", "Female", None),
    ("SEX", "SEX_M", "Male", None),
    ("CLASSIF1", "_Z", "Not applicable", None),
    ("CLASSIF1", "CUR_TYPE_USD", "Currency: U.S. dollars", None),
    ("CLASSIF1", "CUR_TYPE_LCU", "Currency: local currency", None),
    ("CLASSIF1", "OCU_SEWING", "Occupation: sewing machine operators", None),
    ("CLASSIF1", "CLU_OSH", "Cluster: occupational safety and health", None),
    ("CLASSIF1", "YIP_0", "Years in programme: 0", "Factories in their first year"),
    ("OBS_STATUS", "C", "Confidential", "Suppressed: too few workers or factories"),
    ("OBS_STATUS", "U", "Unreliable", None),
    ("OBS_STATUS", "M", "Not applicable", None),
    ("OBS_STATUS", "P", "Provisional", None),
    ("UNIT_MEASURE", "PCT", "Percent", None),
    ("UNIT_MEASURE", "LCU", "Local currency units", None),
    ("UNIT_MEASURE", "USD", "U.S. dollars", None),
    ("UNIT_MEASURE", "PPP_USD", "U.S. dollars at purchasing power parity", None),
    ("UNIT_MEASURE", "HOURS", "Hours", None),
    ("UNIT_MEASURE", "RATIO", "Ratio", None),
]
CODELIST_OF = {
    "REF_AREA": "CL_AREA",
    "INDICATOR": "CL_INDICATOR",
    "SEX": "CL_SEX",
    "CLASSIF1": "CL_CLASSIF1",
    "OBS_STATUS": "CL_OBS_STATUS",
    "UNIT_MEASURE": "CL_UNIT",
}
ROWS = [  # ref_area, indicator, sex, classif1, time, obs_value, obs_status, unit, n_workers, n_factories
    ("KHM", "EAR_MEAN_HOURLY", "SEX_F", "CUR_TYPE_USD", 2025, 1.2345678901234567, None, "USD", 812, 14),
    ("KHM", "EAR_MEAN_HOURLY", "SEX_M", "CUR_TYPE_USD", 2025, 1.3, "U", "USD", 25, 9),
    ("KHM", "GPG_MEAN_HOURLY", "SEX_T", "_Z", 2025, -3.0000000000000004, None, "PCT", 837, 14),
    ("KHM", "EAR_MEAN_HOURLY", "SEX_T", "CUR_TYPE_LCU", 2025, 5123.5, "P", "LCU", 837, 14),
    ("VNM", "NC_CLUSTER_RT", "SEX_T", "CLU_OSH", 2024, None, "C", "PCT", None, 2),
    ("VNM", "GPG_MEAN_HOURLY", "SEX_F", "_Z", 2024, None, "M", "PCT", 400, 7),
    ("VNM", "HOURS_WEEKLY", "SEX_T", "_Z", 2024, 52.0, None, "HOURS", 3000, 20),
    ("X_BW", "FEMALE_SHARE_WORKFORCE", "SEX_T", "_Z", 2025, 78.25, None, "PCT", 12000, 60),
    ("X_BW", "EAR_MEAN_HOURLY", "SEX_F", "OCU_SEWING", 2025, 1e-7, None, "PPP_USD", 40, 3),
    ("X_BW", "PAY_RATIO", "SEX_T", "_Z", 2025, 0.1 + 0.2, None, "RATIO", 12000, 60),
]
COLUMNS = [
    "ref_area",
    "indicator",
    "sex",
    "classif1",
    "time",
    "obs_value",
    "obs_status",
    "unit",
    "n_workers",
    "n_factories",
]
NS_MESSAGE_30 = "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/message"


def codes(rows=CODES) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["dimension", "code", "label", "definition"], orient="row")


def indicators(rows=ROWS) -> pl.DataFrame:
    schema = dict(
        zip(COLUMNS, [pl.String] * 4 + [pl.Int32, pl.Float64, pl.String, pl.String, pl.Int64, pl.Int64], strict=True)
    )
    return pl.DataFrame(rows, schema=schema, orient="row")


def export(frame: pl.DataFrame, folder: Path) -> tuple[Path, Path]:
    """What a caller does: check the codes, write the data and the structure."""
    folder.mkdir(exist_ok=True)
    check_codes(frame, codes())
    write_sdmx_csv(frame, folder / "data.csv")
    write_structure(folder / "structure.xml", codes())
    return folder / "data.csv", folder / "structure.xml"


def test_every_observation_round_trips_through_sdmx1_into_pandas(tmp_path: Path) -> None:
    data, structure = export(indicators(), tmp_path)
    dataflow = sdmx.read_sdmx(structure).dataflow["DF_DECENT_WORK"]
    message = sdmx.read_sdmx(data, structure=dataflow)
    table = sdmx.to_pandas(message, attributes="o").reset_index()  # failed before: float('') on suppressed cells
    assert len(table) == len(ROWS)
    got = {
        (r["REF_AREA"], r["INDICATOR"], r["SEX"], r["CLASSIF1"], r["TIME_PERIOD"]): r for r in table.to_dict("records")
    }
    for area, indicator, sex, classif1, time, value, status, unit, workers, factories in ROWS:
        obs = got[(area, indicator, sex, classif1, str(time))]
        if value is None:
            assert math.isnan(obs["value"]) and status in ("C", "M")
        else:
            assert obs["value"] == value  # exact: the text reads back to the same double
        # sdmx1 reports an attribute without a value as "" (its NO_VALUE), a status as its code
        assert obs["OBS_STATUS"] == (status or "")
        assert obs["UNIT_MEASURE"] == unit
        assert obs["N_WORKERS"] == ("" if workers is None else str(workers))
        assert int(obs["N_FACTORIES"]) == factories
    assert {r["OBS_STATUS"] for r in got.values()} == {"", "C", "U", "M", "P"}


def test_read_sdmx_csv_gives_text_with_null_for_absent_attributes(tmp_path: Path) -> None:
    back = read_sdmx_csv(*export(indicators(), tmp_path))
    confidential = back.filter(pl.col("REF_AREA") == "VNM", pl.col("INDICATOR") == "NC_CLUSTER_RT").row(0, named=True)
    assert (confidential["OBS_VALUE"], confidential["OBS_STATUS"], confidential["N_WORKERS"]) == ("NaN", "C", None)
    normal = back.filter(pl.col("REF_AREA") == "X_BW", pl.col("INDICATOR") == "PAY_RATIO").row(0, named=True)
    assert (normal["OBS_VALUE"], normal["OBS_STATUS"]) == ("0.30000000000000004", None)


def test_csv_is_sdmx_csv_2_with_nan_for_missing_values_and_no_status_on_normal_ones(tmp_path: Path) -> None:
    data, _ = export(indicators(), tmp_path)
    with data.open(newline="", encoding="utf-8") as f:
        header, *lines = list(csv.reader(f))
    assert header == [
        "STRUCTURE",
        "STRUCTURE_ID",
        "ACTION",
        "REF_AREA",
        "INDICATOR",
        "SEX",
        "CLASSIF1",
        "TIME_PERIOD",
        "OBS_VALUE",
        "OBS_STATUS",
        "UNIT_MEASURE",
        "N_WORKERS",
        "N_FACTORIES",
    ]
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    assert {tuple(line[:3]) for line in lines} == {("dataflow", f"BW:DF_DECENT_WORK({VERSION})", "R")}
    cells = {(line[3], line[4], line[5], line[6]): dict(zip(header, line, strict=True)) for line in lines}
    for area, indicator, sex, classif1, _, value, status, *_ in ROWS:
        row = cells[(area, indicator, sex, classif1)]
        assert row["OBS_STATUS"] == (status or "")  # a normal observation: the field is empty, no code at all
        assert row["OBS_VALUE"] == ("NaN" if value is None else row["OBS_VALUE"])
        assert row["OBS_VALUE"] != ""


def test_structure_is_sdmx_ml_3_read_by_sdmx1_with_named_full_code_lists(tmp_path: Path) -> None:
    _, structure = export(indicators(ROWS[:2]), tmp_path)  # an export of two KHM rows
    assert etree.parse(str(structure)).getroot().tag == f"{{{NS_MESSAGE_30}}}Structure"
    message = sdmx.read_sdmx(structure)
    dataflow = message.dataflow["DF_DECENT_WORK"]
    assert (dataflow.maintainer.id, str(dataflow.version)) == ("BW", VERSION)
    assert dataflow.urn == f"urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=BW:DF_DECENT_WORK({VERSION})"
    dsd = dataflow.structure
    assert dsd.id == "DSD_DECENT_WORK"
    assert [d.id for d in dsd.dimensions.components] == ["REF_AREA", "INDICATOR", "SEX", "CLASSIF1", "TIME_PERIOD"]
    assert isinstance(dsd.dimensions.get("TIME_PERIOD"), common.TimeDimension)
    assert [m.id for m in dsd.measures.components] == ["OBS_VALUE"]
    assert (
        dsd.measures.get("OBS_VALUE").local_representation.non_enumerated[0].value_type == common.FacetValueType.double
    )
    assert [a.id for a in dsd.attributes.components] == ["OBS_STATUS", "UNIT_MEASURE", "N_WORKERS", "N_FACTORIES"]
    for attribute in dsd.attributes.components:
        assert type(attribute.related_to).__name__ == "ObservationRelationship", attribute.id
    for count in "N_WORKERS", "N_FACTORIES":
        assert (
            dsd.attributes.get(count).local_representation.non_enumerated[0].value_type == common.FacetValueType.integer
        )
    concepts = message.concept_scheme["CS_DECENT_WORK"]
    assert str(concepts["OBS_STATUS"].name) == "Observation status"
    for component in [*dsd.dimensions.components, *dsd.measures.components, *dsd.attributes.components]:
        assert component.concept_identity.id == component.id and str(component.concept_identity.name) != component.id
    for dimension, codelist_id in CODELIST_OF.items():
        codelist = message.codelist[codelist_id]
        component = (
            dsd.attributes.get(dimension)
            if dimension in ("OBS_STATUS", "UNIT_MEASURE")
            else dsd.dimensions.get(dimension)
        )
        enumerated = component.local_representation.enumerated
        assert enumerated is codelist and str(codelist.version) == VERSION
        expected = {code: (label, definition) for d, code, label, definition in CODES if d == dimension}
        assert {c.id for c in codelist} == set(expected), codelist_id  # full, not just the exported rows' codes
        for code in codelist:
            assert str(code.name) == expected[code.id][0] != code.id
            assert str(code.description) == (expected[code.id][1] or "")
    assert {"VNM", "BGD", "X_BW"} <= {c.id for c in message.codelist["CL_AREA"]}
    assert "P" in message.codelist["CL_OBS_STATUS"] and "RATIO" in message.codelist["CL_UNIT"]


def test_structure_is_identical_whatever_the_export_filter(tmp_path: Path) -> None:
    frame = indicators()
    exports = {
        "all": frame,
        "khm": frame.filter(pl.col("ref_area") == "KHM"),
        "vnm_women": frame.filter(pl.col("ref_area") == "VNM", pl.col("sex") == "SEX_F"),
        "empty": frame.filter(pl.col("ref_area") == "nowhere"),
    }
    structures = {name: export(rows, tmp_path / name)[1].read_bytes() for name, rows in exports.items()}
    assert len(set(structures.values())) == 1
    write_structure(tmp_path / "shuffled.xml", codes(CODES[::-1]))  # the code table's row order does not matter
    assert (tmp_path / "shuffled.xml").read_bytes() == structures["all"]
    assert b"<mes:Prepared>" in structures["all"]  # a fixed one, not the time of writing
    # the empty export still carries every code, and reads back as no observations
    message = sdmx.read_sdmx(tmp_path / "empty" / "structure.xml")
    assert len(message.codelist["CL_AREA"]) == 4
    empty = sdmx.read_sdmx(tmp_path / "empty" / "data.csv", structure=message.dataflow["DF_DECENT_WORK"])
    assert sum(len(ds.obs) for ds in empty.data) == 0


def test_codelists_digest_tracks_the_code_lists_only(tmp_path: Path) -> None:
    digest = codelists_digest(codes())
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert codelists_digest(codes(CODES[::-1])) == digest
    relabelled = [
        (d, c, "Kingdom of Cambodia" if c == "KHM" else label, definition) for d, c, label, definition in CODES
    ]
    assert codelists_digest(codes(relabelled)) != digest
    assert codelists_digest(codes([*CODES, ("SEX", "SEX_O", "Other", None)])) != digest
    write_structure(tmp_path / "structure.xml", codes())
    annotation = sdmx.read_sdmx(tmp_path / "structure.xml").dataflow["DF_DECENT_WORK"].annotations[0]
    assert (annotation.id, annotation.title) == ("CODELISTS_SHA256", digest)


def test_check_codes_rejects_unknown_codes_naming_them() -> None:
    check_codes(indicators(), codes())  # all known: no error
    rows = [*ROWS, ("KHM", "EAR_MEAN_HOURLY", "SEX_F", "ECO_XYZ", 2025, 1.0, "Q", "USD", 5, 1)]
    with pytest.raises(ValueError, match="CLASSIF1: ECO_XYZ") as error:
        check_codes(indicators(rows), codes())
    assert "OBS_STATUS: Q" in str(error.value) and "REF_AREA" not in str(error.value)


@pytest.mark.parametrize(
    "broken",
    [
        [r for r in CODES if r[0] != "SEX"],  # a whole code list missing
        [*CODES, ("SEX", "SEX_F", "Women", None)],  # duplicate code
        [(d, c, None if c == "KHM" else label, x) for d, c, label, x in CODES],  # no label
        [*CODES, ("AGE", "AGE_Y15-24", "15-24", None)],  # not a dimension of this structure
    ],
)
def test_write_structure_rejects_an_incomplete_code_table(tmp_path: Path, broken) -> None:
    with pytest.raises(ValueError):
        write_structure(tmp_path / "structure.xml", codes(broken))
    assert not (tmp_path / "structure.xml").exists()


def test_the_published_code_lists_are_those_the_version_was_released_with() -> None:
    """Same identity, same lists: a change to the reference lists (schemas/codes.py) needs a new VERSION."""
    from assets.sdmx import RELEASED_CODELISTS, VERSION, codelists_digest
    from schemas.codes import code_table

    assert codelists_digest(code_table()) == RELEASED_CODELISTS, (
        f"the code lists changed since version {VERSION}: raise assets/sdmx.py VERSION and set RELEASED_CODELISTS to "
        f"{codelists_digest(code_table())}"
    )
