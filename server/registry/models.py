"""Registry tables: the region table, imported extracts, their households (KK) and persons.

Each row keeps its source (dtks, dtsen, p3ke), the extract's own key for it (so re-importing
the same extract updates in place), and the raw row for audit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, UTCDateTime, check_in, utcnow

REGION_KINDS = (
    "provinsi",
    "kabupaten",
    "kota",
    "kecamatan",
    "distrik",
    "desa",
    "kelurahan",
    "desa_adat",
)


class Region(Base):
    """A Kemendagri region: province, kabupaten/kota, kecamatan or desa/kelurahan.

    Codes are stored without dots (35, 3573, 357304, 3573041003), as registry extracts and
    NIKs carry them."""

    __tablename__ = "regions"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 4", name="ck_regions_level"),
        check_in("kind", REGION_KINDS, "ck_regions_kind"),
        Index("ix_regions_parent", "parent_code"),
    )

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(String(10))
    level: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(5))
    # A desa/kelurahan's centroid (WGS 84 degrees), loaded by `verivali regions centroids`;
    # empty until an operator loads them (V32 then judges nothing).
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


REGISTRY_SOURCES = ("dtks", "dtsen", "p3ke")
IMPORT_STATES = ("running", "done", "failed")


class RegistryImport(Base):
    """One run of `verivali registry import`: what was read, kept and rejected."""

    __tablename__ = "registry_imports"
    __table_args__ = (
        check_in("source", REGISTRY_SOURCES, "ck_registry_imports_source"),
        check_in("status", IMPORT_STATES, "ck_registry_imports_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(8))
    profile: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The extract's header: the names of the cells kept as each row's `raw`.
    header: Mapped[list[str]] = mapped_column(JSON, default=list)


class Household(Base):
    """A family (KK) as one registry extract lists it."""

    __tablename__ = "registry_households"
    __table_args__ = (
        UniqueConstraint("source", "source_key", name="uq_registry_households_key"),
        check_in("source", REGISTRY_SOURCES, "ck_registry_households_source"),
        Index("ix_registry_households_kk", "kk"),
        Index("ix_registry_households_village", "village_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(8))
    # The extract's own household key: KK number (DTKS, DTSEN) or ID Keluarga (P3KE).
    source_key: Mapped[str] = mapped_column(String(64))
    kk: Mapped[str | None] = mapped_column(String(32))
    village_code: Mapped[str | None] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(Text)
    dusun: Mapped[str | None] = mapped_column(String(100))
    rt: Mapped[str | None] = mapped_column(String(8))
    rw: Mapped[str | None] = mapped_column(String(8))
    desil: Mapped[int | None] = mapped_column(SmallInteger)
    programmes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The extract row's cells, named by the header of the import that last wrote the row.
    raw: Mapped[list[str] | None] = mapped_column(JSON)
    last_import_id: Mapped[int | None] = mapped_column(ForeignKey("registry_imports.id"))


class Person(Base):
    """A person as one registry extract lists them (raw row kept for audit)."""

    __tablename__ = "registry_persons"
    __table_args__ = (
        UniqueConstraint("source", "source_key", name="uq_registry_persons_key"),
        check_in("source", REGISTRY_SOURCES, "ck_registry_persons_source"),
        CheckConstraint("sex IN ('L', 'P')", name="ck_registry_persons_sex"),
        Index("ix_registry_persons_nik", "nik"),
        Index("ix_registry_persons_household", "household_id"),
        Index("ix_registry_persons_village_name", "village_code", "name_key"),
        # Also serves village + birth date: a day's births are few enough to filter.
        Index("ix_registry_persons_birth_name", "birth_date", "name_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("registry_households.id"))
    source: Mapped[str] = mapped_column(String(8))
    # The extract's own person key: IDDTKS, idsemesta or ID Individu (P3KE).
    source_key: Mapped[str] = mapped_column(String(64))
    nik: Mapped[str | None] = mapped_column(String(32))
    nik_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    kk: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # names.blocking_key(name)
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_place: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str | None] = mapped_column(String(1))
    mother_name: Mapped[str | None] = mapped_column(String(200))
    relationship: Mapped[str | None] = mapped_column(String(60))
    village_code: Mapped[str | None] = mapped_column(String(10))
    dead: Mapped[bool] = mapped_column(Boolean, default=False)
    death_note: Mapped[str | None] = mapped_column(String(200))
    padan: Mapped[bool | None] = mapped_column(Boolean)
    desil: Mapped[int | None] = mapped_column(SmallInteger)
    programmes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    issues: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The extract row's cells, named by the header of the import that last wrote the row.
    raw: Mapped[list[str] | None] = mapped_column(JSON)
    last_import_id: Mapped[int | None] = mapped_column(ForeignKey("registry_imports.id"))
