"""The Kemendagri region table: loaded once per source, complete, and used by NIK checks."""

from __future__ import annotations

from datetime import date

from server.registry.identity import check_nik
from server.registry.regions import (
    area_codes,
    count_by_level,
    do_load_regions,
    dotted,
    region_by_code,
)


def test_region_table_loads_complete_and_once(svc) -> None:  # type: ignore[no-untyped-def]
    """All 38 provinces, 514 kab/kota, 7,285 kecamatan and 83,762 villages; a rerun is a no-op."""
    with svc.db.transaction() as session:
        assert do_load_regions(session) == 91_599
    with svc.db.transaction() as session:
        assert do_load_regions(session) is None
        assert count_by_level(session) == {1: 38, 2: 514, 3: 7285, 4: 83_762}
        sukun = region_by_code(session, "35.73.04")
        assert sukun is not None and sukun.name == "Sukun" and sukun.parent_code == "3573"
        village = region_by_code(session, "3573041003")
        assert village is not None and village.name == "Kebonsari" and village.kind == "kelurahan"
        assert region_by_code(session, "65").name == "Kalimantan Utara"  # type: ignore[union-attr]
        codes = area_codes(session)
    # Kota Tarakan was 64.73 before Kalimantan Utara split off; old NIKs keep that code.
    old = check_nik("6473014506850001", codes, today=date(2026, 11, 23))
    assert old.valid and "kabupaten_not_current" in old.codes()
    assert check_nik("6571014506850001", codes, today=date(2026, 11, 23)).warnings == []
    assert dotted("3573041003") == "35.73.04.1003"
