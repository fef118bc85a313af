"""Importing a registry extract: stream, validate, upsert in batches, report.

One import is one unit of work: a failure anywhere rolls everything back, so the previous
data stays as it was. Rows are read and written in batches, so memory stays flat whatever
the file size. Rows that cannot be stored (no key, no name) go to a CSV of rejected rows
with their line number and reason; rows that can be stored but look wrong (an impossible
NIK, a village not in today's table) are stored with their issues for the rule engine.

A large extract is read, mapped and checked in a second process while this one writes
the previous batch: the two halves cost about the same, so a million rows take half the
time (docs/decisions/0007-registry-import-pipeline.md). Small files are read in-process.
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from server.models import utcnow
from server.registry import queries
from server.registry.identity import check_kk, check_nik
from server.registry.mapping import (
    Profile,
    ProfileError,
    Record,
    RowReader,
    detect,
    digits_only,
    parse_date,
    parse_int,
    parse_padan,
    parse_sex,
    shipped_profiles,
)
from server.registry.models import RegistryImport
from server.registry.names import blocking_key
from server.registry.readers import ExtractError, open_extract
from server.registry.regions import area_codes

BATCH = 2000
# Below this size a second process costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExtractImportError(ValueError):
    """The extract cannot be imported; nothing was changed."""


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _region_key(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.casefold())


class RegionResolver:
    """Village codes from codes or from (kabupaten, kecamatan, village) names.

    Holds plain data only (it travels to the reading process)."""

    _PREFIX = re.compile(r"^(kabupaten|kab|kota)\s*")

    def __init__(
        self,
        villages: frozenset[str],
        areas: frozenset[str],
        names: list[tuple[str, str, str, str]] | None = None,
    ) -> None:
        self.villages = villages
        self.areas = areas
        self._by_name = {
            (self._kab(kab), _region_key(kec), _region_key(vil)): code
            for code, kab, kec, vil in names or ()
        }
        self._seen: dict[tuple[str, str, str], str | None] = {}

    @classmethod
    def from_session(cls, session: Session, names: bool) -> RegionResolver:
        """Today's codes, and the village names when rows name their region."""
        return cls(
            queries.village_codes(session),
            area_codes(session),
            queries.village_names(session) if names else None,
        )

    @classmethod
    def _kab(cls, name: str) -> str:
        lowered = name.casefold().replace(".", " ").strip()
        kind = "kota" if lowered.startswith("kota") else "kab"
        return kind + _region_key(cls._PREFIX.sub("", lowered))

    def by_names(self, kabupaten: str, kecamatan: str, village: str) -> str | None:
        key = (kabupaten, kecamatan, village)
        if key not in self._seen:
            if len(self._seen) > 100_000:
                self._seen.clear()
            self._seen[key] = self._by_name.get(
                (self._kab(kabupaten), _region_key(kecamatan), _region_key(village))
            )
        return self._seen[key]


@dataclass
class ImportSummary:
    """What an import did, for the terminal and the import row."""

    import_id: int
    profile: str
    rows: int = 0
    households: int = 0
    persons: int = 0
    rejected: int = 0
    issues: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "households": self.households,
            "persons": self.persons,
            "rejected": self.rejected,
            "issues": dict(sorted(self.issues.items())),
            "seconds": round(self.seconds, 1),
        }


@dataclass
class _Plan:
    """Everything the reading side needs (plain data: it may run in another process)."""

    path: Path
    profile: Profile
    resolver: RegionResolver
    import_id: int
    today: date
    rejected_path: Path
    dialect: str


@dataclass
class _Prepared:
    """A batch as statement parameters, ready to write."""

    households: list[list[Any]]
    stub: bool
    person_households: list[str]
    persons: list[list[Any]]
    position: int


@dataclass
class _Totals:
    rows: int = 0
    rejected: int = 0
    issues: Counter[str] = field(default_factory=Counter)


