"""Duplicate rules (V21-V25): people, family cards and photos shared with other submissions
of the round, on small synthetic facts. Every name and number is synthetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import rules_cases
from rules_cases import run

from server.registry.names import name_key
from server.rules.catalog import evaluate
from server.rules.duplicates import hamming
from server.rules.model import Facts, Flag, Match, Member, Peer, Photo, Severity, Visit

NIK = "3573044506850001"  # Kota Malang, Sukun, a woman born 5 June 1985
OTHER_NIK = "3573041203900002"
KK = "3573040102150003"
BORN = date(1985, 6, 5)
SUKUN = "357304"
HASH = 0x0F0F_33CC_A5A5_5A5A


def check_case(rule_id: str, f: Facts, expected: Severity | None) -> list[Flag]:
    """One table case, with no full NIK, KK or name in the message."""
    return rules_cases.check_case(rule_id, f, expected, hidden=(NIK, KK, "Siti"))


def visit(**overrides: Any) -> Visit:
    base = Visit(
        submission_id=1,
        target_key="1001",
        target_known=True,
        target_on_own_list=True,
        visit_type="daftar",
        outcome="ditemukan",
        village_code="3573041001",
        registry_kk=KK,
        members=(
            Member(
                path="anggota[1]",
                nik=NIK,
                name="Hj. Siti Aminah",
                birth_date=BORN,
                relationship="1",
                status="ada",
                registry_key="5001",
                registry_nik=NIK,
            ),
        ),
        photos=(Photo("foto_depan", "depan.jpg", received=True, phash=HASH),),
    )
    return replace(base, **overrides)


def peer(**overrides: Any) -> Peer:
    base = Peer(submission_id=2, enumerator_id=7, target_key="1002", kecamatan=SUKUN)
    return replace(base, **overrides)


def with_member(**overrides: Any) -> Visit:
    v = visit()
    return replace(v, members=(replace(v.members[0], **overrides),))


# ---------------------------------------------------------------- V21

V21_CASES = [
    pytest.param(visit(), (peer(niks=frozenset({NIK})),), False, id="other-household"),
    pytest.param(
        visit(), (peer(niks=frozenset({NIK}), target_key="1001"),), True, id="same-target-again"
    ),
    pytest.param(
        with_member(nik=None), (peer(niks=frozenset({NIK})),), False, id="registry-nik-kept"
    ),
    pytest.param(visit(), (peer(niks=frozenset({OTHER_NIK})),), None, id="other-nik"),
    pytest.param(visit(), (peer(submission_id=1, niks=frozenset({NIK})),), None, id="itself"),
    pytest.param(
        with_member(status="meninggal"), (peer(niks=frozenset({NIK})),), None, id="not-present"
    ),
    pytest.param(with_member(nik=None, registry_nik=None), (peer(),), None, id="no-nik"),
]


@pytest.mark.parametrize(("v", "peers", "same_target"), V21_CASES)
def test_v21_same_nik_elsewhere(
    v: Visit, peers: tuple[Peer, ...], same_target: bool | None
) -> None:
    """V21 blocks a present person whose NIK another submission of the round also carries."""
    expected = None if same_target is None else Severity.BLOCK
    flags = check_case("V21", Facts(visit=v, peers=peers), expected)
    if flags:
        assert flags[0].evidence["other_submission_id"] == 2
        assert flags[0].evidence["nik_masked"] == "3573************"
        assert flags[0].evidence["same_target"] is same_target


def test_v21_is_symmetric() -> None:
    """Both submissions sharing a NIK are flagged when each is checked against the other."""
    first, second = visit(), visit(submission_id=2, target_key="1002")
    a = run("V21", Facts(visit=first, peers=(peer(niks=frozenset({NIK})),)))
    b = run("V21", Facts(visit=second, peers=(peer(submission_id=1, niks=frozenset({NIK})),)))
    assert [f.evidence["other_submission_id"] for f in a + b] == [2, 1]


# ---------------------------------------------------------------- V22

V22_CASES = [
    pytest.param(visit(), peer(kk=KK), Severity.HIGH, id="registry-kk"),
    pytest.param(
        visit(kk=OTHER_NIK, registry_kk=KK), peer(kk=OTHER_NIK), Severity.HIGH, id="corrected-kk"
    ),
    pytest.param(visit(kk=OTHER_NIK), peer(kk=KK), None, id="corrected-away"),
    pytest.param(visit(registry_kk=None), peer(kk=KK), None, id="no-kk"),
    pytest.param(visit(), peer(kk=None), None, id="peer-without-kk"),
    pytest.param(visit(), peer(submission_id=1, kk=KK), None, id="itself"),
]


@pytest.mark.parametrize(("v", "other", "expected"), V22_CASES)
def test_v22_same_kk_elsewhere(v: Visit, other: Peer, expected: Severity | None) -> None:
    """V22 fires when the household's KK (corrected, else registry) is in another submission."""
    flags = check_case("V22", Facts(visit=v, peers=(other,)), expected)
    if flags:
        assert flags[0].evidence["kk_masked"] == "3573************"
        assert flags[0].fields == ("kk",)


# ---------------------------------------------------------------- V23

SAME_PERSON = frozenset({(name_key("Siti Aminah"), BORN)})

