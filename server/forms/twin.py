"""The markdown twin of an XLSForm workbook: the same sheets as pyxform markdown tables.

Designers edit the .xlsx; the twin (`x.xlsx` -> `x.md`) is committed next to it so that a
change to the questionnaire is reviewable as a text diff. `workbook_to_markdown` is
deterministic: sheets survey, choices, settings (then any other XLSForm sheet) in that
order, only columns that have a header and a value, cells as pyxform reads them (stripped,
`|` escaped). `markdown_to_workbook` goes the other way, to bootstrap a workbook from a
twin; the round trip markdown -> workbook -> markdown gives back the same text.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from openpyxl import Workbook, load_workbook

SHEETS = ("survey", "choices", "settings", "external_choices", "entities", "osm")
HEADER = (
    "# Markdown twin of the XLSForm workbook with the same name (generated; do not edit).\n"
    "# Edit the .xlsx, then run: verivali forms twin <form>.xlsx\n"
)
_PIPE = re.compile(r"(?<!\\)\|")
_MAX_WIDTH = 60


class TwinError(ValueError):
    """The workbook holds something the markdown twin cannot represent."""


def twin_path(xlsx_path: Path) -> Path:
    """Where the twin of a workbook lives: next to it, with the .md suffix."""
    return xlsx_path.with_suffix(".md")


def _text(value: object) -> str:
    """A cell as pyxform reads it (see pyxform's xlsx_value_to_str), stripped."""
    if value is None:
        return ""
    if value is True or value is False:
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return str(value)
    return str(value).replace("\xa0", " ").strip()


def _sheet_rows(rows: list[tuple[object, ...]], sheet: str) -> list[list[str]]:
    """Header plus data rows, keeping columns with a header and at least one value."""
    if not rows:
        return []
    width = max(len(row) for row in rows)
    cells = [[_text(v) for v in row] + [""] * (width - len(row)) for row in rows]
    for number, row in enumerate(cells, start=1):
        for column, value in enumerate(row):
            if "\n" in value or "\r" in value:
                raise TwinError(
                    f"sheet '{sheet}', row {number}, column {column + 1}: a line break in a "
                    "cell cannot be kept in the markdown twin; write it on one line"
                )
    header, data = cells[0], cells[1:]
    keep = [i for i in range(width) if header[i] and any(row[i] for row in data)]
    body = [[row[i] for i in keep] for row in data if any(row[i] for i in keep)]
    return [[header[i] for i in keep], *body] if body else []


def _line(cells: list[str], first: str = "") -> str:
    escaped = [first, *(c.replace("|", "\\|") for c in cells)]
    return "|" + "|".join(f" {c} " if c else " " for c in escaped) + "|"


def workbook_to_markdown(xlsx_path: Path) -> str:
    """The markdown twin of the workbook at `xlsx_path` (raises TwinError)."""
    try:
        workbook = load_workbook(xlsx_path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zip, XML and its own errors on broken files
        raise TwinError(f"{xlsx_path.name} cannot be read as .xlsx ({exc})") from None
    try:
        by_name = {ws.title.strip().lower(): ws for ws in workbook.worksheets}
        sheets = {
            name: _sheet_rows(list(by_name[name].iter_rows(values_only=True)), name)
            for name in SHEETS
            if name in by_name
        }
    finally:
        workbook.close()
    if not sheets.get("survey"):
        raise TwinError(f"{xlsx_path.name} has no 'survey' sheet with rows")
    blocks = []
    for name, rows in sheets.items():
        if rows:
            blocks.append("\n".join([_line([], name), *(_line(row) for row in rows)]))
    return HEADER + "\n" + "\n\n".join(blocks) + "\n"


def _split(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in _PIPE.split(inner)]


def read_markdown(text: str) -> dict[str, list[list[str]]]:
    """The sheets of a pyxform markdown form: name -> rows (header first)."""
    sheets: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not (stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1):
            continue
        cells = _split(stripped)
        if set("".join(cells)) <= set("-:"):
            continue  # a |---|---| separator row
        if cells[0]:
            current = sheets.setdefault(cells[0], [])
        elif current is not None and any(cells[1:]):
            current.append(cells[1:])
    return sheets


def markdown_to_workbook(md_path: Path, xlsx_path: Path) -> None:
    """Write the workbook described by the markdown form at `md_path` (every cell as text)."""
    sheets = read_markdown(md_path.read_text(encoding="utf-8"))
    if not sheets.get("survey"):
        raise TwinError(f"{md_path.name} has no 'survey' table")
    workbook = Workbook()
    default = workbook.active
    if default is not None:
        workbook.remove(default)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(title=name)
        for row in rows:
            sheet.append([value or None for value in row])
        sheet.freeze_panes = "A2"
        for column in sheet.columns:
            longest = max(len(str(cell.value or "")) for cell in column)
            letter = column[0].column_letter
            sheet.column_dimensions[letter].width = min(max(longest + 2, 8), _MAX_WIDTH)
    workbook.save(xlsx_path)
