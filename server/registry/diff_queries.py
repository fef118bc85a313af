"""Queries for `verivali registry diff`: which households of two sources correspond.

Owns the SQL of the correspondence rules (docs/registry-import.md, "Comparing two sources"):
a household of one source corresponds to a household of the other when both carry the same
usable KK number; households that found no partner by KK correspond when they share a
member, that is the same NIK (valid in both) under the same name key. The name is required
because NIKs are dense (kecamatan, birth date, a small serial): one mistyped digit often
gives another real person's NIK, and a typo must not join two families.

The matching runs in the database over indexed columns (KK, NIK, household id) and rows are
fetched in batches from a streamed cursor, so memory stays flat whatever the registry size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from server.registry.models import Household, Person

# Relationship values that mark the head of a family (SIKS-NG and P3KE labels, DTSEN code 1),
# compared after trimming and upper-casing.
HEAD_RELATIONSHIPS = ("KEPALA KELUARGA", "KEPALA RUMAH TANGGA", "1")
KK_LENGTH = 16
# Rows fetched from the cursor at a time.
STREAM_BATCH = 2000


def _usable_kk(kk: Any) -> ColumnElement[bool]:
    """A KK that can link households: 16 digits, not all zeros (placeholders do occur)."""
    return and_(kk.is_not(None), func.length(kk) == KK_LENGTH, kk != "0" * KK_LENGTH)


def _has_kk_partner(household: Any, other: str) -> ColumnElement[bool]:
    """The household's KK is also the KK of a household of source `other`."""
    partner = aliased(Household)
    return exists().where(
        partner.source == other, partner.kk == household.kk, _usable_kk(household.kk)
    )


def _kk_orphan(household_id: Any, other: str) -> ColumnElement[bool]:
    """The household with this id has no partner by KK in source `other`."""
    household = aliased(Household)
    return ~exists().where(household.id == household_id, _has_kk_partner(household, other))


def _has_nik_partner(household: Any, own: str, other: str) -> ColumnElement[bool]:
    """A member's valid NIK and name key are those of a person in a household of `other`
    that has no KK partner in `own` (the household itself is known to have none).

    Two nested EXISTS, so that every planner walks from the household's members (household
    index) to the other source's persons (NIK index), never the other way round."""
    mine, theirs = aliased(Person), aliased(Person)
    shared = exists().where(
        theirs.nik == mine.nik,
        theirs.name_key == mine.name_key,
        theirs.source == other,
        theirs.nik_valid.is_(True),
        theirs.household_id.is_not(None),
        _kk_orphan(theirs.household_id, own),
    )
    return exists().where(mine.household_id == household.id, mine.nik_valid.is_(True), shared)


def _in_kecamatan(village: Any, kecamatan: str) -> ColumnElement[bool]:
    """The village code starts with the 6-digit kecamatan code.

    Written as a range over digit strings so that the village index serves it and no
    collation or LIKE case rule gets in the way."""
    upper = str(int(kecamatan) + 1).zfill(len(kecamatan))
    return and_(village >= kecamatan, village < upper)


def _is_head(person: Any) -> ColumnElement[bool]:
    return func.upper(func.trim(person.relationship)).in_(HEAD_RELATIONSHIPS)


def _household_columns(household: Any, prefix: str) -> list[Any]:
    """The household's own facts, its member count and its head (the first head row).

    Members and head are correlated look-ups through the household index: one index range
    per household, which both SQLite and PostgreSQL run in constant memory."""
    member = aliased(Person)
    members = (
        select(func.count())
        .where(member.household_id == household.id)
        .correlate(household)
        .scalar_subquery()
    )
    first_head = (
        select(func.min(member.id))
        .where(member.household_id == household.id, _is_head(member))
        .correlate(household)
        .scalar_subquery()
    )
    head = aliased(Person)
    nik = select(head.nik).where(head.id == first_head).scalar_subquery()
    name = select(head.name_key).where(head.id == first_head).scalar_subquery()
    return [
        household.source_key.label(f"{prefix}_key"),
        household.kk.label(f"{prefix}_kk"),
        household.village_code.label(f"{prefix}_village"),
        household.desil.label(f"{prefix}_desil"),
        members.label(f"{prefix}_members"),
        nik.label(f"{prefix}_head_nik"),
        name.label(f"{prefix}_head_name"),
    ]


