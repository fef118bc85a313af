"""Importing a registry extract: stream, validate, upsert in batches, report.

One import is one unit of work: a failure anywhere rolls everything back, so the previous
data stays as it was. Rows are read and written in batches, so memory stays flat whatever
the file size. Rows that cannot be stored (no key, no name) go to a CSV of rejected rows
with their line number and reason; rows that can be stored but look wrong (an impossible
NIK, a village not in today's table) are stored with their issues for the rule engine.

A large extract is read, mapped and checked in a second process (import_reader.py) while
this one writes the previous batch: the two halves cost about the same, so a million rows
take about half the time (docs/decisions/0007-registry-import-and-matching.md). Small files
are read in-process by the same code.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from server.models import utcnow
from server.registry import bulk, queries
from server.registry.mapping import Profile, ProfileError, detect, shipped_profiles
from server.registry.models import RegistryImport
from server.registry.readers import open_extract
from server.registry.reading import Prepared, ReadPlan, RegionTables, Totals, read
from server.registry.regions import area_codes

# Below this size a second process costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024


class ExtractImportError(ValueError):
    """The extract cannot be imported; nothing was changed."""


@dataclass
class ImportSummary:
    """What an import did, for the terminal and the import row."""

    import_id: int
    profile: str
    rows: int = 0
    households: int = 0
    persons: int = 0
    rejected: int = 0
    issues: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "households": self.households,
            "persons": self.persons,
            "rejected": self.rejected,
            "issues": dict(sorted(self.issues.items())),
            "seconds": round(self.seconds, 1),
        }


@contextmanager
def _reading(plan: ReadPlan, parallel: bool) -> Iterator[Iterator[Prepared | Totals]]:
    """What _read yields, read here or in a second process (see the module docstring).

    The second process is a fresh interpreter (`python -m server.registry.import_reader`)
    that gets the plan on its stdin and sends pickled batches back through a pipe of its
    own; it stops when this side closes the pipe."""
    if not parallel:
        yield read(plan)
        return
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "server.registry.import_reader", str(write_fd)],
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
        )
    finally:
        os.close(write_fd)
    stream = os.fdopen(read_fd, "rb", buffering=1 << 20)
    assert child.stdin is not None
    with child.stdin:
        pickle.dump(plan, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)

    def received() -> Iterator[Prepared | Totals]:
        while True:
            try:
                item = pickle.load(stream)  # noqa: S301 - from our own child, over our pipe
            except EOFError:
                raise RuntimeError("the process reading the extract stopped unexpectedly") from None
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, Totals):
                return

    try:
        yield received()
    finally:
        stream.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def do_import(
    session: Session,
    path: Path,
    source: str,
    profile: Profile | None = None,
    rejected_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    today: date | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import an extract into the registry in the caller's unit of work.

    `parallel` reads in a second process; by default, for files of PARALLEL_MIN_BYTES up."""
    started = time.monotonic()
    extract = open_extract(path)
    try:
        header, size = extract.header, extract.size
    finally:
        extract.close()
    try:
        profile = profile or detect(header, source, shipped_profiles())
    except ProfileError as exc:
        raise ExtractImportError(str(exc)) from None
    if profile.source != source:
        raise ExtractImportError(f"profile {profile.name} is for {profile.source}, not {source}")
    if missing := profile.missing(header):
        raise ExtractImportError(f"missing required column(s): {', '.join(missing)}")
    run_row = RegistryImport(
        source=source,
        profile=profile.name,
        file_name=path.name[:255],
        file_sha256=_sha256(path),
        status="running",
        header=[h.replace("\ufeff", "").strip() for h in header],
    )
    session.add(run_row)
    session.flush()
    plan = ReadPlan(
        path=path,
        profile=profile,
        regions=region_tables(session, names=profile.region == "names"),
        import_id=run_row.id,
        today=today or date.today(),
        rejected_path=rejected_path or path.with_name(path.stem + ".rejected.csv"),
        dialect=session.get_bind().dialect.name,
    )
    summary = ImportSummary(import_id=run_row.id, profile=profile.name)
    if parallel is None:
        parallel = size >= PARALLEL_MIN_BYTES
    with queries.bulk_writes(session), _reading(plan, parallel) as items:
        for item in items:
            if isinstance(item, Totals):
                summary.rows, summary.rejected = item.rows, item.rejected
                summary.issues = item.issues
                continue
            _write(session, item)
            if progress:
                progress(item.position, size)
    summary.households = queries.count_imported_households(session, run_row.id)
    summary.persons = queries.count_imported_persons(session, run_row.id)
    summary.seconds = time.monotonic() - started
    run_row.status = "done"
    run_row.finished_at = utcnow()
    run_row.summary = summary.as_dict() | {"rejected_file": plan.rejected_path.name}
    return summary


def _write(session: Session, batch: Prepared) -> None:
    ids = queries.write_households(session, batch.households, stub=batch.stub)
    slot = bulk.PERSON_HOUSEHOLD_ID
    for key, params in zip(batch.person_households, batch.persons, strict=True):
        params[slot] = ids[key]
    queries.write_persons(session, batch.persons)


def region_tables(session: Session, names: bool) -> RegionTables:
    """Today's codes, and the village names when rows name their region."""
    return RegionTables(
        villages="\n".join(queries.village_codes(session)),
        areas="\n".join(area_codes(session)),
        names="\n".join("\t".join(row) for row in queries.village_names(session)) if names else "",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
