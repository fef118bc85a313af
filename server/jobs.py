"""Background jobs: where they run, and sending them only after the database commit.

With VERIVALI_REDIS_URL set, jobs go to an rq queue served by `verivali worker`; without
it they run in-process right after the commit (the embedded default). Jobs take IDs and
plain values, never ORM objects, so they serialise as JSON on either path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from server.db import after_commit

log = logging.getLogger(__name__)
QUEUE_NAME = "verivali"

# name -> function; a job function receives only JSON-serialisable keyword arguments.
REGISTRY: dict[str, Callable[..., Any]] = {}


def job(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a job under a stable name."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = func
        return func

    return register


@job("ping")
def ping(value: str = "pong") -> str:
    """A job that proves the queue works end to end (used by `verivali worker --check`)."""
    return value


def run_job(name: str, kwargs: dict[str, Any]) -> Any:
    """Entry point of every job, whichever queue carried it."""
    return REGISTRY[name](**kwargs)


class JobQueue(Protocol):
    def enqueue(self, name: str, **kwargs: Any) -> Any: ...


class InlineQueue:
    """Runs a job in the calling process (embedded default and tests)."""

    def enqueue(self, name: str, **kwargs: Any) -> Any:
        return run_job(name, kwargs)


class RqQueue:
    """Sends jobs to Redis for `verivali worker` (rq) processes."""

    def __init__(self, redis_url: str, name: str = QUEUE_NAME) -> None:
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.connection = Redis.from_url(redis_url)
        self.queue = Queue(name, connection=self.connection, serializer=JSONSerializer)

    def enqueue(self, name: str, **kwargs: Any) -> Any:
        if name not in REGISTRY:
            raise KeyError(f"unknown job {name!r}")
        return self.queue.enqueue(run_job, name, kwargs)


def make_queue(redis_url: str | None, name: str = QUEUE_NAME) -> JobQueue:
    return RqQueue(redis_url, name) if redis_url else InlineQueue()


def enqueue_after_commit(session: Session, queue: JobQueue, name: str, **kwargs: Any) -> None:
    """Send a job once the current unit of work has committed (never for rolled-back work)."""
    after_commit(session, lambda: queue.enqueue(name, **kwargs))
