"""Registry rules (V13-V20, V50): each rule on small synthetic facts, cases that fire and
cases that must not. Every name and number is synthetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import rules_cases
from rules_cases import run

from server.rules.catalog import evaluate
from server.rules.engine import RuleSettings
from server.rules.model import (
    Facts,
    Flag,
    Match,
    Member,
    Photo,
    Point,
    RegistryPerson,
    Severity,
    Visit,
)

NIK = "3573044506850001"  # Kota Malang, Sukun, a woman born 5 June 1985
NIK_TYPO = "3573044506850007"  # the serial's last digit mistyped
NIK_SWAPPED = "3573044506580001"  # two neighbouring digits swapped
OTHER_NIK = "3573041203900002"
BORN = date(1985, 6, 5)
HERE = Point(-7.98, 112.62, accuracy=5.0)
PHOTO = Photo("foto_depan", "depan.jpg", received=True, phash=0x0F0F0F0F0F0F0F0F)


def check_case(rule_id: str, f: Facts, expected: Severity | None) -> list[Flag]:
    """One table case, with no full NIK, KK or name in the message."""
    return rules_cases.check_case(rule_id, f, expected, hidden=(NIK, "Siti"))


def visit(**overrides: Any) -> Visit:
    base = Visit(
        submission_id=1,
        target_key="1001",
        target_known=True,
        target_on_own_list=True,
        visit_type="daftar",
        outcome="ditemukan",
        village_code="3573041001",
    )
    return replace(base, **overrides)


def member(**overrides: Any) -> Member:
    base = Member(
        path="anggota[1]",
        nik=NIK,
        name="Siti Aminah",
        sex="P",
        birth_date=BORN,
        relationship="1",
        status="ada",
        registry_key="5001",
        registry_nik=NIK,
    )
    return replace(base, **overrides)


def new_member(**overrides: Any) -> Member:
    base = member(
        path="anggota_baru[1]",
        relationship="3",
        status=None,
        registry_key=None,
        registry_nik=None,
        new=True,
    )
    return replace(base, **overrides)


def person(**overrides: Any) -> RegistryPerson:
    base = RegistryPerson("5001", "dtks", NIK, "SITI AMINAH", BORN, "P", padan=True)
    return replace(base, **overrides)


def match(path: str = "anggota[1]", **overrides: Any) -> Match:
    base = Match(path, person(), 0.99, "auto_link", ("nik_exact",), ("nik",), ("5001",))
    return replace(base, **overrides)


def facts(*members: Member, matches: tuple[Match, ...] = (), **overrides: Any) -> Facts:
    v = overrides.pop("visit", visit())
    return Facts(visit=replace(v, members=members or v.members), matches=matches, **overrides)


# ---------------------------------------------------------------- V13


V13_CASES = [
    pytest.param(visit(), None, None, id="own-list"),
    pytest.param(
        visit(visit_type="usulan_baru", outcome="usulan_baru", target_key=None, target_known=False),
        None,
        None,
        id="proposal-without-target",
    ),
    pytest.param(
        visit(visit_type=None, outcome="usulan_baru", target_key=None), None, None, id="proposal"
    ),
    pytest.param(visit(target_key=None, target_known=False), Severity.BLOCK, "missing", id="none"),
    pytest.param(visit(target_known=False), Severity.BLOCK, "unknown", id="unknown-target"),
    pytest.param(visit(target_on_own_list=False), Severity.HIGH, "other_list", id="other-list"),
    pytest.param(visit(visit_type=None, target_key=None), Severity.BLOCK, "missing", id="no-type"),
]


@pytest.mark.parametrize(("v", "expected", "reason"), V13_CASES)
def test_v13_target_must_be_on_own_list(
    v: Visit, expected: Severity | None, reason: str | None
) -> None:
    """V13 blocks a missing or unknown target, grades a colleague's target HIGH, skips proposals."""
    flags = check_case("V13", facts(visit=v), expected)
    if flags:
        assert flags[0].evidence["reason"] == reason
        assert flags[0].fields == ("target_key",)


def test_v13_graded_case_follows_a_lowered_severity() -> None:
    """V13's graded case never ends up more severe than the rule's configured severity."""
    settings = RuleSettings(severities={"V13": Severity.MED})
    other = run("V13", facts(visit=visit(target_on_own_list=False)), settings)
    unknown = run("V13", facts(visit=visit(target_known=False)), settings)
    assert [f.severity for f in other + unknown] == [Severity.MED, Severity.MED]


# ---------------------------------------------------------------- V14

NEW = new_member()
NEW_PATH = NEW.path

