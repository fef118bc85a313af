"""The registry import's bulk statements: their columns, SQL text and parameters.

No database access here and no SQLAlchemy, so the process that reads an extract
(reading.py) can turn rows into parameters while the importer writes the previous batch
(queries.py sends them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

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


class BulkUpsert:
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
        self.values_sql = (
            f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(self.columns))}) "  # noqa: S608
            + self._conflict
        )
        self.staging = f"staging_{table}"
        self.copy_sql = f"COPY {self.staging} ({names}) FROM STDIN"
        self.select_sql = (
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {self.staging} "  # noqa: S608
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


PERSONS = BulkUpsert("registry_persons", PERSON_COLUMNS, PERSON_UPDATE_COLUMNS)
HOUSEHOLDS = BulkUpsert("registry_households", HOUSEHOLD_COLUMNS, HOUSEHOLD_UPDATE_COLUMNS)
HOUSEHOLD_STUBS = BulkUpsert(
    "registry_households",
    ("source", "source_key", "programmes", "attributes", "last_import_id"),
    ("last_import_id",),
)
# Where a person's household id goes in their parameters (known only once it is written).
PERSON_HOUSEHOLD_ID = PERSON_COLUMNS.index("household_id")


def household_params(
    rows: Iterable[dict[str, Any]], dialect: str, stub: bool = False
) -> list[list[Any]]:
    """Parameters for write_households: full rows, or stubs (source, key, import) only."""
    if stub:
        rows = ({**row, "programmes": {}, "attributes": {}} for row in rows)
    return (HOUSEHOLD_STUBS if stub else HOUSEHOLDS).params(rows, dialect)


def person_params(rows: Iterable[dict[str, Any]], dialect: str) -> list[list[Any]]:
    """Parameters for write_persons (the household id slot is filled in before writing)."""
    return PERSONS.params(rows, dialect)
