"""Synthetic fieldwork: the submissions enumerators would send for their assigned households,
with injected field errors, and the truth of which error each submission carries.

This module owns `plan_fieldwork` (pure: the project's assigned targets and the registry
generator's ground truth in, planned submissions out) and `do_store_visits` (through the
same `do_receive_submission` as a phone's POST). It feeds the accuracy and throughput
benchmarks of the rules, and any demo that needs a review queue. All data is invented: the
households and people are those of `server.registry.synth`, the photos are random noise.

What the field sees is the truth of the registry generator: the household's condition is
its DTSEN record (which the generator writes from the real state), people who died are
reported dead with a death certificate, and NIKs the DTKS list shows wrongly (a typo or
another person's NIK in the generator's truth) are corrected from the KTP. Error classes,
each with the rules expected to catch it (`DETECTED_BY`):

  dead_recipient      registry truth: a recipient has died; the field still lists them as a
                      living member (`FieldRates.hidden_death` of those households)
  well_off_recipient  registry truth: a recipient household of desil >= 7 with well-off
                      signs; the field records the signs it sees
  mistyped_nik        a NIK one typo away: the DTKS record's (generator truth, corrected in
                      the field) or the enumerator's own typo when correcting a NIK
  duplicate           the household submitted twice: again by its enumerator, or proposed
                      as a new household by another; both submissions carry the class
  wrong_village       the location recorded in a village of another kecamatan, at least
                      `FAR_KM` from the household's village
  gps_cluster         3-5 consecutive visits of one enumerator-day recorded from one spot
  too_short           an interview shorter than the household size allows

Households lie within `VILLAGE_RADIUS_M` of their village centroid (about 2,500 households
per km2 at 5,000 per village, a dense kampung); an honest location is the house's point
with a few metres of GPS noise.
"""

from __future__ import annotations

import csv
import io
import math
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image
from sqlalchemy.orm import Session

from server.forms.queries import SubmissionForm
from server.openrosa.envelope import parse_envelope
from server.openrosa.service import Incoming, Receipt, UploadedPart, do_receive_submission
from server.registry.synth import DTKS_FILE, DTSEN_FILE, TRUTH_FILE
from server.storage import BlobStore
from server.validation.facts import relationship_code
from server.validation.synth_queries import AssignedTarget

FORM_ID = "verval_ruta"
CLASSES = (
    "dead_recipient",
    "well_off_recipient",
    "mistyped_nik",
    "duplicate",
    "wrong_village",
    "gps_cluster",
    "too_short",
)
DETECTED_BY: dict[str, frozenset[str]] = {
    "dead_recipient": frozenset({"V18"}),
    "well_off_recipient": frozenset({"V46"}),
    "mistyped_nik": frozenset({"V16"}),
    "duplicate": frozenset({"V21", "V22"}),
    "wrong_village": frozenset({"V32"}),
    "gps_cluster": frozenset({"V34"}),
    "too_short": frozenset({"V35"}),
}
WIB = timezone(timedelta(hours=7))
VILLAGE_RADIUS_M = 800.0
FAR_KM = 4.0
METRES_PER_DEGREE = 111_320.0
USER_AGENT = "org.odk.collect.android/v2025.2.3 (synthetic)"
# The questionnaire's NIK constraint (forms/verval_ruta.xlsx): Collect refuses anything else.
_AREA_PROVINCES = {
    *range(11, 20), 21, *range(31, 37), 51, 52, 53, *range(61, 66), *range(71, 77), 81, 82,
    *range(91, 97),
}  # fmt: skip
ASSETS = {
    "aset_tabung_gas": "gas",
    "aset_lemari_es": "kulkas",
    "aset_ac": "ac",
    "aset_pemanas_air": "pemanas_air",
    "aset_televisi": "tv",
    "aset_emas": "emas",
    "aset_komputer": "komputer",
    "aset_sepeda_motor": "sepeda_motor",
    "aset_mobil": "mobil",
    "aset_perahu_motor": "perahu_motor",
}
HOUSING = {
    "status_bangunan": "status_kepemilikan_bangunan",
    "lantai": "jenis_lantai",
    "dinding": "jenis_dinding",
    "atap": "jenis_atap",
    "air_minum": "sumber_air_minum",
    "penerangan": "sumber_penerangan",
    "daya": "daya_terpasang",
    "bahan_bakar": "bahan_bakar_memasak",
    "fasilitas_bab": "fasilitas_bab",
}
SOCIO_COLUMNS = (
    *HOUSING.values(),
    *ASSETS,
    "aset_lahan",
    "aset_rumah_lain",
    "jumlah_sapi",
    "jumlah_kerbau",
    "jumlah_kambing_domba",
)


