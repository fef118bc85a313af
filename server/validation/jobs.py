"""The validation queue: a job row per submission to check, written in the same transaction
as the submission, so a crash or restart loses nothing; run by rq workers when Redis is
configured, else by a worker thread inside each server process. Never inside the request:
the phone's 201 does not wait for the rules.

A job is claimed with one conditional UPDATE (two workers cannot both win it), run in its
own transaction together with the flags it writes, and retried up to MAX_ATTEMPTS times.
Jobs left "running" by a process that died are queued again when a worker starts.
A submission's first check also queues its peers once ("peer"), so the earlier submission
of a duplicate pair gets its flag too; those runs queue nothing further.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, insert, inspect, select, text, update
from sqlalchemy.orm import Session

from server.db import after_commit
from server.jobs import job
from server.models import utcnow
from server.validation.models import ValidationJob

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
POLL_SECONDS = 2.0
STALE_AFTER = timedelta(minutes=15)
REASONS = ("submitted", "peer", "rerun", "settings", "registry")


def enqueue(session: Session, submission_id: int, reason: str) -> int | None:
    """Queue a check of the submission (unless one is already waiting); the job's ID."""
    waiting = session.scalar(
        select(ValidationJob.id).where(
            ValidationJob.submission_id == submission_id, ValidationJob.state == "queued"
        )
    )
    if waiting is not None:
        return None
    return int(
        session.execute(
            insert(ValidationJob)
            .values(submission_id=submission_id, reason=reason, state="queued", attempts=0)
            .returning(ValidationJob.id)
        ).scalar_one()
    )


def notify(session: Session, svc: Services, job_id: int | None) -> None:
    """After the commit, wake whoever runs jobs (an rq worker, or this process's thread)."""
    if job_id is None:
        return
    if svc.settings.redis_url:
        after_commit(session, lambda: svc.jobs.enqueue("validate", job_id=job_id))
    else:
        after_commit(session, WAKE.set)


_CLAIM = text(
    """
    UPDATE validation_jobs
    SET state = 'running', attempts = attempts + 1, started_at = :now
    WHERE state = 'queued' AND id = (
        SELECT id FROM validation_jobs WHERE state = 'queued' {only} ORDER BY id LIMIT 1
    )
    RETURNING id, submission_id, reason
    """
)


def claim(session: Session, job_id: int | None = None) -> tuple[int, int, str] | None:
    """Take the oldest queued job (or this one); None when there is none to take."""
    statement = text(_CLAIM.text.format(only="AND id = :job_id" if job_id is not None else ""))
    params: dict[str, object] = {"now": utcnow()}
    if job_id is not None:
        params["job_id"] = job_id
    row = session.execute(statement, params).first()
    return (int(row[0]), int(row[1]), str(row[2])) if row else None


def _finish(session: Session, job_id: int, state: str, error: str | None = None) -> None:
    session.execute(
        update(ValidationJob)
        .where(ValidationJob.id == job_id)
        .values(state=state, error=error, finished_at=utcnow())
    )


def requeue_stale(session: Session) -> int:
    """Jobs a dead process left running go back to the queue."""
    result = session.execute(
        update(ValidationJob)
        .where(
            and_(
                ValidationJob.state == "running",
                ValidationJob.started_at < utcnow() - STALE_AFTER,
            )
        )
        .values(state="queued")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_one(svc: Services, job_id: int | None = None) -> bool:
    """Run one job (the next, or this one); False when there was nothing to run."""
    from server.validation.service import do_evaluate

    with svc.db.transaction() as session:
        claimed = claim(session, job_id)
    if claimed is None:
        return False
    claimed_id, submission_id, reason = claimed
    try:
        with svc.db.transaction() as session:
            result = do_evaluate(session, svc.store, submission_id, zone=svc.settings.timezone)
            _finish(session, claimed_id, "done")
            if result is not None and reason == "submitted":
                for peer in result.peers:
                    notify(session, svc, enqueue(session, peer, "peer"))
    except Exception as exc:  # noqa: BLE001 - a failed check is recorded and retried, never lost
        log.exception("validation job %s failed", claimed_id)
        with svc.db.transaction() as session:
            attempts = session.scalar(
                select(ValidationJob.attempts).where(ValidationJob.id == claimed_id)
            )
            retry = (attempts or 0) < MAX_ATTEMPTS
            _finish(session, claimed_id, "queued" if retry else "failed", type(exc).__name__)
    return True


def drain(svc: Services, limit: int | None = None) -> int:
    """Run queued jobs until none is left (or `limit` ran); how many ran."""
    ran = 0
    while (limit is None or ran < limit) and run_one(svc):
        ran += 1
    return ran


WAKE = threading.Event()


class Worker(threading.Thread):
    """The embedded default's worker: a daemon thread per server process."""

    def __init__(self, svc: Services) -> None:
        super().__init__(name="verivali-validation", daemon=True)
        self.svc = svc
        self.stopping = threading.Event()

    def _schema_ready(self) -> bool:
        try:
            return inspect(self.svc.db.engine).has_table("validation_jobs")
        except Exception:  # noqa: BLE001 - the database may not be reachable yet
            return False

    def run(self) -> None:
        # The server may start before `verivali init` made the tables: wait for them.
        while not self.stopping.is_set() and not self._schema_ready():
            self.stopping.wait(POLL_SECONDS)
        try:
            with self.svc.db.transaction() as session:
                requeue_stale(session)
        except Exception:  # noqa: BLE001 - the server runs on; jobs wait for the next start
            log.exception("could not requeue stale validation jobs")
        while not self.stopping.is_set():
            try:
                ran = run_one(self.svc)
            except Exception:  # noqa: BLE001 - e.g. the database is briefly unavailable
                log.exception("validation worker could not take a job")
                ran = False
            if not ran:
                WAKE.wait(POLL_SECONDS)
                WAKE.clear()

    def stop(self) -> None:
        self.stopping.set()
        WAKE.set()


_rq_services: Services | None = None


@job("validate")
def validate(job_id: int) -> bool:
    """rq entry point: run one validation job by its ID (in `verivali worker`)."""
    global _rq_services
    if _rq_services is None:
        from server import build_services
        from server.config import load_settings

        _rq_services = build_services(load_settings())
    return run_one(_rq_services, job_id)
