"""Identity rules V01-V04 and V06-V10: NIK structure, NIK against reported sex and birth date,
the KK number, the same NIK twice, and the roster's logic (synthetic numbers only)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from rules_cases import run

from server.rules.catalog import evaluate
from server.rules.engine import RuleSettings
from server.rules.model import Facts, Member, Severity, Visit

TODAY = date(2026, 11, 23)
# Kota Malang, Sukun, woman born 5 June 1985: the domain's real example, clean.
MALANG_WOMAN = "3573044506850001"
MAN = "3573041208800002"  # Kota Malang, Sukun, man born 12 August 1980
GOOD_KK = "3573041502100003"  # Sukun, issued 15 February 2010


def member(path: str = "anggota[1]", **overrides: Any) -> Member:
    """A present registry member: the woman of the domain example."""
    base = Member(
        path=path,
        nik=MALANG_WOMAN,
        sex="P",
        birth_date=date(1985, 6, 5),
        relationship="1",
        status="ada",
    )
    return replace(base, **overrides)


def facts(*members: Member, today: date | None = TODAY, **visit: Any) -> Facts:
    """An interviewed household with the given members (one clean head by default)."""
    base = Visit(
        submission_id=1,
        outcome="ditemukan",
        consent=True,
        kk=GOOD_KK,
        members=members or (member(),),
    )
    return Facts(replace(base, **visit), today=today)


@pytest.mark.parametrize(
    ("rule_id", "nik", "fires"),
    [
        ("V01", "12345", True),
        ("V01", "35730445068500011", True),
        ("V01", "357304450685000A", True),
        ("V01", MALANG_WOMAN, False),
        ("V01", "3573 0445.0685-0001", False),
        ("V01", "", False),
        ("V01", None, False),
        ("V02", "9973044506850001", True),
        ("V02", "3500044506850001", True),
        ("V02", "3573004506850001", True),
        ("V02", "6501014506850001", False),  # Kalimantan Utara
        ("V02", "9301014506850001", False),
        ("V02", "9401014506850001", False),
        ("V02", "9501014506850001", False),
        ("V02", "9601014506850001", False),
        ("V02", "12345", False),  # V01 only
        ("V03", "3573043206850001", True),  # day 32
        ("V03", "3573047206850001", True),  # woman, day 72 - 40 = 32
        ("V03", "3573043102850001", True),  # 31 February
        ("V03", "3573046902000001", False),  # woman, 29 February 2000
        ("V03", "3573042902000001", False),  # man, 29 February 2000
        ("V03", "3573044506850001", False),
        ("V03", "12345", False),
        ("V04", "3573044506850000", True),
        ("V04", "3573044506850001", False),
        ("V04", "357304450685000", False),  # V01 only
    ],
)
def test_nik_structure(rule_id: str, nik: str | None, fires: bool) -> None:
    """V01-V04 fire on the structural error they own and on nothing else."""
    flags = run(rule_id, facts(member(nik=nik)))
    assert bool(flags) is fires
    for flag in flags:
        assert flag.rule == rule_id and flag.severity is Severity.BLOCK
        assert flag.fields == ("anggota[1]/nik",)
        assert flag.evidence["member_path"] == "anggota[1]"
        assert nik and nik not in flag.message_id + flag.message_en


def test_short_nik_gets_only_v01() -> None:
    """A NIK that is not 16 digits is reported once, by V01, not by V02-V04."""
    subject = facts(member(nik="0000000"))
    flags = [f for f in evaluate(subject) if f.rule in {"V01", "V02", "V03", "V04"}]
    assert [f.rule for f in flags] == ["V01"]
    assert flags[0].evidence["length"] == 7


def test_area_problems_are_one_flag() -> None:
    """Province unknown and kecamatan 00 on one NIK make one V02 flag listing both."""
    (flag,) = run("V02", facts(member(nik="9973004506850001")))
    assert flag.evidence["problems"] == ["province_unknown", "kecamatan_zero"]
    assert flag.evidence["nik_masked"] == "9973************"


@pytest.mark.parametrize(
    ("nik", "sex", "fires"),
    [
        (MALANG_WOMAN, "P", False),
        (MALANG_WOMAN, "L", True),
        (MAN, "L", False),
        (MAN, "P", True),
        (MAN, "p", True),
        (MALANG_WOMAN, None, False),
        (MALANG_WOMAN, "?", False),
        ("3573047206850001", "L", False),  # broken date: V03's, not V06's
        ("12345", "L", False),
    ],
)
def test_v06_sex_from_nik(nik: str, sex: str | None, fires: bool) -> None:
    """V06 fires when the sex the NIK encodes (women: day + 40) differs from the reported."""
    flags = run("V06", facts(member(nik=nik, sex=sex, birth_date=None)))
    assert bool(flags) is fires
    if fires:
        (flag,) = flags
        assert flag.severity is Severity.HIGH
        assert flag.evidence["reported_sex"] == sex.upper()  # type: ignore[union-attr]
        assert flag.fields == ("anggota[1]/nik", "anggota[1]/sex")


@pytest.mark.parametrize(
    ("nik", "born", "differs"),
    [
        (MALANG_WOMAN, date(1985, 6, 5), None),
        (MALANG_WOMAN, date(2085, 6, 5), None),  # only the century differs
        (MALANG_WOMAN, date(1885, 6, 5), None),
        (MALANG_WOMAN, date(1985, 6, 6), ["day"]),
        (MALANG_WOMAN, date(1985, 5, 6), ["day", "month"]),
        (MALANG_WOMAN, date(1986, 6, 5), ["year"]),
        (MAN, date(1980, 8, 12), None),
        (MAN, date(1980, 8, 13), ["day"]),
        (MALANG_WOMAN, None, None),
        ("3573043206850001", date(1985, 6, 5), None),  # broken date: V03's
    ],
)
def test_v07_birth_date_from_nik(nik: str, born: date | None, differs: list[str] | None) -> None:
    """V07 compares day, month and two-digit year, never the century."""
    flags = run("V07", facts(member(nik=nik, birth_date=born, sex=None)))
    if differs is None:
        assert flags == []
        return
    (flag,) = flags
    assert flag.severity is Severity.MED
    assert flag.evidence["differs"] == differs
    assert flag.evidence["reported_birth_date"] == born.isoformat()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kk", "registry_kk", "problems", "source"),
    [
        (GOOD_KK, None, None, None),
        (None, GOOD_KK, None, None),
        (None, None, None, None),
        ("", "", None, None),
        ("123", None, ["not_16_digits"], "field"),
        (None, "3573043202100003", ["issue_date_invalid"], "registry"),
        ("9973041502100003", "garbage", ["province_unknown"], "field"),
        ("3573001502100000", None, ["kecamatan_zero", "serial_zero"], "field"),
        ("", "3500041502100003", ["kabupaten_zero"], "registry"),
    ],
)
def test_v08_kk_malformed(
    kk: str | None, registry_kk: str | None, problems: list[str] | None, source: str | None
) -> None:
    """V08 checks the field's KK, else the registry's, with check_kk's structural errors."""
    flags = run("V08", facts(kk=kk, registry_kk=registry_kk))
    if problems is None:
        assert flags == []
        return
    (flag,) = flags
    assert flag.severity is Severity.HIGH
    assert flag.evidence["problems"] == problems
    assert flag.evidence["kk_source"] == source
    assert flag.fields == ("kk" if source == "field" else "registry_kk",)


