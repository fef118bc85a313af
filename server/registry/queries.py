"""Queries over the registry tables: batch upserts for imports, look-ups for regions.

Upserts are keyed by (source, the extract's own key), so importing the same extract again
updates rows in place; statements are built once per dialect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from server.registry.models import Household, Person, Region

HOUSEHOLD_UPDATE_COLUMNS = (
    "kk",
    "village_code",
    "address",
    "dusun",
    "rt",
    "rw",
    "desil",
    "programmes",
    "attributes",
    "raw",
    "last_import_id",
)
PERSON_UPDATE_COLUMNS = (
    "household_id",
    "nik",
    "nik_valid",
    "kk",
    "name",
    "name_key",
    "birth_date",
    "birth_place",
    "sex",
    "mother_name",
    "relationship",
    "village_code",
    "dead",
    "death_note",
    "padan",
    "desil",
    "programmes",
    "issues",
    "raw",
    "last_import_id",
)


PERSON_COLUMNS = ("source", "source_key", *PERSON_UPDATE_COLUMNS)
HOUSEHOLD_COLUMNS = ("source", "source_key", *HOUSEHOLD_UPDATE_COLUMNS)
_JSON_COLUMNS = frozenset({"programmes", "attributes", "issues", "raw"})
_DATE_COLUMNS = frozenset({"birth_date"})
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class _BulkUpsert:
    """INSERT ... ON CONFLICT (source, source_key) DO UPDATE for a batch of rows.

    Imports write a million rows, and the per-row work of a Core statement (bind
    processors, JSON through json.dumps, one statement per row on PostgreSQL) was most of
    the time. So SQLite gets the driver's executemany (in-process, no round trips), and
    PostgreSQL gets COPY into a temporary table and one INSERT ... SELECT per batch. Rows
    are turned into parameters apart from writing them, so the reading side of an import
    can do that work in its own process."""

    def __init__(self, table: str, columns: Sequence[str], update: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self.table = table
        self.update = tuple(update)
        self._get = itemgetter(*self.columns)
        self._json = [i for i, c in enumerate(self.columns) if c in _JSON_COLUMNS]
        self._dates = [i for i, c in enumerate(self.columns) if c in _DATE_COLUMNS]
        # Table and column names are this module's constants; values go as parameters.
        names = ", ".join(self.columns)
        self._conflict = "ON CONFLICT (source, source_key) DO UPDATE SET " + ", ".join(
            f"{c} = excluded.{c}" for c in self.update
        )
        self._values_sql = (
            f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(self.columns))}) "  # noqa: S608
            + self._conflict
        )
        self._staging = f"staging_{table}"
        self._copy_sql = f"COPY {self._staging} ({names}) FROM STDIN"
        self._select_sql = (
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {self._staging} "  # noqa: S608
            + self._conflict
        )

    def params(self, rows: Iterable[dict[str, Any]], dialect: str) -> list[list[Any]]:
        out = []
        json_at, dates_at, get = self._json, self._dates, self._get
        iso = dialect == "sqlite"  # SQLAlchemy's SQLite Date is ISO text
        for row in rows:
            values = list(get(row))
            for i in json_at:
                if values[i] is not None:
                    values[i] = _encode_json(values[i])
            if iso:
                for i in dates_at:
                    if values[i] is not None:
                        values[i] = values[i].isoformat()
            out.append(values)
        return out

    def write(
        self, session: Session, params: Sequence[Sequence[Any]], returning: bool = False
    ) -> list[tuple[int, str]]:
        """Write the rows; with `returning`, (id, source_key) of each (PostgreSQL only)."""
        if not params:
            return []
        cursor = session.connection().connection.cursor()
        try:
            if session.get_bind().dialect.name == "sqlite":
                cursor.executemany(self._values_sql, params)
                return []
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {self._staging} "
                f"(LIKE {self.table} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            cursor.execute(f"TRUNCATE {self._staging}")
            with cursor.copy(self._copy_sql) as copy:
                for row in params:
                    copy.write_row(row)
            if returning:
                cursor.execute(self._select_sql + " RETURNING id, source_key")
                return list(cursor.fetchall())
            cursor.execute(self._select_sql)
            return []
        finally:
            cursor.close()


_PERSONS = _BulkUpsert("registry_persons", PERSON_COLUMNS, PERSON_UPDATE_COLUMNS)
_HOUSEHOLDS = _BulkUpsert("registry_households", HOUSEHOLD_COLUMNS, HOUSEHOLD_UPDATE_COLUMNS)
_HOUSEHOLD_STUBS = _BulkUpsert(
    "registry_households",
    ("source", "source_key", "programmes", "attributes", "last_import_id"),
    ("last_import_id",),
)
# Where a person's household id goes in their parameters (known only once it is written).
PERSON_HOUSEHOLD_ID = PERSON_COLUMNS.index("household_id")
BULK_CACHE_KIB = 64 * 1024


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


def household_params(
    rows: Iterable[dict[str, Any]], dialect: str, stub: bool = False
) -> list[list[Any]]:
    """Parameters for write_households: full rows, or stubs (source, key, import) only."""
    if stub:
        rows = ({**row, "programmes": {}, "attributes": {}} for row in rows)
    return (_HOUSEHOLD_STUBS if stub else _HOUSEHOLDS).params(rows, dialect)


def write_households(
    session: Session, params: Sequence[Sequence[Any]], stub: bool = False
) -> dict[str, int]:
    """Insert or update households; returns source_key -> id.

    A stub (only the key, from a file of individuals) never overwrites what a family file
    said about the household."""
    if not params:
        return {}
    upsert = _HOUSEHOLD_STUBS if stub else _HOUSEHOLDS
    if session.get_bind().dialect.name != "sqlite":
        return {key: id_ for id_, key in upsert.write(session, params, returning=True)}
    upsert.write(session, params)
    source = params[0][0]
    keys = [row[1] for row in params]
    found = session.execute(
        select(Household.id, Household.source_key).where(
            Household.source == source, Household.source_key.in_(keys)
        )
    )
    return {key: id_ for id_, key in found}


def person_params(rows: Iterable[dict[str, Any]], dialect: str) -> list[list[Any]]:
    """Parameters for write_persons (the household id slot is filled in before writing)."""
    return _PERSONS.params(rows, dialect)


def write_persons(session: Session, params: Sequence[Sequence[Any]]) -> None:
    """Insert or update persons."""
    _PERSONS.write(session, params)


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


_CANDIDATE_COLUMNS = (
    Person.id,
    Person.source,
    Person.source_key,
    Person.household_id,
    Person.nik,
    Person.kk,
    Person.name,
    Person.birth_date,
    Person.sex,
    Person.village_code,
    Person.mother_name,
    Person.dead,
)


def candidates(
    session: Session, keys: BlockingKeys, sources: Sequence[str] | None, limit: int
) -> list[CandidateRow]:
    """Registry persons sharing at least one blocking key, in one statement.

    Each key is an indexed equality (NIK, KK, village + birth date, village + name key),
    so the database answers with a few index probes joined by OR."""
    blocks: list[ColumnElement[bool]] = []
    niks = [keys.nik, *keys.nik_neighbours] if keys.nik else []
    if niks:
        blocks.append(Person.nik.in_(niks))
    if keys.kk:  # through the households' KK index: a P3KE member's KK is on the family
        blocks.append(Person.household_id.in_(select(Household.id).where(Household.kk == keys.kk)))
    if keys.village and keys.birth_date:
        blocks.append(
            and_(Person.village_code == keys.village, Person.birth_date == keys.birth_date)
        )
    if keys.village and keys.name_keys:
        blocks.append(
            and_(Person.village_code == keys.village, Person.name_key.in_(list(keys.name_keys)))
        )
    if keys.birth_date:  # people move: the birth date and the start of the name, anywhere
        # Keys are lower-case a-z, and "{" sorts right after "z": [p, p + "{") holds every
        # key that starts with p.
        blocks.extend(
            and_(
                Person.birth_date == keys.birth_date,
                Person.name_key >= prefix,
                Person.name_key < prefix + "{",
            )
            for prefix in keys.name_prefixes
        )
    if not blocks:
        return []
    query = select(*_CANDIDATE_COLUMNS).where(or_(*blocks))
    if sources:
        # `source || ''` keeps SQLite from scanning the (source, source_key) index instead
        # of OR-ing the blocking indexes.
        query = query.where((Person.source + "").in_(list(sources)))
    return [CandidateRow._make(row) for row in session.execute(query.limit(limit))]


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
