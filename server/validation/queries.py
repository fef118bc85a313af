"""Queries of the validation bridge: what a submission is, what it targets, its village's
centroid, its peers' keys, photo hashes, and the flags and keys it leaves behind (the
enumerator statistics have their own module, stats_queries)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.base import Executable

from server.assignments.models import ON_LIST, Target
from server.db import InsertIgnoring, run
from server.models import (
    Form,
    FormVersion,
    Project,
    Submission,
    SubmissionAttachment,
    SubmissionVersion,
)
from server.registry.models import Household, Person, Region
from server.rules.model import Point
from server.validation.models import PhotoHash, StoredFlag, SubmissionKey

CHUNK = 2_000


@dataclass(frozen=True)
class Stored:
    """A submission's current version with what the bridge needs around it."""

    submission_id: int
    version_id: int
    form_id: int
    project_id: int
    submitter_id: int | None
    review_state: str
    review_by_rules: bool
    instance_id: str
    xml: bytes
    received: datetime
    form_version: str
    current_form_version: str
    rule_settings: dict[str, Any] | None
    form_version_id: int  # the version the phone filled
    form_version_md5: str
    # What the last check left for the review queue (Submission.village_code and so on).
    village_code: str | None = None
    flag_rank: int = 0
    flag_count: int = 0
    project_zone: str | None = None  # the project's time zone, if it has its own
    interview_minutes: float | None = None


_SUBMITTED = aliased(FormVersion)
_CURRENT = aliased(FormVersion)
# Hot paths of a check are pre-built statements run on the connection (server/db.py run):
# building a select per call through the ORM cost more than the queries themselves.
_STORED = (
    select(
        Submission.id,
        SubmissionVersion.id,
        Submission.form_id,
        Form.project_id,
        Submission.submitter_id,
        Submission.review_state,
        Submission.review_by_rules,
        Submission.instance_id,
        SubmissionVersion.xml,
        SubmissionVersion.created_at,
        _SUBMITTED.version,
        _CURRENT.version,
        _CURRENT.rule_settings,
        _SUBMITTED.id,
        _SUBMITTED.md5,
        Submission.village_code,
        Submission.flag_rank,
        Submission.flag_count,
        Project.timezone,
        Submission.interview_minutes,
    )
    .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
    .join(_SUBMITTED, _SUBMITTED.id == SubmissionVersion.form_version_id)
    .join(Form, Form.id == Submission.form_id)
    .join(Project, Project.id == Form.project_id)
    .join(_CURRENT, _CURRENT.id == Form.current_version_id)
    .where(Submission.id.in_(bindparam("ids", expanding=True)), Submission.deleted_at.is_(None))
)


def stored(session: Session, submission_ids: Sequence[int]) -> dict[int, Stored]:
    """The live submissions among these, by ID."""
    found: dict[int, Stored] = {}
    for row in _rows(session, _STORED, "ids", submission_ids):
        found[row[0]] = Stored(*tuple(row))  # type: ignore[arg-type]
    return found


def _pieces(values: Iterable[Any]) -> Iterator[list[Any]]:
    """The distinct values, sorted, in pieces of at most CHUNK (one IN list each)."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _rows(
    session: Session, statement: Executable, name: str, values: Iterable[Any], **params: Any
) -> Iterator[Row[*tuple[Any, ...]]]:
    """The statement's rows for these values, bound a piece at a time to its expanding
    parameter `name`."""
    for piece in _pieces(values):
        yield from run(session, statement, {name: piece, **params})


_ATTACHMENTS = select(
    SubmissionAttachment.submission_version_id,
    SubmissionAttachment.name,
    SubmissionAttachment.blob_sha256,
).where(SubmissionAttachment.submission_version_id.in_(bindparam("ids", expanding=True)))
_PHOTO_HASHES = select(PhotoHash.blob_sha256, PhotoHash.phash).where(
    PhotoHash.blob_sha256.in_(bindparam("blobs", expanding=True))
)


def attachments(
    session: Session, version_ids: Sequence[int]
) -> dict[int, list[tuple[str, str | None]]]:
    """(file name, blob) of each version's expected attachments (blob None: not received)."""
    found: dict[int, list[tuple[str, str | None]]] = {v: [] for v in version_ids}
    for version, name, blob in _rows(session, _ATTACHMENTS, "ids", version_ids):
        found[version].append((name, blob))
    return found


def photo_hashes(session: Session, blobs: Sequence[str]) -> dict[str, int | None]:
    return {row[0]: row[1] for row in _rows(session, _PHOTO_HASHES, "blobs", blobs)}


