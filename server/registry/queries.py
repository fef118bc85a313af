"""Queries over the registry tables: batch upserts for imports, look-ups for regions and
their village centroids.

Upserts are keyed by (source, the extract's own key), so importing the same extract again
updates rows in place; statements are built once per dialect.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from server.registry import bulk
from server.registry.bulk import BulkUpsert
from server.registry.models import Household, Person, Region

BULK_CACHE_KIB = 64 * 1024
CENTROID_BATCH = 1000


@contextmanager
def bulk_writes(session: Session) -> Iterator[None]:
    """A bigger SQLite page cache while an import runs, so index pages stay in memory
    (twice as fast for a million rows); the connection gets its usual cache back after."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    connection = session.connection()
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


def _write_bulk(
    session: Session, upsert: BulkUpsert, params: Sequence[Sequence[Any]], returning: bool = False
) -> list[tuple[int, str]]:
    """Write the rows; with `returning`, (id, source_key) of each (PostgreSQL only)."""
    if not params:
        return []
    cursor = session.connection().connection.cursor()
    try:
        if session.get_bind().dialect.name == "sqlite":
            cursor.executemany(upsert.values_sql, params)
            return []
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {upsert.staging} "
            f"(LIKE {upsert.table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {upsert.staging}")
        with cursor.copy(upsert.copy_sql) as copy:
            for row in params:
                copy.write_row(row)
        if returning:
            cursor.execute(upsert.select_sql + " RETURNING id, source_key")
            return list(cursor.fetchall())
        cursor.execute(upsert.select_sql)
        return []
    finally:
        cursor.close()


def write_households(
    session: Session, params: Sequence[Sequence[Any]], stub: bool = False
) -> dict[str, int]:
    """Insert or update households; returns source_key -> id.

    A stub (only the key, from a file of individuals) never overwrites what a family file
    said about the household."""
    if not params:
        return {}
    upsert = bulk.HOUSEHOLD_STUBS if stub else bulk.HOUSEHOLDS
    if session.get_bind().dialect.name != "sqlite":
        return {key: id_ for id_, key in _write_bulk(session, upsert, params, returning=True)}
    _write_bulk(session, upsert, params)
    source = params[0][0]
    keys = [row[1] for row in params]
    found = session.execute(
        select(Household.id, Household.source_key).where(
            Household.source == source, Household.source_key.in_(keys)
        )
    )
    return {key: id_ for id_, key in found}


def write_persons(session: Session, params: Sequence[Sequence[Any]]) -> None:
    """Insert or update persons."""
    _write_bulk(session, bulk.PERSONS, params)


@dataclass(frozen=True)
class BlockingKeys:
    """What a look-up in the registry may share with a person (see matching.py)."""

    nik: str | None = None
    nik_neighbours: Sequence[str] = ()
    kk: str | None = None
    village: str | None = None
    birth_date: date | None = None
    name_keys: Sequence[str] = ()
    name_prefixes: Sequence[str] = ()

    def empty(self) -> bool:
        return not (
            self.nik
            or self.kk
            or (self.village and (self.birth_date or self.name_keys))
            or (self.birth_date and self.name_prefixes)
        )


class CandidateRow(NamedTuple):
    id: int
    source: str
    source_key: str
    household_id: int | None
    nik: str | None
    kk: str | None
    name: str
    birth_date: date | None
    sex: str | None
    village_code: str | None
    mother_name: str | None
    dead: bool


_CANDIDATE_SQL = ", ".join(CandidateRow._fields)


_BY_ID = select(*(getattr(Person, f) for f in CandidateRow._fields)).where(
    Person.id.in_(bindparam("ids", expanding=True))
)


def candidates_by_id(session: Session, person_ids: Sequence[int]) -> list[CandidateRow]:
    """These registry persons as candidates (a list row already names its person)."""
    if not person_ids:
        return []
    rows = session.connection().execute(_BY_ID, {"ids": sorted(set(person_ids))})
    return [CandidateRow(*row) for row in rows]


