"""Queries over submissions, their versions and attachments. All submission SQL lives here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Submission, SubmissionAttachment, SubmissionVersion


def version_by_instance(
    session: Session, form_id: int, instance_id: str
) -> tuple[SubmissionVersion, Submission] | None:
    """The submission version with this instanceID, and its submission."""
    row = session.execute(
        select(SubmissionVersion, Submission)
        .join(Submission, Submission.id == SubmissionVersion.submission_id)
        .where(SubmissionVersion.form_id == form_id, SubmissionVersion.instance_id == instance_id)
    ).first()
    return (row[0], row[1]) if row else None


def xml_of_version(session: Session, version_id: int) -> bytes:
    return bytes(
        session.scalar(select(SubmissionVersion.xml).where(SubmissionVersion.id == version_id))
        or b""
    )


def attachments_of_version(session: Session, version_id: int) -> list[SubmissionAttachment]:
    return list(
        session.scalars(
            select(SubmissionAttachment)
            .where(SubmissionAttachment.submission_version_id == version_id)
            .order_by(SubmissionAttachment.id)
        )
    )


def submission_by_instance(session: Session, form_id: int, instance_id: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(
            Submission.form_id == form_id, Submission.instance_id == instance_id
        )
    )


def versions_of_submission(session: Session, submission_id: int) -> list[SubmissionVersion]:
    return list(
        session.scalars(
            select(SubmissionVersion)
            .where(SubmissionVersion.submission_id == submission_id)
            .order_by(SubmissionVersion.id)
        )
    )
