"""Importing a registry extract: stream, validate, upsert in batches, report.

One import is one unit of work: a failure anywhere rolls everything back, so the previous
data stays as it was. Rows are read and written in batches, so memory stays flat whatever
the file size. Rows that cannot be stored (no key, no name) go to a CSV of rejected rows
with their line number and reason; rows that can be stored but look wrong (an impossible
NIK, a village not in today's table) are stored with their issues for the rule engine.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
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
from server.registry.names import name_key
from server.registry.readers import open_extract
from server.registry.regions import area_codes

BATCH = 2000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExtractImportError(ValueError):
    """The extract cannot be imported; nothing was changed."""


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _region_key(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.casefold())


class RegionResolver:
    """Village codes from codes or from (kabupaten, kecamatan, village) names."""

    _PREFIX = re.compile(r"^(kabupaten|kab|kota)\s*")

    def __init__(self, session: Session) -> None:
        self.villages = queries.village_codes(session)
        self.areas = area_codes(session)
        self._by_name: dict[tuple[str, str, str], str] | None = None
        self._session = session

    @classmethod
    def _kab(cls, name: str) -> str:
        lowered = name.casefold().replace(".", " ").strip()
        kind = "kota" if lowered.startswith("kota") else "kab"
        return kind + _region_key(cls._PREFIX.sub("", lowered))

    def by_names(self, kabupaten: str, kecamatan: str, village: str) -> str | None:
        if self._by_name is None:
            self._by_name = {
                (self._kab(kab), _region_key(kec), _region_key(vil)): code
                for code, kab, kec, vil in queries.village_names(self._session)
            }
        return self._by_name.get(
            (self._kab(kabupaten), _region_key(kecamatan), _region_key(village))
        )


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


class _Batch:
    def __init__(self) -> None:
        self.households: dict[str, dict[str, Any]] = {}
        self.persons: list[tuple[str, dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self.persons) + len(self.households)


def do_import(
    session: Session,
    path: Path,
    source: str,
    profile: Profile | None = None,
    rejected_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    today: date | None = None,
) -> ImportSummary:
    """Import an extract into the registry in the caller's unit of work."""
    started = time.monotonic()
    today = today or date.today()
    extract = open_extract(path)
    try:
        profile = profile or detect(extract.header, source, shipped_profiles())
    except ProfileError as exc:
        raise ExtractImportError(str(exc)) from None
    if profile.source != source:
        raise ExtractImportError(f"profile {profile.name} is for {profile.source}, not {source}")
    if missing := profile.missing(extract.header):
        raise ExtractImportError(f"missing required column(s): {', '.join(missing)}")
    reader = RowReader(profile, extract.header)
    resolver = RegionResolver(session)
    run_row = RegistryImport(
        source=source,
        profile=profile.name,
        file_name=path.name[:255],
        file_sha256=_sha256(path),
        status="running",
    )
    session.add(run_row)
    session.flush()
    summary = ImportSummary(import_id=run_row.id, profile=profile.name)
    rejected_path = rejected_path or path.with_name(path.stem + ".rejected.csv")
    with rejected_path.open("w", newline="", encoding="utf-8") as rejected_file:
        rejects = csv.writer(rejected_file)
        rejects.writerow(["line", "reason", *extract.header])
        batch = _Batch()
        for line, cells in extract.rows:
            summary.rows += 1
            record = reader.read(line, cells)
            reason = _add(batch, record, profile, resolver, run_row.id, today, summary)
            if reason:
                summary.rejected += 1
                rejects.writerow([line, reason, *(neutralise(c) for c in cells)])
            if len(batch) >= BATCH:
                _flush(session, batch, profile, summary)
                batch = _Batch()
                if progress:
                    progress(extract.position.bytes, extract.size)
        _flush(session, batch, profile, summary)
    if progress:
        progress(extract.size, extract.size)
    summary.households = queries.count_imported_households(session, run_row.id)
    summary.persons = queries.count_imported_persons(session, run_row.id)
    summary.seconds = time.monotonic() - started
    run_row.status = "done"
    run_row.finished_at = utcnow()
    run_row.summary = summary.as_dict() | {"rejected_file": rejected_path.name}
    return summary


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _village(
    record: Record, profile: Profile, resolver: RegionResolver, issues: list[str]
) -> str | None:
    fields = record.fields
    if profile.region == "household":
        return None
    if profile.region == "codes":
        code = digits_only(fields.get("village_code", ""))
    else:
        code = (
            resolver.by_names(
                fields.get("kabupaten_name", ""),
                fields.get("kecamatan_name", ""),
                fields.get("village_name", ""),
            )
            or ""
        )
    if not code:
        issues.append("village_unresolved")
        return None
    if code not in resolver.villages:
        issues.append("village_unknown")
    return code[:10]


def _add(
    batch: _Batch,
    record: Record,
    profile: Profile,
    resolver: RegionResolver,
    import_id: int,
    today: date,
    summary: ImportSummary,
) -> str | None:
    """Add one row to the batch; returns a rejection reason, or None."""
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
    village = _village(record, profile, resolver, issues)
    kk = digits_only(fields.get("kk", "")) or None
    if profile.level == "household":
        household = _household_row(record, household_key, kk, village, import_id)
        batch.households[household_key] = household
        summary.issues.update(issues)
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
            nik, resolver.areas, today=today, reported_birth_date=birth_date, reported_sex=sex
        )  # type: ignore[arg-type]
        nik_valid = check.valid
        issues.extend(f"nik_{code}" for code in sorted(check.codes()))
    else:
        issues.append("nik_missing")
    if kk is not None:
        issues.extend(
            f"kk_{code}"
            for code in sorted(
                check_kk(
                    kk, resolver.areas, today=today, member_niks={nik} if nik else set()
                ).codes()
            )
        )
    death_note = fields.get("death_note", "").strip() or None
    person = {
        "source": profile.source,
        "source_key": source_key,
        "nik": nik[:32] if nik else None,
        "nik_valid": nik_valid,
        "kk": kk[:32] if kk else None,
        "name": name[:200],
        "name_key": name_key(name)[:200],
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
        "last_import_id": import_id,
    }
    batch.persons.append((household_key, person))
    if household_key not in batch.households:
        batch.households[household_key] = _household_row(
            record, household_key, kk, village, import_id
        )
    summary.issues.update(issues)
    return None


def _household_row(
    record: Record, key: str, kk: str | None, village: str | None, import_id: int
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
        "last_import_id": import_id,
    }


def _flush(session: Session, batch: _Batch, profile: Profile, summary: ImportSummary) -> None:
    for row in batch.households.values():
        row["source"] = profile.source
    stub = profile.region == "household"
    rows = (
        [
            {"source": profile.source, "source_key": k, "last_import_id": r["last_import_id"]}
            for k, r in batch.households.items()
        ]
        if stub
        else list(batch.households.values())
    )
    ids = queries.upsert_households(session, rows, stub=stub)
    persons = []
    for key, person in batch.persons:
        person["household_id"] = ids[key]
        persons.append(person)
    queries.upsert_persons(session, _last_per_key(persons))


def _last_per_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per person key in a batch (an upsert cannot touch the same row twice)."""
    return list({row["source_key"]: row for row in rows}.values())
