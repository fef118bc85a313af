"""Web pages of one's own account: signing in and out, changing the password, the language.

Failed sign-ins are throttled (throttle.py); a wrong username and a wrong password get the
same answer after the same work, so the page does not tell which usernames exist.
"""

from __future__ import annotations

from flask import Response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.security import generate_password_hash

from server import audit, problems
from server.accounts import queries, service
from server.i18n import LANGUAGES
from server.problems import ProblemError
from server.services import services
from server.services import session as db_session
from server.web.session import (
    current_viewer,
    login_required,
    no_store,
    page_blueprint,
    require_viewer,
    safe_next,
    sign_in,
    sign_out,
)

bp = page_blueprint("accounts", __name__)
# Checked against when the username is unknown, so both failures cost one hash check.
_DUMMY_HASH = generate_password_hash("not-a-password-of-anyone")


def _page(template: str, status: int = 200, **context: object) -> Response:
    return no_store(Response(render_template(template, **context), status, mimetype="text/html"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    target = safe_next(request.values.get("next"), url_for("reviews.home"))
    if request.method == "GET":
        if current_viewer() is not None:
            return redirect(target)  # type: ignore[return-value]
        return _page("accounts/login.html", next=target)
    username = request.form.get("username", "").strip().lower()[:64]
    password = request.form.get("password", "")[:200]
    throttle = services().throttle
    address = request.remote_addr or "-"
    wait = throttle.wait_seconds(username, address)
    if wait:
        minutes = max(1, round(wait / 60))
        raise ProblemError(problems.LOGIN_THROTTLED, minutes=minutes, seconds=int(wait))
    user = queries.user_by_username(db_session(), username) if username else None
    usable = user is not None and user.disabled_at is None
    hashed = user.password_hash if usable and user is not None else None
    if not service.password_matches(hashed or _DUMMY_HASH, password) or not hashed:
        throttle.failed(username, address)
        error = _("Nama pengguna atau kata sandi salah.")
        return _page("accounts/login.html", 401, next=target, error=error, username=username)
    assert user is not None
    throttle.succeeded(username, address)
    sign_in(user)
    audit.record(db_session(), user.id, "user.login", "user", user.id)
    return redirect(target)  # type: ignore[return-value]


@bp.post("/logout")
def logout() -> Response:
    viewer = current_viewer()
    if viewer is not None:
        audit.record(db_session(), viewer.user_id, "user.logout", "user", viewer.user_id)
    sign_out()
    return redirect(url_for("accounts.login"))  # type: ignore[return-value]


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Response:
    viewer = require_viewer()
    if request.method == "GET":
        return _page("accounts/password.html")
    current = request.form.get("current", "")
    new = request.form.get("new", "")
    user = queries.user_by_id(db_session(), viewer.user_id)
    assert user is not None  # the session was checked against it
    error = None
    if not service.password_matches(user.password_hash, current):
        error = _("Kata sandi saat ini salah.")
    elif new != request.form.get("confirm", ""):
        error = _("Kata sandi baru dan ulangannya tidak sama.")
    elif len(new) < service.MIN_PASSWORD:
        error = _("Kata sandi baru paling sedikit %(n)d karakter.", n=service.MIN_PASSWORD)
    if error:
        return _page("accounts/password.html", 422, error=error)
    service.do_set_password(db_session(), user, new, services().settings.realm, user.id)
    sign_in(user)  # this session stays; every other one ends with the old password
    return _page("accounts/password.html", done=True)


@bp.post("/language")
def set_language() -> Response:
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return redirect(safe_next(request.form.get("next"), url_for("reviews.home")))  # type: ignore[return-value]
