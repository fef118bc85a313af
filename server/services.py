"""The services one app instance shares (registered once in create_app) and the request's
unit of work: one session per request, committed in one place before the answer leaves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server import problems
from server.accounts.basic import BasicCache
from server.accounts.digest import DigestAuthority
from server.accounts.throttle import LoginThrottle
from server.config import Settings
from server.db import Database, commit, rollback
from server.http import render_problem
from server.jobs import JobQueue
from server.problems import ProblemError
from server.storage import BlobStore

log = logging.getLogger(__name__)
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Services:
    """Everything a request handler may need, built once per app."""

    settings: Settings
    db: Database
    store: BlobStore
    digest: DigestAuthority
    basic_cache: BasicCache
    throttle: LoginThrottle
    jobs: JobQueue


def services() -> Services:
    return current_app.extensions["verivali"]  # type: ignore[no-any-return]


def session() -> Session:
    """The request's session; write requests take the write lock at BEGIN on SQLite."""
    current = g.get("db_session")
    if current is None:
        db = services().db
        factory = db.write_sessions if request.method in _WRITE_METHODS else db.sessions
        current = g.db_session = factory()
    return current  # type: ignore[no-any-return]


def read_session() -> Session:
    """A short read-only session outside the unit of work (authentication look-ups)."""
    current = g.get("db_read_session")
    if current is None:
        current = g.db_read_session = services().db.lookup_sessions()
    return current  # type: ignore[no-any-return]


def _finish(response: Response) -> Response:
    """Commit the unit of work if the answer is a success; roll it back otherwise."""
    reader = g.pop("db_read_session", None)
    if reader is not None:
        reader.close()
    current: Session | None = g.pop("db_session", None)
    if current is None:
        return response
    try:
        if response.status_code < 400:
            commit(current)
        else:
            rollback(current)
    except IntegrityError as exc:
        rollback(current)
        log.info("commit refused by a constraint: %s", type(exc.orig).__name__)
        return render_problem(ProblemError(problems.CONCURRENT_WRITE))
    except OperationalError as exc:
        rollback(current)
        log.warning("database unavailable at commit: %s", exc.orig)
        return render_problem(ProblemError(problems.STORAGE_UNAVAILABLE))
    finally:
        current.close()
    return response


def _teardown(_exc: BaseException | None) -> None:
    for key in ("db_session", "db_read_session"):
        leftover = g.pop(key, None)
        if leftover is not None:
            rollback(leftover)
            leftover.close()


def install(app: Flask, svc: Services) -> None:
    app.extensions["verivali"] = svc
    app.after_request(_finish)
    app.teardown_request(_teardown)
