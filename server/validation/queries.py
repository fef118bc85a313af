"""Queries of the validation bridge: what a submission is, what it targets, its village's
centroid, its peers' keys, photo hashes, and the flags and keys it leaves behind (the
enumerator statistics have their own module, stats_queries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, aliased

from server.assignments.models import ON_LIST, Target
from server.db import run
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


def stored(session: Session, submission_id: int) -> Stored | None:
    submitted = aliased(FormVersion)
    current = aliased(FormVersion)
    row = session.execute(
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
            submitted.version,
            current.version,
            current.rule_settings,
            submitted.id,
            submitted.md5,
        )
        .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
        .join(submitted, submitted.id == SubmissionVersion.form_version_id)
        .join(Form, Form.id == Submission.form_id)
        .join(current, current.id == Form.current_version_id)
        .where(Submission.id == submission_id, Submission.deleted_at.is_(None))
    ).first()
    return Stored(*tuple(row)) if row else None  # type: ignore[arg-type]


def attachments(session: Session, version_id: int) -> list[tuple[str, str | None]]:
    """(file name, blob) of the version's expected attachments (blob None: not received)."""
    rows = session.execute(
        select(SubmissionAttachment.name, SubmissionAttachment.blob_sha256).where(
            SubmissionAttachment.submission_version_id == version_id
        )
    )
    return [(row[0], row[1]) for row in rows]


def photo_hashes(session: Session, blobs: Sequence[str]) -> dict[str, int | None]:
    if not blobs:
        return {}
    rows = session.execute(
        select(PhotoHash.blob_sha256, PhotoHash.phash).where(PhotoHash.blob_sha256.in_(blobs))
    )
    return {row[0]: row[1] for row in rows}


def add_photo_hashes(session: Session, hashes: dict[str, int | None]) -> None:
    for blob, value in hashes.items():
        session.merge(PhotoHash(blob_sha256=blob, phash=value))


@dataclass(frozen=True)
class TargetFacts:
    """The household a visit names, as the project's lists hold it."""

    assignee_id: int | None
    village_code: str | None
    household_id: int
    desil: int | None
    programmes: dict[str, Any]
    kk: str | None


def target(session: Session, project_id: int, target_id: int) -> TargetFacts | None:
    row = session.execute(
        select(
            Target.assignee_id,
            Target.village_code,
            Target.household_id,
            Household.desil,
            Household.programmes,
            Household.kk,
        )
        .join(Household, Household.id == Target.household_id)
        .where(Target.id == target_id, Target.project_id == project_id)
    ).first()
    return TargetFacts(*row) if row else None


_CENTROID = select(Region.lat, Region.lon).where(Region.code == bindparam("code"))


def village_centroid(session: Session, code: str) -> Point | None:
    """The centroid of a desa/kelurahan, when one was loaded."""
    row = run(session, _CENTROID, {"code": code}).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return Point(float(row[0]), float(row[1]))


def assigned_villages(session: Session, project_id: int, user_id: int) -> frozenset[str]:
    rows = session.scalars(
        select(Target.village_code)
        .where(
            Target.project_id == project_id,
            Target.assignee_id == user_id,
            Target.village_code.is_not(None),
            Target.state.in_((*ON_LIST, "visited")),
        )
        .distinct()
    )
    return frozenset(v for v in rows if v)


@dataclass(frozen=True)
class Holder:
    """A registry person holding a NIK."""

    key: str
    source: str
    dead: bool
    birth_date: date | None


def persons_by_nik(session: Session, niks: Iterable[str]) -> dict[str, list[Holder]]:
    """The registry persons (every source) holding each NIK."""
    wanted = sorted(set(niks))
    found: dict[str, list[Holder]] = {}
    if not wanted:
        return found
    for nik, person_id, source, dead, born in session.execute(
        select(Person.nik, Person.id, Person.source, Person.dead, Person.birth_date)
        .where(Person.nik.in_(wanted))
        .order_by(Person.id)
    ):
        found.setdefault(nik or "", []).append(Holder(str(person_id), source, bool(dead), born))
    return found


