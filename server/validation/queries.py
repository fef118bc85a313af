"""Queries of the validation bridge: what a submission is, what it targets, its village's
centroid, its peers' keys, photo hashes, and the flags and keys it leaves behind (the
enumerator statistics have their own module, stats_queries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from server.assignments.models import ON_LIST, Target
from server.db import InsertIgnoring, run
from server.models import Form, FormVersion, Submission, SubmissionAttachment, SubmissionVersion
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
    )
    .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
    .join(_SUBMITTED, _SUBMITTED.id == SubmissionVersion.form_version_id)
    .join(Form, Form.id == Submission.form_id)
    .join(_CURRENT, _CURRENT.id == Form.current_version_id)
    .where(Submission.id == bindparam("id"), Submission.deleted_at.is_(None))
)


def stored(session: Session, submission_id: int) -> Stored | None:
    row = run(session, _STORED, {"id": submission_id}).first()
    return Stored(*tuple(row)) if row else None  # type: ignore[arg-type]


_ATTACHMENTS = select(SubmissionAttachment.name, SubmissionAttachment.blob_sha256).where(
    SubmissionAttachment.submission_version_id == bindparam("id")
)
_PHOTO_HASHES = select(PhotoHash.blob_sha256, PhotoHash.phash).where(
    PhotoHash.blob_sha256.in_(bindparam("blobs", expanding=True))
)


def attachments(session: Session, version_id: int) -> list[tuple[str, str | None]]:
    """(file name, blob) of the version's expected attachments (blob None: not received)."""
    return [(row[0], row[1]) for row in run(session, _ATTACHMENTS, {"id": version_id})]


def photo_hashes(session: Session, blobs: Sequence[str]) -> dict[str, int | None]:
    if not blobs:
        return {}
    return {row[0]: row[1] for row in run(session, _PHOTO_HASHES, {"blobs": list(blobs)})}


_ADD_PHOTO_HASH = InsertIgnoring(
    PhotoHash, {"blob_sha256": bindparam("blob"), "phash": bindparam("phash")}
)


def add_photo_hashes(session: Session, hashes: dict[str, int | None]) -> None:
    """Keep computed hashes; a blob another check hashed first keeps its row (same file,
    same hash)."""
    if hashes:
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


_TARGET = (
    select(
        Target.assignee_id,
        Target.village_code,
        Target.household_id,
        Household.desil,
        Household.programmes,
        Household.kk,
    )
    .join(Household, Household.id == Target.household_id)
    .where(Target.id == bindparam("id"), Target.project_id == bindparam("project_id"))
)


_MEMBER_PROGRAMMES = select(Person.programmes).where(Person.household_id == bindparam("household"))


def target(session: Session, project_id: int, target_id: int) -> TargetFacts | None:
    """The listed household. Its programmes are the household's own (P3KE keluarga) or,
    from extracts of one row per person (DTKS, DTSEN), every programme a member receives."""
    row = run(session, _TARGET, {"id": target_id, "project_id": project_id}).first()
    if row is None:
        return None
    found = TargetFacts(*row)
    if found.programmes:
        return found
    merged: dict[str, Any] = {}
    for (programmes,) in run(session, _MEMBER_PROGRAMMES, {"household": found.household_id}):
        for name, value in (programmes or {}).items():
            merged[name] = bool(merged.get(name)) or value is True
    return replace(found, programmes=merged)


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
    wanted = sorted(set(niks))
    found: dict[str, list[Holder]] = {}
    if not wanted:
        return found
    for nik, person_id, source, dead, born in run(session, _HOLDERS, {"niks": wanted}):
        found.setdefault(nik or "", []).append(Holder(str(person_id), source, bool(dead), born))
    return found


_PADAN = select(Person.id, Person.padan).where(Person.id.in_(bindparam("ids", expanding=True)))


def padan(session: Session, person_ids: Iterable[int]) -> dict[int, bool | None]:
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    return {row[0]: row[1] for row in run(session, _PADAN, {"ids": ids})}


_DELETE_KEYS = delete(SubmissionKey).where(SubmissionKey.submission_id == bindparam("id"))
_INSERT_KEYS = insert(SubmissionKey.__table__)  # type: ignore[arg-type]


def replace_keys(
    session: Session, submission_id: int, form_id: int, keys: Iterable[tuple[str, str]]
) -> None:
    run(session, _DELETE_KEYS, {"id": submission_id})
    rows = [
        {"submission_id": submission_id, "form_id": form_id, "kind": kind, "value": value[:80]}
        for kind, value in sorted(set(keys))
    ]
    if rows:
        run(session, _INSERT_KEYS, rows)