_ADD_PHOTO_HASH = InsertIgnoring(
    PhotoHash, {"blob_sha256": bindparam("blob"), "phash": bindparam("phash")}
)


# On PostgreSQL one statement for the group's photos, its text always the same (psycopg's
# executemany runs an INSERT per row).
_ADD_PHOTO_HASHES_POSTGRESQL = """
    INSERT INTO photo_hashes (blob_sha256, phash)
    SELECT * FROM unnest(%s::text[], %s::bigint[]) ON CONFLICT DO NOTHING
"""


def add_photo_hashes(session: Session, hashes: dict[str, int | None]) -> None:
    """Keep computed hashes; a blob another check hashed first keeps its row (same file,
    same hash)."""
    if not hashes:
        return
    if session.get_bind().dialect.name == "postgresql":
        blobs, values = list(hashes), list(hashes.values())
        session.connection().exec_driver_sql(_ADD_PHOTO_HASHES_POSTGRESQL, (blobs, values))
    else:
        _ADD_PHOTO_HASH.run(
            session, [{"blob": blob, "phash": value} for blob, value in hashes.items()]
        )


@dataclass(frozen=True)
class TargetFacts:
    """The household a visit names, as the project's lists hold it."""

    assignee_id: int | None
    village_code: str | None
    household_id: int
    desil: int | None
    programmes: dict[str, Any]
    kk: str | None


_TARGETS = (
    select(
        Target.id,
        Target.project_id,
        Target.assignee_id,
        Target.village_code,
        Target.household_id,
        Household.desil,
        Household.programmes,
        Household.kk,
    )
    .join(Household, Household.id == Target.household_id)
    .where(Target.id.in_(bindparam("ids", expanding=True)))
)
_MEMBER_PROGRAMMES = select(Person.household_id, Person.programmes).where(
    Person.household_id.in_(bindparam("households", expanding=True))
)


def targets(
    session: Session, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], TargetFacts]:
    """The listed households, by (project, target ID). Their programmes are the household's
    own (P3KE keluarga) or, from extracts of one row per person (DTKS, DTSEN), every
    programme a member receives."""
    wanted = set(wanted)
    found: dict[tuple[int, int], TargetFacts] = {}
    for row in _rows(session, _TARGETS, "ids", (target_id for _project, target_id in wanted)):
        if (row[1], row[0]) in wanted:
            found[(row[1], row[0])] = TargetFacts(*row[2:])
    households = sorted({t.household_id for t in found.values() if not t.programmes})
    merged: dict[int, dict[str, Any]] = {h: {} for h in households}
    for household, programmes in _rows(session, _MEMBER_PROGRAMMES, "households", households):
        into = merged[household]
        for name, value in (programmes or {}).items():
            into[name] = bool(into.get(name)) or value is True
    return {
        key: replace(t, programmes=merged[t.household_id]) if not t.programmes else t
        for key, t in found.items()
    }


_CENTROID = select(Region.lat, Region.lon).where(Region.code == bindparam("code"))


def village_centroid(session: Session, code: str) -> Point | None:
    """The centroid of a desa/kelurahan, when one was loaded."""
    row = run(session, _CENTROID, {"code": code}).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return Point(float(row[0]), float(row[1]))


_ASSIGNED_VILLAGES = (
    select(Target.village_code)
    .where(
        Target.assignee_id == bindparam("user_id"),
        # "+ 0": SQLite, without statistics, otherwise walks the project's whole
        # (project, village) index (0.5 s at 300,000 targets) instead of the assignee's.
        Target.project_id + 0 == bindparam("project_id"),
        Target.state.in_((*ON_LIST, "visited")),
    )
    .distinct()
)


def assigned_villages(session: Session, project_id: int, user_id: int) -> frozenset[str]:
    rows = run(session, _ASSIGNED_VILLAGES, {"project_id": project_id, "user_id": user_id})
    return frozenset(row[0] for row in rows if row[0])


@dataclass(frozen=True)
class Holder:
    """A registry person holding a NIK."""

    key: str
    source: str
    dead: bool
    birth_date: date | None


_HOLDERS = (
    select(Person.nik, Person.id, Person.source, Person.dead, Person.birth_date)
    .where(Person.nik.in_(bindparam("niks", expanding=True)))
    .order_by(Person.id)
)


def persons_by_nik(session: Session, niks: Iterable[str]) -> dict[str, list[Holder]]:
    """The registry persons (every source) holding each NIK."""
    found: dict[str, list[Holder]] = {}
    for nik, person_id, source, dead, born in _rows(session, _HOLDERS, "niks", niks):
        found.setdefault(nik or "", []).append(Holder(str(person_id), source, bool(dead), born))
    return found