def padan(session: Session, person_ids: Iterable[int]) -> dict[int, bool | None]:
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    rows = session.execute(select(Person.id, Person.padan).where(Person.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


def replace_keys(
    session: Session, submission_id: int, form_id: int, keys: Iterable[tuple[str, str]]
) -> None:
    session.execute(delete(SubmissionKey).where(SubmissionKey.submission_id == submission_id))
    rows = [
        {"submission_id": submission_id, "form_id": form_id, "kind": kind, "value": value[:80]}
        for kind, value in sorted(set(keys))
    ]
    if rows:
        session.execute(insert(SubmissionKey), rows)


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
            rows = session.scalars(
                select(SubmissionKey.submission_id)
                .where(
                    SubmissionKey.form_id == form_id,
                    SubmissionKey.kind == kind,
                    SubmissionKey.value.in_(ordered[start : start + CHUNK]),
                    SubmissionKey.submission_id != submission_id,
                )
                .distinct()
                .limit(limit)
            )
            found.update(rows)
    return sorted(found)[:limit]


def submitter_points(
    session: Session, form_id: int, submitter_id: int, submission_id: int
) -> list[tuple[int, str]]:
    """(submission, "lat,lon") of the submitter's other submissions of the form that
    recorded a location."""
    rows = session.execute(
        select(SubmissionKey.submission_id, SubmissionKey.value)
        .join(Submission, Submission.id == SubmissionKey.submission_id)
        .where(
            SubmissionKey.form_id == form_id,
            SubmissionKey.kind == "point",
            Submission.submitter_id == submitter_id,
            Submission.id != submission_id,
            Submission.deleted_at.is_(None),
        )
    )
    return [(row[0], row[1]) for row in rows]


def keys_of(
    session: Session, submission_ids: Sequence[int], kinds: Sequence[str]
) -> dict[int, list[tuple[str, str]]]:
    """The keys of these kinds that each of the submissions left."""
    found: dict[int, list[tuple[str, str]]] = {}
    for start in range(0, len(submission_ids), CHUNK):
        rows = session.execute(
            select(SubmissionKey.submission_id, SubmissionKey.kind, SubmissionKey.value).where(
                SubmissionKey.submission_id.in_(submission_ids[start : start + CHUNK]),
                SubmissionKey.kind.in_(kinds),
            )
        )
        for submission, kind, value in rows:
            found.setdefault(submission, []).append((kind, value))
    return found


def submitters(session: Session, submission_ids: Sequence[int]) -> dict[int, int | None]:
    if not submission_ids:
        return {}
    rows = session.execute(
        select(Submission.id, Submission.submitter_id).where(Submission.id.in_(submission_ids))
    )
    return {row[0]: row[1] for row in rows}


def replace_flags(
    session: Session, submission_id: int, version_id: int, flags: Sequence[dict[str, Any]]
) -> None:
    session.execute(delete(StoredFlag).where(StoredFlag.submission_id == submission_id))
    if flags:
        session.execute(
            insert(StoredFlag),
            [{"submission_id": submission_id, "version_id": version_id, **f} for f in flags],
        )


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
    session.execute(
        update(Submission)
        .where(Submission.id == submission_id)
        .values(review_state=state, review_by_rules=True)
    )


def submission_ids(session: Session, xml_form_id: str | None) -> list[int]:
    """Submissions to check again: of one form (by its form ID), or all; oldest first."""
    query = select(Submission.id).where(Submission.deleted_at.is_(None)).order_by(Submission.id)
    if xml_form_id is not None:
        query = query.join(Form, Form.id == Submission.form_id).where(
            Form.xml_form_id == xml_form_id
        )
    return list(session.scalars(query))