def pairs_statement(a: str, b: str, kecamatan: str | None = None) -> Select[Any]:
    """Every corresponding (A household, B household) pair with both sides' facts.

    Columns: match ("kk" or "nik"), shared (NIKs shared, for "nik"), a_links and b_links
    (how many pairs each side's household is in), then a_* and b_* household facts."""
    ha, hb = aliased(Household), aliased(Household)
    by_kk = (
        select(
            ha.id.label("a_id"),
            hb.id.label("b_id"),
            literal("kk").label("match"),
            literal(0).label("shared"),
        )
        .join(hb, and_(hb.kk == ha.kk, hb.source == b))
        .where(ha.source == a, _usable_kk(ha.kk))
    )
    pa, pb = aliased(Person), aliased(Person)
    by_nik = (
        select(
            pa.household_id.label("a_id"),
            pb.household_id.label("b_id"),
            literal("nik").label("match"),
            func.count(func.distinct(pa.nik)).label("shared"),
        )
        .join(pb, and_(pb.nik == pa.nik, pb.name_key == pa.name_key))
        .where(
            pa.source == a,
            pb.source == b,
            pa.nik_valid.is_(True),
            pb.nik_valid.is_(True),
            pa.household_id.is_not(None),
            pb.household_id.is_not(None),
            _kk_orphan(pa.household_id, b),
            _kk_orphan(pb.household_id, a),
        )
        .group_by(pa.household_id, pb.household_id)
    )
    links = union_all(by_kk, by_nik).subquery("links")
    counted = select(
        links.c.a_id,
        links.c.b_id,
        links.c.match,
        links.c.shared,
        func.count().over(partition_by=links.c.a_id).label("a_links"),
        func.count().over(partition_by=links.c.b_id).label("b_links"),
    ).subquery("counted")
    ha, hb = aliased(Household), aliased(Household)
    query = (
        select(
            counted.c.match,
            counted.c.shared,
            counted.c.a_links,
            counted.c.b_links,
            *_household_columns(ha, "a"),
            *_household_columns(hb, "b"),
        )
        .select_from(counted)
        .join(ha, ha.id == counted.c.a_id)
        .join(hb, hb.id == counted.c.b_id)
        .order_by(func.coalesce(ha.village_code, hb.village_code), ha.source_key, hb.source_key)
    )
    if kecamatan:
        query = query.where(
            or_(
                _in_kecamatan(ha.village_code, kecamatan), _in_kecamatan(hb.village_code, kecamatan)
            )
        )
    return query


def unmatched_statement(own: str, other: str, kecamatan: str | None = None) -> Select[Any]:
    """Households of `own` that correspond to no household of `other` (columns x_*)."""
    household = aliased(Household)
    query = (
        select(*_household_columns(household, "x"))
        .select_from(household)
        .where(
            household.source == own,
            ~_has_kk_partner(household, other),
            ~_has_nik_partner(household, own, other),
        )
        .order_by(household.village_code, household.source_key)
    )
    if kecamatan:
        query = query.where(_in_kecamatan(household.village_code, kecamatan))
    return query


def stream(session: Session, statement: Select[Any]) -> Iterator[Row[Any]]:
    """The statement's rows, fetched in batches (a server-side cursor on PostgreSQL)."""
    result = session.execute(statement, execution_options={"yield_per": STREAM_BATCH})
    try:
        yield from result
    finally:
        result.close()


def count_households(session: Session, source: str, kecamatan: str | None = None) -> int:
    """Households of one source (in one kecamatan)."""
    query = select(func.count()).select_from(Household).where(Household.source == source)
    if kecamatan:
        query = query.where(_in_kecamatan(Household.village_code, kecamatan))
    return int(session.scalar(query) or 0)
