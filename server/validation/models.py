"""Tables of the validation pipeline: the flags of each submission, the keys by which
submissions find their peers, perceptual hashes of photos, and the durable job queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, UTCDateTime, check_in, utcnow

SEVERITIES = ("BLOCK", "HIGH", "MED", "LOW")
JOB_STATES = ("queued", "running", "done", "failed")


class StoredFlag(Base):
    """One rule's finding about a submission's current version (replaced on every run)."""

    __tablename__ = "flags"
    __table_args__ = (
        check_in("severity", SEVERITIES, "ck_flags_severity"),
        Index("ix_flags_submission", "submission_id"),
        # The queue's rule filter and list of rules, read from the index alone.
        Index("ix_flags_rule", "rule", "submission_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("submission_versions.id"))
    rule: Mapped[str] = mapped_column(String(8))
    severity: Mapped[str] = mapped_column(String(5))
    message_id: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubmissionKey(Base):
    """A value by which other submissions of the same form find this one: a NIK, the KK,
    a name with a birth date, a piece of a photo hash, the household target."""

    __tablename__ = "submission_keys"
    # The submission is in the lookup index too: a look-up by value reads the index only.
    # On SQLite the rows are kept in the primary key's order (no rowid table beside it),
    # so each key written updates two B-trees rather than three.
    __table_args__ = (
        Index("ix_submission_keys_lookup", "form_id", "kind", "value", "submission_id"),
        {"sqlite_with_rowid": False},
    )

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    value: Mapped[str] = mapped_column(String(80), primary_key=True)
    # The submission's own form, copied here for the lookup index. No foreign key of its
    # own: the submission's key already holds it to a form, and on PostgreSQL each foreign
    # key is a look-up per row written (a first check writes about 32 keys).
    form_id: Mapped[int] = mapped_column(Integer)


class PhotoHash(Base):
    """The 64-bit difference hash of an image blob (None: not an image we could read)."""

    __tablename__ = "photo_hashes"

    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), primary_key=True)
    # Stored signed, as PostgreSQL's BIGINT holds it; rules compare the 64 bits.
    phash: Mapped[int | None] = mapped_column(BigInteger)


class ValidationJob(Base):
    """A submission waiting to be checked: the durable queue of the in-process worker, and
    the record of what rq workers did."""

    __tablename__ = "validation_jobs"
    __table_args__ = (
        check_in("state", JOB_STATES, "ck_validation_jobs_state"),
        Index("ix_validation_jobs_state", "state", "id"),
        Index("ix_validation_jobs_submission", "submission_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    reason: Mapped[str] = mapped_column(String(16))  # submitted / peer / rerun
    state: Mapped[str] = mapped_column(String(8), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
