"""The database engine, sessions, and the one place a unit of work is committed.

SQLite runs in WAL mode with full fsync and foreign keys on; the rules' checks get an
engine of their own there (a larger page cache, WAL checkpoints left to a thread).
PostgreSQL runs through psycopg 3, without JIT compilation.
A unit of work (`transaction()`) commits once, then runs the callbacks registered with
`after_commit()` (used to enqueue jobs), so nothing is sent out for data that did not land.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Result, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.base import Executable

from server.config import Settings
from server.models import Base

_AFTER_COMMIT = "verivali_after_commit"
log = logging.getLogger(__name__)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from pysqlite; the "begin" listener below emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before we acknowledge a submission to Collect.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class WriterGate:
    """Queues SQLite writers of every thread and process on a kernel file lock.

    SQLite's busy handler sleeps with back-off (up to 100 ms a try) when a writer finds the
    database locked, which under load turns into second-long stalls; a blocking flock hands
    the database to the next writer the moment the previous one is done.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def acquire(self) -> None:
        self._local.acquire()
        self._depth += 1
        if self._depth == 1:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._local.release()


def _sqlite_begin(gate: WriterGate) -> Callable[[Any], None]:
    def begin(conn: Any) -> None:
        # Writers take the write lock at BEGIN, so they queue instead of one failing when it
        # upgrades a read snapshot that another writer has moved past.
        options = conn.get_execution_options()
        mode = options.get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE":
            gate.acquire()
            conn.connection.info["verivali_gate"] = True
        if options.get("sqlite_bulk"):
            # Only outside a transaction can SQLite stop checking foreign keys; see
            # Database.transaction(bulk=True). Turned back on when the connection returns.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.connection.info["verivali_bulk"] = True
        conn.exec_driver_sql(f"BEGIN {mode}")

    return begin


def _sqlite_checkin(gate: WriterGate) -> Callable[[Any, Any], None]:
    def checkin(dbapi_connection: Any, record: Any) -> None:
        if record.info.pop("verivali_bulk", False):
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
        if record.info.pop("verivali_gate", False):
            gate.release()

    return checkin


def _sqlite_worker_connect(cache_mb: int) -> Callable[[Any, Any], None]:
    """The checks' connections (see Database.worker_engine): every transaction on them is
    durable=False, so their commits are not synced (synchronous=NORMAL: the next synced
    commit or checkpoint takes them along), and their page cache is `cache_mb`."""

    def connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")  # in KiB

    return connect


# The checks' transactions on PostgreSQL: commits not synced (see Database.transaction),
# and no sequential scans where an index serves. Every statement of a check is an index
# look-up by design, but the tables a round fills (keys, photo hashes, flags) start empty,
# and until autovacuum next analyzes them the planner takes them for small: a look-up of
# 75 photo hashes by primary key scanned the whole table as it grew through the round.
_RELAXED_POSTGRESQL = text(
    "SELECT set_config('synchronous_commit', 'off', true), "
    "set_config('enable_seqscan', 'off', true)"
)


class Checkpointer:
    """Copies SQLite's write-ahead log into the database file on a thread of its own.

    Without it, the commit that finds the log over 1,000 pages does the copy (and its
    fsyncs) itself: for the rules' checks, which write hundreds of index pages a second,
    that was a fifth of the worker's time. The checks' connections leave the copy to this
    thread (started with their first connection), which runs a PASSIVE checkpoint every
    `interval` seconds; SQLite lets it run beside readers and writers, and Python's sqlite3
    releases the GIL while it does. Should the thread fall behind, those connections still
    copy themselves once the log passes FALLBACK_PAGES."""

    FALLBACK_PAGES = 10_000  # 40 MB of log

    def __init__(self, path: Path, interval: float = 0.5) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def connect(self, dbapi_connection: Any, _record: Any) -> None:
        """Engine "connect" listener: this connection leaves checkpoints to the thread."""
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={self.FALLBACK_PAGES}")
        self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="verivali-sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, frames in the log, frames copied)."""
        row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval):
                try:
                    self.checkpoint(connection)
                except sqlite3.Error:  # e.g. the file is gone under a test; try again later
                    log.warning("SQLite checkpoint failed", exc_info=True)
        finally:
            connection.close()


