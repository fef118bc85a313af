"""The server's own small pages: the landing page and a health check."""

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
