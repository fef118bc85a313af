"""The assignment lists a phone downloads: one households CSV and one members CSV per
enumerator, shaped as ODK entity lists (name, label, __version, ...).

Collect re-downloads a media file only when the manifest's hash changes, so each list is
built once per change of that enumerator's list (or of the registry) and kept on disk under
VERIVALI_DATA_DIR/lists/<project>/<user>/: the manifest and the file request both read the
cached copy, and polls from a hundred phones cost a file stat each.

The columns are the contract with the questionnaire (docs/questionnaire.md).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from server.assignments import queries
from server.registry.diff_queries import HEAD_RELATIONSHIPS

HOUSEHOLDS = "sasaran.csv"
MEMBERS = "sasaran_anggota.csv"
# File names a form may reference to receive the caller's own lists.
LIST_FILES = (HOUSEHOLDS, MEMBERS)
HOUSEHOLD_COLUMNS = [
    *("name", "label", "__version", "kk", "nama_krt", "alamat", "rt", "rw", "dusun"),
    *("kode_desa", "desa", "kecamatan", "desil", "jumlah_art", "kunjungan_ulang", "alasan"),
]
MEMBER_COLUMNS = [
    *("name", "label", "__version", "sasaran", "urut", "nik", "nama", "jenis_kelamin"),
    *("tanggal_lahir", "hubungan", "meninggal"),
]
REVISIT_PREFIX = "[ULANG] "


@dataclass(frozen=True)
class ListFile:
    """One built list: where it is on disk and the md5 the manifest announces."""

    name: str
    path: Path
    md5: str
    rows: int


class _HashingWriter:
    """A text sink that writes UTF-8 to a file and hashes what it wrote."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.md5 = hashlib.md5(usedforsecurity=False)

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.md5.update(data)
        self.handle.write(data)
        return len(text)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _write_csv(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> tuple[str, int]:
    count = 0
    with path.open("wb", buffering=1 << 20) as handle:
        sink = _HashingWriter(handle)
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return sink.md5.hexdigest(), count


def _is_head(relationship: str | None) -> bool:
    return (relationship or "").strip().upper() in HEAD_RELATIONSHIPS


def _member_rows(rows: Iterator[Any], heads: dict[int, tuple[str, int]]) -> Iterator[list[object]]:
    """Member CSV rows; fills `heads` with (head's name, member count) per target."""
    current, position, head = None, 0, ""
    for target_id, version, person_id, nik, name, sex, birth, relationship, dead in rows:
        if target_id != current:
            if current is not None:
                heads[current] = (head, position)
            current, position, head = target_id, 0, ""
        position += 1
        if not head and (_is_head(relationship) or position == 1) or _is_head(relationship):
            head = name
        yield [
            person_id,
            name,
            version,
            target_id,
            position,
            nik,
            name,
            sex,
            birth,
            relationship,
            _cell(bool(dead)),
        ]
    if current is not None:
        heads[current] = (head, position)


def _household_rows(
    rows: Iterator[Any], heads: dict[int, tuple[str, int]]
) -> Iterator[list[object]]:
    for (target_id, version, state, reason, kk, address, rt, rw, dusun, village_code,
         village, kecamatan, desil) in rows:  # fmt: skip
        head, size = heads.get(target_id, ("", 0))
        revisit = state == "revisit"
        place = ", ".join(part for part in (address, village) if part)
        label = f"{head} — {place}" if place else head or f"#{target_id}"
        if revisit:
            label = REVISIT_PREFIX + label
        yield [
            target_id,
            label,
            version,
            kk,
            head,
            address,
            rt,
            rw,
            dusun,
            village_code,
            village,
            kecamatan,
            desil,
            size,
            "1" if revisit else "0",
            reason if revisit else "",
        ]


def _folder(data_dir: Path, project_id: int, user_id: int) -> Path:
    return data_dir / "lists" / str(project_id) / str(user_id)


def _cached(folder: Path, key: str) -> dict[str, ListFile] | None:
    try:
        index = json.loads((folder / f"{key}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    files = {
        name: ListFile(name, folder / f"{key}-{name}", entry["md5"], entry["rows"])
        for name, entry in index.items()
    }
    if not all(f.path.exists() for f in files.values()):
        return None
    return files


def _build(
    session: Session, folder: Path, key: str, project_id: int, user_id: int
) -> dict[str, ListFile]:
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
    try:
        heads: dict[int, tuple[str, int]] = {}
        members_md5, members = _write_csv(
            scratch / MEMBERS,
            MEMBER_COLUMNS,
            _member_rows(queries.member_rows(session, project_id, user_id), heads),
        )
        households_md5, households = _write_csv(
            scratch / HOUSEHOLDS,
            HOUSEHOLD_COLUMNS,
            _household_rows(queries.household_rows(session, project_id, user_id), heads),
        )
        built = {
            HOUSEHOLDS: ListFile(
                HOUSEHOLDS, folder / f"{key}-{HOUSEHOLDS}", households_md5, households
            ),
            MEMBERS: ListFile(MEMBERS, folder / f"{key}-{MEMBERS}", members_md5, members),
        }
        for name, entry in built.items():
            os.replace(scratch / name, entry.path)
        index = scratch / "index.json"
        index.write_text(json.dumps({n: {"md5": f.md5, "rows": f.rows} for n, f in built.items()}))
        # The index lands last: a reader that finds it finds both files complete.
        os.replace(index, folder / f"{key}.json")
    finally:
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()
    _remove_older(folder, key)
    return built


def _remove_older(folder: Path, key: str) -> None:
    for path in folder.iterdir():
        current = path.name == f"{key}.json" or path.name.startswith(f"{key}-")
        if path.is_file() and not current:
            with contextlib.suppress(FileNotFoundError):  # another request cleaned up first
                path.unlink()


def enumerator_lists(
    session: Session, data_dir: Path, project_id: int, user_id: int
) -> dict[str, ListFile]:
    """The caller's lists, built if this version of them is not on disk yet."""
    version = queries.list_version(session, project_id, user_id)
    registry = queries.latest_registry_import(session)
    key = f"v{version}-r{registry}"
    folder = _folder(data_dir, project_id, user_id)
    return _cached(folder, key) or _build(session, folder, key, project_id, user_id)
