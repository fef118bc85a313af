"""Finding people in an imported registry: every blocking key, ranking, and the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from test_registry_cli import verivali
from test_registry_import import DTKS_HEADER, DTKS_ROWS, dtks, run_import

from server.models import AuditEvent
from server.registry.matching import match
from server.registry.regions import do_load_regions
from server.registry.scoring import PersonFacts

SITI = "3573044708820002"
VILLAGE = "3573041003"  # Kebonsari, Sukun


@pytest.fixture
def registry(svc, tmp_path):  # type: ignore[no-untyped-def]
    """Kota Malang regions and the four-person DTKS extract, imported."""
    with svc.db.transaction() as session:
        do_load_regions(session, within="3573")
    run_import(svc, dtks(tmp_path))
    return svc


def find(svc, **facts):  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return match(session, PersonFacts(**facts), today=date(2026, 11, 23))


@pytest.mark.parametrize(
    ("nik", "how"),
    [("3573044708820003", "one digit"), ("3573047408820002", "two neighbours swapped")],
)
def test_mistyped_nik_finds_the_person(registry, nik: str, how: str) -> None:  # type: ignore[no-untyped-def]
    """A NIK one typo away, with the name, finds the person first and links automatically."""
    best = find(registry, nik=nik, name="Siti Aminah", birth_date=date(1982, 8, 7))[0]
    assert best.candidate.facts.nik == SITI, how
    assert best.band == "auto_link" and "nik_one_typo" in best.found_by


def test_name_variant_without_nik_is_found_in_the_village(registry) -> None:  # type: ignore[no-untyped-def]
    """Without a NIK, the village, name key and birth date find a spelling variant."""
    found = find(registry, name="SITI AMINNAH", birth_date=date(1982, 8, 7), village_code=VILLAGE)
    best = found[0]
    assert best.candidate.facts.nik == SITI
    assert set(best.found_by) == {"village_name", "village_birth_date", "birth_date_name_start"}
    assert [r.code for r in best.reasons][:2] == ["name_equal", "birth_date_equal"]


def test_kk_finds_the_family_ranked_by_name(registry) -> None:  # type: ignore[no-untyped-def]
    """A KK alone brings the family; the name decides who comes first."""
    found = find(registry, kk="3573040101150001", name="Muhammad Rizki")
    assert len(found) == 3 and found[0].candidate.facts.name == "MUHAMMAD RIZKI"
    assert all("kk" in m.found_by for m in found)


def test_moved_person_is_found_by_name_and_birth_date(registry) -> None:  # type: ignore[no-untyped-def]
    """Someone recorded in another village is found by name key and birth date."""
    found = find(
        registry, name="Moch. Rizki", birth_date=date(2010, 3, 12), village_code="3573011001"
    )
    assert found[0].candidate.facts.name == "MUHAMMAD RIZKI"
    assert found[0].found_by == ["birth_date_name_start"]


def test_dead_person_is_marked(registry) -> None:  # type: ignore[no-untyped-def]
    """A candidate with a death note comes back marked dead."""
    best = find(registry, nik="3573040101400004")[0]
    assert best.candidate.dead and best.candidate.facts.name == "SUKARNI"


def test_nothing_to_block_on_finds_nothing(registry) -> None:  # type: ignore[no-untyped-def]
    """A name without a village, NIK or KK is not looked up (it would scan everyone)."""
    assert find(registry, name="Siti Aminah") == []


def test_sources_filter(registry) -> None:  # type: ignore[no-untyped-def]
    """Asking only another registry returns nothing from DTKS."""
    with registry.db.sessions() as session:
        assert match(session, PersonFacts(nik=SITI), sources=["p3ke"]) == []
        assert match(session, PersonFacts(nik=SITI), sources=["dtks"])


def test_cli_match_masks_the_nik_and_audits(tmp_path: Path) -> None:
    """`verivali registry match` prints ranked candidates with reasons and a masked NIK."""
    assert verivali(tmp_path, "init").returncode == 0
    path = tmp_path / "dtks.csv"
    path.write_text("\n".join([DTKS_HEADER, *DTKS_ROWS]) + "\n", encoding="utf-8")
    assert verivali(tmp_path, "registry", "import", str(path), "--source", "dtks").returncode == 0
    done = verivali(
        tmp_path,
        *("registry", "match", "--nik", "3573044708820003", "--name", "Siti Aminah"),
        *("--dob", "07-08-1982"),
    )
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("1. 0.9") and "auto_link" in first and "3573-2" in first
    assert "3573************" in first and SITI not in done.stdout
    assert "found by: nik_one_typo" in done.stdout
    bad = verivali(tmp_path, "registry", "match", "--name", "Siti")
    assert bad.returncode != 0 and "--village" in bad.stderr
    undated = verivali(tmp_path, "registry", "match", "--nik", SITI, "--dob", "31-02-1982")
    assert undated.returncode != 0 and "not a date" in undated.stderr


def test_match_writes_no_personal_data_to_the_audit(registry) -> None:  # type: ignore[no-untyped-def]
    """The audit row of a look-up holds counts, never the NIK or name asked for."""
    with registry.db.sessions() as session:
        events = session.scalars(select(AuditEvent)).all()
    assert all(SITI not in str(e.details) for e in events)
