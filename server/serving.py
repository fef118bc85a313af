"""Running the server: gunicorn for real use, Flask's dev server behind --dev.

gunicorn's gthread workers keep a slow phone upload from blocking a whole process; the
worker count defaults to one per core (at least two); threads absorb slow uploads, and more
processes than cores only add contention (bench/README.md).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from server.config import Settings


def lan_address() -> str:
    """This machine's address as phones on the same network would use it (best effort)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return "127.0.0.1"
    for info in infos:
        address = str(info[4][0])
        if not address.startswith("127."):
            return address
    return "127.0.0.1"


def public_base_url(settings: Settings) -> str:
    """The URL to give Collect: VERIVALI_BASE_URL, else this machine's address and port."""
    if settings.base_url:
        return settings.base_url
    return f"http://{lan_address()}:{settings.port}"


def default_workers() -> int:
    return max(os.cpu_count() or 1, 2)


def run_gunicorn(settings: Settings, host: str, port: int, workers: int | None) -> None:
    from gunicorn.app.base import BaseApplication

    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers or settings.workers or default_workers(),
        "worker_class": "gthread",
        "threads": settings.threads,
        # Phones on slow links take minutes for photos; do not kill their uploads.
        "timeout": 600,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "forwarded_allow_ips": "*" if settings.trust_proxy else "127.0.0.1",
        # One shared control socket in $HOME would collide between instances on one host.
        "control_socket_disable": True,
    }

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from server import create_app

            return create_app(settings)

    Server().run()


def run_dev(host: str, port: int) -> None:
    from server import create_app

    create_app().run(host=host, port=port, debug=False, threaded=True)
