"""The markdown twin of an XLSForm workbook (server/forms/twin.py) and the committed pair."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from server.forms.twin import (
    TwinError,
    markdown_to_workbook,
    read_markdown,
    twin_path,
    workbook_to_markdown,
)
from server.forms.xlsform import convert_xlsform

ROOT = Path(__file__).resolve().parents[2]
WORKBOOK = ROOT / "forms" / "verval_ruta.xlsx"


def test_committed_markdown_is_the_twin_of_the_committed_workbook() -> None:
    """forms/verval_ruta.md is exactly what `verivali forms twin` makes of the .xlsx."""
    assert twin_path(WORKBOOK) == ROOT / "forms" / "verval_ruta.md"
    assert twin_path(WORKBOOK).read_text(encoding="utf-8") == workbook_to_markdown(WORKBOOK)


def test_round_trip_markdown_workbook_markdown_is_stable(tmp_path: Path) -> None:
    """Markdown -> workbook -> markdown gives back the same text."""
    text = twin_path(WORKBOOK).read_text(encoding="utf-8")
    rebuilt = tmp_path / "salinan.xlsx"
    markdown_to_workbook(twin_path(WORKBOOK), rebuilt)
    assert workbook_to_markdown(rebuilt) == text


def test_twin_and_workbook_are_the_same_form() -> None:
    """pyxform makes the same XForm of the twin as of the workbook."""
    assert convert_xlsform(twin_path(WORKBOOK)).xml == convert_xlsform(WORKBOOK).xml


def _workbook(path: Path, survey: list[list[object]], extra_sheets: bool = True) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Settings"
    sheet.append(["form_id", "version"])
    sheet.append(["contoh", 2026112301])
    if extra_sheets:
        notes = book.create_sheet("Petunjuk")
        notes.append(["bebas\nteks"])
    survey_sheet = book.create_sheet("survey")
    for row in survey:
        survey_sheet.append(row)
    book.save(path)
    return path


def test_sheet_order_empty_columns_and_pipes(tmp_path: Path) -> None:
    """Sheets come out survey first; empty columns go; `|` is escaped and read back."""
    path = _workbook(
        tmp_path / "contoh.xlsx",
        [
            ["type", "name", "label", "hint", None, "constraint"],
            ["integer", "umur", "Umur ", None, "catatan tanpa judul", "regex(., '^(1|2)$')"],
            [None, None, None, None, None, None],
            ["text", "nama", "Nama", None, None, None],
        ],
    )
    text = workbook_to_markdown(path)
    body = [line for line in text.splitlines() if line.startswith("|")]
    assert body == [
        "| survey |",
        "| | type | name | label | constraint |",
        "| | integer | umur | Umur | regex(., '^(1\\|2)$') |",
        "| | text | nama | Nama | |",
        "| settings |",
        "| | form_id | version |",
        "| | contoh | 2026112301 |",
    ]
    sheets = read_markdown(text)
    assert sheets["survey"][1] == ["integer", "umur", "Umur", "regex(., '^(1|2)$')"]


def test_line_break_in_a_cell_is_refused(tmp_path: Path) -> None:
    """A cell with a line break cannot live in a markdown row, so the twin says where it is."""
    path = _workbook(tmp_path / "baris.xlsx", [["type", "name", "label"], ["note", "n", "a\nb"]])
    with pytest.raises(TwinError, match="sheet 'survey', row 2, column 3"):
        workbook_to_markdown(path)


def test_unreadable_workbook_is_a_twin_error(tmp_path: Path) -> None:
    """A file that is not a workbook gives a TwinError, not a traceback."""
    broken = tmp_path / "rusak.xlsx"
    broken.write_bytes(b"bukan zip")
    with pytest.raises(TwinError, match="cannot be read as .xlsx"):
        workbook_to_markdown(broken)


def test_cli_writes_the_twin_and_check_fails_on_a_stale_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`verivali forms twin` writes x.md; with --check a stale twin is one error line, exit 1."""
    from server.cli import main

    workbook = tmp_path / "verval_ruta.xlsx"
    workbook.write_bytes(WORKBOOK.read_bytes())
    twin_path(workbook).write_text("usang\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stale:
        main(["forms", "twin", str(workbook), "--check"])
    assert stale.value.code == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "is not the twin of" in error

    main(["forms", "twin", str(workbook)])
    assert twin_path(workbook).read_text(encoding="utf-8") == workbook_to_markdown(WORKBOOK)
    main(["forms", "twin", str(workbook), "--check"])
    assert capsys.readouterr().out.splitlines()[-1].endswith("is up to date")
