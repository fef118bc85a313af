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


def access_project_for_filling(session: Session, user_id: int, role: str, project_id: int) -> int:
    """The project ID if the user may download and submit its forms; else 404 or 403."""
    member = queries.project_membership(session, project_id, user_id)
    if member is None:
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    if not (member or may_see_all_projects(role)):
        raise ProblemError(problems.FORBIDDEN, what=f"proyek {project_id}")
    return project_id