def candidates(
    session: Session, keys: BlockingKeys, sources: Sequence[str] | None, limit: int
) -> list[CandidateRow]:
    """Registry persons sharing at least one blocking key, in one statement.

    Each key is an indexed equality (NIK, KK, village + birth date, village + name key,
    birth date + name start), so the database answers with a few index probes. The SQL
    is put together here rather than by SQLAlchemy: its shape changes with
    every look-up (how many NIKs, which keys), and building a Core statement each time cost
    a millisecond, a third of a look-up."""
    dialect = session.get_bind().dialect.name
    mark = "?" if dialect == "sqlite" else "%s"
    day = (
        keys.birth_date.isoformat() if keys.birth_date and dialect == "sqlite" else keys.birth_date
    )
    blocks: list[str] = []
    block_values: list[tuple[Any, ...]] = []

    def block(sql: str, *values: Any) -> None:
        blocks.append(sql.replace("?", mark))
        block_values.append(values)

    niks = [keys.nik, *keys.nik_neighbours] if keys.nik else []
    if niks:
        block(f"nik IN ({', '.join('?' * len(niks))})", *niks)
    if keys.kk:  # through the households' KK index: a P3KE member's KK is on the family
        block("household_id IN (SELECT id FROM registry_households WHERE kk = ?)", keys.kk)
    if keys.village and keys.birth_date:
        # Through the (birth_date, name_key) index: a day's births in a kabupaten are a
        # few dozen rows, a village is thousands. SQLite without statistics would walk the
        # village's (village_code, name_key) range instead; `+` keeps it off that index.
        village = "+village_code" if dialect == "sqlite" else "village_code"
        block(f"({village} = ? AND birth_date = ?)", keys.village, day)
    if keys.village and keys.name_keys:
        names = ", ".join("?" * len(keys.name_keys))
        block(f"(village_code = ? AND name_key IN ({names}))", keys.village, *keys.name_keys)
    if keys.birth_date:  # people move: the birth date and the start of the name, anywhere
        # Keys are lower-case a-z, and "{" sorts right after "z": [p, p + "{") holds every
        # key that starts with p.
        for prefix in keys.name_prefixes:
            block("(birth_date = ? AND name_key >= ? AND name_key < ?)", day, prefix, prefix + "{")
    if not blocks:
        return []
    source_filter = ""
    if sources:
        # `source || ''`: SQLite would otherwise pick the (source, source_key) index.
        source_filter = f" AND source || '' IN ({', '.join([mark] * len(sources))})"
    # Only our column names and placeholders go into the text; every value is a parameter.
    if dialect == "sqlite":
        # SQLite answers an OR of indexed terms with one index search per term.
        sql = (
            f"SELECT {_CANDIDATE_SQL} FROM registry_persons "  # noqa: S608
            f"WHERE ({' OR '.join(blocks)}){source_filter} LIMIT {int(limit)}"
        )
        params = [v for values in block_values for v in values] + list(sources or ())
    else:
        # PostgreSQL plans an OR holding a sub-select as a full scan: one SELECT per key,
        # in the order of the keys (the most telling first, should the limit cut).
        sql = " UNION ALL ".join(
            f"SELECT {i} AS block, {_CANDIDATE_SQL} FROM registry_persons "  # noqa: S608
            f"WHERE {block}{source_filter}"
            for i, block in enumerate(blocks)
        )
        sql = f"SELECT {_CANDIDATE_SQL} FROM ({sql}) AS found ORDER BY block LIMIT {int(limit)}"  # noqa: S608
        params = [v for values in block_values for v in (*values, *(sources or ()))]
    rows = [tuple(row) for row in session.connection().exec_driver_sql(sql, tuple(params))]
    if dialect == "sqlite":  # dates come back as ISO text from the driver
        return [CandidateRow._make(row[:7] + (_date(row[7]),) + row[8:]) for row in rows]
    return list({row[0]: CandidateRow._make(row) for row in rows}.values())


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def village_codes(session: Session) -> frozenset[str]:
    return frozenset(session.scalars(select(Region.code).where(Region.level == 4)))


def village_names(session: Session) -> list[tuple[str, str, str, str]]:
    """(code, kabupaten name, kecamatan name, village name) of every village."""
    kabupaten = select(Region.code, Region.name).where(Region.level == 2).subquery()
    kecamatan = (
        select(Region.code, Region.name, Region.parent_code).where(Region.level == 3).subquery()
    )
    rows = session.execute(
        select(Region.code, kabupaten.c.name, kecamatan.c.name, Region.name)
        .join(kecamatan, kecamatan.c.code == Region.parent_code)
        .join(kabupaten, kabupaten.c.code == kecamatan.c.parent_code)
        .where(Region.level == 4)
    )
    return [(code, kab, kec, village) for code, kab, kec, village in rows]


def count_persons(session: Session, source: str | None = None) -> int:
    query = select(func.count()).select_from(Person)
    if source is not None:
        query = query.where(Person.source == source)
    return int(session.scalar(query) or 0)


def count_households(session: Session, source: str | None = None) -> int:
    query = select(func.count()).select_from(Household)
    if source is not None:
        query = query.where(Household.source == source)
    return int(session.scalar(query) or 0)


def count_imported_households(session: Session, import_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Household).where(Household.last_import_id == import_id)
        )
        or 0
    )


def count_imported_persons(session: Session, import_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Person).where(Person.last_import_id == import_id)
        )
        or 0
    )


def region_levels(session: Session, codes: Sequence[str]) -> dict[str, int]:
    """The level of each of these (undotted) codes that the region table holds."""
    found: dict[str, int] = {}
    for start in range(0, len(codes), CENTROID_BATCH):
        rows = session.execute(
            select(Region.code, Region.level).where(
                Region.code.in_(codes[start : start + CENTROID_BATCH])
            )
        )
        found.update((code, int(level)) for code, level in rows)
    return found


def villages_within(session: Session, prefix: str, missing_only: bool = False) -> list[str]:
    """Codes of the desa/kelurahan whose code starts with `prefix` (a kabupaten, say); only
    those without a centroid if `missing_only`."""
    query = select(Region.code).where(
        Region.level == 4, Region.code.startswith(prefix, autoescape=True)
    )
    if missing_only:
        query = query.where(Region.lat.is_(None))
    return list(session.scalars(query.order_by(Region.code)))


def centroids(session: Session) -> dict[str, tuple[float, float]]:
    """The villages that have a centroid, as code -> (lat, lon)."""
    rows = session.execute(
        select(Region.code, Region.lat, Region.lon).where(
            Region.lat.is_not(None), Region.lon.is_not(None)
        )
    )
    return {
        code: (float(lat), float(lon))
        for code, lat, lon in rows
        if lat is not None and lon is not None
    }


def set_centroids(session: Session, found: Mapping[str, tuple[float, float]]) -> None:
    """Store these centroids (code -> (lat, lon)) on their region rows."""
    rows = [{"code": code, "lat": lat, "lon": lon} for code, (lat, lon) in found.items()]
    for start in range(0, len(rows), CENTROID_BATCH):
        session.execute(update(Region), rows[start : start + CENTROID_BATCH])