@dataclass(frozen=True)
class FieldRates:
    """How often each field error is made (per visit, or per enumerator-day for clusters)."""

    duplicate: float = 0.03
    mistyped_nik: float = 0.03
    wrong_village: float = 0.03
    gps_cluster: float = 0.08  # per enumerator-day: 3-5 visits from one spot
    too_short: float = 0.03
    hidden_death: float = 0.7  # of dead-recipient households
    not_found: float = 0.04
    new_baby: float = 0.03

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"rate {name} must be between 0 and 1, not {value}")


@dataclass(frozen=True)
class Household:
    """What the field finds at a house: its condition, from the generator's DTSEN."""

    socio: Mapping[str, str]
    head_job: str
    civil_servant: bool


@dataclass
class RegistryTruth:
    """The registry generator's truth that the field can see, by DTKS record id and KK."""

    dead: set[str] = field(default_factory=set)  # dead recipients' DTKS ids
    wrong_nik: dict[str, str] = field(default_factory=dict)  # DTKS id -> the true NIK
    mistyped: set[str] = field(default_factory=set)  # DTKS ids recorded with a typo
    well_off_kk: set[str] = field(default_factory=set)
    # Second DTKS records of a person listed elsewhere (or twice): not found at this house.
    double_entries: set[str] = field(default_factory=set)
    households: dict[str, Household] = field(default_factory=dict)  # by KK

    @classmethod
    def read(cls, synth_dir: Path, kks: Iterable[str] | None = None) -> RegistryTruth:
        """Read truth.csv, and the condition of the households with these KKs from
        dtsen.csv (all of them when `kks` is None), streaming both files."""
        truth = cls()
        with (synth_dir / TRUTH_FILE).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                kind, ids = row["kind"], [i for i in row["record_ids"].split(";") if i]
                if kind == "dead_recipient":
                    truth.dead.update(ids)
                elif kind == "duplicate_person" and row["source"] == DTKS_FILE:
                    truth.double_entries.update(ids)
                elif kind == "well_off_recipient":
                    truth.well_off_kk.add(row["no_kk"])
                elif kind in ("mistyped_nik", "duplicate_nik") and row["source"] == DTKS_FILE:
                    for record in ids:
                        truth.wrong_nik[record] = row["true_nik"]
                        if kind == "mistyped_nik":
                            truth.mistyped.add(record)
        wanted = set(kks) if kks is not None else None
        with (synth_dir / DTSEN_FILE).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                kk = row["no_kk"]
                if wanted is not None and kk not in wanted:
                    continue
                job = row.get("status_pekerjaan") or ""
                found = truth.households.get(kk)
                if found is None:
                    found = Household({c: row.get(c) or "" for c in SOCIO_COLUMNS}, "", False)
                if row.get("hubungan_keluarga") == "1":
                    found = Household(found.socio, job, found.civil_servant)
                if job == "5":
                    found = Household(found.socio, found.head_job, True)
                truth.households[kk] = found
        return truth


@dataclass
class PlannedVisit:
    """One submission to send, with the error classes it carries."""

    instance_id: str
    enumerator_id: int
    target_id: int | None
    xml: bytes
    photos: dict[str, bytes]
    truth: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ListMember:
    person_id: int
    position: int
    nik: str
    name: str
    sex: str
    birth_date: str
    relationship: str
    dead: bool


def list_members(text: str) -> list[ListMember]:
    """A target's rendered member rows (server/assignments/lists.py MEMBER_COLUMNS)."""
    found = []
    for cells in csv.reader(io.StringIO(text)):
        if len(cells) < 11:
            continue
        person_id, _label, _version, _target, position, nik, name, sex, born, rel, dead = cells[:11]
        found.append(
            ListMember(int(person_id), int(position), nik, name, sex, born, rel, dead == "1")
        )
    return found