_PADAN = select(Person.id, Person.padan).where(Person.id.in_(bindparam("ids", expanding=True)))


def padan(session: Session, person_ids: Iterable[int]) -> dict[int, bool | None]:
    return {row[0]: row[1] for row in _rows(session, _PADAN, "ids", person_ids)}


_CURRENT_KEYS = select(SubmissionKey.submission_id, SubmissionKey.kind, SubmissionKey.value).where(
    SubmissionKey.submission_id.in_(bindparam("ids", expanding=True))
)
_DELETE_KEY = delete(SubmissionKey).where(
    SubmissionKey.submission_id == bindparam("sid"),
    SubmissionKey.kind == bindparam("k"),
    SubmissionKey.value == bindparam("v"),
)
_INSERT_KEYS_SQLITE = (
    "INSERT INTO submission_keys (submission_id, form_id, kind, value) VALUES (?, ?, ?, ?)"
)
# One statement for all the rows, its text the same every time (so kept prepared):
# psycopg's executemany sends each row's parameters and runs each INSERT on its own.
_INSERT_KEYS_POSTGRESQL = """
    INSERT INTO submission_keys (submission_id, form_id, kind, value)
    SELECT * FROM unnest(%s::integer[], %s::integer[], %s::text[], %s::text[])
"""


def replace_keys(
    session: Session, keys: Mapping[int, tuple[int, Iterable[tuple[str, str]]]]
) -> None:
    """Each submission's keys (submission ID: its form ID and keys) in place of its earlier
    ones. Only what changed is written: a check run again mostly finds the same keys, and
    writing a row costs far more (three indexes) than reading it."""
    wanted = {
        submission_id: {(kind, value[:80]) for kind, value in values}
        for submission_id, (_form_id, values) in keys.items()
    }
    held: dict[int, set[tuple[str, str]]] = {submission_id: set() for submission_id in keys}
    for submission_id, kind, value in _rows(session, _CURRENT_KEYS, "ids", keys):
        held[submission_id].add((kind, value))
    gone = [
        {"sid": submission_id, "k": kind, "v": value}
        for submission_id, had in held.items()
        for kind, value in sorted(had - wanted[submission_id])
    ]
    if gone:
        run(session, _DELETE_KEY, gone)
    new = [
        (submission_id, keys[submission_id][0], kind, value)
        for submission_id, values in wanted.items()
        for kind, value in sorted(values - held[submission_id])
    ]
    if not new:
        return
    if session.get_bind().dialect.name == "postgresql":
        columns = tuple(list(column) for column in zip(*new, strict=True))
        session.connection().exec_driver_sql(_INSERT_KEYS_POSTGRESQL, columns)
    else:  # the rows as they are (a first check writes about 32 keys a submission)
        session.connection().exec_driver_sql(_INSERT_KEYS_SQLITE, new)


# The keys by which later submissions find a peer. A rejected submission (by a person, or
# superseded by a revisit of its household) keeps none of them: it is nobody's duplicate.
FINDING_KINDS = ("nik", "name_birth", "kk", "ph", "cell")


def forget_finding_keys(session: Session, submission_ids: Sequence[int]) -> None:
    """Drop the keys by which later checks would find these submissions as peers."""
    if submission_ids:
        session.execute(
            delete(SubmissionKey).where(
                SubmissionKey.submission_id.in_(list(submission_ids)),
                SubmissionKey.kind.in_(FINDING_KINDS),
            )
        )


_SK = SubmissionKey
_NUMBERED = (
    select(
        _SK.kind,
        _SK.value,
        _SK.submission_id,
        func.row_number()
        .over(partition_by=(_SK.kind, _SK.value), order_by=_SK.submission_id)
        .label("n"),
    )
    .where(
        _SK.form_id == bindparam("form_id"),
        _SK.kind.in_(bindparam("kinds", expanding=True)),
        _SK.value.in_(bindparam("values", expanding=True)),
    )
    .subquery()
)
_SHARING = select(_NUMBERED.c.kind, _NUMBERED.c.value, _NUMBERED.c.submission_id).where(
    _NUMBERED.c.n <= bindparam("limit")
)


