"""Column mapping profiles: which header of an extract holds which field, and how to read it.

Exports differ by source and even by export run, so imports go through a profile (TOML):
the profiles for the known layouts ship in server/registry/profiles/ and are recognised
from the header; users can pass their own file for other layouts (same format, see
docs/registry-import.md). Pure: headers and row values in, canonical records out.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from server.registry.identity import Sex

PROFILE_DIR = Path(__file__).parent / "profiles"
LEVELS = ("person", "household")
REGION_MODES = ("codes", "names", "household")
SOURCES = ("dtks", "dtsen", "p3ke")
# Canonical fields a profile may map, by level.
# Where a row lives: fields both levels may map.
_PLACE_FIELDS = frozenset(
    {
        "household_key",
        "kk",
        "village_code",
        "kabupaten_code",
        "kecamatan_code",
        "province_name",
        "kabupaten_name",
        "kecamatan_name",
        "village_name",
        "address",
        "dusun",
        "rt",
        "rw",
        "desil_household",
        "household_size",
    }
)
PERSON_FIELDS = _PLACE_FIELDS | {
    "source_id",
    "nik",
    "name",
    "birth_date",
    "birth_place",
    "sex",
    "mother_name",
    "relationship",
    "desil_person",
    "death_note",
    "padan",
    "status",
    "occupation",
}
HOUSEHOLD_FIELDS = _PLACE_FIELDS | {"head_nik", "head_name"}
SEX_VALUES: dict[str, Sex] = {
    "L": "L",
    "LAKI-LAKI": "L",
    "LAKI LAKI": "L",
    "LAKILAKI": "L",
    "PRIA": "L",
    "1": "L",
    "P": "P",
    "PEREMPUAN": "P",
    "WANITA": "P",
    "2": "P",
}
YES_VALUES = frozenset({"YA", "Y", "1", "TRUE", "PENERIMA", "ADA"})
NO_VALUES = frozenset({"TIDAK", "T", "N", "0", "FALSE", "BUKAN", "", "-"})
PADAN_VALUES = {
    "PADAN": True,
    "SUDAH PADAN": True,
    "YA": True,
    "1": True,
    "TIDAK PADAN": False,
    "BELUM PADAN": False,
    "TIDAK": False,
    "0": False,
}


class ProfileError(ValueError):
    """A profile file is unusable, or no profile fits an extract's header."""


def loose_key(text: str) -> str:
    """Only lower-case letters and digits: 'No. KK' ~ 'NO_KK', 'Kebon Sari' ~ 'KEBONSARI'."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def header_key(header: str) -> str:
    """Headers compare without case, spaces, punctuation or a BOM: 'No. KK' ~ 'NO_KK'."""
    return loose_key(header.replace("\ufeff", ""))


@dataclass(frozen=True)
class Profile:
    """How to read one export layout."""

    name: str
    source: str
    level: str
    description: str
    region: str
    columns: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)
    programmes: dict[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y")
    rest_as_attributes: bool = False

    def required_headers(self) -> list[str]:
        return list(dict.fromkeys(self.columns.values()))

    def missing(self, headers: Sequence[str]) -> list[str]:
        present = {header_key(h) for h in headers}
        return [h for h in self.required_headers() if header_key(h) not in present]


def load_profile(path: Path) -> Profile:
    """Read and check a profile file; errors name the file and the problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path.name}: cannot read mapping file ({exc})") from None
    return profile_from_dict(data, path.name)


def profile_from_dict(data: dict[str, Any], label: str) -> Profile:
    def need(key: str, choices: Sequence[str] | None = None) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise ProfileError(f"{label}: '{key}' is required")
        if choices is not None and value not in choices:
            raise ProfileError(f"{label}: '{key}' must be one of {', '.join(choices)}")
        return value

    level = need("level", LEVELS)
    allowed = PERSON_FIELDS if level == "person" else HOUSEHOLD_FIELDS
    tables: dict[str, dict[str, str]] = {}
    for table in ("columns", "optional", "programmes"):
        raw = data.get(table, {})
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
        ):
            raise ProfileError(f"{label}: [{table}] must map names to column headers")
        tables[table] = dict(raw)
    unknown = sorted((set(tables["columns"]) | set(tables["optional"])) - allowed)
    if unknown:
        raise ProfileError(f"{label}: unknown fields {', '.join(unknown)} for level {level}")
    needed = {"household_key"} | ({"name"} if level == "person" else set())
    region = need("region", REGION_MODES)
    if region == "codes":
        needed.add("village_code")
    elif region == "names":
        needed |= {"kecamatan_name", "village_name"}
    if missing := sorted(needed - set(tables["columns"])):
        raise ProfileError(f"{label}: [columns] must map {', '.join(missing)}")
    if region == "names" and not {"kabupaten_name", "kabupaten_code"} & set(tables["columns"]):
        raise ProfileError(f"{label}: [columns] must map kabupaten_name or kabupaten_code")
    formats = data.get("date_formats", ["%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"])
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise ProfileError(f"{label}: date_formats must be a list of strftime formats")
    return Profile(
        name=need("name"),
        source=need("source", SOURCES),
        level=level,
        description=str(data.get("description", "")),
        region=region,
        columns=tables["columns"],
        optional=tables["optional"],
        programmes=tables["programmes"],
        date_formats=tuple(formats),
        rest_as_attributes=bool(data.get("rest_as_attributes", False)),
    )


