"""OpenRosa wire format: headers, namespaces and every XML body we send to Collect.

One place for the quirks that silently break clients (see docs/openrosa.md): `text/xml`
content type, the exact namespaces, `md5:` hashes, absolute URLs, titles escaped once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape as _sax_escape
from xml.sax.saxutils import quoteattr

from flask import Response
from werkzeug.http import http_date

XML_CONTENT_TYPE = "text/xml; charset=utf-8"
NS_FORMLIST = "http://openrosa.org/xforms/xformsList"
NS_MANIFEST = "http://openrosa.org/xforms/xformsManifest"
NS_RESPONSE = "http://openrosa.org/http/response"


# Characters XML 1.0 cannot carry at all (not even escaped); they reach us in echoed input
# such as a %00 in a URL, and one of them would make the whole answer unreadable to Collect.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text: str) -> str:
    """Escape text for an XML element, replacing characters XML cannot hold with U+FFFD."""
    return _sax_escape(_NOT_XML.sub("\ufffd", text))


def openrosa_headers(accept_content_length: int) -> dict[str, str]:
    """Headers every OpenRosa answer carries."""
    return {
        "X-OpenRosa-Version": "1.0",
        "X-OpenRosa-Accept-Content-Length": str(accept_content_length),
        "Date": http_date(),
    }


def xml_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(body.encode("utf-8"), status=status, content_type=XML_CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def message_body(text: str, nature: str = "") -> str:
    """An <OpenRosaResponse> with one message; Collect shows it to the enumerator."""
    nature_attr = f" nature={quoteattr(_NOT_XML.sub('', nature))}" if nature else ""
    return (
        f'<OpenRosaResponse xmlns="{NS_RESPONSE}">'
        f"<message{nature_attr}>{escape(text)}</message>"
        "</OpenRosaResponse>"
    )


def url_segment(value: str) -> str:
    """Percent-encode one path segment (form IDs and file names)."""
    return quote(value, safe="")


@dataclass(frozen=True)
class FormListEntry:
    """One <xform> of a form list."""

    form_id: str
    name: str
    version: str
    md5: str
    download_url: str
    manifest_url: str | None


def form_list_body(entries: Iterable[FormListEntry]) -> str:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<xforms xmlns="{NS_FORMLIST}">']
    for entry in entries:
        manifest = (
            f"<manifestUrl>{escape(entry.manifest_url)}</manifestUrl>" if entry.manifest_url else ""
        )
        parts.append(
            "<xform>"
            f"<formID>{escape(entry.form_id)}</formID>"
            f"<name>{escape(entry.name or entry.form_id)}</name>"
            f"<version>{escape(entry.version)}</version>"
            f"<hash>md5:{entry.md5}</hash>"
            f"<downloadUrl>{escape(entry.download_url)}</downloadUrl>"
            f"{manifest}</xform>"
        )
    parts.append("</xforms>")
    return "".join(parts)


@dataclass(frozen=True)
class MediaEntry:
    """One <mediaFile> of a manifest."""

    filename: str
    md5: str
    download_url: str
    # Central marks dataset-backed files so Collect keeps them as entity lists.
    entity_list: bool = False


def manifest_body(entries: Iterable[MediaEntry]) -> str:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<manifest xmlns="{NS_MANIFEST}">']
    for entry in entries:
        kind = ' type="entityList"' if entry.entity_list else ""
        parts.append(
            f"<mediaFile{kind}>"
            f"<filename>{escape(entry.filename)}</filename>"
            f"<hash>md5:{entry.md5}</hash>"
            f"<downloadUrl>{escape(entry.download_url)}</downloadUrl>"
            "</mediaFile>"
        )
    parts.append("</manifest>")
    return "".join(parts)
