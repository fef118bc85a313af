"""The koordinator's printable QR team sheet, under the web sign-in.

Admins see every team of the project; a koordinator who belongs to the project sees the
teams they lead; anyone else is told the project does not exist (404), as on the review
pages. The progress JSON for scripts stays on the API (views.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, render_template, request

from server import problems
from server.accounts import queries as account_queries
from server.assignments import queries
from server.assignments.provisioning import collect_settings, pack, qr_svg, token_url
from server.problems import ProblemError
from server.services import services
from server.services import session as db_session
from server.web.session import login_required, no_store, page_blueprint, require_viewer

bp = page_blueprint("team_pages", __name__)


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
@login_required
def team_sheet(project_id: int) -> Response:
    viewer = require_viewer()
    db = db_session()
    project = account_queries.project_by_id(db, project_id)
    if project is None or viewer.role not in ("admin", "supervisor"):
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    team_ids: set[int] | None = None
    if viewer.role == "supervisor":
        if not account_queries.is_member(db, viewer.user_id, project_id):
            raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
        team_ids = set(queries.teams_supervised(db, project_id, viewer.user_id))
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
    return no_store(Response(page, mimetype="text/html"))