def holders(
    session: Session, form_id: int, keys: Iterable[tuple[str, str]], limit: int
) -> dict[tuple[str, str], list[int]]:
    """The submissions of the form holding each of these keys: at most `limit` each (the
    oldest), so a value everyone typed (a placeholder NIK) stays a bounded read."""
    wanted = set(keys)
    found: dict[tuple[str, str], list[int]] = {}
    kinds = sorted({kind for kind, _value in wanted})
    values = (value for _kind, value in wanted)
    params = {"form_id": form_id, "kinds": kinds, "limit": limit}
    for kind, value, submission_id in _rows(session, _SHARING, "values", values, **params):
        if (kind, value) in wanted:  # a KK and a NIK may be the same 16 digits
            found.setdefault((kind, value), []).append(submission_id)
    return found


def chunk_holders(
    session: Session, form_id: int, chunks: Iterable[str], limit: int
) -> dict[str, list[tuple[int, int]]]:
    """The (submission, photo hash) of the form's photos sharing each hash chunk, from the
    "ph" keys ("chunk:hash", photos.chunk_entries): at most `limit` per chunk (the oldest),
    so a chunk every dark photo shares stays a bounded read.

    One index range per chunk, [chunk + ":", chunk + ";"), the chunks passed as one array
    parameter, so the statement's text is always the same."""
    wanted = sorted(set(chunks))
    found: dict[str, list[tuple[int, int]]] = {}
    if session.get_bind().dialect.name == "sqlite":
        rows = _chunk_rows_sqlite(session, form_id, wanted, limit)
    else:
        rows = _chunk_rows_postgresql(session, form_id, wanted, limit)
    for value, submission_id in rows:
        chunk, _, whole = value.rpartition(":")
        found.setdefault(chunk, []).append((submission_id, int(whole)))
    return found


def _chunk_rows_sqlite(
    session: Session, form_id: int, wanted: list[str], limit: int
) -> Iterator[tuple[str, int]]:
    if wanted:
        params = (json.dumps(wanted), form_id, limit)
        yield from session.connection().exec_driver_sql(_CHUNK_SQL_SQLITE, params)  # type: ignore[misc]


# The chunks go in as one JSON array, each an index range of the join: the text never
# changes, so the statement is prepared once per connection, where an OR of ranges was a
# new text (and a new plan, 1-3 ms) at almost every batch. The lookup index holds the
# submission, so no range reads the table.
_CHUNK_SQL_SQLITE = """
    SELECT value, submission_id FROM (
        SELECT k.value, k.submission_id,
            row_number() OVER (PARTITION BY c.value ORDER BY k.submission_id) AS n
        FROM json_each(?) AS c JOIN submission_keys AS k
        ON k.form_id = ? AND k.kind = 'ph' AND k.value >= c.value || ':'
            AND k.value < c.value || ';'
    ) AS numbered WHERE n <= ?
"""


# PostgreSQL spends longer planning an OR of hundreds of ranges than running it (40 ms
# against 2 ms for 200): the chunks go in as one array, each range a LATERAL search, so
# the text never changes and psycopg keeps the statement prepared.
_CHUNK_SQL_POSTGRESQL = """
    SELECT k.value, k.submission_id FROM unnest(%s::text[]) AS c(chunk)
    CROSS JOIN LATERAL (
        SELECT value, submission_id FROM submission_keys
        WHERE form_id = %s AND kind = 'ph' AND value >= c.chunk || ':' AND value < c.chunk || ';'
        ORDER BY submission_id LIMIT %s
    ) AS k
"""


def _chunk_rows_postgresql(
    session: Session, form_id: int, wanted: list[str], limit: int
) -> Iterator[tuple[str, int]]:
    if wanted:
        params = (wanted, form_id, limit)
        yield from session.connection().exec_driver_sql(_CHUNK_SQL_POSTGRESQL, params)  # type: ignore[misc]


_CELL = aliased(SubmissionKey)
# The enumerator is part of the cell key (service._cell), so no join to submissions: like
# every look-up of keys, this trusts that a submission's keys exist only while it does.
_POINTS = (
    select(_CELL.value, SubmissionKey.submission_id, SubmissionKey.value)
    .join(_CELL, _CELL.submission_id == SubmissionKey.submission_id)
    .where(
        _CELL.form_id == bindparam("form_id"),
        _CELL.kind == "cell",
        _CELL.value.in_(bindparam("cells", expanding=True)),
        SubmissionKey.kind == "point",
    )
)
_KEYS_OF = select(SubmissionKey.submission_id, SubmissionKey.kind, SubmissionKey.value).where(
    SubmissionKey.submission_id.in_(bindparam("ids", expanding=True)),
    SubmissionKey.kind.in_(bindparam("kinds", expanding=True)),
)
_SUBMITTERS = select(Submission.id, Submission.submitter_id).where(
    Submission.id.in_(bindparam("ids", expanding=True))
)


