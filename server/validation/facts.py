"""From a submitted instance to the `Visit` the rules read, by the form's field map.

The instance is parsed with the same safe parser as every submission (no DTD, no entities).
Paths in the field map are below the root (`kk/kk_baru`); repeats are read per instance, and
every leaf is also kept by its path (`anggota[2]/status_anggota`) for rules that look at
answers generically. Values are normalised here once (dates, booleans, codes), so rules
compare plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from lxml import etree

from server.forms.xform import safe_parser
from server.rules.model import Member, Photo, Point, Visit
from server.rules.settings import FieldMap

YES = {"ya", "yes", "1", "true"}
NO = {"tidak", "no", "0", "false"}
# Registry relationship texts (DTKS, DTSEN, P3KE spell them differently) to the codes the
# questionnaire uses: 1 head, 2 spouse, 3 child, 4 child-in-law, 5 grandchild, 6 parent or
# parent-in-law, 7 household help, 8 other.
RELATIONSHIPS = {
    "KEPALA KELUARGA": "1",
    "KEPALA RUMAH TANGGA": "1",
    "ISTRI": "2",
    "SUAMI": "2",
    "ISTRI/SUAMI": "2",
    "SUAMI/ISTRI": "2",
    "ANAK": "3",
    "ANAK KANDUNG": "3",
    "ANAK TIRI": "3",
    "ANAK ANGKAT": "3",
    "MENANTU": "4",
    "CUCU": "5",
    "ORANG TUA": "6",
    "ORANGTUA": "6",
    "MERTUA": "6",
    "ORANG TUA/MERTUA": "6",
    "PEMBANTU": "7",
    "PEMBANTU RUMAH TANGGA": "7",
    "FAMILI LAIN": "8",
    "LAINNYA": "8",
}


Files = Mapping[str, tuple[bool, int | None]]  # file name -> (received, perceptual hash)


def _received(files: Files, name: str | None) -> bool:
    return bool(name) and files.get(name or "", (False, None))[0]


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    value = (element.text or "").strip()
    return value or None


@lru_cache(maxsize=1024)
def _steps(path: str) -> str:
    """An ElementPath for `a/b` matching the names in any namespace or none (`{*}a/{*}b`);
    the paths are question names, checked against the form when its settings were
    published."""
    return "/".join(f"{{*}}{step}" for step in path.split("/"))


def _find(node: etree._Element, path: str | None) -> etree._Element | None:
    return node.find(_steps(path)) if path else None


def _value(node: etree._Element, path: str | None) -> str | None:
    return _text(_find(node, path))


def _all(node: etree._Element, path: str | None) -> list[etree._Element]:
    """Every instance of a repeat at `path` (the last step repeats)."""
    if not path:
        return []
    parent_path, _, name = path.rpartition("/")
    parent = _find(node, parent_path) if parent_path else node
    if parent is None:
        return []
    return list(parent.iterfind(f"{{*}}{name}"))


def parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    return True if lowered in YES else False if lowered in NO else None


def parse_point(value: str | None) -> Point | None:
    """A geopoint `lat lon [alt [accuracy]]`."""
    if not value:
        return None
    try:
        numbers = [float(part) for part in value.split()]
    except ValueError:
        return None
    if len(numbers) < 2 or not (-90 <= numbers[0] <= 90 and -180 <= numbers[1] <= 180):
        return None
    altitude = numbers[2] if len(numbers) > 2 else None
    accuracy = numbers[3] if len(numbers) > 3 else None
    return Point(numbers[0], numbers[1], altitude, accuracy)


def parse_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def relationship_code(value: str | None) -> str | None:
    """A relationship as the questionnaire codes it ("1".."8"), from a code or a text."""
    if not value:
        return None
    cleaned = " ".join(value.upper().split())
    if cleaned.isdigit():
        return cleaned
    return RELATIONSHIPS.get(cleaned, "8")


def _leaves(root: etree._Element, repeats: frozenset[str]) -> dict[str, str]:
    """Every answered leaf by its path, repeats numbered from 1: `anggota[2]/nik_benar`."""
    found: dict[str, str] = {}

    def walk(node: etree._Element, prefix: str) -> None:
        counts: dict[str, int] = {}
        for child in node:
            name = _local(child)
            if not name or (name == "meta" and not prefix):
                continue
            path = f"{prefix}/{name}" if prefix else name
            if path in repeats:
                counts[name] = counts.get(name, 0) + 1
                path = f"{path}[{counts[name]}]"
            if len(child):
                walk(child, path)
            elif child.text and child.text.strip():
                found.setdefault(path, child.text.strip())  # the first, as `find` gives

    walk(root, "")
    return found


class _Answers:
    """The instance's answers by path, from one walk of it (`_leaves`), so a field costs a
    dictionary look-up rather than a search of the tree; a path the walk does not keep as
    it is (under the top-level meta, or inside a repeat other than a row's own fields) is
    searched in the tree."""

    def __init__(self, root: etree._Element, repeats: frozenset[str]) -> None:
        self.root = root
        self.repeats = repeats
        self.leaves = _leaves(root, repeats)

    def _walked(self, path: str, within: str = "") -> bool:
        steps = path.split("/")
        if not within and steps[0] == "meta":
            return False
        prefix = within
        for step in steps:
            prefix = f"{prefix}/{step}" if prefix else step
            if prefix in self.repeats:
                return False
        return True

    def value(self, path: str | None) -> str | None:
        if not path:
            return None
        return self.leaves.get(path) if self._walked(path) else _value(self.root, path)

    def in_row(self, repeat: str, index: int, row: etree._Element, path: str | None) -> str | None:
        """A field of the `index`-th (from 1) row of `repeat`."""
        if not path:
            return None
        if self._walked(path, within=repeat):
            return self.leaves.get(f"{repeat}[{index}]/{path}")
        return _value(row, path)


@dataclass(frozen=True)
class Received:
    """What the server knows about the submission beyond its XML."""

    submission_id: int
    instance_id: str = ""
    enumerator_id: int | None = None
    form_version: str = ""
    current_form_version: str = ""
    received: datetime | None = None
    files: Files = field(default_factory=dict)


def _photo(field: str, name: str | None, files: Files) -> Photo:
    received, phash = files.get(name, (False, None)) if name else (False, None)
    return Photo(field, name, received, phash)


def _rows(
    answers: _Answers, fields: Mapping[str, str]
) -> Iterator[tuple[str, Callable[[str], str | None]]]:
    """Each row of the repeat the field map names: its path (`anggota[2]`), and a reader
    of its fields by their role in the map."""
    repeat = fields.get("repeat")
    if not repeat:
        return
    for index, row in enumerate(_all(answers.root, repeat), start=1):

        def value(name: str, row: etree._Element = row, index: int = index) -> str | None:
            return answers.in_row(repeat, index, row, fields.get(name))

        yield f"{repeat}[{index}]", value


def _roster(answers: _Answers, fields: Mapping[str, str], files: Files) -> list[Member]:
    members = []
    for path, value in _rows(answers, fields):
        registry_nik = value("registry_nik")
        corrected = value("nik")
        same = parse_bool(value("nik_same"))
        members.append(
            Member(
                path=path,
                nik=corrected or registry_nik,
                name=value("name"),
                sex=value("sex"),
                birth_date=parse_date(value("birth_date")),
                relationship=relationship_code(value("relationship")),
                status=value("status"),
                death_date=parse_date(value("death_date")),
                death_document=_received(files, value("death_document")),
                nik_corrected=bool(corrected) and (same is False or not registry_nik),
                id_photo=_received(files, value("id_photo")),
                registry_key=value("key"),
                registry_nik=registry_nik,
                registry_dead=parse_bool(value("registry_dead")) is True,
            )
        )
    return members


def _new_members(answers: _Answers, fields: Mapping[str, str], files: Files) -> list[Member]:
    return [
        Member(
            path=path,
            nik=value("nik"),
            name=value("name"),
            sex=value("sex"),
            birth_date=parse_date(value("birth_date")),
            relationship=relationship_code(value("relationship")),
            status="baru",
            id_photo=_received(files, value("id_photo")),
            new=True,
        )
        for path, value in _rows(answers, fields)
    ]


def visit_from_instance(xml: bytes, fields: FieldMap, received: Received) -> Visit:
    """The rules' view of one stored instance."""
    root = etree.fromstring(xml, safe_parser())
    plain = fields.visit
    repeats = (fields.roster.get("repeat"), fields.new_members.get("repeat"))
    answers = _Answers(root, frozenset(r for r in repeats if r))
    files = dict(received.files or {})

    def value(name: str) -> str | None:
        return answers.value(plain.get(name))

    photos = [_photo(path, answers.value(path), files) for path in fields.house_photos]
    assets = value("assets")
    return Visit(
        submission_id=received.submission_id,
        instance_id=received.instance_id,
        enumerator_id=received.enumerator_id,
        form_version=(root.get("version") or "").strip(),
        current_form_version=received.current_form_version,
        target_key=value("target"),
        visit_type=value("visit_type"),
        outcome=value("outcome"),
        consent=parse_bool(value("consent")),
        kk=value("kk"),
        kk_corrected=parse_bool(value("kk_same")) is False,
        kk_photo=_received(files, value("kk_photo")),
        village_code=value("village"),
        household_size=parse_int(value("household_size")),
        members=(
            *_roster(answers, fields.roster, files),
            *_new_members(answers, fields.new_members, files),
        ),
        photos=tuple(photos),
        location=parse_point(value("location")),
        started=parse_datetime(value("started")),
        ended=parse_datetime(value("ended")),
        received=received.received,
        informant=value("informant"),
        verdict=value("verdict"),
        verdict_reason=value("verdict_reason"),
        assets=frozenset(assets.split()) if assets else frozenset(),
        answers=answers.leaves,
    )