_PEERS = (
    select(SubmissionKey.submission_id)
    .where(
        SubmissionKey.form_id == bindparam("form_id"),
        SubmissionKey.kind == bindparam("kind"),
        SubmissionKey.value.in_(bindparam("values", expanding=True)),
        SubmissionKey.submission_id != bindparam("id"),
    )
    .distinct()
    .limit(bindparam("limit"))
)


def peer_ids(
    session: Session,
    submission_id: int,
    form_id: int,
    keys: Iterable[tuple[str, str]],
    limit: int,
) -> list[int]:
    """Other submissions of the form sharing any of these keys (at most `limit`)."""
    by_kind: dict[str, set[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, set()).add(value)
    found: set[int] = set()
    for kind, values in by_kind.items():
        ordered = sorted(values)
        for start in range(0, len(ordered), CHUNK):
            params = {
                "form_id": form_id,
                "kind": kind,
                "values": ordered[start : start + CHUNK],
                "id": submission_id,
                "limit": limit,
            }
            found.update(row[0] for row in run(session, _PEERS, params))
    return sorted(found)[:limit]


_CELL = aliased(SubmissionKey)
_POINTS = (
    select(SubmissionKey.submission_id, SubmissionKey.value)
    .join(_CELL, _CELL.submission_id == SubmissionKey.submission_id)
    .join(Submission, Submission.id == SubmissionKey.submission_id)
    .where(
        _CELL.form_id == bindparam("form_id"),
        _CELL.kind == "cell",
        _CELL.value.in_(bindparam("cells", expanding=True)),
        SubmissionKey.kind == "point",
        Submission.submitter_id == bindparam("submitter_id"),
        Submission.id != bindparam("id"),
        Submission.deleted_at.is_(None),
    )
)
_KEYS_OF = select(SubmissionKey.submission_id, SubmissionKey.kind, SubmissionKey.value).where(
    SubmissionKey.submission_id.in_(bindparam("ids", expanding=True)),
    SubmissionKey.kind.in_(bindparam("kinds", expanding=True)),
)
_SUBMITTERS = select(Submission.id, Submission.submitter_id).where(
    Submission.id.in_(bindparam("ids", expanding=True))
)


def submitter_points(
    session: Session, form_id: int, submitter_id: int, submission_id: int, cells: Sequence[str]
) -> list[tuple[int, str]]:
    """(submission, "lat,lon") of the submitter's other submissions of the form that
    recorded a location in one of these grid cells."""
    params = {
        "form_id": form_id,
        "submitter_id": submitter_id,
        "id": submission_id,
        "cells": list(cells),
    }
    return [(row[0], row[1]) for row in run(session, _POINTS, params)]


def keys_of(
    session: Session, submission_ids: Sequence[int], kinds: Sequence[str]
) -> dict[int, list[tuple[str, str]]]:
    """The keys of these kinds that each of the submissions left."""
    found: dict[int, list[tuple[str, str]]] = {}
    for start in range(0, len(submission_ids), CHUNK):
        params = {"ids": list(submission_ids[start : start + CHUNK]), "kinds": list(kinds)}
        for submission, kind, value in run(session, _KEYS_OF, params):
            found.setdefault(submission, []).append((kind, value))
    return found


def submitters(session: Session, submission_ids: Sequence[int]) -> dict[int, int | None]:
    if not submission_ids:
        return {}
    return {row[0]: row[1] for row in run(session, _SUBMITTERS, {"ids": list(submission_ids)})}


_DELETE_FLAGS = (
    delete(StoredFlag)
    .where(StoredFlag.submission_id == bindparam("id"))
    .returning(StoredFlag.evidence)
)
_INSERT_FLAGS = insert(StoredFlag.__table__)  # type: ignore[arg-type]
_SET_STATE = (
    update(Submission)
    .where(Submission.id == bindparam("submission"))
    .values(review_state=bindparam("state"), review_by_rules=True)
)


def replace_flags(
    session: Session, submission_id: int, version_id: int, flags: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Store the submission's flags in place of its earlier ones; the earlier ones' evidence."""
    replaced = [row[0] or {} for row in run(session, _DELETE_FLAGS, {"id": submission_id})]
    if flags:
        run(
            session,
            _INSERT_FLAGS,
            [{"submission_id": submission_id, "version_id": version_id, **f} for f in flags],
        )
    return replaced


def flags_of(session: Session, submission_id: int) -> list[StoredFlag]:
    return list(
        session.scalars(
            select(StoredFlag)
            .where(StoredFlag.submission_id == submission_id)
            .order_by(StoredFlag.id)
        )
    )


def set_review_state(session: Session, submission_id: int, state: str) -> None:
    """The rules' decision (it stays theirs until a person decides)."""
    run(session, _SET_STATE, {"submission": submission_id, "state": state})


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