def snapshot_kk(snapshot: str) -> str:
    """The KK number, first cell of a target's rendered household row."""
    return next(csv.reader(io.StringIO(snapshot)), [""])[0]


def form_accepts_nik(nik: str) -> bool:
    """Whether the questionnaire's NIK constraint lets Collect save this NIK."""
    if len(nik) != 16 or not nik.isdigit() or int(nik[:2]) not in _AREA_PROVINCES:
        return False
    if nik[2:4] == "00" or nik[4:6] == "00" or nik[12:] == "0000":
        return False
    day, month = int(nik[6:8]), int(nik[8:10])
    return (1 <= day <= 31 or 41 <= day <= 71) and 1 <= month <= 12


def typo(nik: str, rng: random.Random) -> str:
    """The NIK with one digit changed or two neighbours swapped, still accepted by the form."""
    for _ in range(100):
        digits = list(nik)
        if rng.random() < 0.6:
            i = rng.randrange(16)
            digits[i] = rng.choice([c for c in "0123456789" if c != digits[i]])
        else:
            pairs = [i for i in range(15) if digits[i] != digits[i + 1]]
            if not pairs:
                continue
            i = rng.choice(pairs)
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
        candidate = "".join(digits)
        if candidate != nik and form_accepts_nik(candidate):
            return candidate
    return nik


