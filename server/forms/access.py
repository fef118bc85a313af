"""Who may manage which project's forms: the only way the form pages reach a project, a
form or a version.

admin: every project. designer: the projects they belong to. Everyone else (supervisor,
viewer, enumerator) has no form pages: a project, form or version out of reach answers 404,
as if it did not exist, as the review pages do.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from server import problems
from server.accounts import access as account_access
from server.accounts import queries as account_queries
from server.forms import queries
from server.models import Form, FormVersion, Project
from server.problems import ProblemError

FORM_ROLES = ("admin", "designer")


def may_manage_forms(role: str) -> bool:
    return role in FORM_ROLES


def access_forms(session: Session, user_id: int, role: str, project_id: int) -> Project:
    """The project whose forms the user may publish and manage, or 404."""
    project = account_queries.project_by_id(session, project_id)
    if project is None or not may_manage_forms(role):
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    if not account_access.may_see_all_projects(role) and not account_queries.is_member(
        session, user_id, project_id
    ):
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    return project


def access_form(session: Session, project: Project, xml_form_id: str) -> Form:
    """A form of a project already in reach (access_forms), or 404."""
    form = queries.form_by_xml_id(session, project.id, xml_form_id)
    if form is None:
        raise ProblemError(problems.FORM_NOT_FOUND, form_id=xml_form_id)
    return form


def access_version(session: Session, form: Form, version_id: int) -> FormVersion:
    """A version of a form already in reach, or 404."""
    version = queries.version_of_form(session, form.id, version_id)
    if version is None:
        raise ProblemError(problems.NOT_FOUND)
    return version
