"""Reading facts out of an XForm definition: ID, version, title, binary fields, media, and
the numeric questions outside repeats.

Pure functions over XML bytes; used when publishing, so that the rest of the server never
has to look inside a form's XML again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

XF = "http://www.w3.org/2002/xforms"
H = "http://www.w3.org/1999/xhtml"
JR = "http://openrosa.org/javarosa"
_MEDIA_URI = re.compile(r"jr://(?:images|audio|video|file|file-csv)/([^\s\"'<>)]+)")
_SEARCH_FILE = re.compile(r"search\(\s*'([^']+)'")


class XFormError(ValueError):
    """The XForm cannot be used (not XML, no model, no instance)."""


@dataclass
class XFormFacts:
    """What the server needs to know about a form definition."""

    form_id: str
    version: str
    title: str
    root_name: str
    binary_fields: list[str] = field(default_factory=list)
    media_names: list[str] = field(default_factory=list)
    encrypted: bool = False
    # Every node of the primary instance, as a path below the root ("kk/kk_baru").
    paths: list[str] = field(default_factory=list)


def safe_parser() -> etree.XMLParser:
    """An lxml parser with entities, DTDs and network access off."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def read_facts(xml: bytes) -> XFormFacts:
    """Extract the form's identity, binary fields and referenced media files."""
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise XFormError(f"not well-formed XML: {exc}") from None
    model = root.find(f"{{{H}}}head/{{{XF}}}model")
    if model is None:
        raise XFormError("no <model> in <h:head>")
    primary = next(iter(model.iterfind(f"{{{XF}}}instance")), None)
    if primary is None or len(primary) == 0:
        raise XFormError("no primary <instance>")
    data = primary[0]
    form_id = data.get("id") or ""
    if not form_id:
        raise XFormError("the primary instance has no id attribute")
    title_el = root.find(f"{{{H}}}head/{{{H}}}title")
    title = (title_el.text or "").strip() if title_el is not None else ""
    binary = [
        bind.get("nodeset", "")
        for bind in model.iterfind(f"{{{XF}}}bind")
        if (bind.get("type") or "").split(":")[-1] == "binary" and bind.get("nodeset")
    ]
    media: set[str] = set()
    text = xml.decode("utf-8", errors="replace")
    media.update(_MEDIA_URI.findall(text))
    # search('desa') appearances read desa.csv without declaring an instance.
    media.update(n if n.endswith(".csv") else f"{n}.csv" for n in _SEARCH_FILE.findall(text))
    submission = model.find(f"{{{XF}}}submission")
    encrypted = submission is not None and bool(submission.get("base64RsaPublicKey"))
    localname = etree.QName(data).localname
    return XFormFacts(
        paths=_instance_paths(data),
        form_id=form_id,
        version=data.get("version") or "",
        title=title or form_id,
        root_name=localname,
        binary_fields=binary,
        media_names=sorted(media),
        encrypted=encrypted,
    )


def _instance_paths(data: etree._Element) -> list[str]:
    """Paths below the instance root of every node (a repeat's template counted once)."""
    found: dict[str, None] = {}
    stack = [(data, "")]
    while stack:
        node, prefix = stack.pop()
        for child in node:
            if not isinstance(child.tag, str):
                continue
            path = f"{prefix}/{etree.QName(child).localname}".lstrip("/")
            found.setdefault(path, None)
            stack.append((child, path))
    return sorted(found)


NUMERIC_TYPES = frozenset({"int", "integer", "decimal"})


def numeric_paths(xml: bytes) -> list[str]:
    """Paths below the root ("aset/ternak/sapi") of the questions answered with a number
    (int or decimal binds), leaving out calculations and everything inside a repeat; in the
    order of the form."""
    root = etree.fromstring(xml, safe_parser())
    model = root.find(f"{{{H}}}head/{{{XF}}}model")
    if model is None:
        return []
    repeats = [r.get("nodeset", "") for r in root.iter(f"{{{XF}}}repeat") if r.get("nodeset")]
    found = []
    for bind in model.iterfind(f"{{{XF}}}bind"):
        nodeset = bind.get("nodeset") or ""
        kind = (bind.get("type") or "").split(":")[-1]
        if kind not in NUMERIC_TYPES or bind.get("calculate") is not None:
            continue
        if not nodeset.startswith("/") or any(nodeset.startswith(r + "/") for r in repeats):
            continue
        path = nodeset.strip("/").partition("/")[2]
        if path:
            found.append(path)
    return found
