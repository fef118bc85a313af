"""Shared fixtures: settings on a temporary data directory, the app on SQLite and (when
VERIVALI_TEST_DATABASE_URL is set) on PostgreSQL, a seeded project with users and a form,
and Collect-faithful clients.

In CI (CI=true) PostgreSQL and Redis are mandatory: a missing URL fails the run instead of
silently testing less.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from werkzeug.security import generate_password_hash

from server import create_app
from server.accounts import service as accounts
from server.config import Settings, load_settings
from server.forms.service import do_publish_form

sys.path.insert(0, str(Path(__file__).parent))

from collect import CollectClient, WsgiTransport  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("VERIVALI_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("VERIVALI_TEST_REDIS_URL", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "rahasia-123"


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not (PG_URL and REDIS_URL):
        raise pytest.UsageError(
            "CI must test against real PostgreSQL and Redis: set VERIVALI_TEST_DATABASE_URL "
            "and VERIVALI_TEST_REDIS_URL (.ci/run does)"
        )


@pytest.fixture(autouse=True)
def _cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeding hashes passwords; scrypt costs ~0.4 s each, so tests use a cheap method
    unless marked `real_password_hash`."""
    if request.node.get_closest_marker("real_password_hash") is None:
        monkeypatch.setattr(
            accounts,
            "generate_password_hash",
            functools.partial(generate_password_hash, method="pbkdf2:sha256:1"),
        )


BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def _pg_schema_url(schema: str) -> str:
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on (each test runs on every available one)."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'verivali.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    env = {
        "VERIVALI_DATA_DIR": str(tmp_path / "data"),
        "VERIVALI_DATABASE_URL": database_url,
        "VERIVALI_SECRET_KEY": "test-secret",
        "VERIVALI_JAVA_VALIDATE": "false",
        # Tests run queued checks themselves (validation.jobs.drain), never in a thread.
        "VERIVALI_INPROCESS_WORKER": "false",
    }
    return load_settings(env).with_overrides(**overrides)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a test instance (JavaRosa checks off unless a test turns them on)."""
    return make_settings(tmp_path, database_url)


@dataclass
class Seed:
    """IDs and secrets of the seeded instance."""

    project_id: int
    other_project_id: int
    enumerator_token: str
    outsider_token: str
    form_id: str = "kunjungan_rumah"


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    """The app with its tables created."""
    application = create_app(settings)
    svc = application.extensions["verivali"]
    svc.db.create_all()
    yield application
    svc.db.dispose()


@pytest.fixture
def svc(app):  # type: ignore[no-untyped-def]
    """The app's shared services (database, blob store, settings)."""
    return app.extensions["verivali"]


def publish(svc, project_id: int, path: Path, media: list[Path] | None = None):  # type: ignore[no-untyped-def]
    """Publish a form file into a project in its own unit of work."""
    with svc.db.transaction() as session:
        result = do_publish_form(session, svc.settings, svc.store, project_id, path, media or [])
        return result.version.version, result.version.md5, result.created


@pytest.fixture
def seed(svc) -> Seed:  # type: ignore[no-untyped-def]
    """Two projects; enumerator 'pencacah1' in the first, 'orang_lain' in the second;
    an admin; and the demo house-visit form with its media in the first project."""
    realm = svc.settings.realm
    with svc.db.transaction() as session:
        project = accounts.do_create_project(session, "Kota Malang")
        other = accounts.do_create_project(session, "Kota Lain")
        enumerator = accounts.do_create_user(
            session, "pencacah1", "enumerator", realm, password=PASSWORD, project_id=project.id
        )
        outsider = accounts.do_create_user(
            session, "orang_lain", "enumerator", realm, password=PASSWORD, project_id=other.id
        )
        accounts.do_create_user(session, "admin", "admin", realm, password=PASSWORD)
        token = accounts.do_issue_token(session, enumerator)
        outsider_token = accounts.do_issue_token(session, outsider)
        ids = (project.id, other.id)
    publish(
        svc,
        ids[0],
        ROOT / "forms" / "kunjungan_rumah.md",
        sorted((ROOT / "forms" / "media" / "kunjungan_rumah").iterdir()),
    )
    return Seed(ids[0], ids[1], token, outsider_token)


@pytest.fixture
def transport(app) -> WsgiTransport:  # type: ignore[no-untyped-def]
    """Requests through the WSGI app (no sockets)."""
    return WsgiTransport(app)


@pytest.fixture
def collect(transport: WsgiTransport, seed: Seed) -> CollectClient:
    """A Collect client set up with the enumerator's username and password."""
    return CollectClient(
        transport,
        f"http://localhost/v1/projects/{seed.project_id}",
        username="pencacah1",
        password=PASSWORD,
    )


@pytest.fixture
def collect_token(transport: WsgiTransport, seed: Seed) -> CollectClient:
    """A Collect client set up from the enumerator's QR code (token URL, no password)."""
    return CollectClient(
        transport, f"http://localhost/v1/key/{seed.enumerator_token}/projects/{seed.project_id}"
    )


def sign_in(client, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    """Sign a Flask test client in through the login page; the response."""
    page = client.get("/login")
    token = csrf_of(page.get_data(as_text=True))
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def signed_in(app, username: str):  # type: ignore[no-untyped-def]
    """A Flask test client signed in as the user."""
    client = app.test_client()
    answer = sign_in(client, username)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)
