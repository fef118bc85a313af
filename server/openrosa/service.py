"""Receiving a submission: the decision tree (new, split part, duplicate, conflict, edit).

`decide()` is the pure decision, written once and tested on its own; `do_receive_submission`
carries it out: keep referenced files durable, then write the rows in the caller's unit of
work, which commits before Collect gets its 201.

ODK Central's decisions are the reference (docs.getodk.org/openrosa-form-submission):
- new instanceID: create a submission; expected attachments not sent are recorded missing;
- same instanceID with byte-identical XML: add files still missing (split uploads) — 201 if
  anything new arrived, else 202 "duplicate" as KoBoCAT answers;
- same instanceID, different XML: 409; instanceID of a deleted submission: 409;
- deprecatedID naming the current version: a new version (review state "edited"), files not
  re-sent carried forward; unknown deprecatedID: 404; an older version: 409.
Races between requests end in the same answers: of two edits of one version the second is
stale (409), and a twin POST that loses the insert of a new instanceID is told to retry (409).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import audit, blobs, problems
from server.assignments.service import OUTCOME_FIELD, TARGET_FIELD, do_record_visit
from server.forms.queries import SubmissionForm
from server.models import utcnow
from server.openrosa import queries
from server.openrosa.envelope import Envelope
from server.openrosa.queries import StoredAttachment, StoredVersion
from server.problems import ProblemError
from server.storage import BlobInfo, BlobStore, HashingFile
from server.validation.instant import instant_notes
from server.validation.jobs import enqueue as enqueue_check

_PLAIN_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,255}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Longest attachment name the database keeps (SubmissionAttachment.name); no phone makes longer.
MAX_NAME = 255


class Outcome(Enum):
    CREATED = "created"
    PART_ADDED = "part_added"
    DUPLICATE = "duplicate"
    EDITED = "edited"


@dataclass(frozen=True)
class Known:
    """What the database holds for an instanceID (or a deprecatedID)."""

    xml_sha256: str
    deleted: bool
    is_current: bool


def decide(
    xml_sha256: str, envelope: Envelope, same_id: Known | None, deprecated: Known | None
) -> str:
    """Return "same", "edit" or "create", or raise the declared problem.

    `deprecated` is what the deprecatedID names (None if it names nothing or is absent).
    """
    if same_id is not None:
        if same_id.deleted:
            raise ProblemError(problems.SUBMISSION_DELETED, instance_id=envelope.instance_id)
        if same_id.xml_sha256 != xml_sha256:
            raise ProblemError(problems.INSTANCE_CONFLICT, instance_id=envelope.instance_id)
        return "same"
    if envelope.deprecated_id:
        if deprecated is None:
            raise ProblemError(problems.DEPRECATED_NOT_FOUND, deprecated_id=envelope.deprecated_id)
        if deprecated.deleted:
            raise ProblemError(problems.SUBMISSION_DELETED, instance_id=envelope.deprecated_id)
        if not deprecated.is_current:
            raise ProblemError(problems.DEPRECATED_STALE, deprecated_id=envelope.deprecated_id)
        return "edit"
    return "create"


@dataclass
class UploadedPart:
    """A file part of the request, already streamed to a temporary file."""

    name: str
    file: HashingFile
    content_type: str


@dataclass
class Incoming:
    """One POST to /submission as the view parsed it."""

    xml: bytes
    envelope: Envelope
    parts: dict[str, UploadedPart]
    incomplete: bool
    device_id: str | None
    user_agent: str | None


@dataclass
class Receipt:
    """What happened, for the OpenRosa answer."""

    outcome: Outcome
    submission_id: int
    version_id: int
    missing: list[str] = field(default_factory=list)
    # The validation job queued by this request, to be announced after the commit.
    job_id: int | None = None
    # Submit-time findings (the NIK's structure) for the enumerator: validation/instant.py.
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        return 202 if self.outcome is Outcome.DUPLICATE else 201

    def message(self) -> str:
        if self.outcome is Outcome.DUPLICATE:
            return "Kiriman ini sudah diterima sebelumnya. Terima kasih."
        if self.outcome is Outcome.EDITED:
            text = "Perbaikan kiriman berhasil diterima."
        else:
            text = "Data berhasil diterima."
        if self.missing:
            text += f" Masih menunggu {len(self.missing)} berkas: {', '.join(self.missing[:5])}."
        if self.notes:
            text += " Mohon periksa: " + " ".join(self.notes)
        return text


def plain_part_name(name: str | None) -> str | None:
    """A part's file name if it is a plain name (no path, no control characters), else None."""
    if not name or not _PLAIN_NAME.match(name) or name in {".", ".."}:
        return None
    return name