def make_engine(settings: Settings, gate: WriterGate | None = None) -> Engine:
    """Create the engine for the configured database. On SQLite, writers queue on `gate`
    (one per data directory, shared by the engines of a process)."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            settings.database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        gate = gate or WriterGate(settings.data_dir / ".sqlite-writer.lock")
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin(gate))
        event.listen(engine.pool, "checkin", _sqlite_checkin(gate))
        return engine
    # No pre-ping: it would add a round trip to every checkout (two per submission). After a
    # database restart a stale pooled connection fails one request with a 503, which Collect
    # retries; pool_recycle bounds how old a connection gets.
    engine = create_engine(settings.database_url, pool_size=10, max_overflow=10, pool_recycle=1800)
    event.listen(engine, "connect", _postgresql_connect)
    return engine


def _postgresql_connect(dbapi_connection: Any, _record: Any) -> None:
    # No JIT compilation: it pays off for long analytical queries, and ours are short
    # index look-ups whose row estimates (a range of text keys) can still cross
    # jit_above_cost; compiling then took 5 ms for a 2 ms photo-chunk search.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


class Database:
    """Engine plus session factories (read and write) for one instance of the server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        gate = WriterGate(settings.data_dir / ".sqlite-writer.lock") if settings.is_sqlite else None
        self.engine = make_engine(settings, gate)
        # The rules' checks (transaction(durable=False)) get connections of their own on
        # SQLite, with a large page cache: a check reads registry and key index pages all
        # over a file of gigabytes, and SQLite's 2 MB default left them to the operating
        # system's cache, which may drop pages it has not seen used for a minute. Kept
        # apart so the web requests' connections stay small; and as only durable=False
        # transactions use them, their commits are unsynced from the start.
        self.checkpointer: Checkpointer | None = None
        self.worker_engine = self.engine
        if settings.is_sqlite:
            self.worker_engine = make_engine(settings, gate)
            event.listen(
                self.worker_engine, "connect", _sqlite_worker_connect(settings.worker_cache_mb)
            )
            self.checkpointer = Checkpointer(Path(self.worker_engine.url.database or ""))
            event.listen(self.worker_engine, "connect", self.checkpointer.connect)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Look-ups outside the unit of work (authentication, access) need no transaction of
        # their own: on PostgreSQL they run in autocommit, saving BEGIN and ROLLBACK trips.
        self.lookup_sessions = (
            self.sessions
            if settings.is_sqlite
            else sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
        )
        self.write_sessions = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )
        self.bulk_sessions = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE", sqlite_bulk=True),
            expire_on_commit=False,
        )
        self.relaxed_sessions = sessionmaker(
            self.worker_engine.execution_options(sqlite_begin="IMMEDIATE"),
            expire_on_commit=False,
        )

    def create_all(self) -> list[str]:
        """Create missing tables, then bring existing ones up to the models (idempotent);
        what the upgrade changed."""
        import server.assignments.models  # noqa: F401 (registers the assignment tables)
        import server.registry.models  # noqa: F401 (registers the registry tables)
        import server.reviews.models  # noqa: F401 (registers the review tables)
        import server.validation.models  # noqa: F401 (registers the validation tables)

        existed = self.has_schema()
        Base.metadata.create_all(self.engine)
        return upgrade_additively(self.engine) if existed else []

    def has_schema(self) -> bool:
        return inspect(self.engine).has_table("users")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.worker_engine is not self.engine:
            self.worker_engine.dispose()
        if self.checkpointer is not None:
            self.checkpointer.stop()

    @contextmanager
    def transaction(
        self, write: bool = True, bulk: bool = False, durable: bool = True
    ) -> Iterator[Session]:
        """One unit of work: commit at the end, roll back on error, then run after-commit hooks.

        `bulk` is for writers that guarantee their references themselves (the registry
        import links rows to ids it has just read): SQLite skips its per-row foreign-key
        look-ups in that transaction, a fifth of the cost of a million-row import.

        `durable=False` is for derived data that is computed again when lost (the rules'
        checks, whose jobs go back to the queue): the commit returns before it is synced
        to disk (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit off). A power
        cut may undo the last such commits, never half of one, and never a durable commit
        (an acknowledged submission) made after them."""
        if bulk:
            session = self.bulk_sessions()
        elif not durable:
            session = self.relaxed_sessions()
        else:
            session = (self.write_sessions if write else self.sessions)()
        try:
            if not durable and not self.settings.is_sqlite:
                session.execute(_RELAXED_POSTGRESQL)
            yield session
            commit(session)
        except BaseException:
            rollback(session)
            raise
        finally:
            session.close()


def run(session: Session, statement: Executable, params: Any = None) -> Result[*tuple[Any, ...]]:
    """Execute a pre-built Core statement on the session's connection (inside its unit of
    work), skipping the ORM's per-call statement handling on hot paths."""
    return session.connection().execute(statement, params)


class InsertIgnoring:
    """A pre-built INSERT that keeps the existing row when the key is taken (ON CONFLICT DO
    NOTHING), even under a race; built once for each dialect."""

    def __init__(self, model: Any, values: dict[str, Any]) -> None:
        self._statements = {
            "postgresql": postgresql.insert(model).values(values).on_conflict_do_nothing(),
            "sqlite": sqlite.insert(model).values(values).on_conflict_do_nothing(),
        }

    def run(self, session: Session, params: Any) -> None:
        run(session, self._statements[session.get_bind().dialect.name], params)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def commit(session: Session) -> None:
    """Commit the session, then run its after-commit callbacks."""
    session.commit()
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        callback()


def rollback(session: Session) -> None:
    """Roll back and forget the after-commit callbacks."""
    session.info.pop(_AFTER_COMMIT, None)
    session.rollback()


def upgrade_additively(engine: Engine) -> list[str]:
    """What a newer release added to tables an instance already has: missing columns (with
    their default for the rows already there) and missing or changed indexes. Nothing is
    dropped but an index whose columns changed. The statements run."""
    done: list[str] = []
    seen = inspect(engine)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if not seen.has_table(table.name):
                continue
            have = {column["name"] for column in seen.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                statement = f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'
                default = getattr(column.default, "arg", None)
                if isinstance(default, bool | int | float | str) and not callable(default):
                    literal = column.type.literal_processor(engine.dialect)
                    value = literal(default) if literal else repr(default)
                    statement += f" DEFAULT {value}"
                connection.execute(text(statement))
                done.append(statement)
            indexes = {i["name"]: i["column_names"] for i in seen.get_indexes(table.name)}
            for index in table.indexes:
                wanted = [column.name for column in index.columns]
                if indexes.get(str(index.name)) == wanted:
                    continue
                if index.name in indexes:
                    index.drop(connection)
                index.create(connection)
                done.append(f"index {index.name}")
    for statement in done:
        log.info("schema upgraded: %s", statement)
    return done
