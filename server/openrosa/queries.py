"""Queries over submissions, their versions and attachments. All submission SQL lives here.

The statements on the submission path are built once at import and run on the session's
connection with bound parameters: building and caching a statement per call costs more
than the query itself (see bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from server.db import run
from server.models import Submission, SubmissionAttachment, SubmissionVersion


@dataclass(frozen=True)
class StoredVersion:
    """A stored version of a submission, with what the decision tree needs of its submission."""

    version_id: int
    xml_sha256: str
    complete: bool
    submission_id: int
    current_version_id: int | None
    deleted: bool

    @property
    def is_current(self) -> bool:
        return self.current_version_id == self.version_id


@dataclass(frozen=True)
class StoredAttachment:
    id: int
    name: str
    blob_sha256: str | None
    size: int | None
    content_type: str | None


_STORED_VERSION = (
    select(
        SubmissionVersion.id,
        SubmissionVersion.xml_sha256,
        SubmissionVersion.complete,
        Submission.id,
        Submission.current_version_id,
        Submission.deleted_at,
    )
    .join(Submission, Submission.id == SubmissionVersion.submission_id)
    .where(
        SubmissionVersion.form_id == bindparam("form_id"),
        SubmissionVersion.instance_id == bindparam("instance_id"),
    )
)
_LOCK_SUBMISSION = (
    select(Submission.current_version_id, Submission.deleted_at)
    .where(Submission.id == bindparam("submission_id"))
    .with_for_update()
)
_ATTACHMENTS = (
    select(
        SubmissionAttachment.id,
        SubmissionAttachment.name,
        SubmissionAttachment.blob_sha256,
        SubmissionAttachment.size,
        SubmissionAttachment.content_type,
    )
    .where(SubmissionAttachment.submission_version_id == bindparam("version_id"))
    .order_by(SubmissionAttachment.id)
)
_INSERT_SUBMISSION = insert(Submission).returning(Submission.id)
_INSERT_VERSION = insert(SubmissionVersion).returning(SubmissionVersion.id)
_INSERT_ATTACHMENT = insert(SubmissionAttachment)
_FILL_ATTACHMENT = (
    update(SubmissionAttachment)
    .where(SubmissionAttachment.id == bindparam("attachment_id"))
    .values(
        blob_sha256=bindparam("blob_sha256"),
        size=bindparam("size"),
        content_type=bindparam("content_type"),
        received_at=bindparam("received_at"),
    )
)
_POINT_TO_VERSION = (
    update(Submission)
    .where(Submission.id == bindparam("submission_id"))
    .values(
        current_version_id=bindparam("version_id"),
        review_state=bindparam("review_state"),
        updated_at=bindparam("now"),
    )
)
_TOUCH_SUBMISSION = (
    update(Submission)
    .where(Submission.id == bindparam("submission_id"))
    .values(updated_at=bindparam("now"))
)
_MARK_COMPLETE = (
    update(SubmissionVersion)
    .where(SubmissionVersion.id == bindparam("version_id"))
    .values(complete=True)
)


def version_by_instance(session: Session, form_id: int, instance_id: str) -> StoredVersion | None:
    """The stored version with this instanceID (any version of any submission of the form)."""
    row = run(session, _STORED_VERSION, {"form_id": form_id, "instance_id": instance_id}).first()
    if row is None:
        return None
    return StoredVersion(row[0], row[1], bool(row[2]), row[3], row[4], row[5] is not None)


def lock_submission(session: Session, submission_id: int) -> tuple[int | None, bool]:
    """Lock the submission row (PostgreSQL; SQLite's writer lock already serialises) and
    return its committed (current version ID, deleted)."""
    row = run(session, _LOCK_SUBMISSION, {"submission_id": submission_id}).one()
    return row[0], row[1] is not None


def attachments_of_version(session: Session, version_id: int) -> list[StoredAttachment]:
    rows = run(session, _ATTACHMENTS, {"version_id": version_id})
    return [StoredAttachment(*row) for row in rows]


def insert_submission(session: Session, **values: Any) -> int:
    return int(run(session, _INSERT_SUBMISSION, values).scalar_one())


def insert_version(session: Session, **values: Any) -> int:
    return int(run(session, _INSERT_VERSION, values).scalar_one())


def insert_attachments(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert attachment rows; every row must carry the same keys."""
    if rows:
        run(session, _INSERT_ATTACHMENT, list(rows))


def fill_attachment(
    session: Session,
    attachment_id: int,
    blob_sha256: str,
    size: int,
    content_type: str | None,
    received_at: datetime,
) -> None:
    run(
        session,
        _FILL_ATTACHMENT,
        {
            "attachment_id": attachment_id,
            "blob_sha256": blob_sha256,
            "size": size,
            "content_type": content_type,
            "received_at": received_at,
        },
    )


def point_to_version(
    session: Session, submission_id: int, version_id: int, review_state: str, now: datetime
) -> None:
    run(
        session,
        _POINT_TO_VERSION,
        {
            "submission_id": submission_id,
            "version_id": version_id,
            "review_state": review_state,
            "now": now,
        },
    )


def touch_submission(session: Session, submission_id: int, now: datetime) -> None:
    run(session, _TOUCH_SUBMISSION, {"submission_id": submission_id, "now": now})


def mark_complete(session: Session, version_id: int) -> None:
    run(session, _MARK_COMPLETE, {"version_id": version_id})
