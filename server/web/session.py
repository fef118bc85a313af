"""The browser session of the web UI: who is signed in, CSRF tokens, and the pages' blueprints.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure over https), holding
the user's ID and a tag derived from their password hash: changing the password ends every
other session at once, and a disabled account is signed out on its next request. Every POST
to a page blueprint must carry the session's CSRF token (a form field or X-CSRF-Token), and
a cross-site Origin is refused too. Collect's OpenRosa routes use HTTP Digest instead and
are not page blueprints.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, g, redirect, request, session, url_for

from server import http, problems
from server.accounts import queries
from server.models import User
from server.problems import ProblemError
from server.services import read_session, services

SESSION_HOURS = 12
View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Viewer:
    """The person signed in to the web UI."""

    user_id: int
    username: str
    display_name: str
    role: str

    @property
    def name(self) -> str:
        return self.display_name or self.username


def session_tag(user: User) -> str:
    """Ties a session to the password it was opened with."""
    key = services().settings.secret_key.encode()
    material = f"{user.id}:{user.password_hash or ''}".encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:24]


def sign_in(user: User) -> None:
    """Start a fresh session for the user (a new CSRF token too)."""
    language = session.get("lang")
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["tag"] = session_tag(user)
    session["csrf"] = secrets.token_urlsafe(32)
    if language:
        session["lang"] = language
    g.pop("viewer", None)


def sign_out() -> None:
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def current_viewer() -> Viewer | None:
    """The signed-in person, or None (no session, a changed password, a disabled account)."""
    if "viewer" in g:
        return g.viewer  # type: ignore[no-any-return]
    viewer = None
    uid = session.get("uid")
    if isinstance(uid, int):
        user = queries.user_by_id(read_session(), uid)
        if (
            user is not None
            and user.disabled_at is None
            and hmac.compare_digest(str(session.get("tag", "")), session_tag(user))
        ):
            viewer = Viewer(user.id, user.username, user.display_name, user.role)
    g.viewer = viewer
    return viewer


def require_viewer() -> Viewer:
    """The signed-in person; views call it through `login_required`."""
    viewer = current_viewer()
    if viewer is None:
        raise ProblemError(problems.AUTH_REQUIRED)
    return viewer


def login_required(view: View) -> View:
    """Send a visitor who is not signed in to the sign-in page, and back afterwards."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_viewer() is None:
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def check_csrf() -> None:
    """Refuse a write without this session's token, or from another site."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(str(sent), str(expected)) or not _same_origin():
        raise ProblemError(problems.CSRF_FAILED)


def safe_next(target: str | None, default: str) -> str:
    """A redirect target after sign-in: only a path on this site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def page_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint of web pages: CSRF-checked, answering errors as HTML pages."""
    bp = Blueprint(name, import_name)
    bp.before_request(check_csrf)
    http.HTML_BLUEPRINTS.add(name)
    return bp


def no_store(response: Response) -> Response:
    """Pages with personal data are never kept by a browser or proxy cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: Flask) -> None:
    settings = app.extensions["verivali"].settings
    app.config.update(
        SESSION_COOKIE_NAME="verivali",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_viewer"] = current_viewer
