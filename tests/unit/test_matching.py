"""Blocking keys and ranking of registry candidates (pure parts of matching)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from server.registry.matching import Candidate, blocking_keys, nik_neighbours, one_typo, rank
from server.registry.scoring import PersonFacts, nik_distance

NIK = "3573044708820002"


def test_neighbours_are_every_one_typo_nik() -> None:
    """159 neighbours for a NIK without equal neighbouring digits: 144 digits, 15 swaps."""
    niks = nik_neighbours("3573041203190369")
    assert len(niks) == len(set(niks)) == 16 * 9 + 15
    assert "3573041203190369" not in niks
    assert len(nik_neighbours("3573041203100369")) == 16 * 9 + 14  # "00" has no swap


@given(st.text("0123456789", min_size=16, max_size=16))
def test_neighbours_are_one_typo_away(nik: str) -> None:
    """Every neighbour is at NIK distance 1, and none is the NIK itself."""
    for other in nik_neighbours(nik):
        assert other != nik and nik_distance(nik, other) == 1


@given(
    st.text("0123456789", min_size=16, max_size=16),
    st.lists(st.tuples(st.integers(0, 15), st.sampled_from("0123456789")), max_size=3),
    st.integers(-1, 14),
)
def test_one_typo_is_being_a_neighbour(nik: str, edits: list[tuple[int, str]], swap: int) -> None:
    """one_typo(a, b) holds exactly when b is among a's neighbours (no list built)."""
    other = list(nik)
    for at, digit in edits:
        other[at] = digit
    if swap >= 0:
        other[swap], other[swap + 1] = other[swap + 1], other[swap]
    changed = "".join(other)
    assert one_typo(nik, changed) == (changed in nik_neighbours(nik))


def test_no_neighbours_for_a_malformed_nik() -> None:
    """A NIK that is not 16 digits is looked up as given, without neighbours."""
    assert nik_neighbours("35730447088200") == []
    assert nik_neighbours("357304470882000X") == []


def test_birth_date_for_blocking_comes_from_the_nik() -> None:
    """Without a birth date, a woman's NIK gives it (day minus 40) for the village block."""
    keys = blocking_keys(PersonFacts(nik=NIK, name="Siti", village_code="35.73.04.1003"))
    assert keys.birth_date == date(1982, 8, 7) and keys.village == "3573041003"
    assert keys.nik == NIK and len(keys.nik_neighbours) > 140


def test_a_name_alone_does_not_block() -> None:
    """A name needs a village or a birth date to block on; a NIK or KK alone blocks."""
    assert blocking_keys(PersonFacts(name="Siti Aminah")).empty()
    assert not blocking_keys(PersonFacts(name="Siti Aminah", birth_date=date(1982, 8, 7))).empty()
    assert not blocking_keys(PersonFacts(kk="3573040101150001")).empty()


def test_name_keys_include_old_spelling() -> None:
    """A modern spelling also looks up the key an old spelling is stored under."""
    keys = blocking_keys(PersonFacts(name="Soekarno", village_code="3573041003"))
    assert "sukarno" in keys.name_keys


def _candidate(pid: int, **facts) -> Candidate:  # type: ignore[no-untyped-def]
    return Candidate(pid, "dtks", f"3573-{pid}", 1, False, PersonFacts(**facts))


def test_rank_puts_the_typo_nik_with_the_same_name_first() -> None:
    """A NIK one typo away with the same name and birth date beats a namesake."""
    person = PersonFacts(
        nik="3573044708820003", name="Hj. Siti Aminah", birth_date=date(1982, 8, 7), sex="P"
    )
    keys = blocking_keys(person)
    namesake = _candidate(1, nik="3573045501900001", name="SITI AMINAH", sex="P")
    typo = _candidate(2, nik=NIK, name="SITI AMINAH", birth_date=date(1982, 8, 7), sex="P")
    best, other = rank(person, [namesake, typo], keys)
    assert best.candidate.person_id == 2 and best.band == "auto_link"
    assert best.found_by == ["nik_one_typo", "birth_date_name_start"]
    assert other.score < 0.1 and "nik_differs" in [r.code for r in other.reasons]
