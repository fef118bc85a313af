"""Blob rows: the database's record of files kept in the content-addressed store."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.models import Blob
from server.storage import BlobInfo


def remember(session: Session, info: BlobInfo) -> None:
    """Record a stored file (no-op if it is already recorded, even under a race)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Blob).values(sha256=info.sha256, md5=info.md5, size=info.size)
    session.execute(statement.on_conflict_do_nothing(index_elements=["sha256"]))
