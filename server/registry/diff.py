"""Comparing the households of two registry sources: `verivali registry diff`.

Owns the rules that turn corresponding households (matched in SQL by
server/registry/diff_queries.py) into statuses and differences, the CSV target list they are
written to, and the audit row of that export. The typical use is the "Malang case": which
P3KE households DTKS does not list, so that field staff can visit them.

Statuses: `both` (the households correspond and agree), `conflict` (they correspond but
differ: another village, another number of members, another head, another desil, another
KK, or one household corresponds to several), `only_<a>` and `only_<b>` (no household of the
other source corresponds). A household that corresponds to several households of the other
source appears once per pair, each row a conflict naming the count; nobody picks a winner
for the reviewer.

The CSV holds keys, KK numbers, region codes, counts and difference codes; never a NIK, a
name or an address (rows join back to the registry by their keys). Every cell is made
formula-safe, the file appears only once its audit row is committed, and rows are written
as they stream from the database, so memory stays flat.
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Row, event
from sqlalchemy.orm import Session

from server.audit import record
from server.db import after_commit
from server.registry import diff_queries
from server.registry.models import REGISTRY_SOURCES
from server.registry.reading import neutralise
from server.registry.regions import undotted

BOTH, CONFLICT = "both", "conflict"
# Difference codes (counted in the summary), in the order they are written.
VILLAGE, MEMBERS, HEAD_NIK, HEAD_NAME, DESIL, KK, SEVERAL = (
    "village",
    "members",
    "head_nik",
    "head_name",
    "desil",
    "kk",
    "several",
)


class DiffError(ValueError):
    """The comparison cannot run as asked (same source twice, a malformed kecamatan)."""


def only(source: str) -> str:
    """The status of a household that only `source` lists."""
    return f"only_{source}"


def check_sources(a: str, b: str) -> None:
    """Two different known sources."""
    for source in (a, b):
        if source not in REGISTRY_SOURCES:
            raise DiffError(f"unknown source {source!r}; one of {', '.join(REGISTRY_SOURCES)}")
    if a == b:
        raise DiffError(f"compare two different sources, not {a} with itself")


def check_kecamatan(code: str) -> str:
    """The undotted 6-digit kecamatan code ('35.73.04' and '357304' are both accepted)."""
    undotted_code = undotted(code.strip())
    if not re.fullmatch(r"[0-9]{6}", undotted_code):
        raise DiffError(f"{code!r} is not a kecamatan code like 357304 or 35.73.04")
    return undotted_code


def header(a: str, b: str) -> list[str]:
    """The CSV columns; per-side columns carry the source's name."""
    sides = ("key", "kk", "village", "kecamatan", "members", "desil")
    return [
        "status",
        "match",
        *(f"{source}_{column}" for column in sides for source in (a, b)),
        "differences",
    ]


@dataclass
class DiffSummary:
    """What a comparison found: rows per status, conflicts per difference, the file."""

    a: str
    b: str
    kecamatan: str | None
    out: Path
    households_a: int = 0
    households_b: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    differences: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.statuses.values())


def differences(row: Row[Any], a: str, b: str) -> list[tuple[str, str]]:
    """(code, text) for each way two corresponding households disagree; no personal data."""
    found: list[tuple[str, str]] = []
    if row.a_village and row.b_village and row.a_village != row.b_village:
        found.append((VILLAGE, f"village {a} {row.a_village}, {b} {row.b_village}"))
    # Only when both sides list members: a family file without its individual file has none.
    if row.a_members and row.b_members and row.a_members != row.b_members:
        found.append((MEMBERS, f"members {a} {row.a_members}, {b} {row.b_members}"))
    if row.a_head_nik and row.b_head_nik and row.a_head_nik != row.b_head_nik:
        found.append((HEAD_NIK, "head NIK differs"))
    if row.a_head_name and row.b_head_name and row.a_head_name != row.b_head_name:
        found.append((HEAD_NAME, "head name differs"))
    if row.a_desil is not None and row.b_desil is not None and row.a_desil != row.b_desil:
        found.append((DESIL, f"desil {a} {row.a_desil}, {b} {row.b_desil}"))
    if row.a_kk and row.b_kk and row.a_kk != row.b_kk:
        found.append((KK, "KK differs"))
    if row.a_links > 1:
        found.append((SEVERAL, f"{a} household matches {row.a_links} {b} households"))
    if row.b_links > 1:
        found.append((SEVERAL, f"{b} household matches {row.b_links} {a} households"))
    return found


