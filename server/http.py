"""HTTP plumbing shared by every blueprint: the streaming request class and error answers.

Uploaded file parts are streamed straight into hashing temporary files in the data
directory (never held in memory). Every error becomes a declared problem rendered as an
OpenRosa message, which is what Collect shows the enumerator, or, on the web UI's pages
(HTML_BLUEPRINTS), as a page in the reader's language; nothing answers a bare 500.
"""

from __future__ import annotations

import logging
from typing import IO

from flask import Flask, Request, Response, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from server import problems
from server.accounts.digest import DigestAuthority
from server.openrosa.protocol import message_body, openrosa_headers, xml_response
from server.problems import ProblemError

log = logging.getLogger(__name__)
XML_SPOOL_BYTES = 1_000_000
# The blueprints whose errors are pages for people, not OpenRosa messages for Collect
# (filled by websession.page_blueprint).
HTML_BLUEPRINTS: set[str] = set()


class VerivaliRequest(Request):
    """A request whose file parts stream into the blob store's temporary directory."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        # Instance XML (text/xml) is small: keep it in memory up to 1 MB; photos go to disk.
        spool = XML_SPOOL_BYTES if (content_type or "").startswith("text/xml") else 0
        return current_app.extensions["verivali"].store.incoming(spool)  # type: ignore[no-any-return]


_HTTP_TO_PROBLEM = {
    400: problems.MALFORMED_REQUEST,
    404: problems.NOT_FOUND,
    405: problems.METHOD_NOT_ALLOWED,
}


def challenge_headers(
    request: Request, authority: DigestAuthority, stale: bool = False
) -> list[tuple[str, str]]:
    """WWW-Authenticate headers for a 401: Digest always, Basic too over https."""
    headers = [("WWW-Authenticate", authority.challenge(stale=stale))]
    if request.is_secure:
        headers.append(("WWW-Authenticate", f'Basic realm="{authority.realm}", charset="UTF-8"'))
    return headers


def _render_page(error: ProblemError) -> Response:
    """The problem as a page in the reader's language; a visitor who must sign in is sent to
    the sign-in page instead."""
    from server.i18n import language

    if error.status == 401:
        response = redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return response  # type: ignore[return-value]
    page = render_template("error.html", message=error.message(language()), code=error.problem.code)
    response = Response(page, status=error.status, mimetype="text/html")
    response.headers["X-Verivali-Problem"] = error.problem.code
    response.headers["Cache-Control"] = "no-store"
    if error.status == 429 and "seconds" in error.details:
        response.headers["Retry-After"] = str(error.details["seconds"])
    return response


def render_problem(error: ProblemError) -> Response:
    """An OpenRosa <OpenRosaResponse> carrying the problem's Indonesian message, or a page
    on the web UI's blueprints."""
    if request and (
        request.blueprint in HTML_BLUEPRINTS
        or (request.blueprint is None and request.accept_mimetypes.best == "text/html")
    ):
        return _render_page(error)
    svc = current_app.extensions["verivali"]
    headers = openrosa_headers(svc.settings.max_submission_bytes)
    response = xml_response(
        message_body(error.message("id"), nature="error"), error.status, headers
    )
    response.headers["X-Verivali-Problem"] = error.problem.code
    if error.status == 401:
        for key, value in challenge_headers(request, svc.digest, bool(error.details.get("stale"))):
            response.headers.add(key, value)
    if error.status == 503:
        response.headers["Retry-After"] = "30"
    return response


def _problem_handler(error: ProblemError) -> Response:
    if error.status >= 500:
        log.error("problem %s on %s %s", error.problem.code, request.method, request.path)
    return render_problem(error)


def _http_handler(error: HTTPException) -> Response | HTTPException:
    if isinstance(error, RequestEntityTooLarge):
        limit = current_app.extensions["verivali"].settings.max_submission_bytes
        return render_problem(ProblemError(problems.TOO_LARGE, limit_mb=problems.megabytes(limit)))
    problem = _HTTP_TO_PROBLEM.get(error.code or 0)
    if problem is None:
        if (error.code or 500) < 400:
            return error  # redirects and the like pass through
        problem = problems.Problem(f"{error.code}.0", error.code or 500, error.name, error.name)
    return render_problem(ProblemError(problem, reason=error.description or error.name))


def _unexpected_handler(error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return render_problem(ProblemError(problems.INTERNAL))


def install(app: Flask) -> None:
    app.request_class = VerivaliRequest
    app.register_error_handler(ProblemError, _problem_handler)
    app.register_error_handler(HTTPException, _http_handler)
    app.register_error_handler(Exception, _unexpected_handler)