def shipped_profiles() -> list[Profile]:
    return [load_profile(path) for path in sorted(PROFILE_DIR.glob("*.toml"))]


def detect(headers: Sequence[str], source: str, profiles: Sequence[Profile]) -> Profile:
    """The shipped profile for `source` whose columns are all in the header."""
    candidates = [p for p in profiles if p.source == source]
    fitting = [p for p in candidates if not p.missing(headers)]
    if fitting:
        # The most specific layout wins (the one that maps the most columns).
        return max(fitting, key=lambda p: len(p.columns))
    if not candidates:
        raise ProfileError(f"no mapping profile for source {source}; pass --mapping")
    closest = min(candidates, key=lambda p: len(p.missing(headers)))
    raise ProfileError(
        f"the header does not match a known {source} layout; closest is {closest.name}, "
        f"missing column(s): {', '.join(closest.missing(headers))} (or pass --mapping)"
    )


@dataclass
class Record:
    """One row read through a profile: canonical fields, programme flags, attributes."""

    line: int
    fields: dict[str, str]
    programmes: dict[str, bool]
    attributes: dict[str, Any]
    raw: list[str]  # the row's cells, in the order of the extract's header


class RowReader:
    """Reads rows of one extract through a profile (the header is resolved once)."""

    def __init__(self, profile: Profile, headers: Sequence[str]) -> None:
        self.profile = profile
        self.headers = [h.replace("\ufeff", "").strip() for h in headers]
        index = {header_key(h): i for i, h in enumerate(self.headers)}
        self.columns = {f: index[header_key(h)] for f, h in profile.columns.items()}
        self.optional = {
            f: index[header_key(h)] for f, h in profile.optional.items() if header_key(h) in index
        }
        self.programmes = {
            p: index[header_key(h)] for p, h in profile.programmes.items() if header_key(h) in index
        }
        self.width = len(self.headers)
        self.fields = [*self.columns.items(), *self.optional.items()]
        used = {*self.columns.values(), *self.optional.values(), *self.programmes.values()}
        self.rest = (
            [(i, h) for i, h in enumerate(self.headers) if i not in used]
            if profile.rest_as_attributes
            else []
        )

    def read(self, line: int, row: Sequence[str]) -> Record:
        """Map one row of text cells (short rows are padded with empty cells)."""
        cells = [c.strip() for c in row]
        if len(cells) < self.width:
            cells.extend([""] * (self.width - len(cells)))
        fields = {f: cells[i] for f, i in self.fields}
        programmes = {p: cells[i].upper() in YES_VALUES for p, i in self.programmes.items()}
        attributes = {h: parse_attribute(cells[i]) for i, h in self.rest if cells[i]}
        return Record(line, fields, programmes, attributes, cells)


def parse_yes(value: str) -> bool:
    return value.strip().upper() in YES_VALUES


def parse_attribute(value: str) -> Any:
    """Regsosek codes are integers; anything else stays text."""
    try:
        return int(value)
    except ValueError:
        return value


def parse_sex(value: str) -> Sex | None:
    return SEX_VALUES.get(value.strip().upper())


def parse_padan(value: str) -> bool | None:
    return PADAN_VALUES.get(value.strip().upper())


def parse_date(value: str, formats: Sequence[str]) -> date | None:
    """A date in one of `formats`; None if it fits none (dates repeat, so results are cached)."""
    return _parse_date(value.strip(), tuple(formats))


@lru_cache(maxsize=1 << 16)
def _parse_date(text: str, formats: tuple[str, ...]) -> date | None:
    if not text:
        return None
    if " " in text:  # spreadsheets export "1985-06-05 00:00:00"
        text = text.split(" ", 1)[0]
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def parse_int(value: str) -> int | None:
    if not value:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def digits_only(value: str) -> str:
    """NIK, KK and codes as digits: spreadsheets turn them into 3.57E+15 or add '.0'."""
    if value.isascii() and value.isdigit():
        return value
    text = value.strip().replace("'", "")
    if text.endswith(".0"):
        text = text[:-2]
    return re.sub(r"[\s.\-]", "", text)
