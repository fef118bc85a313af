"""The web UI's own pages and plumbing: the landing page and health check (here), the
browser session and CSRF (session.py), one's account: sign-in, password, language
(account.py), and the form designer's pages (forms.py). The review pages live in
server/reviews/, the dashboard in server/dashboard/."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template
from sqlalchemy import text

from server.services import read_session

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/healthz")
def healthz() -> Response:
    read_session().execute(text("SELECT 1"))
    return jsonify(status="ok")
