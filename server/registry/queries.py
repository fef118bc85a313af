"""Queries over the registry tables: batch upserts for imports, look-ups for regions.

Upserts are keyed by (source, the extract's own key), so importing the same extract again
updates rows in place; statements are built once per dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.db import run
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


def _upsert(table: Any, fields: Sequence[str], dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    update = {name: getattr(insert.excluded, name) for name in fields}
    return insert.on_conflict_do_update(
        index_elements=["source", "source_key"], set_=update or {"source": insert.excluded.source}
    ).returning(table.id, table.source_key)


_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(kind: str, dialect: str) -> Any:
    key = (kind, dialect)
    if key not in _STATEMENTS:
        if kind == "household":
            _STATEMENTS[key] = _upsert(Household, HOUSEHOLD_UPDATE_COLUMNS, dialect)
        elif kind == "household_stub":
            _STATEMENTS[key] = _upsert(Household, ("last_import_id",), dialect)
        else:
            _STATEMENTS[key] = _upsert(Person, PERSON_UPDATE_COLUMNS, dialect)
    return _STATEMENTS[key]


def upsert_households(
    session: Session, rows: Sequence[dict[str, Any]], stub: bool = False
) -> dict[str, int]:
    """Insert or update households; returns source_key -> id.

    A stub (only the key, from a file of individuals) never overwrites what a family file
    said about the household."""
    if not rows:
        return {}
    dialect = session.get_bind().dialect.name
    result = run(session, _statement("household_stub" if stub else "household", dialect), rows)
    return {key: id_ for id_, key in result}


def upsert_persons(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        run(session, _statement("person", session.get_bind().dialect.name), rows).all()


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
