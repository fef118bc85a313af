"""Zip archives from users (.xlsx workbooks): refuse bombs before any library opens them."""

from __future__ import annotations

import zipfile
from pathlib import Path


class BrokenArchive(ValueError):
    """The file is not a readable zip archive."""


class UnsafeArchive(ValueError):
    """The archive would inflate beyond the limits (a zip bomb or something like one)."""


def check_zip(path: Path, max_entries: int, max_uncompressed: int, max_ratio: float) -> int:
    """Check an archive's directory (nothing is inflated); returns the total inflated size."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise BrokenArchive(str(exc)) from None
    if len(entries) > max_entries:
        raise UnsafeArchive(f"terlalu banyak bagian ({len(entries)})")
    total = 0
    for entry in entries:
        total += entry.file_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > 1_000_000 and ratio > max_ratio:
            raise UnsafeArchive(
                f"bagian {entry.filename} mengembang {ratio:.0f}x (kemungkinan zip bomb)"
            )
    if total > max_uncompressed:
        raise UnsafeArchive(f"isi terurai {total} byte terlalu besar")
    return total
