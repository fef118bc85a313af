"""Queries over forms, their versions and media. All SQL about forms lives here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, select
from sqlalchemy.orm import Session, aliased

from server.db import run
from server.models import Form, FormMedia, FormVersion, Project, Submission, User


@dataclass(frozen=True)
class ListedForm:
    """A form as formList shows it: identity and the current version's hash, no XML."""

    form_pk: int
    project_id: int
    xml_form_id: str
    state: str
    version_id: int
    version: str
    title: str
    md5: str
    has_media: bool
    media_names: list[str]


def _listed_select():  # type: ignore[no-untyped-def]
    has_media = exists().where(FormMedia.form_version_id == FormVersion.id)
    return (
        select(
            Form.id,
            Form.project_id,
            Form.xml_form_id,
            Form.state,
            FormVersion.id,
            FormVersion.version,
            FormVersion.title,
            FormVersion.md5,
            has_media,
            FormVersion.media_names,
        )
        .join(FormVersion, FormVersion.id == Form.current_version_id)
        .order_by(Form.project_id, Form.xml_form_id)
    )


def listed_forms(
    session: Session, project_ids: Sequence[int] | None, states: Sequence[str]
) -> list[ListedForm]:
    """Forms in the given projects (None = all) whose state is in `states`."""
    query = _listed_select().where(Form.state.in_(states))
    if project_ids is not None:
        query = query.where(Form.project_id.in_(project_ids))
    return [ListedForm(*row) for row in session.execute(query)]


def form_by_xml_id(session: Session, project_id: int, xml_form_id: str) -> Form | None:
    return session.scalar(
        select(Form).where(Form.project_id == project_id, Form.xml_form_id == xml_form_id)
    )


def forms_by_xml_id(
    session: Session, xml_form_id: str, project_ids: Sequence[int] | None
) -> list[Form]:
    query = select(Form).where(Form.xml_form_id == xml_form_id).order_by(Form.id)
    if project_ids is not None:
        query = query.where(Form.project_id.in_(project_ids))
    return list(session.scalars(query))


def form_by_id(session: Session, form_id: int) -> Form | None:
    return session.get(Form, form_id)


def version_by_id(session: Session, version_id: int) -> FormVersion | None:
    return session.get(FormVersion, version_id)


def version_by_string(session: Session, form_id: int, version: str) -> FormVersion | None:
    return session.scalar(
        select(FormVersion).where(FormVersion.form_id == form_id, FormVersion.version == version)
    )


@dataclass(frozen=True)
class SubmissionForm:
    """A form a submission names, with the version its root element names (if it exists)."""

    form_id: int
    project_id: int
    xml_form_id: str
    state: str
    version_id: int | None
    binary_fields: list[str]
    # The current version's rule settings (server/rules/settings.py), None without any.
    rule_settings: dict[str, Any] | None = None


_CURRENT = aliased(FormVersion)
_SUBMISSION_FORMS = (
    select(
        Form.id,
        Form.project_id,
        Form.xml_form_id,
        Form.state,
        FormVersion.id,
        FormVersion.binary_fields,
        _CURRENT.rule_settings,
    )
    .outerjoin(
        FormVersion,
        and_(FormVersion.form_id == Form.id, FormVersion.version == bindparam("version")),
    )
    .outerjoin(_CURRENT, _CURRENT.id == Form.current_version_id)
    .where(Form.xml_form_id == bindparam("xml_form_id"))
    .order_by(Form.id)
)
_SUBMISSION_FORMS_IN = _SUBMISSION_FORMS.where(
    Form.project_id.in_(bindparam("project_ids", expanding=True))
)
_SUBMISSION_FORMS_OF = _SUBMISSION_FORMS.where(Form.project_id == bindparam("project_id"))


def submission_forms(
    session: Session, xml_form_id: str, version: str, project_ids: Sequence[int] | None
) -> list[SubmissionForm]:
    """Forms with this ID in the given projects (None = all), each with the named version."""
    params = {"xml_form_id": xml_form_id, "version": version}
    if project_ids is None:
        rows = run(session, _SUBMISSION_FORMS, params)
    elif not project_ids:
        return []
    elif len(project_ids) == 1:  # the project URL layouts: the common case, no IN list
        rows = run(session, _SUBMISSION_FORMS_OF, params | {"project_id": project_ids[0]})
    else:
        rows = run(session, _SUBMISSION_FORMS_IN, params | {"project_ids": list(project_ids)})
    return [
        SubmissionForm(fid, pid, xid, state, vid, list(binary or []), rules)
        for fid, pid, xid, state, vid, binary, rules in rows
    ]


