"""Pages and JSON for the people who run the fieldwork: the QR team sheet and progress.

Until the web login arrives with the review queue, these answer to the same HTTP Digest
accounts as Collect (browsers prompt for it). Admins see every team; a koordinator sees the
teams they lead; enumerators see none of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, jsonify, render_template, request

from server import problems
from server.accounts import access
from server.accounts import queries as account_queries
from server.assignments import queries
from server.assignments.progress import progress
from server.assignments.provisioning import collect_settings, pack, qr_svg, token_url
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


@dataclass(frozen=True)
class Card:
    """One enumerator on the team sheet."""

    team: str
    username: str
    display_name: str
    households: int
    server_url: str | None
    qr: str | None


@bp.get("/projects/<int:project_id>/teams/sheet")
def team_sheet(project_id: int) -> Response:
    _actor, team_ids = _staff(project_id)
    db = read_session()
    project = account_queries.project_by_id(db, project_id)
    assert project is not None  # _staff checked it exists
    wanted = request.args.get("team")
    rows = [
        row
        for row in queries.team_sheet_rows(db, project_id, None)
        if (team_ids is None or row.team_id in team_ids) and (not wanted or row.team_name == wanted)
    ]
    sizes = queries.list_sizes(db, project_id)
    base = services().settings.base_url or request.host_url
    cards = []
    for row in rows:
        url = token_url(base, row.token, project_id) if row.token else None
        payload = pack(collect_settings(url, project.name, row.username)) if url else None
        cards.append(
            Card(
                team=row.team_name,
                username=row.username,
                display_name=row.display_name or row.username,
                households=sizes.get(row.user_id, 0),
                server_url=url,
                qr=qr_svg(payload) if payload else None,
            )
        )
    page = render_template("assignments/team_sheet.html", project=project, cards=cards, team=wanted)
    # The codes are credentials: never kept by a browser or proxy cache.
    return Response(page, mimetype="text/html", headers={"Cache-Control": "no-store"})