def photo(rng: random.Random) -> bytes:
    """A small JPEG of random noise: every picture differs from every other."""
    image = Image.frombytes("L", (40, 30), rng.randbytes(1200)).resize((160, 120))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def offset(point: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    lat, lon = point
    return (
        lat + north_m / METRES_PER_DEGREE,
        lon + east_m / (METRES_PER_DEGREE * math.cos(math.radians(lat))),
    )


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (a[0] - b[0]) * METRES_PER_DEGREE
    east = (a[1] - b[1]) * METRES_PER_DEGREE * math.cos(math.radians(a[0]))
    return math.hypot(north, east) / 1000


def house_point(centroid: tuple[float, float], household_id: int, seed: int) -> tuple[float, float]:
    """Where a household lives: a fixed point within `VILLAGE_RADIUS_M` of its village."""
    rng = random.Random(f"house:{seed}:{household_id}")  # noqa: S311 - synthetic data
    radius = VILLAGE_RADIUS_M * math.sqrt(rng.random())
    angle = rng.random() * 2 * math.pi
    return offset(centroid, radius * math.cos(angle), radius * math.sin(angle))


def _needed_minutes(people: int) -> float:
    """V35's default minimum for an interviewed household."""
    return 5 + 2 * people


@dataclass
class _Day:
    """One enumerator's working day, as visits are laid on it."""

    day: date
    clock: datetime
    visits: int = 0
    capacity: int = 9
    cluster_left: int = 0
    anchor: tuple[float, float] | None = None
    anchor_village: str | None = None
    # The truth of each visit placed at the anchor: a "cluster" of fewer than three is no
    # cluster, and loses the class when the day closes.
    clustered: list[set[str]] = field(default_factory=list)

    def close(self) -> None:
        if len(self.clustered) < 3:
            for truth in self.clustered:
                truth.discard("gps_cluster")


class _Planner:
    def __init__(
        self,
        truth: RegistryTruth,
        centroids: Mapping[str, tuple[float, float]],
        version: str,
        rates: FieldRates,
        seed: int,
        first_day: date,
        source_keys: Mapping[int, str],
    ) -> None:
        self.truth = truth
        self.centroids = centroids
        self.version = version
        self.rates = rates
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.first_day = first_day
        self.keys = source_keys
        self.days: dict[int, _Day] = {}
        codes = sorted(centroids)
        self.far: dict[str, list[str]] = {}
        for code in codes:
            self.far[code] = [
                other
                for other in codes
                if other[:6] != code[:6]
                and distance_km(centroids[code], centroids[other]) >= FAR_KM
            ]

    # --- time and place -------------------------------------------------------------------

    def _day(self, enumerator: int) -> _Day:
        today = self.days.get(enumerator)
        if today is None or today.visits >= today.capacity or today.clock.hour >= 16:
            if today is not None:
                today.close()
            start = self.first_day if today is None else today.day + timedelta(days=1)
            rng = self.rng
            today = _Day(
                start,
                datetime(start.year, start.month, start.day, 8, tzinfo=WIB)
                + timedelta(minutes=rng.randint(0, 40)),
                capacity=rng.randint(7, 11),
            )
            if rng.random() < self.rates.gps_cluster:
                today.cluster_left = rng.randint(3, 5)
            self.days[enumerator] = today
        return today

    def _schedule(self, today: _Day, minutes: float) -> tuple[datetime, datetime]:
        started = today.clock
        ended = started + timedelta(minutes=minutes)
        today.clock = ended + timedelta(minutes=self.rng.randint(5, 25))
        today.visits += 1
        return started, ended

    def _place(
        self, today: _Day, village: str | None, household_id: int, truth: set[str]
    ) -> tuple[float, float] | None:
        rng = self.rng
        centroid = self.centroids.get(village or "")
        if centroid is None:
            return None
        point = house_point(centroid, household_id, self.seed)
        if today.cluster_left > 0 and today.anchor_village in (None, village):
            # Visits of one village filled in from one spot (the first house's).
            today.cluster_left -= 1
            if today.anchor is None:
                today.anchor, today.anchor_village = point, village
            truth.add("gps_cluster")
            today.clustered.append(truth)
            return offset(today.anchor, rng.gauss(0, 2), rng.gauss(0, 2))
        if rng.random() < self.rates.wrong_village and self.far.get(village or ""):
            other = rng.choice(self.far[village or ""])
            truth.add("wrong_village")
            point = house_point(self.centroids[other], rng.randrange(1 << 30), self.seed)
        return offset(point, rng.gauss(0, 3), rng.gauss(0, 3))

    # --- one visit ------------------------------------------------------------------------

    def visits(self, target: AssignedTarget, helpers: Sequence[int]) -> Iterator[PlannedVisit]:
        """The visit to one target, and the duplicate sent for it, if any."""
        rng = self.rng
        kk = snapshot_kk(target.snapshot)
        members = list_members(target.members)
        household = self.truth.households.get(kk)
        keys = [self.keys.get(m.person_id, "") for m in members]
        dead_recipient = any(k in self.truth.dead for k in keys)
        well_off = kk in self.truth.well_off_kk
        found = dead_recipient or well_off or rng.random() >= self.rates.not_found
        visit = self._visit(target, kk, members, keys, household, found)
        yield visit
        if found and members and rng.random() < self.rates.duplicate:
            visit.truth.add("duplicate")
            if rng.random() < 0.5 or not helpers:
                again = self._visit(target, kk, members, keys, household, True)
            else:
                other = rng.choice([h for h in helpers if h != target.assignee_id] or helpers)
                again = self._proposal(other, target, kk, members, keys)
            again.truth.add("duplicate")
            yield again

    def _visit(
        self,
        target: AssignedTarget,
        kk: str,
        members: list[ListMember],
        keys: list[str],
        household: Household | None,
        found: bool,
    ) -> PlannedVisit:
        rng = self.rng
        truth: set[str] = set()
        today = self._day(target.assignee_id)
        location = self._place(today, target.village_code, target.household_id, truth)
        answers: dict[str, str] = {
            "jenis_kunjungan": "daftar",
            "sasaran": str(target.target_id),
            "reg_kk": kk,
            "reg_kode_desa": target.village_code or "",
        }
        instance = self._instance_id()
        photos: dict[str, bytes] = {}
        attach = self._attacher(instance, photos)

        roster: list[dict[str, str]] = []
        new: list[dict[str, str]] = []
        if not found:
            answers |= {
                "hasil": rng.choice(("tidak_ditemukan", "pindah")),
                "keterangan/nama_informan": "TETANGGA",
                "keterangan/hubungan_informan": "tetangga",
            }
            people = 0
        else:
            answers |= {"hasil": "ditemukan", "persetujuan": "ya", "kk/kk_sesuai": "ya"}
            typo_at = -1
            if rng.random() < self.rates.mistyped_nik:
                candidates = [
                    i
                    for i, m in enumerate(members)
                    if m.nik and not m.dead and keys[i] not in self.truth.wrong_nik
                    and keys[i] not in self.truth.dead and keys[i] not in self.truth.double_entries
                    and form_accepts_nik(m.nik)
                ]  # fmt: skip
                if candidates:
                    typo_at = rng.choice(candidates)
            for i, member in enumerate(members):
                row = {
                    "art_urut": str(member.position),
                    "art_id": str(member.person_id),
                    "art_nik_reg": member.nik,
                    "art_nama_reg": member.name,
                    "art_jk_reg": member.sex,
                    "art_tgl_lahir_reg": member.birth_date,
                    "art_hubungan_reg": member.relationship,
                    "art_meninggal_reg": "1" if member.dead else "0",
                }
                key = keys[i]
                died = member.dead or key in self.truth.dead
                if key in self.truth.dead and rng.random() < self.rates.hidden_death:
                    died = False
                    truth.add("dead_recipient")
                if key in self.truth.double_entries:
                    row |= {"status_anggota": "tidak_ditemukan"}
                elif died:
                    row |= {
                        "status_anggota": "meninggal",
                        "tanggal_meninggal": (today.day - timedelta(days=200)).isoformat(),
                        "foto_dokumen_kematian": attach(f"akta{i + 1}"),
                    }
                elif not member.nik:
                    row |= {"status_anggota": "ada"}
                elif key in self.truth.wrong_nik or i == typo_at:
                    right = self.truth.wrong_nik.get(key) or typo(member.nik, rng)
                    if key in self.truth.mistyped or i == typo_at:
                        truth.add("mistyped_nik")
                    row |= {
                        "status_anggota": "ada",
                        "nik_sesuai": "tidak",
                        "nik_benar": right,
                        "foto_ktp": attach(f"ktp{i + 1}"),
                    }
                else:
                    row |= {"status_anggota": "ada", "nik_sesuai": "ya"}
                roster.append(row)
            if rng.random() < self.rates.new_baby:
                new.append(self._baby(today.day, target.village_code or "", attach))
            people = sum(r["status_anggota"] == "ada" for r in roster) + len(new)
            answers |= self._condition(household)
            if kk in self.truth.well_off_kk:
                truth.add("well_off_recipient")  # the field sees the signs it has
            answers["jumlah_art"] = str(people)
            answers["jumlah_anggota_baru"] = str(len(new))
        if found:
            if rng.random() < self.rates.too_short:
                minutes = _needed_minutes(people) * rng.uniform(0.3, 0.8)
                truth.add("too_short")
            else:
                minutes = _needed_minutes(people) * rng.uniform(1.3, 2.5) + rng.uniform(0, 8)
        else:
            minutes = rng.uniform(3, 10)
        started, ended = self._schedule(today, minutes)
        for side in ("depan", "samping", "belakang"):
            answers[f"foto_{side}"] = attach(side)
        if location is not None:
            lat, lon = location
            answers["lokasi"] = (
                f"{lat:.7f} {lon:.7f} {rng.uniform(440, 480):.1f} {rng.uniform(3, 15):.1f}"
            )
        answers["start"] = _stamp(started)
        answers["end"] = _stamp(ended)
        answers["today"] = started.date().isoformat()
        xml = self._xml(instance, target.assignee_id, answers, roster, new)
        return PlannedVisit(instance, target.assignee_id, target.target_id, xml, photos, truth)

    def _proposal(
        self,
        enumerator: int,
        target: AssignedTarget,
        kk: str,
        members: list[ListMember],
        keys: list[str],
    ) -> PlannedVisit:
        """Another enumerator proposes the same household as a new one."""
        rng = self.rng
        today = self._day(enumerator)
        instance = self._instance_id()
        photos: dict[str, bytes] = {}
        attach = self._attacher(instance, photos)

        living = [
            m
            for m, key in zip(members, keys, strict=True)
            if not m.dead and key not in self.truth.dead and key not in self.truth.double_entries
        ]
        new = [
            {
                "nik_baru": m.nik,
                "nama_baru": m.name,
                "tanggal_lahir_baru": m.birth_date,
                "jenis_kelamin_baru": m.sex,
                "hubungan_baru": _relationship(m.relationship, i),
                "foto_ktp_baru": attach(f"ktp{i + 1}"),
            }
            for i, m in enumerate(living)
        ]
        answers = {
            "jenis_kunjungan": "usulan_baru",
            "hasil": "usulan_baru",
            "persetujuan": "ya",
            "ruta_baru/alamat_baru": "JL. BARU",
            "ruta_baru/kode_desa_baru": target.village_code or "",
            "kk/kk_baru": kk,
            "kk/foto_kk": attach("kk"),
            "jumlah_anggota_baru": str(len(new)),
            "jumlah_art": str(len(new)),
            **self._condition(self.truth.households.get(kk)),
        }
        minutes = _needed_minutes(len(new)) * rng.uniform(1.3, 2.5)
        started, ended = self._schedule(today, minutes)
        centroid = self.centroids.get(target.village_code or "")
        if centroid is not None:
            lat, lon = offset(
                house_point(centroid, target.household_id, self.seed),
                rng.gauss(0, 3),
                rng.gauss(0, 3),
            )
            answers["lokasi"] = f"{lat:.7f} {lon:.7f} 450.0 {rng.uniform(3, 15):.1f}"
        for side in ("depan", "samping", "belakang"):
            answers[f"foto_{side}"] = attach(side)
        answers["start"] = _stamp(started)
        answers["end"] = _stamp(ended)
        answers["today"] = started.date().isoformat()
        xml = self._xml(instance, enumerator, answers, [], new)
        return PlannedVisit(instance, enumerator, None, xml, photos, set())

    def _attacher(self, instance: str, photos: dict[str, bytes]) -> Callable[[str], str]:
        """A function that takes a new photo for a field into `photos` and gives its file
        name, unique to the instance as Collect's are."""
        tag = instance[5:13]

        def attach(field_name: str) -> str:
            name = f"{tag}-{field_name}.jpg"
            photos[name] = photo(self.rng)
            return name

        return attach

    def _baby(self, day: date, village: str, attach: Callable[[str], str]) -> dict[str, str]:
        """A child born this year, with a NIK whose serial (9xxx) no registry NIK uses."""
        rng = self.rng
        born = day - timedelta(days=rng.randint(30, 300))
        female = rng.random() < 0.5
        area = village[:6] if len(village) >= 6 else "357301"
        nik = (
            f"{area}{born.day + (40 if female else 0):02d}{born.month:02d}"
            f"{born.year % 100:02d}{rng.randint(9000, 9999)}"
        )
        return {
            "nik_baru": nik,
            "nama_baru": rng.choice(("AISYAH", "MUHAMMAD RIZKI", "NUR AINI", "ARKAN")),
            "tanggal_lahir_baru": born.isoformat(),
            "jenis_kelamin_baru": "P" if female else "L",
            "hubungan_baru": "3",
            "foto_ktp_baru": attach("kk-bayi"),
        }

    def _condition(self, household: Household | None) -> dict[str, str]:
        """Housing, asset, work and verdict answers from the household's real condition."""
        if household is None:
            return {"penilaian/kelayakan": "layak"}
        s = household.socio
        answers = {f"perumahan/{q}": s.get(column, "") for q, column in HOUSING.items()}
        if answers["perumahan/penerangan"] != "1":
            answers["perumahan/daya"] = ""
        owned = [code for column, code in ASSETS.items() if s.get(column) == "1"]
        answers["aset/aset_bergerak"] = " ".join(owned) or "tidak_ada"
        answers["aset/lahan_lain"] = "ya" if s.get("aset_lahan") == "1" else "tidak"
        answers["aset/rumah_lain"] = "ya" if s.get("aset_rumah_lain") == "1" else "tidak"
        answers["aset/ternak/sapi"] = s.get("jumlah_sapi") or "0"
        answers["aset/ternak/kerbau"] = s.get("jumlah_kerbau") or "0"
        answers["aset/ternak/kuda"] = "0"
        answers["aset/ternak/babi"] = "0"
        answers["aset/ternak/kambing_domba"] = s.get("jumlah_kambing_domba") or "0"
        works = household.head_job not in ("", "0")
        answers["pekerjaan/krt_bekerja"] = "ya" if works else "tidak"
        answers["pekerjaan/status_pekerjaan_krt"] = household.head_job if works else ""
        answers["pekerjaan/ada_art_asn"] = "ya" if household.civil_servant else "tidak"
        well_off = (
            "mobil" in owned
            or "ac" in owned
            or answers["perumahan/daya"] in ("4", "5")
            or household.civil_servant
        )
        if well_off:
            answers["penilaian/kelayakan"] = (
                "tidak_layak_asn" if household.civil_servant else "tidak_layak_mampu"
            )
            answers["penilaian/alasan_tidak_layak"] = "Tanda mampu terlihat"
        else:
            answers["penilaian/kelayakan"] = "layak"
        return answers

    def _instance_id(self) -> str:
        return f"uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"

    def _xml(
        self,
        instance: str,
        enumerator: int,
        answers: Mapping[str, str],
        roster: Sequence[Mapping[str, str]],
        new: Sequence[Mapping[str, str]],
    ) -> bytes:
        return instance_xml(
            self.version, instance, f"collect:synth{enumerator:05d}", answers, roster, new
        )


def _relationship(text: str, index: int) -> str:
    if index == 0:
        return "1"
    return relationship_code(text) or "8"


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


# The questionnaire's primary instance, in order (groups as "group/child").
_TOP = (
    "start", "end", "today", "deviceid", "kode_buku", "jenis_kunjungan", "sasaran", "reg_kk",
    "reg_kode_desa", "hasil", "persetujuan",
)  # fmt: skip
_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("keterangan", ("nama_informan", "hubungan_informan")),
)
_AFTER_PHOTOS = (("ruta_baru", ("alamat_baru", "kode_desa_baru")),)
_TAIL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kk", ("kk_sesuai", "kk_baru", "foto_kk")),
    ("", ("jumlah_art",)),
    ("perumahan", tuple(HOUSING)),
    ("aset", ("aset_bergerak", "lahan_lain", "rumah_lain")),
    ("pekerjaan", ("krt_bekerja", "status_pekerjaan_krt", "ada_art_asn")),
    ("penilaian", ("kelayakan", "alasan_tidak_layak")),
)
_ROSTER = (
    "art_urut", "art_id", "art_nik_reg", "art_nama_reg", "art_jk_reg", "art_tgl_lahir_reg",
    "art_hubungan_reg", "art_meninggal_reg", "status_anggota", "tanggal_meninggal",
    "foto_dokumen_kematian", "nik_sesuai", "nik_benar", "foto_ktp",
)  # fmt: skip
_NEW = (
    "nik_baru", "nama_baru", "tanggal_lahir_baru", "jenis_kelamin_baru", "hubungan_baru",
    "foto_ktp_baru",
)  # fmt: skip
_LIVESTOCK = ("sapi", "kerbau", "kuda", "babi", "kambing_domba")


