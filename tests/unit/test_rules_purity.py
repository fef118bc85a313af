"""server.rules stays pure: importing every rule loads no web, database, queue or HTTP library
and no server module outside the pure identity, name and scoring helpers."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

FORBIDDEN = ("flask", "werkzeug", "sqlalchemy", "psycopg", "redis", "rq", "requests", "lxml")
ALLOWED_SERVER = {
    "server",
    "server.rules",
    "server.registry",
    "server.registry.identity",
    "server.registry.names",
    "server.registry.scoring",
}


def test_rules_import_nothing_impure() -> None:
    """A fresh interpreter that imports the whole catalog has none of the I/O libraries."""
    probe = (
        "import json, sys; import server.rules.catalog, server.rules.settings; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    impure = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert impure == []
    outside = [
        m
        for m in loaded
        if m.startswith("server") and not m.startswith("server.rules") and m not in ALLOWED_SERVER
    ]
    assert outside == []