V23_CASES = [
    pytest.param(
        visit(), peer(name_birth=SAME_PERSON, niks=frozenset({OTHER_NIK})), Severity.HIGH, id="hit"
    ),
    pytest.param(
        visit(village_code=None, assigned_village="3573041002"),
        peer(name_birth=SAME_PERSON),
        Severity.HIGH,
        id="kecamatan-from-target",
    ),
    pytest.param(
        with_member(nik=None, registry_nik=None),
        peer(name_birth=SAME_PERSON),
        Severity.HIGH,
        id="member-without-nik",
    ),
    pytest.param(
        visit(), peer(name_birth=SAME_PERSON, niks=frozenset({NIK})), None, id="same-nik-is-v21"
    ),
    pytest.param(
        visit(), peer(name_birth=SAME_PERSON, kecamatan="357305"), None, id="other-kecamatan"
    ),
    pytest.param(
        with_member(birth_date=date(1985, 6, 6)), peer(name_birth=SAME_PERSON), None, id="other-bd"
    ),
    pytest.param(visit(village_code=None), peer(name_birth=SAME_PERSON), None, id="no-village"),
    pytest.param(with_member(name=None), peer(name_birth=SAME_PERSON), None, id="no-name"),
]


@pytest.mark.parametrize(("v", "other", "expected"), V23_CASES)
def test_v23_same_name_birth_other_nik(v: Visit, other: Peer, expected: Severity | None) -> None:
    """V23 fires for the same name key and birth date in the kecamatan under another NIK."""
    flags = check_case("V23", Facts(visit=v, peers=(other,)), expected)
    if flags:
        assert flags[0].evidence["kecamatan"] == SUKUN
        assert flags[0].evidence["other_submission_id"] == 2


# ---------------------------------------------------------------- V24


def nik_holders(*keys: str) -> Match:
    return Match("anggota[1]", None, same_nik_keys=keys)


V24_CASES = [
    pytest.param((nik_holders("5001", "7003"),), Severity.MED, id="two-ids"),
    pytest.param(
        (replace(nik_holders("5001", "7003", "9000"), same_nik_sources=("dtks", "dtks", "dtsen")),),
        Severity.MED,
        id="two-ids-in-one-source",
    ),
    pytest.param(
        (replace(nik_holders("5001", "9000"), same_nik_sources=("dtks", "dtsen")),),
        None,
        id="one-id-per-source",
    ),
    pytest.param((nik_holders("5001"),), None, id="one-id"),
    pytest.param((), None, id="no-match"),
]


@pytest.mark.parametrize(("matches", "expected"), V24_CASES)
def test_v24_registry_two_ids(matches: tuple[Match, ...], expected: Severity | None) -> None:
    """V24 fires when two or more registry persons hold the member's NIK."""
    flags = check_case("V24", Facts(visit=visit(), matches=matches), expected)
    if flags:
        assert flags[0].evidence["registry_keys"] == ["5001", "7003"]


# ---------------------------------------------------------------- V25

V25_CASES = [
    pytest.param(visit(), peer(phashes=frozenset({HASH})), 0, id="same-photo"),
    pytest.param(visit(), peer(phashes=frozenset({HASH ^ 0b111})), 3, id="three-bits"),
    pytest.param(
        visit(), peer(phashes=frozenset({HASH ^ 0b1111111, HASH ^ 0b11})), 2, id="closest-wins"
    ),
    pytest.param(visit(), peer(phashes=frozenset({HASH ^ 0b1111})), None, id="four-bits"),
    pytest.param(visit(), peer(phashes=frozenset()), None, id="peer-without-photos"),
    pytest.param(
        visit(photos=(Photo("foto_depan", "d.jpg", received=False, phash=HASH),)),
        peer(phashes=frozenset({HASH})),
        None,
        id="not-received",
    ),
    pytest.param(
        visit(photos=(Photo("foto_depan", "d.jpg", received=True, phash=0b101),)),
        peer(phashes=frozenset({0})),
        None,
        id="flat-image",
    ),
    pytest.param(visit(), peer(submission_id=1, phashes=frozenset({HASH})), None, id="itself"),
]


@pytest.mark.parametrize(("v", "other", "distance"), V25_CASES)
def test_v25_photo_reused(v: Visit, other: Peer, distance: int | None) -> None:
    """V25 fires when a received photo's hash is within three bits of another submission's."""
    flags = check_case(
        "V25", Facts(visit=v, peers=(other,)), None if distance is None else Severity.HIGH
    )
    if flags:
        assert flags[0].evidence == {
            "field": "foto_depan",
            "other_submission_id": 2,
            "distance": distance,
        }


def test_hamming_treats_signed_and_unsigned_alike() -> None:
    """A hash stored as a signed 64-bit integer compares equal to its unsigned twin."""
    unsigned = 0xF000_0000_0000_0001
    assert hamming(unsigned, unsigned - (1 << 64)) == 0
    assert hamming(HASH, HASH | 1 << 63) == 1


def test_duplicate_rules_are_silent_without_peers() -> None:
    """Without peers or registry holders no duplicate rule fires."""
    ids = {"V21", "V22", "V23", "V24", "V25"}
    flags = evaluate(Facts(visit=visit()))
    assert [f for f in flags if f.rule in ids or f.evidence.get("rule") in ids] == []