@pytest.mark.parametrize(
    ("kk", "others"),
    [
        (MALANG_WOMAN, ["issue_date_invalid"]),  # a woman's NIK is no date as a KK
        (MAN, []),
        ("3573 0412.0880-0002", []),
    ],
)
def test_v08_kk_equals_member_nik(kk: str, others: list[str]) -> None:
    """A NIK typed into the KK field is one flag naming the member who holds it."""
    head = member(path="anggota[1]")
    husband = member(path="anggota[2]", nik=MAN, sex="L", relationship="2")
    (flag,) = run("V08", facts(head, husband, kk=kk))
    holder = "anggota[1]" if kk == MALANG_WOMAN else "anggota[2]"
    assert flag.evidence["member_paths"] == [holder]
    assert flag.evidence["problems"] == ["kk_is_member_nik", *others]
    assert flag.fields == ("kk", f"{holder}/nik")
    assert kk not in flag.message_id


def test_v08_registry_nik_of_member_without_field_nik_counts() -> None:
    """A dead member's registry NIK typed as the KK is still caught."""
    dead = member(path="anggota[2]", nik=None, registry_nik=MAN, status="meninggal")
    (flag,) = run("V08", facts(member(), dead, kk=MAN))
    assert flag.evidence["member_paths"] == ["anggota[2]"]


