"""Who may see and fill what: the only place account-to-project access is decided."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.accounts import queries


def may_see_all_projects(role: str) -> bool:
    return role == "admin"


def visible_project_ids(session: Session, user_id: int, role: str) -> list[int] | None:
    """Project IDs the user may work in; None means every project (admins)."""
    if may_see_all_projects(role):
        return None
    return queries.member_project_ids(session, user_id)


def may_fill_project(session: Session, user_id: int, role: str, project_id: int) -> bool:
    """True if the user may download and submit the project's forms."""
    return may_see_all_projects(role) or queries.is_member(session, user_id, project_id)
