"""The file formats of the exports: CSV streamed as it is written, XLSX spooled to a file
first, and the cell rules both share.

`csv_stream`: UTF-8 with a BOM (Excel then reads it as UTF-8), rows written into a small
buffer that is handed on each time it passes 64 KiB. `xlsx_file`: openpyxl's write-only
workbook, which can only be saved to a file: the sheets are spooled and the workbook saved
under the data directory's tmp (the data hold NIKs, and the system's /tmp may be memory),
then `file_stream` sends the file in chunks, unlinked as soon as it is opened. An XLSX is
therefore complete before its first byte leaves; Excel holds at most 1,048,576 rows a
sheet. Every cell is text, so 16-digit numbers keep all their digits, and a cell starting
with = + - @ (or a tab or carriage return) gets a leading apostrophe against formula
injection, unless it is only numbers (-7.98, or a geopoint "-7.98 112.63 450 5").
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet import _writer

FLUSH_BYTES = 64 * 1024
CHUNK_BYTES = 256 * 1024
MAX_CELL = 32_767  # Excel's limit of characters in a cell
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBERS = re.compile(rf"{_NUMBER}(?:(?:\s*;\s*|\s+){_NUMBER})*")


def neutralise(value: str) -> str:
    """A cell a spreadsheet would run as a formula, with a leading apostrophe."""
    if value.startswith(_FORMULA_START) and not _NUMBERS.fullmatch(value):
        return "'" + value
    return value


def text_of(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Sheet:
    """A sheet (or CSV file) of an export: its name and its header."""

    name: str
    header: tuple[str, ...]


def csv_stream(header: Sequence[str], rows: Iterable[Mapping[str, object]]) -> Iterator[bytes]:
    """A CSV file (UTF-8 with BOM) of the rows' values under `header`, a piece at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([neutralise(name) for name in header])
    for row in rows:
        writer.writerow([neutralise(text_of(row.get(name))) for name in header])
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _cell(value: object) -> str | None:
    text = ILLEGAL_CHARACTERS_RE.sub("", text_of(value))[:MAX_CELL]
    return neutralise(text) if text else None


def _spool(sheet: Any, directory: Path) -> Path:
    """Have openpyxl spool the sheet's XML in `directory` rather than the system's /tmp
    (openpyxl internals: its worksheet writer, and its list of files removed at exit)."""
    handle, name = tempfile.mkstemp(dir=directory, prefix="export-", suffix=".xml")
    os.close(handle)
    _writer.ALL_TEMP_FILES.append(name)
    writer = _writer.WorksheetWriter(sheet, out=name)
    writer.write_top()
    sheet._writer = writer
    return Path(name)


def xlsx_file(
    sheets: Sequence[Sheet], rows: Iterable[tuple[str, Mapping[str, object]]], tmp_dir: Path
) -> Path:
    """An XLSX workbook of the rows (sheet name, values by column) in a new file under
    `tmp_dir`; the caller deletes it (`file_stream` does)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=tmp_dir, prefix="export-", suffix=".xlsx")
    os.close(handle)
    path, spooled = Path(name), []
    try:
        book = Workbook(write_only=True)
        open_sheets = {}
        for sheet in sheets:
            worksheet = book.create_sheet(title=sheet.name)
            spooled.append(_spool(worksheet, tmp_dir))
            worksheet.append([_cell(column) for column in sheet.header])
            open_sheets[sheet.name] = (worksheet, sheet.header)
        for sheet_name, row in rows:
            worksheet, header = open_sheets[sheet_name]
            worksheet.append([_cell(row.get(column)) for column in header])
        book.save(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        for leftover in spooled:
            leftover.unlink(missing_ok=True)
            if str(leftover) in _writer.ALL_TEMP_FILES:
                _writer.ALL_TEMP_FILES.remove(str(leftover))
    return path


def file_stream(path: Path, chunk: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's bytes a chunk at a time. The file is unlinked at once (the open handle
    keeps it until read or dropped): nothing is left whether the reader finishes, stops
    early or never starts."""
    handle = path.open("rb")
    path.unlink()
    return _chunks(handle, chunk)


def _chunks(handle: BinaryIO, chunk: int) -> Iterator[bytes]:
    with handle:
        while piece := handle.read(chunk):
            yield piece
