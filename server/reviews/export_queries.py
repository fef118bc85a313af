"""Queries of the exports (export.py): submissions a batch at a time by keyset (id after the
last one seen), and what each batch needs beside them, one statement per kind of fact for
the whole batch. Nothing here reads more than one batch: the exports stream."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.assignments.models import Target
from server.models import AuditEvent, Form, FormVersion, Submission, SubmissionVersion, User
from server.registry.models import Household, Person

CHUNK = 1000  # values in one IN list


def _pieces(values: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


@dataclass(frozen=True)
class SubmissionRow:
    """A submission with its current version's XML, as both exports read it."""

    id: int
    form_id: int
    instance_id: str
    review_state: str
    submitter_id: int | None
    submitter: str
    village_code: str | None
    created_at: datetime
    updated_at: datetime
    form_version: str
    xml: bytes


def submissions_after(
    session: Session,
    form_id: int,
    submitters: frozenset[int] | None,
    after: int,
    limit: int,
    state: str | None = None,
) -> list[SubmissionRow]:
    """Up to `limit` live submissions of the form with an ID above `after`, by ID; only the
    submitters' when given, only in one review state when given.

    No batch sorts what lies beyond it: with a state, a batch is a range of the queue's
    index (form, state, id); without one, the primary key is walked from `after` (the form
    compared as `form_id + 0` so that no index on it is preferred, and then every row after
    the batch sorted), so all batches together read the table once."""
    query = (
        select(
            Submission.id,
            Submission.form_id,
            Submission.instance_id,
            Submission.review_state,
            Submission.submitter_id,
            func.coalesce(User.username, ""),
            Submission.village_code,
            Submission.created_at,
            Submission.updated_at,
            FormVersion.version,
            SubmissionVersion.xml,
        )
        .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
        .join(FormVersion, FormVersion.id == SubmissionVersion.form_version_id)
        .outerjoin(User, User.id == Submission.submitter_id)
        .where(Submission.deleted_at.is_(None), Submission.id > after)
        .order_by(Submission.id)
        .limit(limit)
    )
    if submitters is not None:
        query = query.where(Submission.submitter_id.in_(sorted(submitters) or [-1]))
    if state is not None:
        query = query.where(Submission.form_id == form_id, Submission.review_state == state)
    else:
        query = query.where(Submission.form_id + 0 == form_id)
    found = []
    for row in session.execute(query):
        values: list[Any] = list(row)
        values[10] = bytes(values[10] or b"")
        found.append(SubmissionRow(*values))
    return found


def form_ids(session: Session, project_id: int) -> list[int]:
    """The project's forms, oldest first."""
    return list(
        session.scalars(select(Form.id).where(Form.project_id == project_id).order_by(Form.id))
    )


def rule_settings(session: Session, form_id: int) -> dict[str, Any] | None:
    """The rule settings of the form's current version (as the validation bridge reads
    them), or None when it has none."""
    found = session.scalar(
        select(FormVersion.rule_settings)
        .join(Form, Form.current_version_id == FormVersion.id)
        .where(Form.id == form_id)
    )
    return found if isinstance(found, dict) else None


def form_xmls(session: Session, form_id: int) -> list[bytes]:
    """The XForm of each version of the form, the current one first, then newest first."""
    current = session.scalar(select(Form.current_version_id).where(Form.id == form_id))
    rows = session.execute(
        select(FormVersion.id, FormVersion.xml)
        .where(FormVersion.form_id == form_id)
        .order_by(FormVersion.id.desc())
    )
    ordered = sorted(rows, key=lambda row: row[0] != current)
    return [bytes(row[1]) for row in ordered]


def form_id_of(session: Session, project_id: int, xml_form_id: str) -> int | None:
    return session.scalar(
        select(Form.id).where(Form.project_id == project_id, Form.xml_form_id == xml_form_id)
    )


def approval_times(session: Session, submission_ids: Sequence[int]) -> dict[int, datetime]:
    """The time of each submission's latest `submission.approve` audit row."""
    found: dict[int, datetime] = {}
    for piece in _pieces(submission_ids):
        rows = session.execute(
            select(AuditEvent.subject_id, func.max(AuditEvent.at))
            .where(
                AuditEvent.subject_type == "submission",
                AuditEvent.subject_id.in_(piece),
                AuditEvent.action == "submission.approve",
            )
            .group_by(AuditEvent.subject_id)
        )
        for sid, at in rows:
            if sid is not None and at is not None:
                found[int(sid)] = at
    return found


@dataclass(frozen=True)
class TargetRow:
    """A target of the project with its registry household."""

    id: int
    village_code: str | None
    source: str
    source_key: str
    kk: str | None


def targets(session: Session, project_id: int, target_ids: Iterable[int]) -> dict[int, TargetRow]:
    """The project's targets among these IDs, by ID."""
    found: dict[int, TargetRow] = {}
    for piece in _pieces(target_ids):
        rows = session.execute(
            select(
                Target.id, Target.village_code, Household.source, Household.source_key, Household.kk
            )
            .join(Household, Household.id == Target.household_id)
            .where(Target.project_id == project_id, Target.id.in_(piece))
        )
        for row in rows:
            found[int(row[0])] = TargetRow(*row)
    return found


@dataclass(frozen=True)
class PersonRow:
    """A registry person as the approved export compares the field's record with it."""

    id: int
    source: str
    source_key: str
    nik: str | None
    name: str
    sex: str | None
    birth_date: date | None
    relationship: str | None
    dead: bool


def persons(session: Session, person_ids: Iterable[int]) -> dict[int, PersonRow]:
    """Registry persons among these IDs, by ID."""
    found: dict[int, PersonRow] = {}
    for piece in _pieces(person_ids):
        rows = session.execute(
            select(
                Person.id,
                Person.source,
                Person.source_key,
                Person.nik,
                Person.name,
                Person.sex,
                Person.birth_date,
                Person.relationship,
                Person.dead,
            ).where(Person.id.in_(piece))
        )
        for row in rows:
            found[int(row[0])] = PersonRow(*row)
    return found
