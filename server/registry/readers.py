"""Reading registry extracts as a stream of rows: CSV in any delimiter and encoding, XLSX.

Constant memory whatever the file size: CSV is decoded incrementally and XLSX is read with
openpyxl's streaming (read-only) mode after its zip directory has been checked for bombs.
The encoding is detected from the start of the file (UTF-8 with or without BOM, else
Windows-1252, which SIKS-NG and Excel on Indonesian Windows produce); a file that turns out
not to be what it began as fails with the line where it happened.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from server.archives import BrokenArchive, UnsafeArchive, check_zip

SAMPLE_BYTES = 64 * 1024
DELIMITERS = "|,;\t"
# A registry workbook of a million rows inflates to a few GB of sheet XML; bombs inflate
# at ratios in the thousands.
XLSX_MAX_UNCOMPRESSED = 8_000_000_000
XLSX_MAX_RATIO = 150
csv.field_size_limit(1_000_000)


class ExtractError(ValueError):
    """The file cannot be read as an extract (message says why, in words for an operator)."""


@dataclass
class Extract:
    """An open extract: its header and an iterator over (line number, cells)."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: str
    delimiter: str | None
    size: int
    position: Position
    close: Callable[[], None]


class Position:
    """How many bytes of the file have been consumed (for the progress bar)."""

    def __init__(self) -> None:
        self.bytes = 0


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still UTF-8.
        if exc.start >= len(sample) - 3 and len(sample) == SAMPLE_BYTES:
            return "utf-8"
        return "cp1252"


def detect_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if not lines:
        raise ExtractError("the file is empty")
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        if counts[best] == 0:
            raise ExtractError("no column delimiter found (expected | , ; or tab)") from None
        return best


class _CountingReader(io.RawIOBase):
    def __init__(self, raw: io.BufferedReader, position: Position) -> None:
        self._raw = raw
        self._position = position

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)
        self._position.bytes += n or 0
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_csv(path: Path) -> Extract:
    size = path.stat().st_size
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise ExtractError("the file is empty")
    encoding = detect_encoding(sample)
    delimiter = detect_delimiter(sample.decode(encoding, errors="replace"))
    position = Position()
    raw = _CountingReader(path.open("rb"), position)
    text = io.TextIOWrapper(io.BufferedReader(raw), encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    yield reader.line_num, cells
        except UnicodeDecodeError:
            raise ExtractError(
                f"line {_first_undecodable_line(path, encoding)}: bytes that are not "
                f"{encoding}; save the file again as UTF-8"
            ) from None
        except csv.Error as exc:
            raise ExtractError(f"line {reader.line_num}: {exc}") from None
        finally:
            text.close()

    iterator = rows()
    try:
        _, header = next(iterator)
    except StopIteration:
        raise ExtractError("the file is empty") from None
    return Extract(header, iterator, encoding, delimiter, size, position, text.close)


def _first_undecodable_line(path: Path, encoding: str) -> int:
    """The physical line holding the first bytes that do not decode (the decoder reads
    ahead in blocks, so the CSV reader's own count is behind). Only run on failure."""
    number = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return number
    return max(number, 1)


def open_xlsx(path: Path) -> Extract:
    try:
        check_zip(path, 10_000, XLSX_MAX_UNCOMPRESSED, XLSX_MAX_RATIO)
    except BrokenArchive as exc:
        raise ExtractError(f"not a readable .xlsx workbook ({exc})") from None
    except UnsafeArchive as exc:
        raise ExtractError(f"workbook refused: {exc}") from None
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on damaged workbooks
        raise ExtractError(f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    sheet = workbook.worksheets[0]
    size = path.stat().st_size
    position = Position()
    total_rows = sheet.max_row or 0

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if total_rows:
                    position.bytes = size * number // total_rows
                cells = ["" if v is None else _cell_text(v) for v in values]
                if any(c.strip() for c in cells):
                    yield number, cells
        finally:
            workbook.close()

    iterator = rows()
    try:
        _, header = next(iterator)
    except StopIteration:
        workbook.close()
        raise ExtractError("the workbook's first sheet is empty") from None
    return Extract(header, iterator, "xlsx", None, size, position, workbook.close)


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # NIKs typed as numbers
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")  # type: ignore[no-any-return]
    return str(value)


def open_extract(path: Path) -> Extract:
    """Open a CSV or XLSX extract by its content (not trusting the extension)."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"PK\x03\x04":
        return open_xlsx(path)
    return open_csv(path)
