"""Audit rows: one call writes who did what to which thing. Never pass personal data."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.models import AuditEvent


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
    session.add(
        AuditEvent(
            actor_id=actor_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=details,
            note=note,
        )
    )
