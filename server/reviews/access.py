"""Who may see and decide which submissions: the only way the review pages reach a project
or a submission.

admin: every project and submission, and the final say. supervisor (koordinator): in the
projects they belong to, the submissions of the enumerators in the teams they lead. viewer:
a project's submissions, read-only, NIKs and KK numbers always masked. designer and
enumerator: no submissions. Anything out of reach answers 404, as if it did not exist: a
supervisor guessing another team's submission ID learns nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from server import i18n, problems
from server.accounts import queries as account_queries
from server.assignments import queries as assignment_queries
from server.models import Project
from server.problems import ProblemError
from server.reviews import queries
from server.web.session import Viewer

REVIEW_ROLES = ("admin", "supervisor", "viewer")


@dataclass(frozen=True)
class Scope:
    """What one person may do in one project's review."""

    project: Project
    viewer: Viewer
    # The enumerators whose submissions are in reach; None: everyone's.
    submitters: frozenset[int] | None
    may_decide: bool
    may_reveal: bool

    @property
    def project_id(self) -> int:
        return self.project.id

    @property
    def is_admin(self) -> bool:
        return self.viewer.role == "admin"

    @property
    def awaits_admin(self) -> bool:
        """This person's approval waits for an admin's (a two-level project)."""
        return self.project.two_level_approval and not self.is_admin


def may_review(role: str) -> bool:
    return role in REVIEW_ROLES


def access_review(session: Session, viewer: Viewer, project_id: int) -> Scope:
    """The viewer's scope in a project's review, or 404. The page reads times in the
    project's zone from here on."""
    project = account_queries.project_by_id(session, project_id)
    if project is None or not may_review(viewer.role):
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    i18n.use_zone(project.timezone)
    if viewer.role == "admin":
        return Scope(project, viewer, None, may_decide=True, may_reveal=True)
    if not account_queries.is_member(session, viewer.user_id, project_id):
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    if viewer.role == "viewer":
        return Scope(project, viewer, None, may_decide=False, may_reveal=False)
    teams = assignment_queries.teams_supervised(session, project_id, viewer.user_id)
    members = frozenset(assignment_queries.member_ids_of_teams(session, teams))
    return Scope(project, viewer, members, may_decide=True, may_reveal=True)


def access_submission(session: Session, scope: Scope, submission_id: int) -> queries.Head:
    """A submission in the scope, or 404."""
    head = queries.head(session, scope.project_id, submission_id)
    if head is None or (scope.submitters is not None and head.submitter_id not in scope.submitters):
        raise ProblemError(problems.SUBMISSION_NOT_FOUND, submission_id=submission_id)
    return head


def check_decide(scope: Scope) -> None:
    """Refuse a change from a read-only role (it can see the submission, so 403)."""
    if not scope.may_decide:
        raise ProblemError(problems.READ_ONLY, role=scope.viewer.role)
