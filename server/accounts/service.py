"""Creating and changing accounts: check_* validates, do_* writes and audits."""

from __future__ import annotations

import re
import secrets

from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from server import audit, problems
from server.accounts import queries
from server.accounts.digest import ha1_for
from server.models import PROJECT_ZONES, ROLES, Project, ProjectMember, User, utcnow
from server.problems import ProblemError

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# Names that would shadow the KoBoCAT-style /<username>/formList routes or our own pages.
RESERVED_USERNAMES = frozenset(
    {
        "v1",
        "formlist",
        "submission",
        "static",
        "forms",
        "api",
        "login",
        "logout",
        "xformsmanifest",
        "healthz",
        "key",
    }
)
MIN_PASSWORD = 8


def check_username(username: str) -> str:
    """Validate a username: lower-case letters, digits, dot, dash, underscore."""
    if not _USERNAME.match(username) or username in RESERVED_USERNAMES:
        raise ProblemError(
            problems.INVALID_INPUT,
            field="username",
            reason="use 2-64 lower-case letters, digits, '.', '-' or '_' (not a reserved name)",
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ProblemError(
            problems.INVALID_INPUT,
            field="password",
            reason=f"must be at least {MIN_PASSWORD} characters",
        )
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ProblemError(
            problems.INVALID_INPUT, field="role", reason=f"must be one of {', '.join(ROLES)}"
        )
    return role


def password_matches(password_hash: str | None, password: str) -> bool:
    return bool(password_hash) and check_password_hash(password_hash or "", password)


def check_zone(timezone: str | None) -> str | None:
    """One of Indonesia's time zones, or None for the instance's."""
    if timezone is None or timezone == "":
        return None
    if timezone not in PROJECT_ZONES:
        raise ProblemError(
            problems.INVALID_INPUT, field="timezone", reason=" | ".join(PROJECT_ZONES)
        )
    return timezone


def do_create_project(
    session: Session, name: str, actor_id: int | None = None, timezone: str | None = None
) -> Project:
    name = name.strip()
    if not name or len(name) > 200:
        raise ProblemError(problems.INVALID_INPUT, field="name", reason="1-200 characters")
    if queries.project_by_name(session, name) is not None:
        raise ProblemError(problems.INVALID_INPUT, field="name", reason="already exists")
    project = Project(name=name, timezone=check_zone(timezone))
    session.add(project)
    session.flush()
    audit.record(
        session, actor_id, "project.create", "project", project.id, name=name, timezone=timezone
    )
    return project


def do_set_approval_levels(
    session: Session, project: Project, two_level: bool, actor_id: int | None = None
) -> None:
    """One level (a koordinator's approval approves) or two (an admin approves after)."""
    before = project.two_level_approval
    project.two_level_approval = two_level
    audit.record(
        session,
        actor_id,
        "project.approval",
        "project",
        project.id,
        **{
            "from": "two-level" if before else "single",
            "to": "two-level" if two_level else "single",
        },
    )


def do_set_project_zone(
    session: Session, project: Project, timezone: str | None, actor_id: int | None = None
) -> None:
    """Set the time zone the project's pages and rules read times in."""
    before = project.timezone
    project.timezone = check_zone(timezone)
    audit.record(
        session,
        actor_id,
        "project.timezone",
        "project",
        project.id,
        **{"from": before, "to": project.timezone},
    )


def do_set_password(
    session: Session, user: User, password: str, realm: str, actor_id: int | None = None
) -> None:
    check_password(password)
    user.password_hash = generate_password_hash(password)
    user.digest_ha1 = ha1_for(user.username, realm, password)
    audit.record(session, actor_id, "user.password", "user", user.id)


def do_create_user(
    session: Session,
    username: str,
    role: str,
    realm: str,
    password: str | None = None,
    project_id: int | None = None,
    actor_id: int | None = None,
) -> User:
    check_username(username)
    check_role(role)
    if queries.user_by_username(session, username) is not None:
        raise ProblemError(problems.INVALID_INPUT, field="username", reason="already exists")
    if project_id is not None and queries.project_by_id(session, project_id) is None:
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    user = User(username=username, role=role)
    session.add(user)
    session.flush()
    audit.record(session, actor_id, "user.create", "user", user.id, role=role)
    if password is not None:
        do_set_password(session, user, password, realm, actor_id)
    if project_id is not None:
        do_add_member(session, user, project_id, actor_id)
    return user


def do_add_member(
    session: Session, user: User, project_id: int, actor_id: int | None = None
) -> None:
    if queries.project_by_id(session, project_id) is None:
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    if not queries.is_member(session, user.id, project_id):
        session.add(ProjectMember(project_id=project_id, user_id=user.id))
        audit.record(
            session, actor_id, "project.member.add", "project", project_id, user_id=user.id
        )


def do_issue_token(session: Session, user: User, actor_id: int | None = None) -> str:
    """Give the user a new 64-character token (revoking any previous one)."""
    user.token = secrets.token_urlsafe(48)[:64]
    user.token_created_at = utcnow()
    audit.record(session, actor_id, "user.token.issue", "user", user.id)
    return user.token


def do_revoke_token(session: Session, user: User, actor_id: int | None = None) -> None:
    user.token = None
    user.token_created_at = None
    audit.record(session, actor_id, "user.token.revoke", "user", user.id)
