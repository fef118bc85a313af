"""Reading a registry extract into batches ready to write: map, check, reject, prepare.

`read(plan)` streams the extract through its profile, checks NIK, KK, dates and regions,
writes rejected rows to their CSV, and yields batches of statement parameters (see
bulk.py), then the totals. It touches no database and imports no SQLAlchemy: for a large
file it runs in a process of its own (import_reader.py) while the importer writes.
"""

from __future__ import annotations

import contextlib
import csv
import pickle
import re
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from server.registry import bulk
from server.registry.identity import check_kk, check_nik
from server.registry.mapping import (
    Profile,
    Record,
    RowReader,
    digits_only,
    loose_key,
    parse_date,
    parse_int,
    parse_padan,
    parse_sex,
)
from server.registry.names import blocking_key
from server.registry.readers import ExtractError, open_extract

# Person status values that record a death (DTSEN status_dtsen; AKTIF otherwise).
DEAD_STATUSES = frozenset({"MENINGGAL", "MENINGGAL DUNIA", "MATI", "WAFAT"})
BATCH = 2000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


@dataclass
class RegionTables:
    """Today's region codes (and village names) as plain text, one entry a line: cheap to
    hand to the reading process, which builds its look-ups from them."""

    villages: str
    areas: str
    names: str = ""  # "code\tkabupaten\tkecamatan\tvillage" lines


class RegionResolver:
    """Village codes from codes, or from kabupaten (name or code) + kecamatan and village
    names.

    Legacy files coded by BPS carry BPS kecamatan and village codes, which are not
    Kemendagri's; their 4-digit kabupaten code is the same in both systems, so such files
    are read by the kabupaten code and the kecamatan and village names."""

    _PREFIX = re.compile(r"^(kabupaten|kab|kota)\s*")
    _KECAMATAN = re.compile(r"^(kecamatan|kec)\b\.?\s*")
    _VILLAGE = re.compile(r"^(desa|kelurahan|kel|ds)\b\.?\s*")

    def __init__(self, tables: RegionTables) -> None:
        self.villages = frozenset(tables.villages.split())
        self.areas = frozenset(tables.areas.split())
        self._kabupaten: dict[str, str] = {}  # normalised kabupaten/kota name -> code
        self._by_name: dict[str, str] = {}  # "3573|kecamatan|village" -> village code
        for line in tables.names.splitlines():
            code, kab, kec, vil = line.split("\t")
            self._kabupaten[self._kab(kab)] = code[:4]
            self._by_name[self._key(code[:4], kec, vil)] = code
        self._seen: dict[tuple[str, str, str], str | None] = {}

    @classmethod
    def _kab(cls, name: str) -> str:
        lowered = name.casefold().replace(".", " ").strip()
        kind = "kota" if lowered.startswith("kota") else "kab"
        return kind + loose_key(cls._PREFIX.sub("", lowered))

    @classmethod
    def _key(cls, kabupaten_code: str, kecamatan: str, village: str) -> str:
        """A key like "3573|sukun|kebonsari", also from "Kec. Sukun" and "Kel. Kebon Sari"."""
        kec = loose_key(cls._KECAMATAN.sub("", kecamatan.casefold().strip()))
        vil = loose_key(cls._VILLAGE.sub("", village.casefold().strip()))
        return f"{kabupaten_code}|{kec}|{vil}"

    def by_names(self, kabupaten: str, kecamatan: str, village: str) -> str | None:
        """`kabupaten` is a name ("KOTA MALANG") or a code ("3573", "35.73")."""
        key = (kabupaten, kecamatan, village)
        if key not in self._seen:
            if len(self._seen) > 100_000:
                self._seen.clear()
            code = digits_only(kabupaten)
            if not (len(code) == 4 and code.isdigit()):
                code = self._kabupaten.get(self._kab(kabupaten), "")
            self._seen[key] = self._by_name.get(self._key(code, kecamatan, village))
        return self._seen[key]


@dataclass
class ReadPlan:
    """Everything the reading side needs (plain data: it may run in another process)."""

    path: Path
    profile: Profile
    regions: RegionTables
    import_id: int
    today: date
    rejected_path: Path
    dialect: str


