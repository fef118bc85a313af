"""Blob rows: the database's record of files kept in the content-addressed store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.orm import Session

from server.db import InsertIgnoring
from server.models import Blob, utcnow
from server.storage import BlobInfo

_VALUES: dict[str, Any] = {
    "sha256": bindparam("sha256"),
    "md5": bindparam("md5"),
    "size": bindparam("size"),
    "created_at": bindparam("created_at"),
}
_INSERT = InsertIgnoring(Blob, _VALUES)


def remember(session: Session, info: BlobInfo) -> None:
    """Record a stored file (no-op if it is already recorded, even under a race)."""
    _INSERT.run(
        session,
        {"sha256": info.sha256, "md5": info.md5, "size": info.size, "created_at": utcnow()},
    )