V14_CASES = [
    pytest.param(facts(NEW), Severity.HIGH, id="new-no-match"),
    pytest.param(
        facts(NEW, matches=(match(NEW_PATH, band="no_match", score=0.2, same_nik_keys=()),)),
        Severity.HIGH,
        id="new-candidate-below-review",
    ),
    pytest.param(facts(new_member(id_photo=True)), None, id="photo-given"),
    pytest.param(facts(new_member(nik=None)), None, id="no-nik"),
    pytest.param(facts(NEW, matches=(match(NEW_PATH, band="review"),)), None, id="fuzzy-match"),
    pytest.param(
        facts(NEW, matches=(match(NEW_PATH, band="no_match", same_nik_keys=("5009",)),)),
        None,
        id="nik-in-registry-elsewhere",
    ),
    pytest.param(facts(member()), None, id="listed-member"),
    pytest.param(facts(new_member(status="meninggal", new=False)), None, id="not-present"),
]


@pytest.mark.parametrize(("f", "expected"), V14_CASES)
def test_v14_new_person_needs_id_photo(f: Facts, expected: Severity | None) -> None:
    """V14 fires for a present person whose NIK and person are not in the registry, no photo."""
    flags = check_case("V14", f, expected)
    if flags:
        assert flags[0].evidence["nik_masked"] == "3573************"
        assert f"{NEW_PATH}/id_photo" in flags[0].fields


# ---------------------------------------------------------------- V15

OTHER = person(name="Bambang Sutrisno", birth_date=date(1960, 2, 1), sex="L")

V15_CASES = [
    pytest.param(facts(member(), matches=(match(person=OTHER),)), Severity.HIGH, id="other"),
    pytest.param(
        facts(NEW, matches=(match(NEW_PATH, person=OTHER, band="no_match", score=0.01),)),
        Severity.HIGH,
        id="new-member-uses-someone-elses-nik",
    ),
    pytest.param(
        facts(
            member(),
            matches=(match(person=replace(OTHER, nik=None), same_nik_keys=("5001",)),),
        ),
        Severity.HIGH,
        id="holder-by-key",
    ),
    pytest.param(
        facts(member(), matches=(match(person=replace(OTHER, birth_date=BORN)),)),
        None,
        id="only-name-differs",
    ),
    pytest.param(
        facts(member(), matches=(match(person=person(birth_date=date(1985, 6, 6))),)),
        None,
        id="only-birth-date-differs",
    ),
    pytest.param(
        facts(member(), matches=(match(person=replace(OTHER, birth_date=None)),)),
        None,
        id="registry-birth-date-unknown",
    ),
    pytest.param(
        facts(
            member(),
            matches=(match(person=replace(OTHER, nik=OTHER_NIK, key="5009"), same_nik_keys=()),),
        ),
        None,
        id="candidate-without-the-nik",
    ),
    pytest.param(facts(member()), None, id="no-match"),
]


@pytest.mark.parametrize(("f", "expected"), V15_CASES)
def test_v15_nik_of_another_person(f: Facts, expected: Severity | None) -> None:
    """V15 fires only when the NIK holder differs in both name and birth date."""
    flags = check_case("V15", f, expected)
    if flags:
        assert flags[0].evidence["registry_key"] == "5001"
        assert flags[0].evidence["registry_birth_date"] == "1960-02-01"
        assert flags[0].evidence["name_similarity"] < 0.80


# ---------------------------------------------------------------- V16

TYPO = member(nik=NIK_TYPO, registry_nik=None, registry_key=None)
TYPO_MATCH = match(reasons=("nik_one_typo", "name_equal"), score=0.92, same_nik_keys=())

V16_CASES = [
    pytest.param(facts(TYPO, matches=(TYPO_MATCH,)), Severity.MED, id="one-digit"),
    pytest.param(
        facts(replace(TYPO, nik=NIK_SWAPPED), matches=(TYPO_MATCH,)), Severity.MED, id="swap"
    ),
    pytest.param(
        facts(replace(TYPO, name="Siti Aminnah"), matches=(TYPO_MATCH,)),
        Severity.MED,
        id="name-spelling",
    ),
    pytest.param(facts(member(), matches=(match(),)), None, id="same-nik"),
    pytest.param(
        facts(TYPO, matches=(replace(TYPO_MATCH, person=person(name="Bambang Sutrisno")),)),
        None,
        id="other-name",
    ),
    pytest.param(
        facts(TYPO, matches=(replace(TYPO_MATCH, person=person(birth_date=date(1985, 6, 6))),)),
        None,
        id="other-birth-date",
    ),
    pytest.param(
        facts(TYPO, matches=(replace(TYPO_MATCH, person=person(nik=OTHER_NIK)),)),
        None,
        id="far-nik",
    ),
    pytest.param(facts(replace(TYPO, birth_date=None), matches=(TYPO_MATCH,)), None, id="no-bd"),
]


