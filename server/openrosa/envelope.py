"""Reading a submitted instance safely: form ID, version, instanceID, edits, attachments.

The XML comes from the network, so it is parsed with entities, DTDs and network access off,
and any DOCTYPE is refused outright (no billion-laughs, no XXE). Pure: bytes in, facts out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from server import problems
from server.forms.xform import safe_parser
from server.problems import ProblemError

# Structural limits far above any real questionnaire, to stop pathological documents.
MAX_DEPTH = 64
MAX_ELEMENTS = 200_000


@dataclass
class Envelope:
    """What the server needs from an instance before deciding what to do with it."""

    form_id: str
    version: str
    instance_id: str
    deprecated_id: str | None
    instance_name: str | None
    encrypted: bool
    root: etree._Element = field(repr=False)
    # Every leaf text value, to tell which uploaded parts the instance refers to.
    leaf_values: frozenset[str] = frozenset()

    def top_level(self, name: str) -> str | None:
        """The text of a question directly under the root (None if absent or empty)."""
        for child in self.root.iterchildren(f"{{*}}{name}"):
            return _text(child) or None
        return None

    def attachment_names(self, binary_fields: Iterable[str]) -> list[str]:
        """File names the instance expects, in document order, without duplicates."""
        if self.encrypted:
            names = [_text(el) for el in self.root if _local(el) == "encryptedXmlFile"]
            media = [el for el in self.root if _local(el) == "media"]
            for container in media:
                names.extend(_text(f) for f in container if _local(f) == "file")
            return _unique(n for n in names if n)
        wanted = {_path_tuple(path) for path in binary_fields}
        if not wanted:
            return []
        # Only groups and repeats on the way to a binary field are worth descending into.
        inner = {path[:i] for path in wanted for i in range(1, len(path))}
        found: list[str] = []
        # Depth-first in document order, one iterator per open group (no list of every node).
        stack: list[tuple[Iterator[etree._Element], tuple[str, ...]]] = [(iter(self.root), ())]
        while stack:
            children, parent = stack[-1]
            element = next(children, None)
            if element is None:
                stack.pop()
                continue
            path = (*parent, _local(element))
            if path in wanted:
                value = _text(element)
                if value:
                    found.append(value)
            elif path in inner:
                stack.append((iter(element), path))
        return _unique(found)


def _local(element: etree._Element) -> str:
    """Local name of an element; "" for comments and processing instructions."""
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


def _path_tuple(nodeset: str) -> tuple[str, ...]:
    """'/data/grp/foto' -> ('grp', 'foto'): the path below the root, without prefixes."""
    steps = [s.split(":")[-1] for s in nodeset.strip().split("/") if s]
    return tuple(steps[1:])


def _find_meta(root: etree._Element, name: str) -> str | None:
    # "{*}" matches any namespace or none: Collect writes meta in the orx namespace or none.
    for meta in root.iterchildren("{*}meta"):
        for child in meta.iterchildren(f"{{*}}{name}"):
            return _text(child) or None
    return None


def parse_envelope(xml: bytes) -> Envelope:
    """Parse submission XML; raises ProblemError with a 400 problem when it is unusable."""
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise ProblemError(problems.XML_DTD_FORBIDDEN)
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ProblemError(problems.MALFORMED_XML, reason=str(exc)[:200]) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise ProblemError(problems.XML_DTD_FORBIDDEN)
    leaves: set[str] = set()
    for count, element in enumerate(root.iter(), start=1):
        if count > MAX_ELEMENTS:
            raise ProblemError(problems.MALFORMED_XML, reason="too many elements")
        if isinstance(element.tag, str) and len(element) == 0 and element.text:
            leaves.add(element.text.strip())
    # An element MAX_DEPTH levels below the root exists: evaluated in C, not per element.
    if root.xpath("boolean(/*" + "/*" * MAX_DEPTH + ")"):
        raise ProblemError(problems.MALFORMED_XML, reason="nested too deeply")

    form_id = (root.get("id") or "").strip()
    if not form_id:
        raise ProblemError(problems.MISSING_FORM_ID)
    encrypted = (root.get("encrypted") or "").lower() == "yes"
    instance_id = _find_meta(root, "instanceID") or (root.get("instanceID") or "").strip()
    if not instance_id:
        raise ProblemError(problems.MISSING_INSTANCE_ID)
    if len(instance_id) > 255:
        raise ProblemError(problems.MALFORMED_XML, reason="instanceID longer than 255 characters")
    deprecated = _find_meta(root, "deprecatedID")
    name = _find_meta(root, "instanceName")
    return Envelope(
        form_id=form_id,
        version=(root.get("version") or "").strip(),
        instance_id=instance_id,
        deprecated_id=deprecated,
        instance_name=name[:500] if name else None,
        encrypted=encrypted,
        root=root,
        leaf_values=frozenset(leaves),
    )
