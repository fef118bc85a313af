"""The validation queue: a job row per submission to check, written in the same transaction
as the submission, so a crash or restart loses nothing; run by rq workers when Redis is
configured, else by a worker thread inside each server process. Never inside the request:
the phone's 201 does not wait for the rules.

Jobs are claimed in batches by a conditional UPDATE (two workers cannot both win one)
and run in one transaction together with the flags they write, in groups checked together
(service.evaluate_many), each group in a savepoint: when a group fails its jobs run again
one by one, so a failing check is rolled back alone and retried, up to MAX_ATTEMPTS times,
while the batch commits and syncs to disk once. Jobs left "running" by a process that
died are queued again when a worker starts. A submission's first check also queues, once
("peer"), the submissions its flags name or named before, so the earlier submission of a
duplicate pair gets its flag too (and loses it when a new version is no longer a
duplicate); those runs queue nothing further, and none is queued for a submission checked
in the same group, which saw this one already.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    insert,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from server.db import after_commit
from server.jobs import job
from server.models import Submission, UTCDateTime, utcnow
from server.validation.models import ValidationJob

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
POLL_SECONDS = 2.0
STALE_AFTER = timedelta(minutes=15)
# How often a worker looks for stale jobs (besides when it starts): an rq worker, or a
# server restarted within STALE_AFTER of a crash, would otherwise leave them running.
REQUEUE_EVERY = 60.0
_requeued_at = 0.0
# A batch: jobs checked in one transaction. Bounded in time too, because on SQLite the
# batch holds the write lock for its whole length, and submissions wait for it.
BATCH = 100
BATCH_SECONDS = 0.25
# Checks evaluated together (one read of each kind of fact for all of them): a group runs
# to its end, so it is small enough to keep a batch near BATCH_SECONDS.
GROUP = 25
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


def enqueue_all(session: Session, reason: str, form_ids: list[int] | None = None) -> int:
    """Queue a check of every current submission (of these forms, by database ID) in one
    statement, oldest first, skipping those already waiting; how many were queued."""
    waiting = (
        select(ValidationJob.id)
        .where(ValidationJob.submission_id == Submission.id, ValidationJob.state == "queued")
        .exists()
    )
    chosen = select(
        Submission.id,
        literal(reason, String),
        literal("queued", String),
        literal(0, Integer),
        literal(utcnow(), UTCDateTime),
    ).where(Submission.deleted_at.is_(None), ~waiting)
    if form_ids is not None:
        chosen = chosen.where(Submission.form_id.in_(form_ids))
    # Counted from RETURNING: psycopg reports no rowcount for INSERT ... SELECT here.
    result = session.execute(
        insert(ValidationJob)
        .from_select(
            ["submission_id", "reason", "state", "attempts", "created_at"],
            chosen.order_by(Submission.id),
        )
        .returning(ValidationJob.id)
    )
    return sum(1 for _ in result)


def notify_all(session: Session, svc: Services, count: int) -> None:
    """After the commit, wake the workers for `count` new jobs: one rq job per batch."""
    if count <= 0:
        return
    if svc.settings.redis_url:
        batches = -(-count // BATCH)

        def send() -> None:
            for _ in range(batches):
                svc.jobs.enqueue("validate", job_id=None)

        after_commit(session, send)
    else:
        after_commit(session, WAKE.set)


def notify(session: Session, svc: Services, job_id: int | None) -> None:
    """After the commit, wake whoever runs jobs (an rq worker, or this process's thread)."""
    if job_id is None:
        return
    if svc.settings.redis_url:
        after_commit(session, lambda: svc.jobs.enqueue("validate", job_id=job_id))
    else:
        after_commit(session, WAKE.set)


_CLAIM = update(ValidationJob).where(
    ValidationJob.id.in_(bindparam("ids", expanding=True)), ValidationJob.state == "queued"
)


Claimed = tuple[int, int, str]  # job ID, submission ID, reason


def claim(session: Session, job_id: int | None = None, limit: int = 1) -> list[Claimed]:
    """Take the oldest queued jobs, up to `limit` (or only this one, if still queued).

    The oldest are read first, then taken by an UPDATE that wants them still queued, so two
    workers cannot both take one. Two statements, each with one obvious plan: as one
    UPDATE with a sub-select, PostgreSQL planned from statistics taken while the queue was
    empty and re-ran the sub-select for every queued job (47 ms a claim with 2,000 queued).
    On PostgreSQL, rows another worker is taking are skipped rather than waited for."""
    wanted = select(ValidationJob.id).where(ValidationJob.state == "queued")
    if job_id is not None:
        wanted = wanted.where(ValidationJob.id == job_id)
    wanted = wanted.order_by(ValidationJob.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        wanted = wanted.with_for_update(skip_locked=True)
    ids = list(session.scalars(wanted))
    if not ids:
        return []
    rows = session.execute(
        _CLAIM.values(
            state="running", attempts=ValidationJob.attempts + 1, started_at=utcnow()
        ).returning(ValidationJob.id, ValidationJob.submission_id, ValidationJob.reason),
        {"ids": ids},
    ).all()
    return sorted((int(r[0]), int(r[1]), str(r[2])) for r in rows)


def _finish(session: Session, job_ids: list[int], state: str, error: str | None = None) -> None:
    session.execute(
        update(ValidationJob)
        .where(ValidationJob.id.in_(job_ids))
        .values(state=state, error=error, finished_at=utcnow())
    )


def _failed(session: Session, job_id: int, exc: BaseException) -> None:
    """Queue the job again, or keep it as failed once it has had MAX_ATTEMPTS tries."""
    attempts = session.scalar(select(ValidationJob.attempts).where(ValidationJob.id == job_id))
    retry = (attempts or 0) < MAX_ATTEMPTS
    _finish(session, [job_id], "queued" if retry else "failed", type(exc).__name__)


def _release(session: Session, job_ids: list[int]) -> None:
    """Claimed jobs a batch had no time for go back to the queue, their try not counted."""
    if job_ids:
        session.execute(
            update(ValidationJob)
            .where(ValidationJob.id.in_(job_ids))
            .values(state="queued", attempts=ValidationJob.attempts - 1, started_at=None)
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


def run_claimed(session: Session, svc: Services, claimed: list[Claimed]) -> list[int]:
    """Run claimed jobs in the session's transaction, their submissions checked together
    (service.evaluate_many); the peer jobs they queued."""
    from server.validation.service import evaluate_many

    results = evaluate_many(
        session, svc.store, [job[1] for job in claimed], zone=svc.settings.timezone
    )
    _finish(session, [job[0] for job in claimed], "done")
    # A submission checked in this group saw the others' keys (evaluate_many writes them
    # all before looking peers up): checking it again would change nothing.
    checked = {job[1] for job in claimed}
    queued: list[int] = []
    for _job_id, submission_id, reason in claimed:
        result = results.get(submission_id)
        if result is not None and reason == "submitted":
            for other in sorted(set(result.named) - checked):
                peer_job = enqueue(session, other, "peer")
                if peer_job is not None:
                    queued.append(peer_job)
    return queued


def _run_alone(svc: Services, job: Claimed) -> None:
    """One job in its own transaction; a failure is recorded and retried, never lost."""
    try:
        with svc.db.transaction() as session:
            for peer_job in run_claimed(session, svc, [job]):
                notify(session, svc, peer_job)
    except Exception as exc:  # noqa: BLE001 - a failed check is recorded and retried
        log.exception("validation job %s failed", job[0])
        with svc.db.transaction() as session:
            _failed(session, job[0], exc)


def _run_group(session: Session, svc: Services, group: list[Claimed]) -> list[int]:
    """Check a group of jobs together in a savepoint; if that fails, each in a savepoint of
    its own, so only the failing one is rolled back (and retried). The peer jobs queued."""
    try:
        with session.begin_nested():
            return run_claimed(session, svc, group)
    except Exception as exc:  # noqa: BLE001 - the group's work is rolled back, then retried
        if len(group) == 1:
            log.exception("validation job %s failed", group[0][0])
            _failed(session, group[0][0], exc)
            return []
        log.warning("%d validation jobs failed together; one by one now", len(group))
    queued: list[int] = []
    for one in group:
        queued.extend(_run_group(session, svc, [one]))
    return queued


def run_batch(
    svc: Services,
    job_id: int | None = None,
    limit: int = BATCH,
    seconds: float = BATCH_SECONDS,
    timings: list[float] | None = None,
    group: int = GROUP,
) -> int:
    """Run up to `limit` queued jobs (this one first, when given) in one transaction, in
    groups of `group` checked together, each group in a savepoint: a failing check is
    rolled back alone and retried, and the batch commits (and syncs to disk) once. Jobs the
    batch has no time for after `seconds` go back to the queue: on SQLite a batch holds the
    write lock that phones' submissions wait for. If the batch cannot commit, its jobs run
    one by one. How many jobs ran; `timings` gets each job's seconds (its group's time
    shared out)."""
    # Not synced to disk at each commit (durable=False): a check is computed again if a
    # power cut undoes it, and its job is still queued, or running and requeued as stale.
    global _requeued_at
    with svc.db.transaction(durable=False) as session:
        if time.monotonic() - _requeued_at > REQUEUE_EVERY:
            _requeued_at = time.monotonic()
            requeue_stale(session)
        claimed = claim(session, job_id) if job_id is not None else []
        claimed += claim(session, limit=limit - len(claimed))
    if not claimed:
        return 0
    ran: list[Claimed] = []
    try:
        with svc.db.transaction(durable=False) as session:
            started = time.monotonic()
            while len(ran) < len(claimed):
                if ran and time.monotonic() - started > seconds:
                    break
                jobs = claimed[len(ran) : len(ran) + max(1, group)]
                ran.extend(jobs)
                began = time.perf_counter()
                peer_jobs = _run_group(session, svc, jobs)
                if timings is not None:
                    timings.extend([(time.perf_counter() - began) / len(jobs)] * len(jobs))
                for peer_job in peer_jobs:
                    notify(session, svc, peer_job)
            _release(session, [job[0] for job in claimed[len(ran) :]])
    except Exception:  # noqa: BLE001 - e.g. the commit failed: the jobs run one at a time
        log.exception("a batch of %d validation jobs could not commit", len(claimed))
        for job in claimed[: len(ran)]:
            _run_alone(svc, job)
        with svc.db.transaction() as session:
            _release(session, [job[0] for job in claimed[len(ran) :]])
    return len(ran)


def run_one(svc: Services, job_id: int | None = None) -> bool:
    """Run one job (the next, or this one); False when there was nothing to run."""
    return run_batch(svc, job_id, limit=1) > 0


def drain(svc: Services, limit: int | None = None) -> int:
    """Run queued jobs in batches until none is left (or about `limit` ran); how many ran."""
    ran = 0
    while limit is None or ran < limit:
        batch = run_batch(svc, limit=BATCH if limit is None else min(BATCH, limit - ran))
        if not batch:
            break
        ran += batch
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
                ran = run_batch(self.svc) > 0
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
def validate(job_id: int | None = None) -> bool:
    """rq entry point: run this validation job (or, without one, the oldest), and the
    queued ones after it in the same batch (their own rq jobs then find nothing to do)."""
    global _rq_services
    if _rq_services is None:
        from server import build_services
        from server.config import load_settings

        _rq_services = build_services(load_settings())
    return run_batch(_rq_services, job_id) > 0