@pytest.mark.parametrize(("f", "expected"), V16_CASES)
def test_v16_nik_one_typo_proposes_correction(f: Facts, expected: Severity | None) -> None:
    """V16 proposes the registry NIK when one typo separates same-name, same-birth persons."""
    flags = check_case("V16", f, expected)
    if flags:
        assert flags[0].evidence["proposed_nik_masked"] == "3573************"
        assert flags[0].evidence["registry_key"] == "5001"


# The enumerator corrected the listed NIK; no registry candidate carries either NIK.
CORRECTED = member(nik=NIK_TYPO, registry_nik=NIK, nik_corrected=True, registry_key="5001")

V16_LIST_CASES = [
    pytest.param(facts(CORRECTED, matches=()), Severity.MED, id="corrected-one-digit"),
    pytest.param(
        facts(replace(CORRECTED, nik=NIK_SWAPPED), matches=()), Severity.MED, id="corrected-swap"
    ),
    pytest.param(facts(replace(CORRECTED, nik=OTHER_NIK), matches=()), None, id="corrected-far"),
    pytest.param(
        facts(replace(CORRECTED, nik_corrected=False), matches=()), None, id="not-corrected"
    ),
]


@pytest.mark.parametrize(("f", "expected"), V16_LIST_CASES)
def test_v16_corrected_nik_one_typo_from_the_list(f: Facts, expected: Severity | None) -> None:
    """V16 fires when a corrected NIK is one typo from the NIK the list showed."""
    flags = check_case("V16", f, expected)
    if flags:
        assert flags[0].evidence["source"] == "list_row"
        assert flags[0].evidence["listed_nik_masked"] == "3573************"


# ---------------------------------------------------------------- V17

DEAD = member(status="meninggal", death_date=date(2024, 3, 1))

V17_CASES = [
    pytest.param(facts(DEAD, matches=(match(),)), Severity.HIGH, id="no-document"),
    pytest.param(facts(DEAD), Severity.HIGH, id="no-document-no-match"),
    pytest.param(facts(replace(DEAD, death_document=True)), None, id="document"),
    pytest.param(facts(replace(DEAD, registry_dead=True)), None, id="registry-knows"),
    pytest.param(
        facts(DEAD, matches=(match(person=person(dead=True)),)), None, id="registry-person-dead"
    ),
    pytest.param(facts(member()), None, id="alive"),
]


@pytest.mark.parametrize(("f", "expected"), V17_CASES)
def test_v17_death_needs_document(f: Facts, expected: Severity | None) -> None:
    """V17 fires for a death the registry does not know, reported without a document."""
    flags = check_case("V17", f, expected)
    if flags:
        assert flags[0].evidence["death_date"] == "2024-03-01"


# ---------------------------------------------------------------- V18

V18_CASES = [
    pytest.param(facts(member(registry_dead=True)), Severity.HIGH, id="list-row-dead"),
    pytest.param(
        facts(NEW, matches=(match(NEW_PATH, person=person(dead=True)),)),
        Severity.HIGH,
        id="new-member-is-dead-person",
    ),
    pytest.param(
        facts(NEW, matches=(match(NEW_PATH, person=person(dead=True), band="no_match"),)),
        None,
        id="dead-candidate-not-a-match",
    ),
    pytest.param(facts(member(registry_dead=True, status="meninggal")), None, id="confirmed"),
    pytest.param(facts(member(registry_dead=True, status="pindah_dalam_negeri")), None, id="gone"),
    pytest.param(facts(member(), matches=(match(),)), None, id="alive"),
]


@pytest.mark.parametrize(("f", "expected"), V18_CASES)
def test_v18_registry_dead_listed_as_living(f: Facts, expected: Severity | None) -> None:
    """V18 fires when a person the registry has as dead is present in the field."""
    check_case("V18", f, expected)


def test_v18_names_the_programmes() -> None:
    """V18's evidence carries the household's current programmes."""
    f = facts(member(registry_dead=True), household_programmes=frozenset({"PKH", "BPNT"}))
    [flag] = run("V18", f)
    assert flag.evidence["programmes"] == ["BPNT", "PKH"]
    assert flag.evidence["source"] == "list_row"


# ---------------------------------------------------------------- V19

GONE = visit(outcome="pindah", location=HERE, photos=(PHOTO,), informant="Ketua RT")

V19_CASES = [
    pytest.param(GONE, None, id="complete"),
    pytest.param(replace(GONE, location=None), ["location"], id="no-location"),
    pytest.param(
        replace(GONE, outcome="tidak_ditemukan", photos=(replace(PHOTO, received=False),)),
        ["photo"],
        id="photo-not-received",
    ),
    pytest.param(
        replace(GONE, outcome="ganda", location=None, photos=(), informant=" "),
        ["location", "photo", "informant"],
        id="nothing",
    ),
    pytest.param(
        replace(GONE, outcome="bagian_ruta_lain", informant=None), ["informant"], id="no-informant"
    ),
    pytest.param(visit(outcome="ditemukan"), None, id="found"),
    pytest.param(visit(outcome="menolak"), None, id="refused"),
]


