"""Audit rows: one call writes who did what to which thing. Never pass personal data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from server.db import run
from server.models import AuditEvent, utcnow

_INSERT = insert(AuditEvent)


def record(
    session: Session,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    note: str | None = None,
    **details: Any,
) -> None:
    """Add an audit row to the current unit of work."""
    _write(session, [_row(actor_id, action, subject_type, subject_id, details, note)])


def record_many(
    session: Session,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subjects: Mapping[int, Mapping[str, Any]],
) -> None:
    """Add one audit row per subject (its ID: its details) with one statement."""
    if subjects:
        _write(
            session,
            [
                _row(actor_id, action, subject_type, subject_id, dict(details))
                for subject_id, details in subjects.items()
            ],
        )


def _row(
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    details: dict[str, Any],
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "at": utcnow(),
        "actor_id": actor_id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "details": details,
        "note": note,
    }


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    if session.new or session.dirty:
        session.flush()  # rows the audit rows refer to must exist first
    run(session, _INSERT, rows if len(rows) > 1 else rows[0])
