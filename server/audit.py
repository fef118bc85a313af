"""Audit rows: one call writes who did what to which thing. Never pass personal data."""

from __future__ import annotations

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
    if session.new or session.dirty:
        session.flush()  # rows the audit row refers to must exist first
    run(
        session,
        _INSERT,
        {
            "at": utcnow(),
            "actor_id": actor_id,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "details": details,
            "note": note,
        },
    )