def _leaf(name: str, value: str | None) -> str:
    return f"<{name}>{escape(value)}</{name}>" if value else f"<{name}/>"


def _group(name: str, children: Sequence[str], answers: Mapping[str, str]) -> str:
    if not name:
        return "".join(_leaf(c, answers.get(c)) for c in children)
    inner = "".join(_leaf(c, answers.get(f"{name}/{c}")) for c in children)
    return f"<{name}>{inner}</{name}>"


def instance_xml(
    version: str,
    instance_id: str,
    device_id: str,
    answers: Mapping[str, str],
    roster: Sequence[Mapping[str, str]],
    new: Sequence[Mapping[str, str]],
) -> bytes:
    """A `verval_ruta` instance as Collect sends it (answers by path below the root)."""
    values = {"deviceid": device_id, "kode_buku": "regsosek2022", **answers}
    parts = [
        "<?xml version='1.0' encoding='UTF-8' ?>",
        f'<verval_ruta xmlns:jr="http://openrosa.org/javarosa" '
        f'xmlns:orx="http://openrosa.org/xforms" id="{FORM_ID}" version="{escape(version)}">',
    ]
    parts.extend(_leaf(name, values.get(name)) for name in _TOP)
    parts.extend(_group(name, children, values) for name, children in _GROUPS)
    parts.extend(_leaf(f"foto_{side}", values.get(f"foto_{side}")) for side in _SIDES)
    parts.append(_leaf("lokasi", values.get("lokasi")))
    parts.extend(_group(name, children, values) for name, children in _AFTER_PHOTOS)
    for row in roster:
        parts.append("<anggota>" + "".join(_leaf(c, row.get(c)) for c in _ROSTER) + "</anggota>")
    parts.append(_leaf("jumlah_anggota_baru", values.get("jumlah_anggota_baru")))
    for row in new:
        parts.append(
            "<anggota_baru>" + "".join(_leaf(c, row.get(c)) for c in _NEW) + "</anggota_baru>"
        )
    for name, children in _TAIL:
        if name == "aset":
            inner = "".join(_leaf(c, values.get(f"aset/{c}")) for c in children)
            stock = "".join(_leaf(c, values.get(f"aset/ternak/{c}")) for c in _LIVESTOCK)
            parts.append(f"<aset>{inner}<ternak>{stock}</ternak></aset>")
        else:
            parts.append(_group(name, children, values))
    parts.append(
        f"<meta><instanceID>{escape(instance_id)}</instanceID>"
        f"<instanceName>{escape(values.get('sasaran', '') or 'usulan baru')}</instanceName></meta>"
    )
    parts.append("</verval_ruta>")
    return "".join(parts).encode("utf-8")