class _Batch:
    def __init__(self) -> None:
        self.households: dict[str, dict[str, Any]] = {}
        self.persons: dict[str, tuple[str, dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self.persons) + len(self.households)

    def prepare(self, plan: _Plan, position: int) -> _Prepared:
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
        return _Prepared(
            households=queries.household_params(households, plan.dialect, stub),
            stub=stub,
            person_households=[key for key, _ in persons],
            persons=queries.person_params((row for _, row in persons), plan.dialect),
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
        totals: _Totals,
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
                    fields.get("kabupaten_name", ""),
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


def _read(plan: _Plan) -> Iterator[_Prepared | _Totals]:
    """Read, map and check the extract: prepared batches, then the totals.

    Rejected rows go to the plan's rejected-rows CSV."""
    extract = open_extract(plan.path)
    reader = RowReader(plan.profile, extract.header)
    totals = _Totals()
    builder = _RowBuilder(plan.profile, plan.resolver, plan.import_id, plan.today, totals)
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


def _read_in_child(plan: _Plan, out: Connection) -> None:
    """The reading process: sends what _read yields, or the error that stopped it."""
    try:
        for item in _read(plan):
            out.send(item)
    except ExtractError as exc:
        out.send(ExtractError(str(exc)))
    except BaseException:
        out.send(RuntimeError("reading the extract failed:\n" + traceback.format_exc()))
    finally:
        out.close()


@contextmanager
def _reading(plan: _Plan, parallel: bool) -> Iterator[Iterator[_Prepared | _Totals]]:
    """What _read yields, read here or in a second process (see the module docstring)."""
    if not parallel:
        yield _read(plan)
        return
    context = multiprocessing.get_context("forkserver")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_read_in_child, args=(plan, send), name="verivali-import-reader", daemon=True
    )
    process.start()
    send.close()

    def received() -> Iterator[_Prepared | _Totals]:
        while True:
            try:
                item = receive.recv()
            except EOFError:
                raise RuntimeError("the process reading the extract stopped unexpectedly") from None
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, _Totals):
                return

    try:
        yield received()
    finally:
        receive.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()


def do_import(
    session: Session,
    path: Path,
    source: str,
    profile: Profile | None = None,
    rejected_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    today: date | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import an extract into the registry in the caller's unit of work.

    `parallel` reads in a second process; by default, for files of PARALLEL_MIN_BYTES up."""
    started = time.monotonic()
    extract = open_extract(path)
    try:
        header, size = extract.header, extract.size
    finally:
        extract.close()
    try:
        profile = profile or detect(header, source, shipped_profiles())
    except ProfileError as exc:
        raise ExtractImportError(str(exc)) from None
    if profile.source != source:
        raise ExtractImportError(f"profile {profile.name} is for {profile.source}, not {source}")
    if missing := profile.missing(header):
        raise ExtractImportError(f"missing required column(s): {', '.join(missing)}")
    run_row = RegistryImport(
        source=source,
        profile=profile.name,
        file_name=path.name[:255],
        file_sha256=_sha256(path),
        status="running",
    )
    session.add(run_row)
    session.flush()
    plan = _Plan(
        path=path,
        profile=profile,
        resolver=RegionResolver.from_session(session, names=profile.region == "names"),
        import_id=run_row.id,
        today=today or date.today(),
        rejected_path=rejected_path or path.with_name(path.stem + ".rejected.csv"),
        dialect=session.get_bind().dialect.name,
    )
    summary = ImportSummary(import_id=run_row.id, profile=profile.name)
    if parallel is None:
        parallel = size >= PARALLEL_MIN_BYTES
    with queries.bulk_writes(session), _reading(plan, parallel) as items:
        for item in items:
            if isinstance(item, _Totals):
                summary.rows, summary.rejected = item.rows, item.rejected
                summary.issues = item.issues
                continue
            _write(session, item)
            if progress:
                progress(item.position, size)
    summary.households = queries.count_imported_households(session, run_row.id)
    summary.persons = queries.count_imported_persons(session, run_row.id)
    summary.seconds = time.monotonic() - started
    run_row.status = "done"
    run_row.finished_at = utcnow()
    run_row.summary = summary.as_dict() | {"rejected_file": plan.rejected_path.name}
    return summary


def _write(session: Session, batch: _Prepared) -> None:
    ids = queries.write_households(session, batch.households, stub=batch.stub)
    slot = queries.PERSON_HOUSEHOLD_ID
    for key, params in zip(batch.person_households, batch.persons, strict=True):
        params[slot] = ids[key]
    queries.write_persons(session, batch.persons)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
