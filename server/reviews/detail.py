"""What the detail page of one submission shows, gathered in one place: its answers under
the form's labels, the registry household it visited, flags with evidence, photos, the
location, versions, history and comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from server.assignments import queries as assignment_queries
from server.forms.labels import (
    Answer,
    FormLabels,
    RepeatTable,
    Section,
    read_labels,
    render_instance,
)
from server.registry.models import Household, Person
from server.reviews import correction, queries
from server.reviews.queue import SEVERITY_RANK
from server.validation import queries as validation_queries
from server.validation.models import StoredFlag

_DIGITS16 = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.-]*)\}")
# Kinds a reviewer does not read as answers: form metadata (start, end, device) and values
# the form computed (the registry's, shown beside the answers anyway).
HIDDEN_KINDS = frozenset({"meta", "calculate", "note"})


@dataclass(frozen=True)
class Photo:
    name: str
    content_type: str
    received: bool


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float
    accuracy: float | None = None


@dataclass
class Detail:
    """Everything the detail page shows of one submission."""

    head: queries.Head
    submitter: str
    instance_name: str | None
    sections: list[Section]
    flags: list[StoredFlag]
    flagged_fields: set[str]
    photos: list[Photo]
    location: Point | None
    village_name: str
    centroid: Point | None
    household: Household | None
    members: list[Person]
    # 16-digit numbers on one side only: the registry's the phone never had, and those the
    # enumerator entered that the registry does not hold.
    registry_only: set[str] = field(default_factory=set)
    answers_only: set[str] = field(default_factory=set)
    minutes: float | None = None  # from the form's start to its end
    revisit_reason: str | None = None
    target_state: str | None = None
    versions: list[queries.VersionInfo] = field(default_factory=list)
    history: list[queries.HistoryEntry] = field(default_factory=list)
    comments: list[queries.CommentRow] = field(default_factory=list)
    # The answers a supervisor may correct (label, row and value shown as the page shows).
    correctable: list[correction.Field] = field(default_factory=list)
    first_approver: str | None = None  # the koordinator whose approval awaits the admin's


# A form version's XML never changes once published: its labels are read once per process.
_LABELS: dict[int, FormLabels] = {}
_LABELS_KEPT = 64


def labels_of(session: Session, form_version_id: int) -> FormLabels:
    """The labels of a form version (kept for the process: a version never changes)."""
    found = _LABELS.get(form_version_id)
    if found is None:
        found = read_labels(queries.form_xml(session, form_version_id))
        if len(_LABELS) >= _LABELS_KEPT:
            _LABELS.clear()
        _LABELS[form_version_id] = found
    return found


def _point(value: str) -> Point | None:
    parts = value.split()
    try:
        lat, lon = float(parts[0]), float(parts[1])
        accuracy = float(parts[3]) if len(parts) > 3 else None
    except (IndexError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return Point(lat, lon, accuracy)


def _flagged(flags: list[StoredFlag]) -> set[str]:
    """The answer paths the flags name, without repeat indexes ("anggota/nik_benar")."""
    found = set()
    for flag in flags:
        for name in flag.fields or []:
            found.add(re.sub(r"\[[0-9]+\]", "", str(name)))
    return found


def _numbers(sections: list[Section]) -> set[str]:
    found: set[str] = set()
    for section in sections:
        for answer in section.answers:
            found.update(_DIGITS16.findall(answer.value))
        for table in section.tables:
            for row in table.rows:
                for cell in row:
                    if cell is not None:
                        found.update(_DIGITS16.findall(cell.value))
    return found


def _values(sections: list[Section]) -> dict[str, str]:
    """Every answer outside repeats by its question name (for ${name} in labels)."""
    return {a.path.rsplit("/", 1)[-1]: a.shown for s in sections for a in s.answers}


def _minutes(values: dict[str, str]) -> float | None:
    try:
        start = datetime.fromisoformat(values["start"])
        end = datetime.fromisoformat(values["end"])
    except (KeyError, ValueError):
        return None
    return round((end - start).total_seconds() / 60, 1)


def readable(sections: list[Section]) -> list[Section]:
    """The sections as a reviewer reads them: no metadata, notes or computed values outside
    repeats, and ${name} in a label replaced by that answer (by "…" when it has none, as in
    a repeat's column)."""
    values = _values(sections)

    def label(text: str) -> str:
        return _REFERENCE.sub(lambda m: values.get(m.group(1), "…"), text)

    def keep(answer: Answer | None) -> bool:
        return answer is None or answer.kind not in HIDDEN_KINDS

    shown = []
    for section in sections:
        answers = tuple(replace(a, label=label(a.label)) for a in section.answers if keep(a))
        tables = []
        for table in section.tables:
            kinds: dict[str, str] = {}
            for row in table.rows:
                for (path, _label), cell in zip(table.columns, row, strict=True):
                    if cell is not None:
                        kinds.setdefault(path, cell.kind)
            # A repeat's computed values stay: they say whom each row is about.
            wanted = [
                i
                for i, (p, _) in enumerate(table.columns)
                if kinds.get(p) not in HIDDEN_KINDS - {"calculate"}
            ]
            if wanted:
                tables.append(
                    RepeatTable(
                        path=table.path,
                        label=label(table.label),
                        columns=tuple(
                            (p, label(t)) for i, (p, t) in enumerate(table.columns) if i in wanted
                        ),
                        rows=tuple(tuple(row[i] for i in wanted) for row in table.rows),
                    )
                )
        if answers or tables:
            shown.append(replace(section, answers=answers, tables=tuple(tables)))
    return shown


def gather(session: Session, head: queries.Head, language: str) -> Detail:
    """The detail page of a submission the viewer may see."""
    versions = queries.versions(session, head.id)
    current = next((v for v in versions if v.id == head.current_version_id), None)
    sections: list[Section] = []
    correctable: list[correction.Field] = []
    location = None
    if current is not None:
        xml = queries.version_xml(session, current.id)
        try:
            labels = labels_of(session, current.form_version_id)
            sections = render_instance(labels, xml, language)
            correctable = correction.fields(labels, xml, language)
        except (ValueError, etree.XMLSyntaxError):
            sections = []
        for section in sections:
            for answer in section.answers:
                if answer.kind == "geopoint" and location is None:
                    location = _point(answer.value)
    files = queries.attachments(session, current.id) if current is not None else []
    photos = [
        Photo(f.name, f.content_type or "", f.blob_sha256 is not None)
        for f in files
        if (f.content_type or "").startswith("image/") or f.blob_sha256 is None
    ]
    flags = sorted(
        validation_queries.flags_of(session, head.id),
        key=lambda flag: -SEVERITY_RANK.get(flag.severity, 0),
    )
    target = queries.target_of(session, head.id)
    household = queries.household(session, target.household_id) if target else None
    members = queries.household_members(session, household.id) if household else []
    village = head.village_code or (target.village_code if target else None)
    names = assignment_queries.region_names(session, [village] if village else [])
    centroid = queries.centroid(session, village) if village else None
    minutes = _minutes(_values(sections))
    # The registry's numbers the phone had (computed values included), and those the
    # enumerator entered.
    on_phone = _numbers(sections)
    sections = readable(sections)
    in_answers = _numbers(sections)
    in_registry = {p.nik for p in members if p.nik} | (
        {household.kk} if household and household.kk else set()
    )
    return Detail(
        head=head,
        submitter=queries.user_name(session, head.submitter_id),
        instance_name=current.instance_name if current else None,
        sections=sections,
        flags=flags,
        flagged_fields=_flagged(flags),
        photos=photos,
        location=location,
        village_name=names.get(village or "", ""),
        centroid=Point(*centroid) if centroid else None,
        household=household,
        members=members,
        registry_only=in_registry - on_phone - in_answers if sections else set(),
        answers_only=in_answers - in_registry if household else set(),
        minutes=minutes,
        revisit_reason=target.revisit_reason if target else None,
        target_state=target.state if target else None,
        versions=versions,
        history=queries.history(session, head.id),
        comments=queries.comments(session, head.id),
        correctable=correctable,
        first_approver=(
            queries.user_name(session, head.first_approved_by) if head.first_approved_by else None
        ),
    )


def evidence_items(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """A flag's evidence as (key, text) lines, nested values written compactly."""
    items = []
    for key, value in evidence.items():
        if isinstance(value, list | tuple):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = "; ".join(f"{k}: {v}" for k, v in value.items())
        else:
            text = str(value)
        items.append((str(key), text))
    return items
