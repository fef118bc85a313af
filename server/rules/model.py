"""What the rules read and what they produce.

`Facts` is everything known about one submission when it is checked: its normalised answers
(`Visit`), the registry records it was matched to, the peer submissions that share a NIK, a
KK, a name or a photo with it, statistics of its enumerator and their team, and the rule
settings of its form. A rule returns `Flag`s: which rule, how severe, a message in
Indonesian and English, the fields involved and the evidence a koordinator needs to decide
without digging. Everything here is plain data, so the facts can be built by the database
bridge, by a benchmark or by a test alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """BLOCK cannot be approved; HIGH must be reviewed; MED is sampled; LOW is information."""

    BLOCK = "BLOCK"
    HIGH = "HIGH"
    MED = "MED"
    LOW = "LOW"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.BLOCK: 3, Severity.HIGH: 2, Severity.MED: 1, Severity.LOW: 0}
# The rule ID of the flag a rule that crashed leaves behind (its own flags are lost).
ENGINE_ERROR = "ENGINE"


@dataclass(frozen=True)
class Flag:
    """One finding about a submission."""

    rule: str
    severity: Severity
    message_id: str
    message_en: str
    fields: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "message_id": self.message_id,
            "message_en": self.message_en,
            "fields": list(self.fields),
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class Member:
    """A person as the field recorded them: a registry member checked, or a new member.

    `path` says where in the submission (`anggota[2]`, `anggota_baru[1]`) for the flag's
    fields; `registry_key` is the registry person the list row named, if any."""

    path: str
    nik: str | None = None
    name: str | None = None
    sex: str | None = None  # "L" / "P"
    birth_date: date | None = None
    relationship: str | None = None  # code "1".."8" (1 = head, 2 = spouse, 3 = child ...)
    status: str | None = None  # ada, meninggal, pindah_dalam_negeri, ..., baru
    death_date: date | None = None
    death_document: bool = False  # a photo of the death certificate came with it
    nik_corrected: bool = False  # the NIK differs from the registry's and was corrected
    id_photo: bool = False  # KTP/KK photo for a new or corrected NIK
    registry_key: str | None = None
    registry_nik: str | None = None
    registry_dead: bool = False
    new: bool = False


@dataclass(frozen=True)
class Photo:
    """A photo question's answer: whether the file arrived, and its perceptual hash."""

    field: str
    name: str | None  # file name in the instance (None: question left empty)
    received: bool = False
    phash: int | None = None  # 64-bit dHash; None when not an image we could read
    size: int | None = None


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float
    altitude: float | None = None
    accuracy: float | None = None


@dataclass(frozen=True)
class Visit:
    """The normalised answers of one submission (field names per the form's settings)."""

    submission_id: int
    instance_id: str = ""
    enumerator_id: int | None = None
    form_version: str = ""
    current_form_version: str = ""
    target_key: str | None = None
    target_on_own_list: bool = False  # the target was on this enumerator's list
    target_known: bool = False  # the target exists in the project at all
    assigned_village: str | None = None  # the target's village code
    visit_type: str | None = None  # daftar / usulan_baru
    outcome: str | None = None  # hasil
    consent: bool | None = None
    kk: str | None = None
    kk_corrected: bool = False
    kk_photo: bool = False
    registry_kk: str | None = None
    village_code: str | None = None  # where the household is (new proposals: as entered)
    household_size: int | None = None
    members: tuple[Member, ...] = ()
    photos: tuple[Photo, ...] = ()
    location: Point | None = None
    started: datetime | None = None
    ended: datetime | None = None
    received: datetime | None = None
    informant: str | None = None
    verdict: str | None = None  # kelayakan
    verdict_reason: str | None = None
    assets: frozenset[str] = frozenset()
    answers: Mapping[str, str] = field(default_factory=dict)  # every leaf, by path

    def people(self) -> tuple[Member, ...]:
        """Members present in the household now (registry members still there, and new)."""
        return tuple(m for m in self.members if m.new or m.status == "ada")


@dataclass(frozen=True)
class RegistryPerson:
    """A registry person a field member was matched to."""

    key: str
    source: str
    nik: str | None
    name: str
    birth_date: date | None
    sex: str | None
    dead: bool = False
    padan: bool | None = None  # NIK matched with Dukcapil
    household_key: str | None = None


@dataclass(frozen=True)
class Match:
    """The registry's best candidate for one field member (see registry/matching.py)."""

    member_path: str
    person: RegistryPerson | None
    score: float = 0.0
    band: str = "no_match"  # auto_link / review / no_match, as registry/scoring.py bands
    reasons: tuple[str, ...] = ()
    found_by: tuple[str, ...] = ()
    same_nik_keys: tuple[str, ...] = ()  # every registry person holding the member's NIK
    # The source (dtks, dtsen, p3ke) of each of those persons, in the same order; empty
    # when unknown. The same person in two sources is not a duplicate within the registry.
    same_nik_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Peer:
    """Another submission of the same round that shares something with this one."""

    submission_id: int
    enumerator_id: int | None
    target_key: str | None
    niks: frozenset[str] = frozenset()
    kk: str | None = None
    name_birth: frozenset[tuple[str, date]] = frozenset()  # (name key, birth date)
    kecamatan: str | None = None
    phashes: frozenset[int] = frozenset()
    location: Point | None = None
    household_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EnumeratorStats:
    """How one enumerator's work compares with their team's (for rates and outliers)."""

    enumerator_id: int
    visits_today: int = 0
    team_median_visits_per_day: float | None = None
    outcome_rates: Mapping[str, float] = field(default_factory=dict)
    team_outcome_rates: Mapping[str, float] = field(default_factory=dict)
    visits: int = 0
    numeric_quartiles: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    """Everything a rule may look at for one submission."""

    visit: Visit
    matches: tuple[Match, ...] = ()
    household_desil: int | None = None
    household_programmes: frozenset[str] = frozenset()  # current aid (PKH, BPNT, PBI, ...)
    peers: tuple[Peer, ...] = ()
    stats: EnumeratorStats | None = None
    village_centroid: Point | None = None
    # Villages of the households on the enumerator's own list: their assigned area.
    enumerator_villages: frozenset[str] = frozenset()
    today: date | None = None

    def match_for(self, path: str) -> Match | None:
        return next((m for m in self.matches if m.member_path == path), None)
