"""Who may see and fill what: the only place account-to-project access is decided."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server import problems
from server.accounts import queries
from server.problems import ProblemError


def may_see_all_projects(role: str) -> bool:
    return role == "admin"


def visible_project_ids(session: Session, user_id: int, role: str) -> list[int] | None:
    """Project IDs the user may work in; None means every project (admins)."""
    if may_see_all_projects(role):
        return None
    return queries.member_project_ids(session, user_id)


def check_may_submit(role: str) -> None:
    """Viewers read forms and submissions but never send any."""
    if role == "viewer":
        raise ProblemError(problems.READ_ONLY, role=role)


def access_project_for_filling(credentials: queries.Credentials, project_id: int) -> int:
    """The project ID if the user may download and submit its forms; else 404 or 403.

    `credentials` must have been read for this project (they carry its existence and the
    user's membership, fetched with the user in one query)."""
    if not credentials.project_exists:
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    if not (credentials.project_member or may_see_all_projects(credentials.role)):
        raise ProblemError(problems.FORBIDDEN, what=f"proyek {project_id}")
    return project_id