def count_versions_with_prefix(session: Session, form_id: int, prefix: str) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                FormVersion.form_id == form_id, FormVersion.version.startswith(prefix)
            )
        )
        or 0
    )


def media_of_version(session: Session, version_id: int) -> list[FormMedia]:
    return list(
        session.scalars(
            select(FormMedia)
            .where(FormMedia.form_version_id == version_id)
            .order_by(FormMedia.name)
        )
    )


def delete_media_of_version(session: Session, version_id: int) -> None:
    """Remove a version's media rows (before giving it a new set); the blobs stay."""
    session.execute(delete(FormMedia).where(FormMedia.form_version_id == version_id))


def media_by_name(session: Session, version_id: int, name: str) -> FormMedia | None:
    return session.scalar(
        select(FormMedia).where(FormMedia.form_version_id == version_id, FormMedia.name == name)
    )


def all_forms_with_projects(session: Session) -> list[tuple[Form, FormVersion | None, Project]]:
    rows = session.execute(
        select(Form, FormVersion, Project)
        .outerjoin(FormVersion, FormVersion.id == Form.current_version_id)
        .join(Project, Project.id == Form.project_id)
        .order_by(Form.id)
    )
    return [(f, v, p) for f, v, p in rows]


@dataclass(frozen=True)
class FormSummary:
    """A row of a project's forms page: the form, its current version and its submissions."""

    form_pk: int
    xml_form_id: str
    state: str
    title: str
    version: str
    version_id: int | None
    updated_at: datetime
    submissions: int
    last_submission: datetime | None


def form_summaries(session: Session, project_id: int) -> list[FormSummary]:
    """The project's forms by form ID, each with its count of (not deleted) submissions."""
    received = (
        select(
            Submission.form_id,
            func.count().label("n"),
            func.max(Submission.created_at).label("last"),
        )
        .where(Submission.deleted_at.is_(None))
        .group_by(Submission.form_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Form.id,
            Form.xml_form_id,
            Form.state,
            FormVersion.title,
            FormVersion.version,
            FormVersion.id,
            Form.updated_at,
            func.coalesce(received.c.n, 0),
            received.c.last,
        )
        .outerjoin(FormVersion, FormVersion.id == Form.current_version_id)
        .outerjoin(received, received.c.form_id == Form.id)
        .where(Form.project_id == project_id)
        .order_by(Form.xml_form_id)
    )
    return [
        FormSummary(pk, xid, state, title or "", version or "", vid, updated, int(n), last)
        for pk, xid, state, title, version, vid, updated, n, last in rows
    ]


@dataclass(frozen=True)
class VersionRow:
    """A published version as the form's page lists it (no XML)."""

    id: int
    version: str
    title: str
    md5: str
    content_hash: str
    source_name: str
    published_at: datetime
    published_by: str | None
    warnings: list[str]
    has_rules: bool


def versions_of_form(session: Session, form_id: int) -> list[VersionRow]:
    """A form's versions, newest first, with who published each."""
    rows = session.execute(
        select(
            FormVersion.id,
            FormVersion.version,
            FormVersion.title,
            FormVersion.md5,
            FormVersion.content_hash,
            FormVersion.source_name,
            FormVersion.created_at,
            func.coalesce(func.nullif(User.display_name, ""), User.username),
            FormVersion.warnings,
            FormVersion.rule_settings,
        )
        .outerjoin(User, User.id == FormVersion.published_by_id)
        .where(FormVersion.form_id == form_id)
        .order_by(FormVersion.id.desc())
    )
    return [
        VersionRow(
            vid, version, title, md5, content, source, at, by, list(warnings or []), bool(rules)
        )
        for vid, version, title, md5, content, source, at, by, warnings, rules in rows
    ]


def version_of_form(session: Session, form_id: int, version_id: int) -> FormVersion | None:
    """A version by its ID, only if it belongs to this form."""
    return session.scalar(
        select(FormVersion).where(FormVersion.id == version_id, FormVersion.form_id == form_id)
    )