@dataclass
class Prepared:
    """A batch as statement parameters, ready to write."""

    households: list[list[Any]]
    stub: bool
    person_households: list[str]
    persons: list[list[Any]]
    position: int


@dataclass
class Totals:
    rows: int = 0
    rejected: int = 0
    issues: Counter[str] = field(default_factory=Counter)


class _Batch:
    def __init__(self) -> None:
        self.households: dict[str, dict[str, Any]] = {}
        self.persons: dict[str, tuple[str, dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self.persons) + len(self.households)

    def prepare(self, plan: ReadPlan, position: int) -> Prepared:
        source = plan.profile.source
        stub = plan.profile.region == "household"
        if stub:
            households = [
                {"source": source, "source_key": key, "last_import_id": plan.import_id}
                for key in self.households
            ]
        else:
            households = list(self.households.values())
            for row in households:
                row["source"] = source
        # One row per person key: an upsert cannot touch the same row twice in a batch.
        persons = list(self.persons.values())
        return Prepared(
            households=bulk.household_params(households, plan.dialect, stub),
            stub=stub,
            person_households=[key for key, _ in persons],
            persons=bulk.person_params((row for _, row in persons), plan.dialect),
            position=position,
        )


class _RowBuilder:
    """Turns records into household and person rows, with the import's checks and caches."""

    def __init__(
        self,
        profile: Profile,
        resolver: RegionResolver,
        import_id: int,
        today: date,
        totals: Totals,
    ) -> None:
        self.profile = profile
        self.resolver = resolver
        self.import_id = import_id
        self.today = today
        self.totals = totals
        self._kk_cache: dict[str, tuple[str, ...]] = {}

    def add(self, batch: _Batch, record: Record) -> str | None:
        """Add one row to the batch; returns a rejection reason, or None."""
        profile = self.profile
        fields = record.fields
        household_key = (
            digits_only(fields.get("household_key", ""))
            if profile.source != "p3ke"
            else fields.get("household_key", "").strip()
        )
        if not household_key:
            return "no household key (KK / ID Keluarga)"
        if len(household_key) > 64:
            return "household key longer than 64 characters"
        issues: list[str] = []
        village = self._village(record, issues)
        kk = digits_only(fields.get("kk", "")) or None
        if profile.level == "household":
            batch.households[household_key] = self._household_row(
                record, household_key, kk, village
            )
            self.totals.issues.update(issues)
            return None
        name = fields.get("name", "").strip()
        if not name:
            return "no name"
        source_key = fields.get("source_id", "").strip() or f"{household_key}:{record.line}"
        if len(source_key) > 64:
            return "person key longer than 64 characters"
        birth_date = parse_date(fields.get("birth_date", ""), profile.date_formats)
        if fields.get("birth_date") and birth_date is None:
            issues.append("birth_date_unreadable")
        sex = parse_sex(fields.get("sex", ""))
        nik = digits_only(fields.get("nik", "")) or None
        nik_valid = False
        if nik is not None:
            check = check_nik(
                nik,
                self.resolver.areas,
                today=self.today,
                reported_birth_date=birth_date,
                reported_sex=sex,
            )
            nik_valid = check.valid
            issues.extend(f"nik_{code}" for code in sorted(check.codes()))
        else:
            issues.append("nik_missing")
        if kk is not None:
            issues.extend(self._kk_issues(kk, nik))
        death_note = fields.get("death_note", "").strip() or None
        status = " ".join(fields.get("status", "").upper().split())
        if death_note is None and status in DEAD_STATUSES:
            death_note = status  # DTSEN's status_dtsen: the only place it records a death
        person = {
            "source": profile.source,
            "source_key": source_key,
            "household_id": None,
            "nik": nik[:32] if nik else None,
            "nik_valid": nik_valid,
            "kk": kk[:32] if kk else None,
            "name": name[:200],
            "name_key": blocking_key(name)[:200],
            "birth_date": birth_date,
            "birth_place": fields.get("birth_place", "")[:100] or None,
            "sex": sex,
            "mother_name": fields.get("mother_name", "")[:200] or None,
            "relationship": fields.get("relationship", "")[:60] or None,
            "village_code": village,
            "dead": death_note is not None,
            "death_note": death_note[:200] if death_note else None,
            "padan": parse_padan(fields.get("padan", "")),
            "desil": parse_int(fields.get("desil_person", "")),
            "programmes": record.programmes,
            "issues": issues,
            "raw": record.raw,
            "last_import_id": self.import_id,
        }
        batch.persons[source_key] = (household_key, person)
        if household_key not in batch.households:
            batch.households[household_key] = self._household_row(
                record, household_key, kk, village
            )
        self.totals.issues.update(issues)
        return None

    def _village(self, record: Record, issues: list[str]) -> str | None:
        fields = record.fields
        region = self.profile.region
        if region == "household":
            return None
        if region == "codes":
            code = digits_only(fields.get("village_code", ""))
        else:
            code = (
                self.resolver.by_names(
                    fields.get("kabupaten_name") or fields.get("kabupaten_code", ""),
                    fields.get("kecamatan_name", ""),
                    fields.get("village_name", ""),
                )
                or ""
            )
        if not code:
            issues.append("village_unresolved")
            return None
        if code not in self.resolver.villages:
            issues.append("village_unknown")
        return code[:10]

    def _kk_issues(self, kk: str, nik: str | None) -> list[str]:
        """The KK's issue codes; a family's members share one KK, so results are kept."""
        if kk == nik:
            check = check_kk(kk, self.resolver.areas, today=self.today, member_niks={kk})
            return [f"kk_{code}" for code in sorted(check.codes())]
        cached = self._kk_cache.get(kk)
        if cached is None:
            if len(self._kk_cache) > 50_000:
                self._kk_cache.clear()
            check = check_kk(kk, self.resolver.areas, today=self.today)
            cached = self._kk_cache[kk] = tuple(f"kk_{code}" for code in sorted(check.codes()))
        return list(cached)

    def _household_row(
        self, record: Record, key: str, kk: str | None, village: str | None
    ) -> dict[str, Any]:
        fields = record.fields
        return {
            "source": "",
            "source_key": key,
            "kk": kk[:32] if kk else None,
            "village_code": village,
            "address": fields.get("address") or None,
            "dusun": fields.get("dusun", "")[:100] or None,
            "rt": fields.get("rt", "")[:8] or None,
            "rw": fields.get("rw", "")[:8] or None,
            "desil": parse_int(fields.get("desil_household", "")),
            "programmes": record.programmes if "head_nik" in fields else {},
            "attributes": record.attributes,
            "raw": record.raw if "head_nik" in fields else None,
            "last_import_id": self.import_id,
        }


def read(plan: ReadPlan) -> Iterator[Prepared | Totals]:
    """Read, map and check the extract: prepared batches, then the totals.

    Rejected rows go to the plan's rejected-rows CSV."""
    extract = open_extract(plan.path)
    reader = RowReader(plan.profile, extract.header)
    totals = Totals()
    builder = _RowBuilder(
        plan.profile, RegionResolver(plan.regions), plan.import_id, plan.today, totals
    )
    try:
        with plan.rejected_path.open("w", newline="", encoding="utf-8") as rejected_file:
            rejects = csv.writer(rejected_file)
            rejects.writerow(["line", "reason", *extract.header])
            batch = _Batch()
            for line, cells in extract.rows:
                totals.rows += 1
                reason = builder.add(batch, reader.read(line, cells))
                if reason:
                    totals.rejected += 1
                    rejects.writerow([line, reason, *(neutralise(c) for c in cells)])
                if len(batch) >= BATCH:
                    yield batch.prepare(plan, extract.position.bytes)
                    batch = _Batch()
            yield batch.prepare(plan, extract.size)
    finally:
        extract.close()
    yield totals


def read_into(plan: ReadPlan, out: BinaryIO) -> None:
    """The reading process's work: pickles what _read yields to `out`, or the error that
    stopped it (import_reader.py runs this)."""
    try:
        for item in read(plan):
            pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
        return
    except ExtractError as exc:
        error: BaseException = ExtractError(str(exc))
    except BrokenPipeError:
        return  # the writing side stopped (it failed, or it was interrupted)
    except BaseException:
        error = RuntimeError("reading the extract failed:\n" + traceback.format_exc())
    with contextlib.suppress(BrokenPipeError):
        pickle.dump(error, out)
        out.flush()
