"""The database tables, as SQLAlchemy 2.0 declarative models.

Constraints live here in the schema (unique form + instanceID, CHECKs on states,
foreign keys) so that both SQLite and PostgreSQL enforce the same rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# admin: everything · designer: forms · supervisor (koordinator): their teams' submissions
# and assignments · viewer: a project's submissions, read-only and masked · enumerator:
# fills forms in Collect.
ROLES = ("admin", "designer", "supervisor", "viewer", "enumerator")
FORM_STATES = ("open", "closing", "closed")
# ODK Central's review states; Kobo's validation status maps onto them in reviews/.
REVIEW_STATES = ("received", "hasIssues", "edited", "approved", "rejected")


def utcnow() -> datetime:
    """Timezone-aware current time in UTC (the only kind of time we store)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored and returned as aware UTC.

    SQLite keeps no zone, so values are normalised on the way in and tagged on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use server.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def check_in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)


class Base(DeclarativeBase):
    """Declarative base for every table."""


class Meta(Base):
    """Small facts about the instance itself (e.g. which region table is loaded)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# Indonesia's time zones (WIB, WIB in West Kalimantan, WITA, WIT): a project's fieldwork
# lies in one of them.
PROJECT_ZONES = ("Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Where its fieldwork is: pages, the rules' interview days and date filters read times
    # in this zone. None: the instance's (VERIVALI_TIMEZONE).
    timezone: Mapped[str | None] = mapped_column(String(40))
    # A koordinator's approval waits for an admin's before the submission is approved.
    two_level_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (check_in("role", ROLES, "ck_users_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Strong one-way hash for web logins and HTTP Basic.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # md5(username:realm:password), which HTTP Digest needs; see docs/decisions.
    digest_ha1: Mapped[str | None] = mapped_column(String(32))
    # Enumerator token for the /v1/key/<token>/ layout (shown again in QR codes).
    token: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class Blob(Base):
    """A file stored once by content (attachments, form media, XLSForm sources)."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    md5: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Form(Base):
    __tablename__ = "forms"
    __table_args__ = (
        UniqueConstraint("project_id", "xml_form_id", name="uq_forms_project_xml_form_id"),
        check_in("state", FORM_STATES, "ck_forms_state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    xml_form_id: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="open")
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("form_versions.id", use_alter=True, name="fk_forms_current_version")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    current_version: Mapped[FormVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )


class FormVersion(Base):
    """One published version; its XML bytes never change once written."""

    __tablename__ = "form_versions"
    __table_args__ = (UniqueConstraint("form_id", "version", name="uq_form_versions_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"))
    version: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    xml: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    md5: Mapped[str] = mapped_column(String(32))
    # Hash of what the designer published (XForm without an assigned version + media):
    # republishing the same content is then recognisable as a no-op.
    content_hash: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(255))
    source_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    binary_fields: Mapped[list[str]] = mapped_column(JSON)
    media_names: Mapped[list[str]] = mapped_column(JSON)
    warnings: Mapped[list[str]] = mapped_column(JSON)
    # The form's rule settings file (forms/<form>.toml) as parsed and checked on publish.
    rule_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FormMedia(Base):
    __tablename__ = "form_media"
    __table_args__ = (UniqueConstraint("form_version_id", "name", name="uq_form_media_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    name: Mapped[str] = mapped_column(String(255))
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    md5: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))


class Submission(Base):
    """One filled form, keyed by the instanceID of its first version."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("form_id", "instance_id", name="uq_submissions_instance"),
        check_in("review_state", REVIEW_STATES, "ck_submissions_review_state"),
        # An enumerator's (or a team's) submissions of a form: the validation bridge's
        # enumerator statistics and same-enumerator peers.
        Index("ix_submissions_submitter", "form_id", "submitter_id"),
        # The review queue: newest first within a form and state, or worst flags first
        # (of every form at once: the queue shows a project's forms together).
        Index("ix_submissions_queue", "form_id", "review_state", "id"),
        Index("ix_submissions_queue_rank", "flag_rank", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"))
    instance_id: Mapped[str] = mapped_column(String(255))
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission_versions.id", use_alter=True, name="fk_submissions_current")
    )
    review_state: Mapped[str] = mapped_column(String(16), default="received")
    # True while the review state is the rules' decision (flags, or an automatic approval);
    # a person's decision sets it False and the rules leave the state alone from then on.
    review_by_rules: Mapped[bool] = mapped_column(Boolean, default=True)
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[str | None] = mapped_column(String(255))
    # What the rules' last check found, kept here for the review queue's filters and sort:
    # the household's village, the worst flag's rank (0 none, 1 LOW .. 4 BLOCK) and the
    # number of flags.
    village_code: Mapped[str | None] = mapped_column(String(10))
    flag_rank: Mapped[int] = mapped_column(Integer, default=0)
    flag_count: Mapped[int] = mapped_column(Integer, default=0)
    # Sent up to an admin by a koordinator (escalate), until an admin decides.
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    # In a project with two-level approval: the koordinator who approved it, until the
    # admin's approval (or another decision) ends the wait.
    first_approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Minutes from the form's start to its end, as the rules' check read them (None:
    # either time missing, or a span beyond a day): the dashboard's medians.
    interview_minutes: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SubmissionVersion(Base):
    """The XML of one version of a submission, stored verbatim."""

    __tablename__ = "submission_versions"
    __table_args__ = (
        UniqueConstraint("form_id", "instance_id", name="uq_submission_versions_instance"),
        Index("ix_submission_versions_submission", "submission_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    instance_id: Mapped[str] = mapped_column(String(255))
    deprecated_id: Mapped[str | None] = mapped_column(String(255))
    instance_name: Mapped[str | None] = mapped_column(String(500))
    xml: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    xml_sha256: Mapped[str] = mapped_column(String(64))
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    # False while Collect is still sending the parts of a split upload.
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[str | None] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubmissionAttachment(Base):
    """A file the instance names; blob_sha256 is empty while it is missing."""

    __tablename__ = "submission_attachments"
    __table_args__ = (
        UniqueConstraint("submission_version_id", "name", name="uq_submission_attachments_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_version_id: Mapped[int] = mapped_column(ForeignKey("submission_versions.id"))
    name: Mapped[str] = mapped_column(String(255))
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    size: Mapped[int | None] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who did what to which thing, and when; written by every do_* function."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
