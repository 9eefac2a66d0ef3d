"""The first step of ingestion: a delivered file to an all-text polars frame under the contract's headers, or a
rejection with a reason and a fix.

Matching the layout belongs here, as it reads the file's head: `fitting_layouts` finds the layouts whose header
the file carries, `read_delivery` reads it with one of them, `canonical_headers` renames its headers to the
contract's. Everything is read as text: typing is the next step (assets/ingestion/parse.py), so that a value that
does not parse becomes a quarantine reason rather than a silent null. A row the reader cannot take whole (an empty
row, a last line cut short) keeps its place and says why in `_read_problem`.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import functools
import io
import re
from pathlib import Path

import polars as pl

from assets.ingestion.reasons import EMPTY_ROW, PROBLEM, cut_short
from schemas.canonical import EXTRACTS, Extract
from schemas.extracts import ROW
from schemas.mapping import CANONICAL, ENCODINGS, Delivery, fold

# Leading bytes of binary formats a partner may mislabel as .csv: (what it is, the fix).
MAGIC = {
    b"PK\x03\x04": (
        "a zip archive, most likely an Excel .xlsx workbook, named .csv",
        "rename it to .xlsx if it is a workbook, or export the sheet as CSV",
    ),
    b"\xd0\xcf\x11\xe0": (
        "an old-format Excel (.xls) workbook named .csv",
        "open it in Excel and save it as .xlsx or CSV UTF-8",
    ),
    b"PAR1": ("a Parquet file named .csv", "rename it to .parquet"),
    b"%PDF": ("a PDF document named .csv", "deliver the extract itself as CSV, .xlsx or .parquet"),
}


class RejectedFile(Exception):
    """A file that cannot be loaded at all; the message names the problem and the fix."""

    def __init__(self, path: Path, problem: str, fix: str):
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}. Fix: {fix}")


def read_delivery(path: Path, delivery: Delivery) -> pl.DataFrame:
    """All columns as text, stripped headers, plus `_source_row` (the row a spreadsheet shows)."""
    delivery = _resolved(path, delivery)
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
    frame = frame.rename({c: c.replace("\u00a0", " ").strip().lstrip("\ufeff").strip() for c in frame.columns})
    if PROBLEM not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(PROBLEM))
    values = [c for c in frame.columns if c != PROBLEM]
    blank = pl.all_horizontal(pl.col(values).is_null()) if values else pl.lit(True)  # the CSV reader reads "" as null
    frame = frame.with_columns(pl.when(blank).then(pl.lit(EMPTY_ROW)).otherwise(pl.col(PROBLEM)).alias(PROBLEM))
    return frame.with_row_index(ROW, offset=first_row).with_columns(pl.col(ROW).cast(pl.Int64))


def _utf16_order(head: bytes) -> str | None:
    """'utf-16' (with a byte-order mark), 'utf-16-le'/'-be' (without one, told by where the zero bytes
    of ASCII text fall), or None for text that is not UTF-16."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    even, odd = head[0:200:2], head[1:200:2]
    if len(odd) >= 8 and odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if len(even) >= 8 and even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int, str] | None:
    """(line, byte offset, byte) of the first byte that does not decode, read in blocks; None if all decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, lines = 0, 1
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                start = max(exc.start, 0)
                return (
                    lines + block.count(b"\n", 0, start),
                    offset + start,
                    f"0x{block[start]:02X}" if start < len(block) else "?",
                )
            offset, lines = offset + len(block), lines + block.count(b"\n")
    return None


def _encoding_error(path: Path, delivery: Delivery, encoding: str) -> RejectedFile:
    where = f"schemas/mappings/{delivery.country}.yaml (read.encoding)"
    bad = _first_bad_byte(path, encoding)
    position = f": first bad byte {bad[2]} on row {bad[0]}" if bad else ""
    guess = ""
    if bad and encoding.startswith("utf-8"):
        try:
            path.read_bytes().decode("cp1252")
            guess = " (it reads as Windows-1252, the usual Excel 'CSV' encoding)"
        except UnicodeDecodeError:
            pass
    return RejectedFile(
        path,
        f"text is not valid {delivery.encoding}{position}{guess}",
        f"re-save the file as 'CSV UTF-8', or declare its encoding (cp1252, latin1, utf16) in {where}",
    )


def _read_csv(path: Path, delivery: Delivery) -> pl.DataFrame:
    with path.open("rb") as fh:
        head = fh.read(8192)
        fh.seek(max(0, path.stat().st_size - 2))
        ends_with_newline = fh.read(2).endswith((b"\n", b"\n\x00"))
    utf16 = _utf16_order(head)
    if utf16 is None and delivery.python_encoding == "utf-16" and b"\x00" in head:
        utf16 = "utf-16"
    if utf16 is None:
        for magic, (what, fix) in MAGIC.items():
            if head.startswith(magic):
                raise RejectedFile(path, f"binary content: {what}", fix)
        if b"\x00" in head:
            raise RejectedFile(
                path, "binary content, not a CSV text file", "deliver the extract as CSV text, .xlsx or .parquet"
            )
    options = {"separator": delivery.separator, "infer_schema": False, "skip_rows": delivery.skip_rows}
    encoding = utf16 or delivery.python_encoding
    text = None
    try:
        if encoding == "utf-8-sig":
            frame = pl.read_csv(path, encoding="utf8", **options)
        else:
            text = path.read_bytes().decode(encoding)
            frame = pl.read_csv(io.StringIO(text), **options)
    except UnicodeDecodeError:
        raise _encoding_error(path, delivery, encoding) from None
    except pl.exceptions.NoDataError:
        raise RejectedFile(path, "the file has no header line", "re-export the extract with its header row") from None
    except pl.exceptions.ComputeError as exc:
        message = str(exc).splitlines()[0]
        if "invalid utf-8" in message.lower() or "utf8" in message.lower():
            raise _encoding_error(path, delivery, "utf-8") from None
        hint = misplaced_header(path, delivery)  # a title line above the header has fewer fields
        if hint is not None:
            raise hint from None
        raise RejectedFile(
            path,
            f"not a readable CSV with separator {delivery.separator!r} ({message})",
            f"check the separator and quoting, and any title rows above the header; declare read.separator or "
            f"read.skip_rows in schemas/mappings/{delivery.country}.yaml",
        ) from None
    if not ends_with_newline and frame.height:
        frame = _mark_cut_last_row(frame, path, text, delivery)
    return frame


def _mark_cut_last_row(frame: pl.DataFrame, path: Path, text: str | None, delivery: Delivery) -> pl.DataFrame:
    """A file that stops without a line break may have been cut in transfer: when its last line has fewer
    fields than the header, that row is marked (the reader itself pads it with empty values)."""
    if text is None:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - (1 << 16)))
            text = fh.read().decode("utf-8", errors="replace")
    last_line = text.rstrip("\r").rsplit("\n", 1)[-1]
    fields = next(csv.reader([last_line], delimiter=delivery.separator), [])
    if len(fields) >= frame.width:
        return frame
    last = pl.int_range(pl.len()) == pl.len() - 1
    return frame.with_columns(
        pl.when(last).then(pl.lit(cut_short(len(fields), frame.width))).otherwise(None).alias(PROBLEM)
    )


def _read_excel(path: Path, delivery: Delivery) -> pl.DataFrame:
    import fastexcel

    try:
        book = fastexcel.read_excel(path)
    except Exception as exc:  # fastexcel raises its own error types for corrupt or non-xlsx content
        raise RejectedFile(
            path, f"not a readable Excel workbook ({exc.__class__.__name__})", "re-save it as .xlsx or deliver CSV"
        ) from None
    sheet = delivery.sheet if delivery.sheet is not None else 0
    if delivery.sheet is not None and delivery.sheet not in book.sheet_names:
        raise RejectedFile(
            path,
            f"no sheet named {delivery.sheet!r} (sheets: {book.sheet_names})",
            f"fix read.sheet in schemas/mappings/{delivery.country}.yaml",
        )
    try:
        frame = _with_header(_sheet_cells(path, _stamp(path), sheet), delivery.skip_rows)
        if frame is None:  # a header cell empty or repeated: fastexcel names those columns
            frame = book.load_sheet(sheet, header_row=delivery.skip_rows, dtypes="string").to_polars()
        return frame
    except Exception as exc:
        raise RejectedFile(
            path,
            f"sheet {sheet!r} cannot be read as a table ({exc})",
            "check read.skip_rows (rows above the header) in the mapping file",
        ) from None


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=2)  # a file per ingestion thread
def _sheet_cells(path: Path, stamp: tuple[int, int], sheet: int | str) -> pl.DataFrame:  # noqa: ARG001 (cache key)
    """Every cell of a sheet as text, without a header. fastexcel parses the whole sheet whatever `n_rows` says
    (a 17,000-row payroll sheet: 0.27 s), so each layout's header and the rows are all taken from one read
    (`stamp`: the file's size and time, so a file replaced in between is read again)."""
    import fastexcel

    return fastexcel.read_excel(path).load_sheet(sheet, header_row=None, dtypes="string").to_polars()


def forget_sheets() -> None:
    """Drop the sheets `_sheet_cells` keeps (at the full programme's scale a payroll sheet is ~100-200 MB)."""
    _sheet_cells.cache_clear()


def _with_header(cells: pl.DataFrame, header_row: int) -> pl.DataFrame | None:
    """`cells` as fastexcel reads them with `header_row` as the header: the rows below it, under its cells' names;
    None when fastexcel's own name for a header cell is not certain to be its text."""
    if cells.height <= header_row:
        return None
    names = list(cells.row(header_row))
    uncertain = [n for n in names if n is None or n in ("", "true", "false") or re.fullmatch(r"[-+\d.,:/ T]+", n)]
    if uncertain or len(set(names)) != len(names):
        return None  # an empty, repeated, boolean or number-like header cell: fastexcel names those itself
    return cells.slice(header_row + 1).rename(dict(zip(cells.columns, names, strict=True)))


def _aliases(extract: Extract, delivery: Delivery) -> tuple[dict[str, str], dict[str, str]]:
    """Folded header -> the contract's header it names: every header `delivery` may carry (the contract's headers
    and staged names, then the layout's own names over them), and the layout's own names alone."""
    known = {fold(c.header): c.header for c in extract.columns} | {fold(c.name): c.header for c in extract.columns}
    declared = {fold(k): known.get(fold(v), v) for k, v in delivery.columns.items()}
    return known | declared, declared


PREVIEW_ROWS = 30


def preview_rows(path: Path, delivery: Delivery) -> list[tuple[str | None, int, list[str | None]]]:
    """The first rows of a file as cells, for finding a header row that is not where it was expected:
    (sheet name or None for CSV, row number as a spreadsheet shows it, cells). Empty when unreadable."""
    rows: list[tuple[str | None, int, list[str | None]]] = []
    try:
        if path.suffix.lower() == ".xlsx":
            import fastexcel

            book = fastexcel.read_excel(path)
            for name in book.sheet_names:
                sheet = book.load_sheet(name, header_row=None, n_rows=PREVIEW_ROWS, dtypes="string").to_polars()
                rows += [(name, i + 1, list(r)) for i, r in enumerate(sheet.iter_rows())]
        elif path.suffix.lower() == ".csv":
            with path.open("rb") as fh:
                head = fh.read(1 << 16)
            encoding = _utf16_order(head) or delivery.python_encoding
            text = head.decode(encoding, errors="replace").lstrip("\ufeff")
            lines = text.splitlines()[:PREVIEW_ROWS]
            rows = [(None, i + 1, cells) for i, cells in enumerate(csv.reader(lines, delimiter=delivery.separator))]
    except Exception:  # only a hint for an error message: never let it hide the real rejection
        return []
    return rows


def misplaced_header(path: Path, delivery: Delivery) -> RejectedFile | None:
    """When the contract's header row sits lower (a title row) or on another sheet than the one read,
    the rejection that says so and which read options to declare; None when no such row is found."""
    extract = EXTRACTS[delivery.source]
    wanted = {fold(c.header) for c in extract.columns if c.required}
    aliases, _ = _aliases(extract, delivery)
    preview = preview_rows(path, delivery)
    first_sheet = next((name for name, _, _ in preview), None)
    read_sheet = delivery.sheet if delivery.sheet is not None else first_sheet
    for sheet, number, cells in preview:
        if not wanted <= {fold(aliases.get(fold(c), c)) for c in cells if c is not None}:
            continue
        if sheet == read_sheet and number == delivery.skip_rows + 1:
            return None  # the header is where it was read: the problem is elsewhere
        options = [f"skip_rows: {number - 1}"] if number - 1 != delivery.skip_rows else []
        options += [f"sheet: {sheet}"] if sheet != read_sheet else []
        where = f"row {number}" + (f" of sheet {sheet!r}" if sheet is not None else "")
        now = f"row {delivery.skip_rows + 1}" + (f" of sheet {read_sheet!r}" if sheet is not None else "")
        return RejectedFile(
            path,
            f"the header row is {where}, but {now} was read as the header ({delivery.layout} layout)",
            f"declare a layout with read: {{{', '.join(options)}}} under "
            f"sources.{delivery.source} in schemas/mappings/{delivery.country}.yaml",
        )
    return None


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:
        raise RejectedFile(
            path, f"not a readable Parquet file ({exc.__class__.__name__})", "re-export the extract as Parquet or CSV"
        ) from None
    return frame.with_columns(pl.all().cast(pl.String))


# ------------------------------------------------------------------------------------------ choosing a layout
SEPARATORS = (",", ";", "\t", "|")
HEAD_BYTES = 1 << 16


def _head_text(path: Path, encoding: str | None) -> tuple[str, str] | None:
    """The start of a CSV file as text, and the encoding that read it (None: binary or undecodable).
    With `encoding` None (the canonical layout): UTF-8, else Windows-1252 (Excel's "CSV" on Windows)."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    utf16 = _utf16_order(head)
    if utf16 is not None:
        return head.decode(utf16, errors="ignore").lstrip("\ufeff"), "utf16"
    if b"\x00" in head or any(head.startswith(magic) for magic in MAGIC):
        return None
    for name, codec in (
        (("utf8", "utf-8-sig"), ("cp1252", "cp1252")) if encoding is None else ((encoding, ENCODINGS[encoding]),)
    ):
        try:
            return _decode_head(head, codec, whole=len(head) < HEAD_BYTES).lstrip("\ufeff"), name
        except UnicodeDecodeError:
            continue
    return None


def _decode_head(head: bytes, codec: str, whole: bool) -> str:
    """Decode the first bytes of a file, forgiving a multi-byte character cut at the end of the block (unless
    the block is the `whole` file)."""
    try:
        return head.decode(codec)
    except UnicodeDecodeError as exc:
        if not whole and exc.start >= len(head) - 4:
            return head[: exc.start].decode(codec)
        raise


def header_cells(path: Path, delivery: Delivery) -> list[str] | None:
    """The header row as `delivery` would read it (its title rows, sheet, separator and encoding): the cells,
    or None when the file cannot be read that way. A CSV read with no separator given tries , ; tab and |."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if suffix == ".xlsx":
            sheet = delivery.sheet if delivery.sheet is not None else 0
            rows = _sheet_cells(path, _stamp(path), sheet)  # the whole sheet, read once for every layout tried
            return (
                [str(c) for c in rows.row(delivery.skip_rows) if c is not None]
                if rows.height > delivery.skip_rows
                else None
            )
        if suffix == ".csv":
            text = _head_text(path, None if delivery.layout == CANONICAL else delivery.encoding)
            if text is None:
                return None
            lines = text[0].splitlines()
            if len(lines) <= delivery.skip_rows:
                return None
            line = lines[delivery.skip_rows]
            separator = delivery.separator or max(SEPARATORS, key=line.count)
            return next(csv.reader([line], delimiter=separator), [])
    except Exception:  # unreadable with these options: the layout does not fit, the reader will say why
        return None
    return None


def _resolved(path: Path, delivery: Delivery) -> Delivery:
    """The canonical layout's read options for this file: its separator, whether its numbers carry decimal commas
    (as Excel writes CSV where the comma is the decimal mark; told from the cells) and its encoding. A delivery
    already resolved (its separator told: `fitting_layouts` returns such) is returned as it is, unread."""
    if path.suffix.lower() != ".csv":  # a workbook's or Parquet file's numbers are no text with a decimal comma
        return dataclasses.replace(delivery, decimal_comma=False) if delivery.decimal_comma else delivery
    if delivery.layout != CANONICAL or delivery.separator is not None:
        return delivery
    text = _head_text(path, None)
    if text is None:
        return delivery
    lines = text[0].splitlines()
    first = next(iter(lines), "")
    separator = max(SEPARATORS, key=first.count) if first else ","
    encoding = "utf8" if text[1] == "utf16" else text[1]
    return dataclasses.replace(
        delivery, separator=separator, decimal_comma=_decimal_comma(lines[1:200], separator), encoding=encoding
    )


def _decimal_comma(lines: list[str], separator: str) -> bool:
    """Whether a file's numbers are written with a decimal comma, from its cells: only where the separator is no
    comma, some cell reads like 1234,5 and none like 1234.5 (a semicolon file may well use decimal points)."""
    if separator == ",":
        return False
    cells = [c.strip() for row in csv.reader(lines, delimiter=separator) for c in row]
    commas = sum(1 for c in cells if re.fullmatch(r"-?\d+,\d+", c))
    points = sum(1 for c in cells if re.fullmatch(r"-?\d+\.\d+", c))
    return commas > 0 and points == 0


@dataclasses.dataclass(frozen=True)
class Fit:
    """How a file's header fits one layout."""

    delivery: Delivery
    matched: frozenset[str]  # canonical headers found
    missing: tuple[str, ...]  # required canonical headers not found
    unknown: tuple[str, ...]  # delivered header cells the layout does not know
    own: int  # cells matched by the layout's own header names (not the contract's)


def fit(path: Path, delivery: Delivery) -> Fit | None:
    """How `path`'s header fits `delivery`'s layout; None when the file cannot be read that way."""
    delivery = _resolved(path, delivery)
    cells = header_cells(path, delivery)
    if cells is None:
        return None
    extract = EXTRACTS[delivery.source]
    aliases, declared = _aliases(extract, delivery)
    matched = {aliases[fold(c)] for c in cells if fold(c) in aliases}
    missing = tuple(c.header for c in extract.columns if c.required and c.header not in matched)
    unknown = tuple(c for c in cells if fold(c) and fold(c) not in aliases)
    return Fit(delivery, frozenset(matched), missing, unknown, sum(1 for c in cells if fold(c) in declared))


def fitting_layouts(path: Path, candidates: list[Delivery]) -> list[Delivery]:
    """The layouts whose header the file carries (module docs: schemas/mapping.py), best first, or RejectedFile
    naming the nearest layout with its missing and unknown headers. Best: recognising most headers by the
    layout's own names, then most headers. Several equally good (the contract's headers, which every layout
    reads): all of them, declared before canonical; ingestion keeps the one whose codes and values parse best."""
    fits = [f for f in (fit(path, d) for d in candidates) if f is not None]
    whole = sorted((f for f in fits if not f.missing), key=lambda f: (-f.own, -len(f.matched), fits.index(f)))
    if whole:
        return [f.delivery for f in whole if (f.own, len(f.matched)) == (whole[0].own, len(whole[0].matched))]
    if not fits:  # unreadable with every layout: the reader says why (binary, encoding, no header)
        return [_resolved(path, candidates[-1])]
    for f in fits:  # the contract's header is there, only lower down or on another sheet
        hint = misplaced_header(path, f.delivery)
        if hint is not None and f.delivery.layout == CANONICAL:
            raise hint
    nearest = min(fits, key=lambda f: (len(f.missing), len(f.unknown), fits.index(f)))
    country, source = nearest.delivery.country, nearest.delivery.source
    tried = ", ".join(f.delivery.layout for f in fits)
    if nearest.matched:  # a header row: its unknown cells are header names, safe to quote
        has = f"the nearest layout, {nearest.delivery.layout}, does not know the header(s) {list(nearest.unknown[:12])}"
    else:  # no cell is a known header: that row is data or a title, and a data row must not be quoted
        has = (
            f"none of the {len(nearest.unknown)} cells of its first row is a column of the contract or of a layout "
            "(no header row, or headers in another language)"
        )
    raise RejectedFile(
        path,
        f"missing required column(s) {list(nearest.missing)}; {has} (layouts of {country} {source} tried: {tried})",
        f"add the column(s) to the delivery, or declare a layout mapping the delivered headers onto them in "
        f"schemas/mappings/{country}.yaml (sources.{source}.columns)",
    )


# ------------------------------------------------------------------------------------------ matching the headers
def canonical_headers(
    frame: pl.DataFrame, extract: Extract, delivery: Delivery, path: Path
) -> tuple[pl.DataFrame, list[str]]:
    """Rename delivered headers to canonical headers; reject the file when a required one is missing.

    A header matches by the mapping file, else by canonical header or staged name, ignoring case
    and repeated spaces. Returns the frame with canonical headers and the ignored extra columns.
    """
    if PROBLEM not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(PROBLEM))
    aliases, _ = _aliases(extract, delivery)  # a layout may name the staged form
    renames: dict[str, str] = {}
    extras: list[str] = []
    for name in frame.columns:
        if name in (ROW, PROBLEM):
            continue
        target = aliases.get(fold(name))
        if target is None or target in renames.values():
            extras.append(name)
        else:
            renames[name] = target
    missing = [c.header for c in extract.columns if c.required and c.header not in renames.values()]
    if missing:
        raise _missing_columns(frame, extract, delivery, path, missing, matched=bool(renames))
    frame = frame.select([ROW, PROBLEM, *renames]).rename(renames)
    absent = [c.header for c in extract.columns if c.header not in frame.columns]
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(h) for h in absent), extras


def _missing_columns(
    frame: pl.DataFrame, extract: Extract, delivery: Delivery, path: Path, missing: list[str], matched: bool
) -> RejectedFile:
    """The rejection of a file lacking required columns, with the likeliest fix.

    When none of the first row's cells is a contract header, that row is a title or data, not a header:
    its cells are not quoted (they may be personal data).
    """
    hint = misplaced_header(path, delivery)
    if hint is not None:
        return hint
    columns = [c for c in frame.columns if c not in (ROW, PROBLEM)]
    has = (
        f"the file has {columns}"
        if matched
        else (
            f"none of the {len(columns)} cells of its first row is a column of the contract (no header row, "
            "or headers in another language)"
        )
    )
    return RejectedFile(
        path,
        f"missing required column(s) {missing}; {has}",
        f"add the column(s) to the delivery, or map the delivered header onto them in "
        f"schemas/mappings/{delivery.country}.yaml (sources.{extract.source}.columns)",
    )