@pytest.mark.parametrize(
    ("second", "paths"),
    [
        (member(path="anggota_baru[1]", new=True, status=None), ["anggota[1]", "anggota_baru[1]"]),
        (
            member(path="anggota_baru[1]", nik="3573-0445-0685-0001", new=True),
            ["anggota[1]", "anggota_baru[1]"],
        ),
        (
            member(path="anggota[2]", nik=None, registry_nik=MALANG_WOMAN, status="meninggal"),
            ["anggota[1]", "anggota[2]"],
        ),
        (
            member(path="anggota[2]", nik=None, registry_nik=MALANG_WOMAN, nik_corrected=True),
            None,
        ),
        (member(path="anggota[2]", nik=MAN), None),
        (member(path="anggota[2]", nik=""), None),
    ],
)
def test_v09_same_nik_twice(second: Member, paths: list[str] | None) -> None:
    """V09 fires once per repeated NIK, naming every path, present or not."""
    flags = run("V09", facts(member(), second))
    if paths is None:
        assert flags == []
        return
    (flag,) = flags
    assert flag.severity is Severity.BLOCK
    assert flag.evidence["member_paths"] == paths
    assert flag.evidence["nik_masked"] == "3573************"
    assert flag.fields == tuple(f"{p}/nik" for p in paths)


def test_v09_two_empty_niks_are_no_duplicate() -> None:
    """People without a NIK yet are not duplicates of each other."""
    assert run("V09", facts(member(nik=None), member(path="anggota[2]", nik=""))) == []


HEAD = member(path="anggota[1]", relationship="1", birth_date=date(1970, 1, 1))
SPOUSE = member(path="anggota[2]", nik=None, relationship="2", birth_date=date(1975, 1, 1))
CHILD = member(path="anggota[3]", nik=None, relationship="3", birth_date=date(2000, 1, 1))


@pytest.mark.parametrize(
    ("people", "problems"),
    [
        ((HEAD, SPOUSE, CHILD), []),
        ((replace(HEAD, relationship="8"), SPOUSE), ["no_head"]),
        ((HEAD, replace(SPOUSE, relationship="1")), ["several_heads"]),
        ((HEAD, replace(HEAD, path="anggota[4]", status="meninggal")), []),  # not present
        ((HEAD, SPOUSE, replace(CHILD, birth_date=date(1980, 1, 1))), ["child_too_old"] * 2),
        ((HEAD, SPOUSE, replace(CHILD, birth_date=date(1986, 12, 31))), ["child_too_old"]),
        ((HEAD, SPOUSE, replace(CHILD, birth_date=date(1987, 1, 1))), []),  # exactly 12
        ((HEAD, SPOUSE, replace(CHILD, birth_date=None)), []),
        ((replace(HEAD, birth_date=None), SPOUSE, CHILD), []),
        (
            (HEAD, SPOUSE, replace(SPOUSE, path="anggota[5]", birth_date=date(1995, 1, 1)), CHILD),
            [],  # the child need only be the child of one spouse
        ),
        ((HEAD, replace(CHILD, birth_date=date(2027, 1, 1))), ["born_in_future"]),
        ((replace(HEAD, birth_date=date(1900, 1, 1)), SPOUSE), ["too_old"]),
        ((replace(HEAD, birth_date=date(1915, 11, 24)), SPOUSE), []),  # 110 until tomorrow
        ((replace(HEAD, birth_date=date(1915, 11, 23)), SPOUSE), ["too_old"]),  # 111 today
        (
            (replace(HEAD, relationship="2"), replace(CHILD, birth_date=date(1975, 1, 1))),
            ["no_head", "child_too_old"],
        ),
    ],
)
def test_v10_roster_logic(people: tuple[Member, ...], problems: list[str]) -> None:
    """V10 reports each roster problem of an interviewed household as its own flag."""
    flags = run("V10", facts(*people))
    assert [f.evidence["problem"] for f in flags] == problems
    assert all(f.rule == "V10" and f.severity is Severity.HIGH for f in flags)