def clean_text(value: str | None, limit: int) -> str | None:
    """Text from a header or the query string made fit for a column: no control characters
    (PostgreSQL refuses NUL), at most `limit` characters; None when nothing is left."""
    if not value:
        return None
    return _CONTROL.sub("", value)[:limit] or None


def check_attachment_names(names: list[str]) -> list[str]:
    """Refuse a file name longer than any phone writes (and than the column holds)."""
    for name in names:
        if len(name) > MAX_NAME:
            raise ProblemError(problems.BAD_FILE_NAME, name=name[:60] + "…")
    return names


def keep_referenced_parts(store: BlobStore, incoming: Incoming) -> dict[str, tuple[BlobInfo, str]]:
    """Make durable every part whose name the instance mentions; ignore the rest."""
    kept: dict[str, tuple[BlobInfo, str]] = {}
    for name, part in incoming.parts.items():
        if name in incoming.envelope.leaf_values:
            kept[name] = (store.keep(part.file), part.content_type)
    return kept


def _known(stored: StoredVersion) -> Known:
    return Known(xml_sha256=stored.xml_sha256, deleted=stored.deleted, is_current=stored.is_current)


def _attachment_values(
    name: str, blob: tuple[BlobInfo, str] | None, now: datetime
) -> dict[str, Any]:
    if blob is None:
        return {
            "name": name,
            "blob_sha256": None,
            "size": None,
            "content_type": None,
            "received_at": None,
        }
    info, content_type = blob
    return {
        "name": name,
        "blob_sha256": info.sha256,
        "size": info.size,
        "content_type": clean_text(content_type, 100),
        "received_at": now,
    }


def _remember_blobs(session: Session, files: list[tuple[BlobInfo, str]]) -> None:
    for info, _content_type in files:
        if info.md5:  # carried-forward files are already recorded
            blobs.remember(session, info)


def do_receive_submission(
    session: Session,
    store: BlobStore,
    form: SubmissionForm,
    actor_id: int | None,
    incoming: Incoming,
) -> Receipt:
    """Carry out the decision for one POST; the caller commits."""
    envelope = incoming.envelope
    # Files first, before the first query opens the write transaction.
    kept = keep_referenced_parts(store, incoming)
    if form.state == "closed":
        raise ProblemError(problems.FORM_CLOSED, form_id=form.xml_form_id)
    if form.version_id is None:
        raise ProblemError(
            problems.FORM_VERSION_NOT_FOUND,
            version=envelope.version or "(kosong)",
            form_id=form.xml_form_id,
        )
    expected = check_attachment_names(envelope.attachment_names(form.binary_fields))
    xml_sha256 = hashlib.sha256(incoming.xml).hexdigest()

    found = queries.version_by_instance(session, form.form_id, envelope.instance_id)
    target = None
    if found is None and envelope.deprecated_id:
        target = queries.version_by_instance(session, form.form_id, envelope.deprecated_id)
    decision = decide(
        xml_sha256,
        envelope,
        _known(found) if found else None,
        _known(target) if target else None,
    )

    if decision == "same":
        assert found is not None  # decide() answers "same" only for a known instanceID
        return _add_parts(session, found, expected, kept, incoming)

    now = utcnow()
    device_id = clean_text(incoming.device_id, 255)
    if decision == "edit":
        assert target is not None  # decide() answers "edit" only for a known deprecatedID
        # Lock the submission and decide again on what is committed now: of two edits made
        # from the same version, the second to get here is stale (the history never forks).
        current_id, deleted = queries.lock_submission(session, target.submission_id)
        decide(
            xml_sha256,
            envelope,
            None,
            Known(target.xml_sha256, deleted, current_id == target.version_id),
        )
        submission_id, outcome, state = target.submission_id, Outcome.EDITED, "edited"
    else:
        outcome, state = Outcome.CREATED, "received"
        submission_id = _insert_new(
            queries.insert_submission,
            session,
            form_id=form.form_id,
            instance_id=envelope.instance_id,
            submitter_id=actor_id,
            device_id=device_id,
            review_state=state,
            created_at=now,
            updated_at=now,
        )
    version_id = _insert_new(
        queries.insert_version,
        session,
        submission_id=submission_id,
        form_id=form.form_id,
        form_version_id=form.version_id,
        instance_id=envelope.instance_id,
        deprecated_id=envelope.deprecated_id,
        instance_name=envelope.instance_name,
        xml=incoming.xml,
        xml_sha256=xml_sha256,
        encrypted=envelope.encrypted,
        complete=not incoming.incomplete,
        submitter_id=actor_id,
        device_id=device_id,
        user_agent=clean_text(incoming.user_agent, 500),
        created_at=now,
    )
    carried = _carried_files(session, target.version_id) if target is not None else {}
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    files: list[tuple[BlobInfo, str]] = []
    for name in expected:
        blob = kept.get(name) or carried.get(name)
        rows.append(_attachment_values(name, blob, now) | {"submission_version_id": version_id})
        if blob is None:
            missing.append(name)
        else:
            files.append(blob)
    _remember_blobs(session, files)
    queries.insert_attachments(session, rows)
    queries.point_to_version(session, submission_id, version_id, state, now)
    if target is None and not envelope.encrypted:
        do_record_visit(
            session,
            form.project_id,
            envelope.top_level(TARGET_FIELD),
            submission_id,
            actor_id,
            envelope.top_level(OUTCOME_FIELD),
        )
    audit.record(
        session,
        actor_id,
        "submission.update" if target is not None else "submission.create",
        "submission",
        submission_id,
        instance_id=envelope.instance_id,
        form_version_id=form.version_id,
        missing=len(missing),
    )
    job_id = None if incoming.incomplete else enqueue_check(session, submission_id, "submitted")
    notes = (
        [] if envelope.encrypted else instant_notes(incoming.xml, form.rule_settings, now.date())
    )
    return Receipt(outcome, submission_id, version_id, missing, job_id, notes)


