"""Read a delivered file into an all-text polars frame, or reject it with a reason and a fix.

Everything is read as text: typing is the normaliser's job, so that a value that does not
parse becomes a quarantine reason rather than a silent null.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from schemas.mapping import Delivery

ROW = "_source_row"


class RejectedFile(Exception):
    """A file that cannot be loaded at all; the message names the problem and the fix."""

    def __init__(self, path: Path, problem: str, fix: str):
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}. Fix: {fix}")


def read_delivery(path: Path, delivery: Delivery) -> pl.DataFrame:
    """All columns as text, stripped headers, plus `_source_row` (the row a spreadsheet shows)."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise RejectedFile(path, "the file is empty", "re-export the extract; an empty file carries no header")
    if suffix == ".csv":
        frame = _read_csv(path, delivery)
        first_row = delivery.skip_rows + 2
    elif suffix == ".xlsx":
        frame = _read_excel(path, delivery)
        first_row = delivery.skip_rows + 2
    elif suffix == ".parquet":
        frame = _read_parquet(path)
        first_row = 1
    else:
        raise RejectedFile(path, f"unsupported file type {suffix!r}", "deliver .csv, .xlsx or .parquet")
    frame = frame.rename({c: c.strip().lstrip("\ufeff").strip() for c in frame.columns})
    return frame.with_row_index(ROW, offset=first_row).with_columns(pl.col(ROW).cast(pl.Int64))


def _read_csv(path: Path, delivery: Delivery) -> pl.DataFrame:
    with path.open("rb") as fh:
        head = fh.read(8192)
    utf16 = head[:2] in (b"\xff\xfe", b"\xfe\xff")
    if b"\x00" in head and not utf16:
        raise RejectedFile(path, "binary content, not a CSV text file", "deliver the extract as CSV text, .xlsx or .parquet")
    options = dict(separator=delivery.separator, infer_schema=False, skip_rows=delivery.skip_rows)
    try:
        if delivery.python_encoding == "utf-8-sig" and not utf16:
            return pl.read_csv(path, encoding="utf8", **options)
        text = path.read_bytes().decode("utf-16" if utf16 else delivery.python_encoding)
        return pl.read_csv(io.StringIO(text), **options)
    except UnicodeDecodeError as exc:
        raise RejectedFile(
            path,
            f"text is not valid {delivery.encoding} (byte {exc.start})",
            f"re-save the file as UTF-8, or declare its encoding (read.encoding: cp1252 / utf16) in schemas/mappings/{delivery.country}.yaml",
        ) from None
    except pl.exceptions.NoDataError:
        raise RejectedFile(path, "the file has no header line", "re-export the extract with its header row") from None
    except pl.exceptions.ComputeError as exc:
        message = str(exc).splitlines()[0]
        if "invalid utf-8" in message.lower() or "utf8" in message.lower():
            raise RejectedFile(
                path,
                "text is not valid UTF-8",
                f"re-save the file as UTF-8, or declare its encoding (read.encoding: cp1252 / utf16) in schemas/mappings/{delivery.country}.yaml",
            ) from None
        raise RejectedFile(
            path,
            f"not a readable CSV with separator {delivery.separator!r} ({message})",
            f"check the separator and quoting; declare read.separator in schemas/mappings/{delivery.country}.yaml",
        ) from None


def _read_excel(path: Path, delivery: Delivery) -> pl.DataFrame:
    import fastexcel

    try:
        book = fastexcel.read_excel(path)
    except Exception as exc:  # fastexcel raises its own error types for corrupt or non-xlsx content
        raise RejectedFile(path, f"not a readable Excel workbook ({exc.__class__.__name__})", "re-save it as .xlsx or deliver CSV") from None
    sheet = delivery.sheet if delivery.sheet is not None else 0
    if delivery.sheet is not None and delivery.sheet not in book.sheet_names:
        raise RejectedFile(
            path, f"no sheet named {delivery.sheet!r} (sheets: {book.sheet_names})", f"fix read.sheet in schemas/mappings/{delivery.country}.yaml"
        )
    try:
        return book.load_sheet(sheet, header_row=delivery.skip_rows, dtypes="string").to_polars()
    except Exception as exc:
        raise RejectedFile(path, f"sheet {sheet!r} cannot be read as a table ({exc})", "check read.skip_rows (rows above the header) in the mapping file") from None


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:
        raise RejectedFile(path, f"not a readable Parquet file ({exc.__class__.__name__})", "re-export the extract as Parquet or CSV") from None
    return frame.with_columns(pl.all().cast(pl.String))
