"""Publishing forms and changing their state: check_* validates, do_* writes and audits.

A publish converts the XLSForm, stores its media, and creates a new version only when the
form itself changed. Versions are immutable: the XML served for a version (and so its md5) never
changes. Designers who leave `version` empty get one assigned (YYYYMMDDNN, ODK's advice).

When only the media changed (a new desa.csv, a new picture), the current version keeps its
XML and version and gets the new media set: Collect compares media hashes when the form's
md5 is unchanged and downloads just the changed files ("updated media"), and designers do not
have to bump `version` to fix a village list. The old media stay in the blob store and the
audit row names both sets.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from server import audit, blobs, problems
from server.accounts import queries as account_queries
from server.assignments.lists import LIST_FILES
from server.config import Settings
from server.forms import queries
from server.forms.javarosa import ValidationResult, validate_xform
from server.forms.rule_settings import check_rule_settings, read_rule_settings, settings_beside
from server.forms.xform import XFormError, read_facts
from server.forms.xlsform import (
    Converted,
    UnsafeArchiveError,
    UnsupportedFileError,
    XLSFormError,
    convert_xlsform,
)
from server.models import FORM_STATES, Form, FormMedia, FormVersion, utcnow
from server.problems import ProblemError
from server.storage import BlobInfo, BlobStore

_MEDIA_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,255}$")


@dataclass
class MediaInput:
    """A media file to attach to a form, already stored by content."""

    name: str
    blob: BlobInfo
    content_type: str


@dataclass
class PublishResult:
    """What a publish did: a new version (created), new media for the current one, or nothing."""

    form: Form
    version: FormVersion
    created: bool
    media_updated: bool = False
    rules_updated: bool = False
    warnings: list[str] = field(default_factory=list)
    javarosa: ValidationResult | None = None
    missing_media: list[str] = field(default_factory=list)
    rechecks: int = 0  # submissions queued to be checked again under new rule settings


def check_media_name(name: str) -> str:
    """A media name is a plain file name: no directories, no control characters."""
    if not _MEDIA_NAME.match(name) or name in {".", ".."} or name.startswith("."):
        raise ProblemError(problems.INVALID_INPUT, field="media", reason=f"bad file name {name!r}")
    return name


def store_media(store: BlobStore, path: Path, limit: int) -> MediaInput:
    """Copy a media file into the blob store."""
    name = check_media_name(path.name)
    try:
        with path.open("rb") as handle:
            info = store.put_stream(handle, limit=limit)
    except ValueError:
        raise ProblemError(problems.TOO_LARGE, limit_mb=problems.megabytes(limit)) from None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return MediaInput(name=name, blob=info, content_type=content_type)


def _content_hash(xml: str, media: Iterable[tuple[str, str]]) -> str:
    """Hash of the unversioned XForm plus (name, sha256) of each media file."""
    digest = hashlib.sha256(xml.encode("utf-8"))
    for name, sha256 in sorted(media):
        digest.update(f"\n{name}:{sha256}".encode())
    return digest.hexdigest()


def _pairs(media: list[MediaInput]) -> list[tuple[str, str]]:
    return [(m.name, m.blob.sha256) for m in media]


def _auto_version(session: Session, form: Form | None) -> str:
    prefix = datetime.now(UTC).strftime("%Y%m%d")
    taken = queries.count_versions_with_prefix(session, form.id, prefix) if form else 0
    return f"{prefix}{taken + 1:02d}"


def _convert(source: Path) -> Converted:
    try:
        return convert_xlsform(source)
    except UnsupportedFileError:
        raise ProblemError(problems.UNSUPPORTED_FORM_FILE, name=source.name) from None
    except UnsafeArchiveError as exc:
        raise ProblemError(problems.UNSAFE_ARCHIVE, name=source.name, reason=exc.reason) from None
    except XLSFormError as exc:
        raise ProblemError(problems.XLSFORM_INVALID, details="\n".join(exc.messages)) from None


def do_publish_form(
    session: Session,
    settings: Settings,
    store: BlobStore,
    project_id: int,
    source: Path,
    media_paths: list[Path] | None = None,
    actor_id: int | None = None,
    rules_path: Path | None = None,
    expected_form_id: str | None = None,
    keep_rules: bool = False,
) -> PublishResult:
    """Publish the XLSForm at `source` (with media files and its rule settings, by default
    the .toml file beside it) into a project.

    `expected_form_id`: refuse a file that defines another form (a new version uploaded
    from a form's page). `keep_rules`: without a settings file, a new version keeps the
    current version's rule settings (checked against the new form) instead of dropping them.
    """
    if account_queries.project_by_id(session, project_id) is None:
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    converted = _convert(source)
    try:
        facts = read_facts(converted.xml.encode("utf-8"))
    except XFormError as exc:
        raise ProblemError(problems.XLSFORM_INVALID, details=str(exc)) from None
    if expected_form_id is not None and facts.form_id != expected_form_id:
        raise ProblemError(problems.FORM_ID_MISMATCH, got=facts.form_id, expected=expected_form_id)
    rules_path = rules_path or settings_beside(source)
    rules = read_rule_settings(rules_path) if rules_path else None
    if rules is None and keep_rules:
        rules = _current_rules(session, project_id, facts.form_id)
    if rules is not None:
        check_rule_settings(
            rules, facts, rules_path.name if rules_path else f"{facts.form_id}.toml"
        )

    media = [store_media(store, p, settings.max_form_upload_bytes) for p in media_paths or []]
    if converted.itemsets:
        info = store.put_bytes(converted.itemsets.encode("utf-8"))
        media.append(MediaInput("itemsets.csv", info, "text/csv"))
    if len({m.name for m in media}) != len(media):
        raise ProblemError(problems.INVALID_INPUT, field="media", reason="duplicate file names")

    form = queries.form_by_xml_id(session, project_id, facts.form_id)
    content_hash = _content_hash(converted.xml, _pairs(media))
    current = (
        queries.version_by_id(session, form.current_version_id)
        if form and form.current_version_id
        else None
    )
    warnings = list(converted.warnings)
    # Assignment lists are made per enumerator at download time, never uploaded.
    missing = [
        name
        for name in facts.media_names
        if name not in {m.name for m in media} and name not in LIST_FILES
    ]
    if form is not None and current is not None:
        if current.content_hash == content_hash:
            changed = _set_rules(session, form, current, rules, actor_id)
            return PublishResult(
                form,
                current,
                created=False,
                rules_updated=changed,
                warnings=warnings,
                missing_media=missing,
                rechecks=_recheck(session, form.id) if changed else 0,
            )
        stored = [(m.name, m.blob_sha256) for m in queries.media_of_version(session, current.id)]
        if current.content_hash == _content_hash(converted.xml, stored):
            _replace_media(session, form, current, media, content_hash, actor_id)
            changed = _set_rules(session, form, current, rules, actor_id)
            return PublishResult(
                form,
                current,
                created=False,
                media_updated=True,
                warnings=warnings,
                missing_media=missing,
                rechecks=_recheck(session, form.id) if changed else 0,
            )

    version = converted.designer_version or _auto_version(session, form)
    if form is not None and queries.version_by_string(session, form.id, version) is not None:
        raise ProblemError(problems.FORM_VERSION_EXISTS, version=version, form_id=facts.form_id)
    xml = converted.render(version)
    javarosa = None
    if settings.java_validate:
        javarosa = validate_xform(xml, settings.tmp_dir)
        if not javarosa.ok:
            raise ProblemError(problems.XFORM_INVALID, details="\n".join(javarosa.errors))
        warnings.extend(javarosa.warnings)

    source_blob = store.put_bytes(source.read_bytes())
    blobs.remember(session, source_blob)
    if form is None:
        form = Form(project_id=project_id, xml_form_id=facts.form_id, state="open")
        session.add(form)
        session.flush()
    row = FormVersion(
        form_id=form.id,
        version=version,
        title=facts.title,
        xml=xml,
        md5=hashlib.md5(xml, usedforsecurity=False).hexdigest(),
        content_hash=content_hash,
        source_name=source.name,
        source_sha256=source_blob.sha256,
        binary_fields=facts.binary_fields,
        media_names=facts.media_names,
        warnings=warnings,
        rule_settings=rules,
        published_by_id=actor_id,
    )
    session.add(row)
    session.flush()
    _add_media(session, row.id, media)
    form.current_version_id = row.id
    form.updated_at = utcnow()
    audit.record(
        session,
        actor_id,
        "form.publish",
        "form",
        form.id,
        version=version,
        md5=row.md5,
        media=[m.name for m in media],
    )
    rules_before = current.rule_settings if current is not None else None
    return PublishResult(
        form,
        row,
        created=True,
        warnings=warnings,
        javarosa=javarosa,
        missing_media=missing,
        rechecks=_recheck(session, form.id) if rules != rules_before else 0,
    )


def _current_rules(session: Session, project_id: int, xml_form_id: str) -> dict[str, Any] | None:
    """The rule settings of the form's current version, if the form exists and has them."""
    form = queries.form_by_xml_id(session, project_id, xml_form_id)
    if form is None or form.current_version_id is None:
        return None
    current = queries.version_by_id(session, form.current_version_id)
    return current.rule_settings if current is not None else None


def _recheck(session: Session, form_id: int) -> int:
    """New rule settings: the form's submissions are checked again (in the background)."""
    from server.validation.jobs import enqueue_all

    return enqueue_all(session, "settings", [form_id])


def _set_rules(
    session: Session,
    form: Form,
    version: FormVersion,
    rules: dict[str, Any] | None,
    actor_id: int | None,
) -> bool:
    """Give the current version new rule settings (the form itself is unchanged)."""
    if rules is None or rules == version.rule_settings:
        return False
    version.rule_settings = rules
    form.updated_at = utcnow()
    audit.record(session, actor_id, "form.rules", "form", form.id, version=version.version)
    return True


def _add_media(session: Session, version_id: int, media: list[MediaInput]) -> None:
    for item in media:
        blobs.remember(session, item.blob)
        session.add(
            FormMedia(
                form_version_id=version_id,
                name=item.name,
                blob_sha256=item.blob.sha256,
                md5=item.blob.md5,
                size=item.blob.size,
                content_type=item.content_type,
            )
        )


def _replace_media(
    session: Session,
    form: Form,
    version: FormVersion,
    media: list[MediaInput],
    content_hash: str,
    actor_id: int | None,
) -> None:
    """Give the current version a new media set; its XML (and md5) stay as they are."""
    old = {m.name: m.md5 for m in queries.media_of_version(session, version.id)}
    queries.delete_media_of_version(session, version.id)
    _add_media(session, version.id, media)
    version.content_hash = content_hash
    form.updated_at = utcnow()
    audit.record(
        session,
        actor_id,
        "form.media",
        "form",
        form.id,
        version=version.version,
        old={n: old[n] for n in sorted(old)},
        new={m.name: m.blob.md5 for m in sorted(media, key=lambda m: m.name)},
    )


def check_form_state(state: str) -> str:
    if state not in FORM_STATES:
        raise ProblemError(
            problems.INVALID_INPUT, field="state", reason=f"must be one of {', '.join(FORM_STATES)}"
        )
    return state


def do_set_form_state(
    session: Session, form: Form, state: str, actor_id: int | None = None
) -> None:
    check_form_state(state)
    if form.state == state:
        return
    audit.record(session, actor_id, "form.state", "form", form.id, old=form.state, new=state)
    form.state = state
    form.updated_at = utcnow()