def _insert_new(insert: Callable[..., int], session: Session, **values: object) -> int:
    """Insert a row keyed by instanceID; a twin request that stored the same instanceID first
    (and committed while this one waited on the unique index) wins, and this one retries."""
    try:
        return insert(session, **values)
    except IntegrityError:
        raise ProblemError(problems.CONCURRENT_WRITE) from None


def _carried_files(session: Session, version_id: int) -> dict[str, tuple[BlobInfo, str]]:
    """Files of the previous version, to carry forward into an edit."""
    return {
        row.name: (
            BlobInfo(sha256=row.blob_sha256, md5="", size=row.size or 0),
            row.content_type or "application/octet-stream",
        )
        for row in queries.attachments_of_version(session, version_id)
        if row.blob_sha256
    }


def _add_parts(
    session: Session,
    stored: StoredVersion,
    expected: list[str],
    kept: dict[str, tuple[BlobInfo, str]],
    incoming: Incoming,
) -> Receipt:
    """Same XML again: store files still missing (a later part of a split upload)."""
    now = utcnow()
    rows = {row.name: row for row in queries.attachments_of_version(session, stored.version_id)}
    new_rows: list[dict[str, Any]] = []
    fills: list[tuple[int, dict[str, Any]]] = []
    added: list[tuple[BlobInfo, str]] = []
    for name in expected:
        blob = kept.get(name)
        row = rows.get(name)
        if row is None:
            values = _attachment_values(name, blob, now)
            new_rows.append(values | {"submission_version_id": stored.version_id})
            if blob is not None:
                added.append(blob)
            continue
        if blob is None:
            continue
        # While the upload is incomplete the phone's file wins: the first part of an edit
        # carried the previous version's files forward, and later parts bring the new ones.
        if row.blob_sha256 is None or (not stored.complete and row.blob_sha256 != blob[0].sha256):
            values = _attachment_values(name, blob, now)
            fills.append((row.id, values))
            rows[name] = StoredAttachment(
                row.id, name, blob[0].sha256, blob[0].size, values["content_type"]
            )
            added.append(blob)
    _remember_blobs(session, added)  # before the rows that refer to them
    for attachment_id, values in fills:
        queries.fill_attachment(
            session,
            attachment_id,
            values["blob_sha256"],
            values["size"],
            values["content_type"],
            now,
        )
    queries.insert_attachments(session, new_rows)
    completed = not incoming.incomplete and not stored.complete
    if completed:
        queries.mark_complete(session, stored.version_id)
    missing = [name for name, row in rows.items() if row.blob_sha256 is None]
    missing += [row["name"] for row in new_rows if row["blob_sha256"] is None]
    if added:
        queries.touch_submission(session, stored.submission_id, now)
        audit.record(
            session,
            None,
            "submission.attachments",
            "submission",
            stored.submission_id,
            added=len(added),
            missing=len(missing),
        )
    outcome = Outcome.PART_ADDED if added else Outcome.DUPLICATE
    # Checked once the upload is whole; late photos of a whole upload are checked again.
    job_id = None
    if completed or (added and stored.complete and stored.is_current):
        job_id = enqueue_check(session, stored.submission_id, "submitted")
    return Receipt(outcome, stored.submission_id, stored.version_id, missing, job_id)
