"""Setting up a phone by QR code: the settings Collect reads, packed as Collect packs them.

The payload is base64 (standard alphabet, no line breaks) of zlib-compressed UTF-8 JSON with
`general`, `admin` and `project` (docs/openrosa.md). The server URL carries the enumerator's
token, so no password is ever in a QR code; reissuing the token retires every printed code.
Pure: no database, no Flask.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import segno

# Collect refuses QR payloads above this length.
MAX_PAYLOAD = 4000


def token_url(base_url: str, token: str, project_id: int) -> str:
    """The server URL an enumerator's phone uses: Central's app-user layout."""
    return f"{base_url.rstrip('/')}/v1/key/{token}/projects/{project_id}"


def collect_settings(server_url: str, project_name: str, username: str) -> dict[str, Any]:
    """The settings a scanned code gives Collect."""
    return {
        "general": {
            "server_url": server_url,
            # Forms disappear from the phone when the server stops offering them.
            "form_update_mode": "match_exactly",
            "periodic_form_updates_check": "every_fifteen_minutes",
            "autosend": "wifi_and_cellular",
            # The enumerator's name in each submission's metadata (the `username` preload).
            "metadata_username": username,
        },
        "admin": {},
        "project": {"name": project_name, "icon": "V", "color": "#1f6f5c"},
    }


def pack(settings: dict[str, Any]) -> str:
    """base64(zlib(JSON)), as Collect's QR reader expects."""
    raw = json.dumps(settings, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    payload = base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"QR payload is {len(payload)} characters; Collect reads at most 4000")
    return payload


def unpack(payload: str) -> dict[str, Any]:
    """The settings inside a payload (what Collect does after scanning)."""
    data: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(payload, validate=True)))
    return data


def qr_svg(payload: str, scale: int = 3) -> str:
    """An inline SVG QR code (error correction L, as Collect's own codes use)."""
    code = segno.make_qr(payload, error="l", boost_error=False)
    # A quiet zone of 4 modules, as the QR standard asks: phone scanners miss codes without it.
    return str(code.svg_inline(scale=scale, border=4, dark="#102a43", title=None))
