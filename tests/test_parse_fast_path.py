"""Ingestion's fast paths (issue 32) give what the slow paths give, on messy values of every column type.

`parse.type_columns` casts each value straight from its delivered text and sends only the rows where a cast fails
(or the text needs trimming, a decimal comma, another date format...) through the text path, which alone words the
reasons. The reference here is the text path alone (`parse._type_columns_text`), which typed every row before the
fast path existed: both must give the same frame, value for value and reason for reason, for every extract, every
country's layouts, with and without decimal commas, on frames of random messy values and on mostly clean frames
(the fast path with a few rows falling back). It relies on polars' string casts being strict (no spaces, no comma
as a decimal mark): a polars that relaxed them would fail here.

An Excel sheet is parsed once for every layout's header and for the read (`read._sheet_cells`): its header row and
rows must be fastexcel's own, and a file replaced in place must be read again.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets.ingestion import parse
from assets.ingestion import read as reader
from schemas.canonical import EXTRACTS
from schemas.mapping import layouts

MESSY = [
    *("", " ", "12", "12.5", " 12.5", "12.5 ", "1 234", "1\u00a0234", "1,5", "1.234,5", "1.234", "-3", "+4", "1e3"),
    *("inf", "nan", "NaN", "abc", "2025-07", "2025-7", " 2025-07", "2025-13", "2025-07-01", "01/07/2025"),
    *("2025/07/01", "01.07.2025", " 2025-07-01", "2025-07-01 ", "2025-07-01T00:00:00", "2025-02-30", "F", "f"),
    *(" M ", "female", "Male", "P", "L", "x", "0", "1", "-98", "-99", "6", "7", "1.0", "1.5", "9007199254740993"),
    *("2,0", "0x10", "\u200b1", None, "\t2025-07-01", "\u00a02025-07-01", "2025-07-01\u00a0", " 01/07/2025"),
    *("2025-7-1", "  2025-07-01", "2025-07-01\t"),
]
CLEAN = {
    "int": "7",
    "float": "12.5",
    "date": "2025-07-01",
    "period": "2025-07",
    "flag": "1",
    "likert": "3",
    "text": "F",
}
COUNTRIES = ("BGD", "IDN", "JOR", "KHM", "VNM")
ROWS = 1500


def _frame(extract, rng: random.Random, clean: bool) -> pl.DataFrame:
    data = {c.header: [rng.choice(MESSY) for _ in range(ROWS)] for c in extract.columns}
    frame = pl.DataFrame(data, schema=dict.fromkeys(data, pl.String)).with_columns(
        pl.int_range(2, ROWS + 2, dtype=pl.Int64).alias(parse.ROW), pl.lit(None, pl.String).alias(parse.PROBLEM)
    )
    if clean:  # one row in 37 messy, the rest clean: the fast path with a few rows falling back
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) % 37 == 0)
            .then(pl.col(c.header))
            .otherwise(pl.lit(CLEAN[c.type]))
            .alias(c.header)
            for c in extract.columns
        )
    return frame


@pytest.mark.parametrize("source", sorted(EXTRACTS))
def test_the_fast_path_types_every_value_as_the_text_path_does(source):
    extract = EXTRACTS[source]
    kept = {n for sources in extract.pseudonymise.values() for n in sources.split(",")}
    dropped = [c.name for c in extract.columns if c.personal and c.name not in kept]  # never typed, never staged
    rng = random.Random(source)
    tried = 0
    for country in COUNTRIES:
        for layout in layouts(country, source):
            for decimal_comma in (False, True):
                delivery = dataclasses.replace(layout, decimal_comma=decimal_comma)
                for clean in (False, True):
                    frame = _frame(extract, rng, clean)
                    expected = parse._type_columns_text(frame, extract, delivery).drop(dropped)
                    assert_frame_equal(parse.type_columns(frame, extract, delivery).drop(dropped), expected)
                    tried += 1
    assert tried >= 4


def test_a_clean_frame_takes_the_fast_path_and_a_messy_value_falls_back_with_its_reason():
    extract = EXTRACTS["payroll"]
    delivery = layouts("KHM", "payroll")[0]
    frame = _frame(extract, random.Random(1), clean=True).with_columns(
        pl.lit(CLEAN[c.type]).alias(c.header) for c in extract.columns
    )
    assert parse._fast_typed(frame, extract, delivery)[1] is None  # no row falls back
    messy = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("12,5x")).otherwise(pl.col("basic_pay")).alias("basic_pay")
    )
    typed = parse.type_columns(messy, extract, delivery)
    reasons = typed.filter(pl.col(parse.REASONS).list.len() > 0)
    assert reasons[parse.ROW].to_list() == [7] and "12,5x" in reasons[parse.REASONS][0][0]
    assert typed[parse.ROW].to_list() == messy[parse.ROW].to_list()  # the delivered order kept


def test_a_code_mapped_to_nothing_keeps_its_reason():
    """A layout may map a code to an empty text (nothing forbids it): the text path calls that value not text, so
    the row must not pass the fast path without its reason."""
    extract = EXTRACTS["worker_survey"]
    delivery = dataclasses.replace(layouts("JOR", "worker_survey")[0], values={"sex": {"9": ""}})
    frame = _frame(extract, random.Random(2), clean=True).with_columns(
        pl.lit(CLEAN[c.type]).alias(c.header) for c in extract.columns
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("9")).otherwise(pl.col("sex")).alias("sex")
    )
    typed = parse.type_columns(frame, extract, delivery)
    assert_frame_equal(typed, parse._type_columns_text(frame, extract, delivery))
    assert typed.filter(pl.col(parse.REASONS).list.len() > 0)[parse.ROW].to_list() == [5]


def _xlsx_files() -> list[Path]:
    return sorted((Path(__file__).parent / "corpus").rglob("*.xlsx"))


@pytest.mark.parametrize("path", _xlsx_files(), ids=lambda p: p.name)
def test_an_excel_sheet_read_once_gives_fastexcels_own_header_and_rows(path):
    import fastexcel

    book = fastexcel.read_excel(path)
    for sheet in range(len(book.sheet_names)):
        cells = reader._sheet_cells(path, reader._stamp(path), sheet)
        for header_row in range(min(3, cells.height)):
            ours = reader._with_header(cells, header_row)
            if ours is None:  # an empty, repeated or number-like header cell: fastexcel reads it itself
                continue
            theirs = book.load_sheet(sheet, header_row=header_row, dtypes="string").to_polars()
            assert_frame_equal(ours, theirs)


def test_an_excel_file_replaced_in_place_is_read_again(tmp_path):
    import xlsxwriter

    path = tmp_path / "payroll.xlsx"
    for value, when in (("first", 1_700_000_000), ("second", 1_700_000_100)):
        book = xlsxwriter.Workbook(str(path))
        sheet = book.add_worksheet()
        for r, row in enumerate((["factory_id", "period"], [value, "2025-07"])):
            sheet.write_row(r, 0, row)
        book.close()
        os.utime(path, (when, when))
        cells = reader._sheet_cells(path, reader._stamp(path), 0)
        assert reader._with_header(cells, 0)["factory_id"].to_list() == [value]
