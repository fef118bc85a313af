"""The web UI's languages and times: Bahasa Indonesia first, English on request, and times
shown in the project's zone (WIB, WITA or WIT).

UI texts are written in Bahasa Indonesia in the templates and code (`_("...")`); English is
a gettext catalog, server/translations/en/LC_MESSAGES/messages.po. The catalog is compiled
when the app starts, into the data directory, whenever the .po is newer than the compiled
file: no build step, and nothing binary in the repository. `make messages` extracts new
texts into the .po.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, g, has_request_context, request, session

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
CATALOGS = Path(__file__).parent / "translations"
# Indonesia's three zones, as people name them.
ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA"}
ZONE_NAMES["Asia/Jayapura"] = "WIT"


def compile_catalogs(source: Path, target: Path) -> None:
    """Compile each language's messages.po under `source` to a .mo under `target` when the
    .po is newer (written to a temporary file and renamed, so concurrent starts agree)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as handle:
            catalog = read_po(handle)
        fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog)
        os.replace(tmp, mo)


def language() -> str:
    """The language of this request: the signed-in person's choice, else Indonesian."""
    chosen = session.get("lang") if request else None
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def use_zone(name: str | None) -> None:
    """The page is about a project in this zone (None: the instance's). Outside a request
    (the CLI, a script) there is no page to set it for."""
    if has_request_context():
        g.zone = name


def zone() -> str:
    """The zone of the project the page is about (use_zone), else the instance's."""
    from server.services import services

    return str(g.get("zone") or services().settings.timezone)


def local_time(value: datetime | None, with_zone: bool = True) -> str:
    """A stored UTC time as people read it in the page's zone: '24-11-2026 09.05 WIB'."""
    if value is None:
        return ""
    name = zone()
    local = value.astimezone(ZoneInfo(name))
    text = local.strftime("%d-%m-%Y %H.%M")
    return f"{text} {ZONE_NAMES.get(name, local.strftime('%Z'))}" if with_zone else text


def install(app: Flask, data_dir: Path) -> None:
    """Flask-Babel with the compiled catalogs, and the time filter for templates."""
    from flask_babel import Babel

    compiled = data_dir / "translations"
    compile_catalogs(CATALOGS, compiled)
    app.config.update(
        BABEL_DEFAULT_LOCALE=DEFAULT_LANGUAGE,
        BABEL_TRANSLATION_DIRECTORIES=str(compiled),
    )
    Babel(app, locale_selector=language, timezone_selector=zone)
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.globals["language"] = language