@pytest.mark.parametrize(("v", "missing"), V19_CASES)
def test_v19_not_found_needs_evidence(v: Visit, missing: list[str] | None) -> None:
    """V19 lists, in one flag, the location, photo or informant a not-found visit lacks."""
    flags = check_case("V19", facts(visit=v), Severity.HIGH if missing else None)
    if flags:
        assert flags[0].evidence["missing"] == missing


# ---------------------------------------------------------------- V20

HEAD = member()
WIFE = member(path="anggota[2]", relationship="2", registry_key="5002", nik=OTHER_NIK)
CHILD = member(path="anggota[3]", relationship="3", registry_key="5003", nik=None)
SON_IN_LAW_HEAD = new_member(relationship="1", nik=None)

V20_CASES = [
    pytest.param(
        facts(replace(HEAD, status="meninggal"), replace(WIFE, relationship="1")),
        True,
        0,
        1,
        id="head-dead-wife-head",
    ),
    pytest.param(
        facts(replace(HEAD, status="pindah_dalam_negeri"), WIFE, SON_IN_LAW_HEAD),
        True,
        1,
        1,
        id="head-moved-new-head",
    ),
    pytest.param(
        facts(
            HEAD,
            replace(WIFE, status="meninggal"),
            replace(CHILD, status="pindah_luar_negeri"),
            new_member(),
        ),
        False,
        1,
        2,
        id="three-changes",
    ),
    pytest.param(facts(HEAD, WIFE, CHILD, new_member()), None, 0, 0, id="one-birth"),
    pytest.param(
        facts(replace(HEAD, status="meninggal"), WIFE, CHILD), None, 0, 0, id="head-died-no-new"
    ),
    pytest.param(
        facts(replace(HEAD, status=None), WIFE, SON_IN_LAW_HEAD), None, 0, 0, id="status-unknown"
    ),
    pytest.param(
        facts(
            new_member(relationship="1"),
            new_member(path="anggota_baru[2]"),
            new_member(path="anggota_baru[3]"),
            visit=visit(visit_type="usulan_baru", outcome="usulan_baru", target_key=None),
        ),
        None,
        0,
        0,
        id="proposal",
    ),
]


@pytest.mark.parametrize(("f", "head", "added", "removed"), V20_CASES)
def test_v20_big_composition_change(f: Facts, head: bool | None, added: int, removed: int) -> None:
    """V20 fires once when the head is replaced or enough members came and went."""
    flags = check_case("V20", f, None if head is None else Severity.MED)
    if flags:
        assert flags[0].evidence == {"head_replaced": head, "added": added, "removed": removed}


# ---------------------------------------------------------------- V50

NOT_PADAN = match(person=person(padan=False))

V50_CASES = [
    pytest.param(facts(member(), matches=(NOT_PADAN,)), Severity.HIGH, id="kept"),
    pytest.param(
        facts(member(nik=None), matches=(NOT_PADAN,)), Severity.HIGH, id="registry-nik-kept"
    ),
    pytest.param(
        facts(member(nik=OTHER_NIK, nik_corrected=True), matches=(NOT_PADAN,)),
        None,
        id="corrected",
    ),
    pytest.param(facts(member(), matches=(match(),)), None, id="padan"),
    pytest.param(
        facts(member(), matches=(match(person=person(padan=None)),)), None, id="padan-unknown"
    ),
    pytest.param(facts(member(status="meninggal"), matches=(NOT_PADAN,)), None, id="dead"),
]


@pytest.mark.parametrize(("f", "expected"), V50_CASES)
def test_v50_nik_not_padan_not_corrected(f: Facts, expected: Severity | None) -> None:
    """V50 fires for a present person keeping a registry NIK that Dukcapil did not match."""
    flags = check_case("V50", f, expected)
    if flags:
        assert flags[0].evidence == {"nik_masked": "3573************", "registry_key": "5001"}


def test_registry_rules_are_silent_on_empty_facts() -> None:
    """A proposal with no members, photos or matches raises nothing in any registry rule."""
    empty = Facts(visit=Visit(submission_id=1, visit_type="usulan_baru", outcome="usulan_baru"))
    ids = {"V13", "V14", "V15", "V16", "V17", "V18", "V19", "V20", "V50"}
    flags = evaluate(empty)
    assert [f for f in flags if f.rule in ids or f.evidence.get("rule") in ids] == []
