"""Verivali: an OpenRosa form server that verifies and validates Indonesia's welfare registry.

`create_app()` is the only place that knows every service and blueprint. Its imports sit
inside the functions: importing any `server.*` module imports this package first, and a
process that only reads a registry extract (registry/import_reader.py) should not load
Flask, SQLAlchemy and Redis for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from server.config import Settings
    from server.services import Services

__version__ = "0.1.0"


def build_services(settings: Settings) -> Services:
    """Create the shared services for one instance (also used by the CLI without Flask)."""
    from server import services
    from server.accounts.basic import BasicCache
    from server.accounts.digest import (
        DigestAuthority,
        MemoryNonceCounts,
        NonceCounts,
        RedisNonceCounts,
    )
    from server.accounts.throttle import Counts, LoginThrottle, MemoryCounts, RedisCounts
    from server.db import Database
    from server.jobs import make_queue
    from server.storage import BlobStore

    store = BlobStore(settings.blob_dir, settings.tmp_dir)
    store.ensure_dirs()
    counts: NonceCounts = MemoryNonceCounts()
    failures: Counts = MemoryCounts()
    if settings.redis_url:
        from redis import Redis

        client = Redis.from_url(settings.redis_url)
        counts = RedisNonceCounts(client)
        failures = RedisCounts(client, prefix=f"{settings.rq_queue}:login:")
    return services.Services(
        settings=settings,
        db=Database(settings),
        store=store,
        digest=DigestAuthority(
            settings.secret_key, settings.realm, settings.digest_nonce_ttl, counts
        ),
        basic_cache=BasicCache(),
        throttle=LoginThrottle(failures),
        jobs=make_queue(settings.redis_url, settings.rq_queue),
    )


def create_app(settings: Settings | None = None) -> Flask:
    """The WSGI application."""
    import logging

    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from server import http, i18n, services
    from server.config import load_settings
    from server.web import session as websession

    settings = settings or load_settings()
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=None)
    if settings.trust_proxy:
        # Behind nginx/Caddy: honour X-Forwarded-Proto/Host so https is detected (Basic auth
        # is accepted only over https) and absolute URLs point at the public address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    svc = build_services(settings)
    services.install(app, svc)
    http.install(app)
    i18n.install(app, settings.data_dir)
    websession.install(app)

    from server.assignments.pages import bp as team_pages_bp
    from server.assignments.views import bp as assignments_bp
    from server.dashboard.views import bp as dashboard_bp
    from server.openrosa.views import bp as openrosa_bp
    from server.reviews.views import bp as reviews_bp
    from server.web import bp as web_bp
    from server.web.account import bp as accounts_bp
    from server.web.forms import bp as form_pages_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(reviews_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(form_pages_bp)
    app.register_blueprint(team_pages_bp)
    app.register_blueprint(assignments_bp)
    app.register_blueprint(openrosa_bp)
    logging.getLogger("server").setLevel(logging.INFO)
    if settings.inprocess_worker and not settings.redis_url:
        from server.validation.jobs import Worker

        worker = Worker(svc)
        worker.start()
        app.extensions["verivali_worker"] = worker
    return app
