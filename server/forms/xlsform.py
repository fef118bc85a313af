"""Converting XLSForms (.xlsx, .xls, .csv, .md) to XForms with pyxform.

Errors and warnings are rewritten so a form designer sees the sheet and row first, in
Bahasa Indonesia with the English original, instead of pyxform's "[row : 3]" prefix.
Workbooks are checked for zip bombs before any spreadsheet library opens them.
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyxform.errors import PyXFormError
from pyxform.xls2xform import convert

log = logging.getLogger(__name__)

SUFFIXES = (".xlsx", ".xls", ".csv", ".md")
_ROW = re.compile(r"^\s*\[row\s*:\s*(\d+)\]\s*")
_SHEET = re.compile(r"On the '([a-z_ -]+)' sheet,?\s*", re.IGNORECASE)

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
    ("survey sheet", "Lembar 'survey' wajib ada."),
)


class XLSFormError(ValueError):
    """The XLSForm cannot be converted; `messages` are ready to show to a designer."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages))


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
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise XLSFormError([f"Berkas .xlsx rusak atau bukan .xlsx ({exc})"]) from None
    if len(entries) > MAX_ENTRIES:
        raise XLSFormError([f"Berkas .xlsx memuat terlalu banyak bagian ({len(entries)})"])
    total = 0
    for entry in entries:
        total += entry.file_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > 1_000_000 and ratio > MAX_RATIO:
            raise XLSFormError(
                [f"Berkas .xlsx ditolak: bagian {entry.filename} mengembang {ratio:.0f}x "
                 "(kemungkinan zip bomb)"]
            )
    if total > MAX_UNCOMPRESSED:
        raise XLSFormError([f"Berkas .xlsx ditolak: isi terurai {total} byte terlalu besar"])


def convert_xlsform(path: Path) -> Converted:
    """Convert the XLSForm at `path`; the file stem is the fallback form ID."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise XLSFormError([f"Jenis berkas {path.name} tidak didukung; gunakan {', '.join(SUFFIXES)}"])
    if suffix == ".xlsx":
        check_archive(path)
    warnings: list[str] = []
    try:
        result = convert(xlsform=str(path), warnings=warnings, file_type=suffix)
    except PyXFormError as exc:
        raise XLSFormError([explain(line) for line in str(exc).splitlines() if line.strip()]) from None
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
