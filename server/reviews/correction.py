"""Correcting one answer of a submission, as a supervisor does from the detail page: which
answers may be corrected, whether a new value fits its question, and the XML of the new
version (the value replaced, a fresh instanceID, the old one kept as deprecatedID, as ODK
Central writes an edit). Pure: no database, no Flask.

An answer is named by a locator: each step of its path with its position among
same-named siblings, 1-based ("anggota[2]/nik[1]"), so the second member's NIK is told
from the first's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from lxml import etree

from server.forms.labels import FormLabels, Question
from server.forms.xform import safe_parser

MAX_VALUE = 2000
# What a person may not correct: files (a new photo comes from a revisit), notes,
# computed values and the form's metadata.
FIXED_KINDS = frozenset(
    {"image", "audio", "video", "binary", "note", "calculate", "meta", "acknowledge"}
)
_STEP = re.compile(r"^([A-Za-z_][\w.-]*)\[(\d{1,4})\]$")


class CorrectionError(ValueError):
    """A correction that cannot be made; the message says why (in Indonesian)."""


@dataclass(frozen=True)
class Field:
    """One answer that may be corrected."""

    locator: str
    path: str
    label: str
    value: str
    row: int | None  # the repeat instance it is in (the innermost), if any


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _children(el: etree._Element) -> list[etree._Element]:
    return [child for child in el if isinstance(child.tag, str)]


def _parse(instance: bytes) -> etree._Element:
    try:
        return etree.fromstring(instance, safe_parser())
    except (etree.XMLSyntaxError, ValueError):
        raise CorrectionError("isi kiriman bukan XML yang sah") from None


def _label(question: Question | None, language: str, name: str) -> str:
    if question is None:
        return name
    texts = question.labels
    return texts.get(language) or next((t for t in texts.values() if t), name)


def fields(labels: FormLabels, instance: bytes, language: str = "id") -> list[Field]:
    """The answers of the instance a person may correct, in document order."""
    found: list[Field] = []

    def walk(el: etree._Element, locator: str, path: str, row: int | None) -> None:
        children = _children(el)
        counts: dict[str, int] = {}
        for child in children:
            name = _local(child)
            counts[name] = counts.get(name, 0) + 1
            if not locator and name == "meta":
                continue
            step_locator = f"{locator}/{name}[{counts[name]}]".lstrip("/")
            step_path = f"{path}/{name}".lstrip("/")
            if _children(child):
                repeated = step_path in labels.repeats
                walk(child, step_locator, step_path, counts[name] if repeated else row)
                continue
            question = labels.questions.get(step_path)
            if question is not None and question.kind in FIXED_KINDS:
                continue
            label = _label(question, language, name)
            found.append(Field(step_locator, step_path, label, child.text or "", row))

    walk(_parse(instance), "", "", None)
    return found


def _find(root: etree._Element, locator: str) -> etree._Element:
    el = root
    for step in locator.split("/"):
        match = _STEP.match(step)
        if match is None:
            raise CorrectionError("jawaban yang diperbaiki tidak dikenal")
        name, position = match.group(1), int(match.group(2))
        same = [child for child in _children(el) if _local(child) == name]
        if not 0 < position <= len(same):
            raise CorrectionError("jawaban yang diperbaiki tidak ada di kiriman ini")
        el = same[position - 1]
    if _children(el) or el is root:
        raise CorrectionError("yang dipilih bukan satu jawaban")
    return el


def check_value(question: Question | None, value: str) -> str:
    """The new value tidied, if it fits the question's kind and choices."""
    value = value.strip()
    if len(value) > MAX_VALUE or "\x00" in value:
        raise CorrectionError(f"nilai paling panjang {MAX_VALUE} karakter")
    if not value or question is None:
        return value
    kind = question.kind
    try:
        if kind == "integer":
            value = str(int(value))
        elif kind == "decimal":
            float(value)
        elif kind == "date":
            value = date.fromisoformat(value).isoformat()
    except ValueError:
        raise CorrectionError(f"nilai tidak sesuai jenis pertanyaan ({kind})") from None
    if question.choices and kind in ("select_one", "select_multiple"):
        picked = value.split() if kind == "select_multiple" else [value]
        unknown = [v for v in picked if v not in question.choices]
        if unknown:
            raise CorrectionError(f"pilihan tidak dikenal: {' '.join(unknown)}")
    return value


def corrected(
    instance: bytes, locator: str, value: str, new_instance_id: str
) -> tuple[bytes, str, str]:
    """(the new version's XML, the answer's old value, the old instanceID)."""
    root = _parse(instance)
    if locator.split("/", 1)[0].startswith("meta["):
        raise CorrectionError("metadata formulir tidak dapat diperbaiki")
    el = _find(root, locator)
    old = el.text or ""
    el.text = value
    meta = next((c for c in _children(root) if _local(c) == "meta"), None)
    if meta is None:
        raise CorrectionError("kiriman tanpa instanceID")
    instance_el = next((c for c in _children(meta) if _local(c) == "instanceID"), None)
    if instance_el is None or not (instance_el.text or "").strip():
        raise CorrectionError("kiriman tanpa instanceID")
    old_id = (instance_el.text or "").strip()
    instance_el.text = new_instance_id
    deprecated = next((c for c in _children(meta) if _local(c) == "deprecatedID"), None)
    if deprecated is None:
        tag = etree.QName(instance_el).namespace
        deprecated = etree.SubElement(meta, f"{{{tag}}}deprecatedID" if tag else "deprecatedID")
    deprecated.text = old_id
    return etree.tostring(root, xml_declaration=False, encoding="utf-8"), old, old_id