def _cells(values: list[Any]) -> list[str]:
    return [neutralise("" if value is None else str(value)) for value in values]


def _kecamatan(village: str | None) -> str:
    return village[:6] if village else ""


def _rows(reader: Session, summary: DiffSummary) -> Iterator[list[str]]:
    """CSV rows: pairs first (conflicts and agreements), then each side's unmatched."""
    a, b, kecamatan = summary.a, summary.b, summary.kecamatan
    statement = diff_queries.pairs_statement(a, b, kecamatan)
    for row in diff_queries.stream(reader, statement):
        found = differences(row, a, b)
        status = CONFLICT if found else BOTH
        summary.statuses[status] += 1
        summary.differences.update({code for code, _ in found})
        yield _cells(
            [
                status,
                row.match,
                row.a_key,
                row.b_key,
                row.a_kk,
                row.b_kk,
                row.a_village,
                row.b_village,
                _kecamatan(row.a_village),
                _kecamatan(row.b_village),
                row.a_members,
                row.b_members,
                row.a_desil,
                row.b_desil,
                "; ".join(text for _, text in found),
            ]
        )
    for own, other, first in ((a, b, True), (b, a, False)):
        status = only(own)
        statement = diff_queries.unmatched_statement(own, other, kecamatan)
        for row in diff_queries.stream(reader, statement):
            summary.statuses[status] += 1
            mine = [row.x_key, row.x_kk, row.x_village, _kecamatan(row.x_village)]
            mine += [row.x_members, row.x_desil]
            # Interleave into the a/b column pairs, leaving the other side empty.
            sides = [(value, None) if first else (None, value) for value in mine]
            yield _cells([status, "", *(v for pair in sides for v in pair), ""])


def do_diff(
    session: Session,
    a: str,
    b: str,
    out: Path,
    kecamatan: str | None = None,
    reader: Session | None = None,
) -> DiffSummary:
    """Compare sources `a` and `b`, write the CSV to `out` and an audit row of the export.

    The file is written beside `out` and moved into place once `session` commits. Reads go
    through `reader` when given: on SQLite a write session holds the writer lock from its
    first statement, so a read-only session keeps submissions flowing while a large
    comparison runs, and `session` only writes the audit row at the end."""
    started = time.monotonic()
    check_sources(a, b)
    kecamatan = check_kecamatan(kecamatan) if kecamatan else None
    reader = reader or session
    summary = DiffSummary(a=a, b=b, kecamatan=kecamatan, out=out)
    summary.households_a = diff_queries.count_households(reader, a, kecamatan)
    summary.households_b = diff_queries.count_households(reader, b, kecamatan)
    partial = out.with_name(out.name + ".part")
    try:
        with partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header(a, b))
            writer.writerows(_rows(reader, summary))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    summary.seconds = time.monotonic() - started
    record(
        session,
        actor_id=None,
        action="registry.diff.export",
        subject_type="registry",
        subject_id=None,
        a=a,
        b=b,
        kecamatan=kecamatan,
        file=out.name,
        rows=summary.rows,
        statuses=dict(sorted(summary.statuses.items())),
        differences=dict(sorted(summary.differences.items())),
    )
    _publish_on_commit(session, partial, out)
    return summary


def _publish_on_commit(session: Session, partial: Path, out: Path) -> None:
    """Move the file into place when the unit of work commits (its audit row with it);
    delete it if the unit of work rolls back instead, so no unaudited export stays behind."""

    def discard(_session: Session) -> None:
        partial.unlink(missing_ok=True)

    def publish() -> None:
        event.remove(session, "after_rollback", discard)
        os.replace(partial, out)

    event.listen(session, "after_rollback", discard)
    after_commit(session, publish)
