"""Exports of a project's submissions, streamed: approved results for the registry update
(SIKS-NG / DTSEN), and raw submissions like ODK Central's and Kobo's exports.

Rows are read a batch at a time (form by form, keyset on the submission ID: see
`export_queries.py`) and written as they come, so memory stays flat however many there are.
The generators read from the session they are given: keep it open until they are exhausted.
NIKs and KK numbers are written in full (the export feeds the registry update): the caller
checks the right to export and writes an audit row for each export. A view would do:

    def body():  # a streamed response: the session lives as long as the response
        with svc.db.sessions() as session:
            yield from csv_stream(APPROVED_COLUMNS, approved_rows(session, pid, scope.submitters))

    layout = raw_layout(session, pid, "verval_ruta")  # an XLSX is built before it is sent
    path = xlsx_file(layout.sheets, raw_rows(session, layout, scope.submitters), tmp_dir)
    return Response(file_stream(path), mimetype=XLSX)

**Approved results** (`approved_rows`, header `APPROVED_COLUMNS`): one row per member the
field recorded (registry members checked, then new members) of each submission in review
state `approved`, optionally only those of a scope's submitters. A visit that recorded no
member (not found, moved, refused) still has one row, member columns empty, so its outcome
reaches the update. The instance is read with the form's field map (the current version's
rule settings, as the validation bridge reads it); forms without rule settings are left out.

  submission_id, instance_id, approved_at (latest `submission.approve` audit row, else the
  submission's last change; ISO 8601 UTC), enumerator (username), kecamatan_code,
  village_code (the household's, as the check recorded it), target_id, household_source,
  household_source_key (the registry's own household key), kk_registry, kk_field (corrected
  or confirmed), visit_type, outcome (hasil), verdict (kelayakan), member_path
  (`anggota[2]`, `anggota_baru[1]`), person_source, person_source_key (the registry's own
  person key, for a registry member), nik_registry, nik_field (corrected or confirmed),
  name, sex (L/P), birth_date, relationship (code 1-8), member_status (ada, meninggal,
  pindah_dalam_negeri, ... as the form records it; `baru` for a new member), death_date,
  changed_fields: what the field recorded differently from the registry, space-separated,
  among nik kk name sex birth_date relationship status (status: no longer living in the
  household, or living although the registry says dead).

**Raw submissions** (`raw_layout`, `raw_rows`): one sheet of submissions (submission_id,
instance_id, review_state, submitter, received_at, form_version, then every answer outside
repeats, headed by its question path) and one sheet per repeat group (submission_id,
repeat_index, repeat_key such as `anggota[2]`, parent_key, the enclosing repeat's key for a
nested repeat, then the repeat's answers). Columns are the union of all the form's versions.
The CSV of the raw export is its first sheet.

The files are written by `export_formats.py` (CSV streamed, XLSX spooled to a file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from sqlalchemy.orm import Session

from server.forms.labels import read_labels
from server.forms.xform import safe_parser
from server.reviews import export_queries as q
from server.reviews.export_formats import Sheet, text_of
from server.rules.model import Member, Visit
from server.rules.settings import FieldMap, parse_settings
from server.validation.facts import Received, relationship_code, visit_from_instance

BATCH = 500
APPROVED_COLUMNS = (
    "submission_id", "instance_id", "approved_at", "enumerator", "kecamatan_code",
    "village_code", "target_id", "household_source", "household_source_key", "kk_registry",
    "kk_field", "visit_type", "outcome", "verdict", "member_path", "person_source",
    "person_source_key", "nik_registry", "nik_field", "name", "sex", "birth_date",
    "relationship", "member_status", "death_date", "changed_fields",
)  # fmt: skip
MAIN_COLUMNS = (
    "submission_id", "instance_id", "review_state", "submitter", "received_at", "form_version",
)  # fmt: skip
REPEAT_COLUMNS = ("submission_id", "repeat_index", "repeat_key", "parent_key")
MAIN_SHEET = "submissions"

_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\']")


# --- approved results ---------------------------------------------------------------------


def _sametext_of(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").upper().split()) == " ".join((b or "").upper().split())


def _changes(member: Member, person: q.PersonRow | None, registry_nik: str | None) -> list[str]:
    """What the field recorded differently from the registry, for a registry member."""
    changed = []
    known = person is not None or bool(member.registry_nik)
    if known and (member.nik or "") != (registry_nik or ""):
        changed.append("nik")
    if person is not None:
        if member.name and not _sametext_of(member.name, person.name):
            changed.append("name")
        if member.sex and person.sex and member.sex != person.sex:
            changed.append("sex")
        if member.birth_date and person.birth_date and member.birth_date != person.birth_date:
            changed.append("birth_date")
        code = relationship_code(person.relationship)
        if member.relationship and code and member.relationship != code:
            changed.append("relationship")
    gone = member.status not in (None, "ada")
    if gone or (member.status == "ada" and (member.registry_dead or (person and person.dead))):
        changed.append("status")
    return changed


def _member_cells(member: Member, person: q.PersonRow | None, kk_changed: bool) -> dict[str, str]:
    registry_nik = member.registry_nik or (person.nik if person else None)
    changed = [] if member.new else _changes(member, person, registry_nik)
    if kk_changed:
        changed.insert(1 if changed[:1] == ["nik"] else 0, "kk")
    return {
        "member_path": member.path,
        "person_source": person.source if person else "",
        "person_source_key": person.source_key if person else "",
        "nik_registry": "" if member.new else registry_nik or "",
        "nik_field": member.nik or "",
        "name": member.name or "",
        "sex": member.sex or "",
        "birth_date": text_of(member.birth_date),
        "relationship": member.relationship or "",
        "member_status": member.status or "",
        "death_date": text_of(member.death_date),
        "changed_fields": " ".join(changed),
    }


def _id(key: str | None) -> int | None:
    """A registry person's or a target's ID as the form recorded it, when it is one."""
    return int(key) if key and key.isdigit() and len(key) <= 12 else None


def _visit_rows(
    row: q.SubmissionRow,
    visit: Visit,
    approved: datetime | None,
    target: q.TargetRow | None,
    persons: Mapping[int, q.PersonRow],
) -> Iterator[dict[str, str]]:
    kk_registry = target.kk if target else None
    village = row.village_code or (target.village_code if target else None) or visit.village_code
    household = {
        "submission_id": str(row.id),
        "instance_id": row.instance_id,
        "approved_at": text_of(approved or row.updated_at),
        "enumerator": row.submitter,
        "kecamatan_code": village[:6] if village and len(village) >= 6 else "",
        "village_code": village or "",
        "target_id": str(target.id) if target else "",
        "household_source": target.source if target else "",
        "household_source_key": target.source_key if target else "",
        "kk_registry": kk_registry or "",
        "kk_field": visit.kk or kk_registry or "",
        "visit_type": visit.visit_type or "",
        "outcome": visit.outcome or "",
        "verdict": visit.verdict or "",
    }
    kk_changed = bool(kk_registry and visit.kk and visit.kk != kk_registry)
    if not visit.members:
        empty = dict.fromkeys(APPROVED_COLUMNS[APPROVED_COLUMNS.index("member_path") :], "")
        yield household | empty | {"changed_fields": "kk" if kk_changed else ""}
    for member in visit.members:
        person = persons.get(_id(member.registry_key) or -1)
        yield household | _member_cells(member, person, kk_changed)


def approved_rows(
    session: Session, project_id: int, submitters: frozenset[int] | None = None, batch: int = BATCH
) -> Iterator[dict[str, str]]:
    """The approved results, one row per recorded member (APPROVED_COLUMNS), form by form
    and by submission ID."""
    for form_id in q.form_ids(session, project_id):
        settings = q.rule_settings(session, form_id)
        if settings is None:
            continue
        fields = parse_settings(settings).fields
        after = 0
        while rows := q.submissions_after(session, form_id, submitters, after, batch, "approved"):
            after = rows[-1].id
            yield from _approved_batch(session, project_id, fields, rows)


def _approved_batch(
    session: Session, project_id: int, fields: FieldMap, rows: list[q.SubmissionRow]
) -> Iterator[dict[str, str]]:
    visits = [visit_from_instance(r.xml, fields, Received(r.id, r.instance_id)) for r in rows]
    approvals = q.approval_times(session, [r.id for r in rows])
    targets = q.targets(session, project_id, filter(None, (_id(v.target_key) for v in visits)))
    persons = q.persons(
        session, filter(None, (_id(m.registry_key) for v in visits for m in v.members))
    )
    for row, visit in zip(rows, visits, strict=True):
        target = targets.get(_id(visit.target_key) or -1)
        yield from _visit_rows(row, visit, approvals.get(row.id), target, persons)


# --- raw submissions ----------------------------------------------------------------------


@dataclass(frozen=True)
class RawLayout:
    """The raw export's sheets for one form: the submissions and each repeat group's."""

    form_id: int
    main: Sheet
    repeats: Mapping[str, Sheet]  # repeat path: its sheet

    @property
    def sheets(self) -> tuple[Sheet, ...]:
        return (self.main, *self.repeats.values())


def _sheet_name(path: str, taken: set[str]) -> str:
    """An Excel sheet name (31 characters, none of []:*?/\\') unique in the workbook."""
    base = _SHEET_UNSAFE.sub("_", path.rsplit("/", 1)[-1])[:31] or "repeat"
    name, n = base, 1
    while name.lower() in taken:
        n += 1
        name = f"{base[: 31 - len(str(n)) - 1]}_{n}"
    taken.add(name.lower())
    return name


def _owner(path: str, repeats: Iterable[str]) -> str | None:
    """The innermost repeat holding the question, None for the top level and groups."""
    inside = [r for r in repeats if path.startswith(r + "/")]
    return max(inside, key=len) if inside else None


def _column(path: str) -> str:
    """A top-level question named like a fixed column is headed by its absolute path."""
    return f"/{path}" if path in MAIN_COLUMNS else path


def raw_layout(session: Session, project_id: int, xml_form_id: str) -> RawLayout | None:
    """The raw export's sheets for the project's form, or None when there is no such form."""
    form_id = q.form_id_of(session, project_id, xml_form_id)
    if form_id is None:
        return None
    labels = [read_labels(xml) for xml in q.form_xmls(session, form_id)]
    repeats = frozenset(r for found in labels for r in found.repeats)
    paths = list(
        dict.fromkeys(
            path
            for found in labels
            for path, question in found.questions.items()
            if question.kind != "note" and not path.startswith("meta/") and path not in repeats
        )
    )
    owned: dict[str | None, list[str]] = {None: []}
    for path in paths:
        owned.setdefault(_owner(path, repeats), []).append(path)
    taken = {MAIN_SHEET}
    main = Sheet(MAIN_SHEET, MAIN_COLUMNS + tuple(_column(p) for p in owned[None]))
    order = [r for r in owned if r is not None] + sorted(repeats - owned.keys())
    sheets = {
        r: Sheet(_sheet_name(r, taken), REPEAT_COLUMNS + tuple(owned.get(r, []))) for r in order
    }
    return RawLayout(form_id, main, sheets)


@dataclass
class _Instance:
    cells: dict[str, str]
    repeats: list[tuple[str, dict[str, str]]]  # (repeat path, its row), in document order


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _split(xml: bytes, repeats: frozenset[str]) -> _Instance:
    """The answers outside repeats by path, and a row per repeat instance."""
    found = _Instance({}, [])
    try:
        root = etree.fromstring(xml, safe_parser())
    except (etree.XMLSyntaxError, ValueError):
        return found

    def walk(node: etree._Element, path: str, at: str, parent: str, cells: dict[str, str]) -> None:
        """`path`: the node's question path; `at`: with repeat indexes; `parent`: the key of
        the repeat instance it is in."""
        counts: dict[str, int] = {}
        for child in node:
            name = _local(child)
            if not name or (name == "meta" and not path):
                continue
            here = f"{path}/{name}" if path else name
            if here in repeats:
                counts[name] = index = counts.get(name, 0) + 1
                key = f"{at}/{name}[{index}]" if at else f"{name}[{index}]"
                row = {"repeat_index": str(index), "repeat_key": key, "parent_key": parent}
                found.repeats.append((here, row))
                walk(child, here, key, key, row)
            elif len(child):
                walk(child, here, f"{at}/{name}" if at else name, parent, cells)
            elif child.text and child.text.strip():
                cells.setdefault(here, child.text.strip())

    walk(root, "", "", "", found.cells)
    return found


def raw_rows(
    session: Session,
    layout: RawLayout,
    submitters: frozenset[int] | None = None,
    batch: int = BATCH,
    state: str | None = None,
    repeats: bool = True,
) -> Iterator[tuple[str, dict[str, str]]]:
    """(sheet name, row) of each submission of the form (in one review state when given),
    then of its repeats (`repeats`)."""
    paths = frozenset(layout.repeats)
    after = 0
    while rows := q.submissions_after(session, layout.form_id, submitters, after, batch, state):
        after = rows[-1].id
        for r in rows:
            instance = _split(r.xml, paths)
            fixed = (r.id, r.instance_id, r.review_state, r.submitter, r.created_at, r.form_version)
            main = {_column(path): value for path, value in instance.cells.items()}
            main.update(zip(MAIN_COLUMNS, map(text_of, fixed), strict=True))
            yield layout.main.name, main
            for path, row in instance.repeats if repeats else ():
                yield layout.repeats[path].name, row | {"submission_id": str(r.id)}
