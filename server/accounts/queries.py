"""Queries over users, projects and memberships. All SQL about accounts lives here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, exists, select
from sqlalchemy.orm import Session

from server.db import run
from server.models import Project, ProjectMember, User

# IDs are 32-bit integers on PostgreSQL: a larger number from a URL cannot name a row, and
# binding it would be a database error instead of "not found".
_MAX_ID = 2**31 - 1


def _storable(value: str) -> bool:
    """PostgreSQL text cannot hold NUL, which a URL (%00) or a Basic header can carry."""
    return "\x00" not in value


@dataclass(frozen=True)
class Credentials:
    """What authentication needs of a user, without loading the whole row."""

    user_id: int
    username: str
    role: str
    disabled: bool
    digest_ha1: str | None
    password_hash: str | None
    # For the project the URL names: does it exist, and is the user a member of it?
    project_exists: bool = False
    project_member: bool = False


# One round trip answers both "who is this" and "may they work in the project in the URL".
_CREDENTIALS = select(
    User.id,
    User.username,
    User.role,
    User.disabled_at,
    User.digest_ha1,
    User.password_hash,
    exists().where(Project.id == bindparam("project_id")),
    exists().where(
        ProjectMember.user_id == User.id, ProjectMember.project_id == bindparam("project_id")
    ),
)
_CREDENTIALS_BY_TOKEN = _CREDENTIALS.where(User.token == bindparam("token"))
_CREDENTIALS_BY_USERNAME = _CREDENTIALS.where(User.username == bindparam("username"))


def _credentials(row: Row[*tuple[Any, ...]] | None) -> Credentials | None:
    if row is None:
        return None
    user_id, username, role, disabled_at, ha1, password_hash, exists_, member = row
    return Credentials(
        user_id,
        username,
        role,
        disabled_at is not None,
        ha1,
        password_hash,
        bool(exists_),
        bool(member),
    )


def _project_param(project_id: int | None) -> int:
    # IDs are 32-bit on PostgreSQL; 0 names no project.
    return project_id if project_id is not None and 0 < project_id <= _MAX_ID else 0


def credentials_by_token(
    session: Session, token: str, project_id: int | None = None
) -> Credentials | None:
    """The token's user, with their access to `project_id` (when given)."""
    if not _storable(token):
        return None
    params = {"token": token, "project_id": _project_param(project_id)}
    return _credentials(run(session, _CREDENTIALS_BY_TOKEN, params).first())


def credentials_by_username(
    session: Session, username: str, project_id: int | None = None
) -> Credentials | None:
    """The user, with their access to `project_id` (when given)."""
    if not _storable(username):
        return None
    params = {"username": username, "project_id": _project_param(project_id)}
    return _credentials(run(session, _CREDENTIALS_BY_USERNAME, params).first())


def user_by_username(session: Session, username: str) -> User | None:
    if not _storable(username):
        return None
    return session.scalar(select(User).where(User.username == username))


def user_by_id(session: Session, user_id: int) -> User | None:
    if not 0 < user_id <= _MAX_ID:
        return None
    return session.get(User, user_id)


def project_by_id(session: Session, project_id: int) -> Project | None:
    if not 0 < project_id <= _MAX_ID:
        return None
    return session.get(Project, project_id)


def project_by_name(session: Session, name: str) -> Project | None:
    if not _storable(name):
        return None
    return session.scalar(select(Project).where(Project.name == name))


def all_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.id)))


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def member_project_ids(session: Session, user_id: int) -> list[int]:
    rows = session.scalars(
        select(ProjectMember.project_id)
        .where(ProjectMember.user_id == user_id)
        .order_by(ProjectMember.project_id)
    )
    return list(rows)


def is_member(session: Session, user_id: int, project_id: int) -> bool:
    return (
        session.scalar(
            select(ProjectMember.user_id).where(
                ProjectMember.user_id == user_id, ProjectMember.project_id == project_id
            )
        )
        is not None
    )