def test_v10_child_gap_evidence() -> None:
    """A child 10 years younger than the head names both and the gap."""
    child = replace(CHILD, birth_date=date(1980, 6, 1))
    (flag,) = run("V10", facts(HEAD, child))
    assert flag.evidence == {
        "problem": "child_too_old",
        "child_path": "anggota[3]",
        "parent_path": "anggota[1]",
        "parent_role": "head",
        "gap_years": 10,
        "min_gap_years": 12,
    }


@pytest.mark.parametrize(
    ("visit", "today"),
    [
        ({"consent": False}, TODAY),
        ({"consent": None}, TODAY),
        ({"outcome": "pindah"}, TODAY),
        ({"outcome": "menolak"}, TODAY),
    ],
)
def test_v10_only_for_interviewed_households(visit: dict[str, Any], today: date) -> None:
    """Without consent, or for an outcome with no interview, the roster is not judged."""
    assert run("V10", facts(replace(HEAD, relationship="8"), today=today, **visit)) == []


def test_v10_usulan_baru_is_interviewed() -> None:
    """A new-household proposal's roster is judged like a found household's."""
    flags = run("V10", facts(replace(HEAD, relationship="8", new=True), outcome="usulan_baru"))
    assert [f.evidence["problem"] for f in flags] == ["no_head"]


def test_v10_no_today_skips_ages_only() -> None:
    """Without facts.today ages are not checked, the rest still is."""
    old = replace(HEAD, birth_date=date(1900, 1, 1), relationship="8")
    flags = run("V10", facts(old, today=None))
    assert [f.evidence["problem"] for f in flags] == ["no_head"]


def test_v10_thresholds_come_from_settings() -> None:
    """A form may lower the parent gap and the age limit."""
    child = replace(CHILD, birth_date=date(1980, 6, 1))
    old = replace(SPOUSE, birth_date=date(1940, 1, 1))
    settings = RuleSettings(thresholds={"V10": {"min_parent_gap_years": 10, "max_age_years": 80}})
    flags = run("V10", facts(HEAD, old, child), settings)
    assert [f.evidence["problem"] for f in flags] == ["too_old"]


def test_clean_household_raises_no_identity_flag() -> None:
    """The domain example with a husband, a child and a sound KK passes every identity rule."""
    husband = member(
        path="anggota[2]", nik=MAN, sex="L", birth_date=date(1980, 8, 12), relationship="2"
    )
    child = member(
        path="anggota_baru[1]",
        nik="3573040105100004",
        sex="L",
        birth_date=date(2010, 5, 1),
        relationship="3",
        status=None,
        new=True,
    )
    flags = [f for f in evaluate(facts(member(), husband, child)) if f.rule < "V11"]
    assert flags == []


def test_rules_survive_empty_visit() -> None:
    """A visit with no members, no KK and no today yields no identity flag and no error."""
    empty = Facts(Visit(submission_id=2))
    flags = [f for f in evaluate(empty) if f.rule < "V11" or f.rule == "ENGINE"]
    assert flags == []