def cell_points(
    session: Session, form_id: int, cells: Iterable[str]
) -> dict[str, list[tuple[int, str]]]:
    """Each grid cell's (submission, "lat,lon") of the form's submissions located in it."""
    found: dict[str, list[tuple[int, str]]] = {}
    for cell, submission_id, point in _rows(session, _POINTS, "cells", cells, form_id=form_id):
        found.setdefault(cell, []).append((submission_id, point))
    return found


def keys_of(
    session: Session, submission_ids: Iterable[int], kinds: Sequence[str]
) -> dict[int, list[tuple[str, str]]]:
    """The keys of these kinds that each of the submissions left."""
    found: dict[int, list[tuple[str, str]]] = {}
    for submission, kind, value in _rows(
        session, _KEYS_OF, "ids", submission_ids, kinds=list(kinds)
    ):
        found.setdefault(submission, []).append((kind, value))
    return found


def submitters(session: Session, submission_ids: Iterable[int]) -> dict[int, int | None]:
    return {row[0]: row[1] for row in _rows(session, _SUBMITTERS, "ids", submission_ids)}


_DELETE_FLAGS = (
    delete(StoredFlag)
    .where(StoredFlag.submission_id.in_(bindparam("ids", expanding=True)))
    .returning(StoredFlag.submission_id, StoredFlag.evidence)
)
_INSERT_FLAGS = insert(StoredFlag.__table__)  # type: ignore[arg-type]
_SET_STATE = (
    update(Submission)
    .where(Submission.id == bindparam("submission"))
    .values(review_state=bindparam("state"), review_by_rules=True)
)
_SET_QUEUE_FACTS = (
    update(Submission)
    .where(Submission.id == bindparam("submission"))
    .values(
        village_code=bindparam("village"),
        flag_rank=bindparam("rank"),
        flag_count=bindparam("n"),
        interview_minutes=bindparam("minutes"),
    )
)


def replace_flags(
    session: Session, flags: Mapping[int, tuple[int, Sequence[dict[str, Any]]]]
) -> dict[int, list[dict[str, Any]]]:
    """Each submission's flags (submission ID: its version ID and flags) in place of its
    earlier ones; the earlier ones' evidence, by submission."""
    replaced: dict[int, list[dict[str, Any]]] = {submission_id: [] for submission_id in flags}
    for submission_id, evidence in _rows(session, _DELETE_FLAGS, "ids", flags):
        replaced[submission_id].append(evidence or {})
    rows = [
        {"submission_id": submission_id, "version_id": version_id, **flag}
        for submission_id, (version_id, found) in flags.items()
        for flag in found
    ]
    if rows:
        run(session, _INSERT_FLAGS, rows)
    return replaced


def flags_of(session: Session, submission_id: int) -> list[StoredFlag]:
    return list(
        session.scalars(
            select(StoredFlag)
            .where(StoredFlag.submission_id == submission_id)
            .order_by(StoredFlag.id)
        )
    )


def set_review_states(session: Session, states: Mapping[int, str]) -> None:
    """The rules' decisions (submission ID: its state; each stays theirs until a person
    decides), with one statement."""
    if states:
        run(
            session,
            _SET_STATE,
            [{"submission": sid, "state": state} for sid, state in states.items()],
        )


QueueFacts = tuple[str | None, int, int, float | None]


def set_queue_facts(session: Session, facts: Mapping[int, QueueFacts]) -> None:
    """What the review queue and the dashboard filter, sort and count by (submission ID:
    its village, worst flag's rank, number of flags, interview minutes), for the
    submissions where it changed."""
    if facts:
        run(
            session,
            _SET_QUEUE_FACTS,
            [
                {"submission": sid, "village": village, "rank": rank, "n": n, "minutes": minutes}
                for sid, (village, rank, n, minutes) in facts.items()
            ],
        )


def form_ids(session: Session, xml_form_id: str) -> list[int]:
    """The forms (of every project) with this form ID."""
    return list(session.scalars(select(Form.id).where(Form.xml_form_id == xml_form_id)))


def review_states(session: Session, form_ids: Sequence[int] | None) -> dict[str, int]:
    """Current submissions by review state (of these forms, or all)."""
    query = (
        select(Submission.review_state, func.count())
        .where(Submission.deleted_at.is_(None))
        .group_by(Submission.review_state)
    )
    if form_ids is not None:
        query = query.where(Submission.form_id.in_(form_ids))
    return {str(state): int(n) for state, n in session.execute(query)}
