"""The fieldwork progress JSON for scripts and dashboards outside Verivali, on the API.

It answers to the same HTTP Digest (or Basic) accounts as Collect. Admins see every team; a
koordinator sees the teams they lead; anyone else is refused. The team sheet is a web page
(pages.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from server import problems
from server.accounts import access
from server.assignments import queries
from server.assignments.progress import progress
from server.openrosa import auth
from server.problems import ProblemError
from server.services import read_session, services

bp = Blueprint("assignments", __name__)


def _staff(project_id: int) -> tuple[auth.Actor, set[int] | None]:
    """The caller, if admin or koordinator in the project, with the teams they may see
    (None = all)."""
    svc = services()
    db = read_session()
    actor = auth.by_header(db, request, svc.digest, svc.basic_cache, project_id)
    access.access_project_for_filling(actor.credentials, project_id)
    if access.may_see_all_projects(actor.role):
        return actor, None
    if actor.role == "supervisor":
        return actor, set(queries.teams_supervised(db, project_id, actor.user_id))
    raise ProblemError(problems.FORBIDDEN, what="halaman koordinator")


@bp.get("/v1/projects/<int:project_id>/progress")
def progress_json(project_id: int) -> Response:
    _actor, team_ids = _staff(project_id)
    response = jsonify(progress(read_session(), project_id, team_ids).as_json())
    response.headers["Cache-Control"] = "no-store"
    return response
