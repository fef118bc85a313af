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


def test_centroids_load_by_code_and_survive_a_reload(svc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Known villages get their centroid, unknown codes are counted; a reload keeps them."""
    from server.registry import queries
    from server.registry.centroids import (
        do_load_centroids,
        do_synthetic_centroids,
        read_centroids,
    )

    path = tmp_path / "centroids.csv"
    path.write_text(
        "kode,lat,lon\n35.73.04.1003,-7.98,112.62\n3573049999,-7.9,112.6\n3573041004,x,1\n"
    )
    with svc.db.transaction() as session:
        do_load_regions(session, within="3573")
        summary = do_load_centroids(session, read_centroids(path))
        assert (summary.updated, summary.unknown, summary.invalid) == (1, 1, 1)
        assert summary.problems == [
            "line 3: 3573049999 is not in the region table",
            "line 4: 'x' is not a number",
        ]
    with svc.db.transaction() as session:
        assert do_load_regions(session, force=True, within="3573") == 64
        assert queries.centroids(session) == {"3573041003": (-7.98, 112.62)}
        # Invented centroids fill only the villages without one.
        assert do_synthetic_centroids(session, "35.73", missing_only=True) == 56
        assert queries.centroids(session)["3573041003"] == (-7.98, 112.62)
        assert queries.villages_within(session, "3573", missing_only=True) == []