_SIDES = ("depan", "samping", "belakang")


def plan_fieldwork(
    targets: Iterable[AssignedTarget],
    truth: RegistryTruth,
    centroids: Mapping[str, tuple[float, float]],
    version: str,
    source_keys: Mapping[int, str],
    first_day: date,
    rates: FieldRates | None = None,
    seed: int = 7,
) -> Iterator[PlannedVisit]:
    """Every assigned target's visit (and duplicates), enumerator by enumerator, in the order
    they would be sent. Deterministic for the same inputs and seed."""
    targets = list(targets)
    enumerators = sorted({t.assignee_id for t in targets})
    planner = _Planner(
        truth, centroids, version, rates or FieldRates(), seed, first_day, source_keys
    )
    for target in targets:
        yield from planner.visits(target, enumerators)
    for day in planner.days.values():
        day.close()


def keep_photos(store: BlobStore, visits: Sequence[PlannedVisit], threads: int = 8) -> None:
    """Make the visits' photos durable in the store beforehand, several at a time (each
    is fsynced), so that receiving them finds them already kept. Phones upload in
    parallel; one loop would wait for every fsync in turn."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(store.put_bytes, [d for v in visits for d in v.photos.values()]))


def do_store_visits(
    session: Session, store: BlobStore, form: SubmissionForm, visits: Iterable[PlannedVisit]
) -> list[Receipt]:
    """Receive each planned visit as the server receives a phone's POST; the caller commits."""
    receipts = []
    for visit in visits:
        parts = {}
        files = []
        for name, data in visit.photos.items():
            incoming = store.incoming()
            incoming.write(data)
            files.append(incoming)
            parts[name] = UploadedPart(name, incoming, "image/jpeg")
        try:
            receipts.append(
                do_receive_submission(
                    session,
                    store,
                    form,
                    visit.enumerator_id,
                    Incoming(
                        xml=visit.xml,
                        envelope=parse_envelope(visit.xml),
                        parts=parts,
                        incomplete=False,
                        device_id=f"collect:synth{visit.enumerator_id:05d}",
                        user_agent=USER_AGENT,
                    ),
                )
            )
        finally:
            for incoming in files:
                incoming.close()
    return receipts


def first_day_for(visits_per_enumerator: int, today: date) -> date:
    """The first fieldwork day so that about nine visits a day end before `today`."""
    return today - timedelta(days=max(2, math.ceil(visits_per_enumerator / 8) + 1))
