"""The assignment lists a phone downloads: one households CSV and one members CSV per
enumerator, shaped as ODK entity lists (name, label, __version, ...).

Two steps keep a 100,000-household list fast to serve:
- `render()` writes each target's registry data as ready CSV cells into the target row when
  the list is made (or refreshed): the only step that reads the registry.
- `enumerator_lists()` concatenates an enumerator's rendered rows into the two files, once
  per change of that enumerator's list, and keeps them on disk under
  VERIVALI_DATA_DIR/lists/<project>/<user>/. The manifest and the file request both read the
  cached copy, and polls from a hundred phones cost a file stat each.

The columns are the contract with the questionnaire (docs/questionnaire.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
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
RENDER_BATCH = 2_000


@dataclass(frozen=True)
class ListFile:
    """One built list: where it is on disk and the md5 the manifest announces."""

    name: str
    path: Path
    md5: str
    rows: int


def cell(value: object) -> str:
    """One CSV cell as csv.writer writes it (quoted only when it must be)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _is_head(relationship: str | None) -> bool:
    return (relationship or "").strip().upper() in HEAD_RELATIONSHIPS


def _render_members(target_id: int, people: Iterable[Any]) -> tuple[str, str, int]:
    """(member lines, head's name, member count) of one target's household."""
    lines, head, found_head, count = [], "", False, 0
    # A member's __version is its target's version when rendered: member rows change only
    # when the list is refreshed from the registry.
    for count, (_tid, version, person_id, nik, name, sex, birth, relationship, dead) in enumerate(
        people, start=1
    ):
        if not found_head and (_is_head(relationship) or count == 1):
            head, found_head = name, _is_head(relationship)
        # Collect drops a whole entity list update at a row without a label.
        label = name or f"#{person_id}"
        cells = (person_id, label, version, target_id, count, nik, name, sex, birth)
        lines.append(
            ",".join(cell(c) for c in cells) + f",{cell(relationship)},{cell(bool(dead))}\n"
        )
    return "".join(lines), head or "", count


def render(session: Session, target_ids: Sequence[int]) -> int:
    """Write the registry data of these targets into their rows; returns how many."""
    done = 0
    for start in range(0, len(target_ids), RENDER_BATCH):
        chunk = target_ids[start : start + RENDER_BATCH]
        members = {
            tid: _render_members(tid, rows)
            for tid, rows in groupby(queries.members_to_render(session, chunk), key=lambda r: r[0])
        }
        updates = []
        for (
            target_id,
            kk,
            address,
            rt,
            rw,
            dusun,
            village_code,
            village,
            kec,
            desil,
        ) in queries.households_to_render(session, chunk):
            lines, head, size = members.get(target_id, ("", "", 0))
            place = ", ".join(part for part in (address, village) if part)
            cells = (kk, head, address, rt, rw, dusun, village_code, village, kec, desil, size)
            updates.append(
                {
                    "target_id": target_id,
                    "label": f"{head} — {place}" if place else head or f"#{target_id}",
                    "snapshot": ",".join(cell(c) for c in cells),
                    "members": lines,
                }
            )
        queries.store_snapshots(session, updates)
        done += len(updates)
    return done


class _HashedFile:
    """A file written in large blocks, hashed as it goes."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.handle = path.open("wb")
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.rows = 0
        self.size = 0
        self.write(",".join(header) + "\n")

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.md5.update(data)
        self.handle.write(data)
        self.size += len(data)

    def close(self) -> None:
        self.handle.close()

    def entry(self) -> dict[str, Any]:
        return {"md5": self.md5.hexdigest(), "rows": self.rows, "size": self.size}


def _write_lists(
    rows: Iterable[tuple[str, str]], households: _HashedFile, members: _HashedFile
) -> None:
    batch: list[tuple[str, str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 2_000:
            _write_batch(batch, households, members)
            batch = []
    _write_batch(batch, households, members)


def _write_batch(
    batch: list[tuple[str, str]], households: _HashedFile, members: _HashedFile
) -> None:
    if not batch:
        return
    people = "".join(row[1] for row in batch)
    households.write("\n".join(row[0] for row in batch) + "\n")
    members.write(people)
    households.rows += len(batch)
    members.rows += people.count("\n")


def _folder(data_dir: Path, project_id: int, user_id: int) -> Path:
    return data_dir / "lists" / str(project_id) / str(user_id)


def _cached(folder: Path, key: str) -> dict[str, ListFile] | None:
    try:
        index = json.loads((folder / f"{key}.json").read_text())
        files = {
            name: ListFile(name, folder / f"{key}-{name}", entry["md5"], entry["rows"])
            for name, entry in index.items()
        }
        # The files are a cache (not fsynced): one cut short by a crash is rebuilt.
        if all(f.path.stat().st_size == index[f.name]["size"] for f in files.values()):
            return files
    except (OSError, ValueError, KeyError):
        pass
    return None


def _build(
    session: Session, folder: Path, key: str, project_id: int, user_id: int
) -> dict[str, ListFile]:
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
    try:
        files = {
            HOUSEHOLDS: _HashedFile(scratch / HOUSEHOLDS, HOUSEHOLD_COLUMNS),
            MEMBERS: _HashedFile(scratch / MEMBERS, MEMBER_COLUMNS),
        }
        try:
            rows = queries.list_lines(session, project_id, user_id)
            _write_lists(rows, files[HOUSEHOLDS], files[MEMBERS])
        finally:
            for file in files.values():
                file.close()
        entries = {name: file.entry() for name, file in files.items()}
        built = {
            name: ListFile(name, folder / f"{key}-{name}", entry["md5"], entry["rows"])
            for name, entry in entries.items()
        }
        for name, listed in built.items():
            os.replace(scratch / name, listed.path)
        index = scratch / "index.json"
        index.write_text(json.dumps(entries))
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
        current = path.name in (f"{key}.json", ".lock") or path.name.startswith(f"{key}-")
        if path.is_file() and not current:
            with contextlib.suppress(FileNotFoundError):  # another request cleaned up first
                path.unlink()


def enumerator_lists(
    session: Session, data_dir: Path, project_id: int, user_id: int
) -> dict[str, ListFile]:
    """The caller's lists, built if this version of them is not on disk yet."""
    key = f"v{queries.list_version(session, project_id, user_id)}"
    folder = _folder(data_dir, project_id, user_id)
    cached = _cached(folder, key)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    # One build per list version: phones (or a manifest and a file request) that ask at the
    # same moment wait for the first build instead of repeating it.
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _cached(folder, key) or _build(session, folder, key, project_id, user_id)
