"""Converting XLSForms (.xlsx, .xls, .csv, .md) to XForms with pyxform.

Errors and warnings are rewritten so a form designer sees the sheet and row first, in
Bahasa Indonesia with the English original, instead of pyxform's "[row : 3]" prefix.
Workbooks are checked for zip bombs before any spreadsheet library opens them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyxform.errors import PyXFormError
from pyxform.xls2json_backends import get_xlsform
from pyxform.xls2xform import convert

from server.archives import BrokenArchive, UnsafeArchive, check_zip

log = logging.getLogger(__name__)

SUFFIXES = (".xlsx", ".xls", ".csv", ".md")
_ROW = re.compile(r"^\s*\[row\s*:\s*(\d+)\]\s*")
_SHEET = re.compile(r"On the '([a-z_ -]+)' sheet,?\s*", re.IGNORECASE)
# pyxform messages that name a survey row's cell but not its row number: (pattern, column).
_ROWLESS = (
    (re.compile(r"^Unknown question type '(.+)'\.?$"), "type"),
    (re.compile(r"^The survey element named '(.+)' has no label or hint\.?$"), "name"),
)

# Archive limits for .xlsx: a real questionnaire is well under these.
MAX_ENTRIES = 2000
MAX_UNCOMPRESSED = 200_000_000
MAX_RATIO = 200

_HINTS = (
    ("Unknown question type", "Tipe pertanyaan tidak dikenal; periksa ejaan di kolom 'type'."),
    ("List name not in choices sheet", "Nama daftar pilihan tidak ada di lembar 'choices'."),
    ("must be unique", "Nama harus unik; ganti salah satu nilai 'name' yang sama."),
    ("Names must begin with a letter", "Nama harus diawali huruf atau garis bawah, tanpa spasi."),
    ("Could not find the name", "Rujukan ${...} menunjuk nama yang tidak ada di lembar 'survey'."),
    ("Unmatched begin statement", "Ada 'begin group/repeat' tanpa 'end' yang sesuai."),
    ("Unmatched end statement", "Ada 'end group/repeat' tanpa 'begin' yang sesuai."),
    ("has no label or hint", "Pertanyaan tanpa label; isi kolom 'label' (atau 'hint')."),
    ("survey sheet", "Lembar 'survey' wajib ada."),
    (
        "not recognized as a supported type",
        "Berkas tidak dapat dibaca sebagai XLSForm; simpan ulang dari Excel atau LibreOffice.",
    ),
)


class XLSFormError(ValueError):
    """The XLSForm cannot be converted; `messages` are ready to show to a designer."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages))


class UnsupportedFileError(XLSFormError):
    """The file is not one of the XLSForm formats we read."""


class UnsafeArchiveError(XLSFormError):
    """The .xlsx would inflate beyond sane limits (a zip bomb, or something like one)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__([f"Berkas .xlsx ditolak: {reason}"])


@dataclass
class Converted:
    """The XForm pyxform produced, before we assign a version to it."""

    xml: str
    warnings: list[str]
    itemsets: str | None
    survey: Any
    designer_version: str = ""

    def render(self, version: str) -> bytes:
        """The XForm bytes with `version` on the primary instance (served unchanged for ever)."""
        if version == self.designer_version:
            return self.xml.encode("utf-8")
        self.survey.version = version
        return str(self.survey.to_xml(validate=False, pretty_print=False, warnings=[])).encode(
            "utf-8"
        )


def explain(message: str) -> str:
    """Turn a pyxform message into 'Lembar X, baris N: hint (original)'."""
    text = message.strip()
    row_match = _ROW.match(text)
    row = row_match.group(1) if row_match else None
    if row_match:
        text = text[row_match.end() :]
    sheet_match = _SHEET.search(text)
    sheet = sheet_match.group(1) if sheet_match else ("survey" if row else None)
    if sheet_match:
        text = (text[: sheet_match.start()] + text[sheet_match.end() :]).strip()
        text = text[:1].upper() + text[1:]
    where = []
    if sheet:
        where.append(f"Lembar '{sheet}'")
    if row:
        where.append(f"baris {row}")
    hint = next((h for needle, h in _HINTS if needle.lower() in text.lower()), "")
    prefix = ", ".join(where)
    parts = [p for p in (prefix, hint) if p]
    head = ": ".join(parts) if parts else ""
    return f"{head} ({text})" if head else text


def check_archive(path: Path) -> None:
    """Refuse .xlsx files that are not zips or that would inflate beyond sane limits."""
    try:
        check_zip(path, MAX_ENTRIES, MAX_UNCOMPRESSED, MAX_RATIO)
    except BrokenArchive as exc:
        raise XLSFormError([f"Berkas .xlsx rusak atau bukan .xlsx ({exc})"]) from None
    except UnsafeArchive as exc:
        raise UnsafeArchiveError(str(exc)) from None


def _with_row(path: Path, suffix: str, message: str) -> str:
    """Add pyxform's "[row : N]" prefix to the messages that lack it, found in the survey sheet.

    pyxform reports an unknown type or a missing label without a row; designers of a
    200-row form need the row to find it.
    """
    if _ROW.match(message):
        return message
    for pattern, column in _ROWLESS:
        match = pattern.match(message.strip())
        if match is None:
            continue
        try:
            rows = get_xlsform(str(path), file_type=suffix).survey or []
        except Exception:  # the conversion already failed; the message stays as it is
            return message
        value = match.group(1)
        for index, row in enumerate(rows):
            if str(row.get(column, "")).strip() == value:
                # pyxform counts the header as row 1, so the first data row is row 2.
                return f"[row : {index + 2}] {message}"
    return message


def convert_xlsform(path: Path) -> Converted:
    """Convert the XLSForm at `path`; the file stem is the fallback form ID."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UnsupportedFileError(
            [f"Jenis berkas {path.name} tidak didukung; gunakan {', '.join(SUFFIXES)}"]
        )
    if suffix == ".xlsx":
        check_archive(path)
    warnings: list[str] = []
    try:
        result = convert(xlsform=str(path), warnings=warnings, file_type=suffix)
    except PyXFormError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise XLSFormError([explain(_with_row(path, suffix, line)) for line in lines]) from None
    except Exception as exc:  # pyxform and its readers raise many types on broken files
        log.info("XLSForm %s could not be read: %r", path.name, exc)
        raise XLSFormError(
            [f"Berkas {path.name} tidak dapat dibaca sebagai XLSForm ({type(exc).__name__}: {exc})"]
        ) from None
    survey = result._survey
    return Converted(
        xml=result.xform,
        warnings=[explain(w) for w in warnings],
        itemsets=result.itemsets,
        survey=survey,
        designer_version=str(getattr(survey, "version", "") or ""),
    )
