"""Redis-backed parts against a real Redis: shared Digest nonce counts and the rq job queue."""

from __future__ import annotations

import uuid

import pytest
from conftest import REDIS_URL

pytestmark = pytest.mark.redis

if not REDIS_URL:
    pytest.skip("VERIVALI_TEST_REDIS_URL not set (CI always sets it)", allow_module_level=True)


@pytest.fixture
def redis_client():  # type: ignore[no-untyped-def]
    """A client of the test Redis, closed afterwards."""
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    client.ping()
    yield client
    client.close()


def test_nonce_replay_is_caught_across_instances(redis_client) -> None:  # type: ignore[no-untyped-def]
    """Two server processes sharing Redis refuse an nc that either of them has seen."""
    from server.accounts.digest import RedisNonceCounts

    first, second = RedisNonceCounts(redis_client), RedisNonceCounts(redis_client)
    nonce = uuid.uuid4().hex
    assert first.first_use(nonce, "00000001", ttl=60)
    assert not second.first_use(nonce, "00000001", ttl=60)
    assert second.first_use(nonce, "00000002", ttl=60)


def test_app_uses_redis_for_nonce_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With VERIVALI_REDIS_URL set, the app's Digest authority keeps nonce counts in Redis."""
    from conftest import make_settings

    from server import build_services
    from server.accounts.digest import RedisNonceCounts

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", redis_url=REDIS_URL)
    svc = build_services(settings)
    try:
        assert isinstance(svc.digest.counts, RedisNonceCounts)
    finally:
        svc.db.dispose()


def test_rq_job_runs_in_a_real_worker(redis_client) -> None:  # type: ignore[no-untyped-def]
    """A job enqueued through the queue wiring is executed by an rq worker from Redis."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from server.jobs import RqQueue

    queue = RqQueue(REDIS_URL, name=f"test-{uuid.uuid4().hex[:8]}")
    job = queue.enqueue("ping", value="hello")
    worker = SimpleWorker([queue.queue], connection=queue.connection, serializer=JSONSerializer)
    worker.work(burst=True)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == "hello"
    queue.connection.close()
