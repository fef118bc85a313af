"""Queries over users, projects and memberships. All SQL about accounts lives here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Project, ProjectMember, User


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_by_token(session: Session, token: str) -> User | None:
    return session.scalar(select(User).where(User.token == token))


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def project_by_id(session: Session, project_id: int) -> Project | None:
    return session.get(Project, project_id)


def project_by_name(session: Session, name: str) -> Project | None:
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
