"""NIK and KK checks: the known tricky cases and properties over generated numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.registry.identity import PROVINCES, check_kk, check_nik, mask

TODAY = date(2026, 11, 23)


def nik(province: str, kab: str, kec: str, born: date, woman: bool, serial: str) -> str:
    day = born.day + (40 if woman else 0)
    return f"{province}{kab}{kec}{day:02d}{born.month:02d}{born.year % 100:02d}{serial}"


def test_domain_example_decodes() -> None:
    """3573044506850001 is a woman from Sukun, Kota Malang, born 5 June 1985."""
    check = check_nik("3573044506850001", today=TODAY)
    assert check.valid and not check.warnings
    assert (check.province, check.kabupaten, check.kecamatan) == ("35", "3573", "357304")
    assert check.sex == "P" and check.birth_date == date(1985, 6, 5) and check.serial == "0001"


def test_separators_are_ignored() -> None:
    """Spaces, dots and dashes typed between the digits do not matter."""
    assert check_nik("3573 0445.0685-0001", today=TODAY).valid


@pytest.mark.parametrize("value", ["", "123", "35730445068500011", "357304450685000A"])
def test_not_sixteen_digits(value: str) -> None:
    """Anything but 16 digits is an error."""
    assert check_nik(value, today=TODAY).codes() == {"not_16_digits"}


def test_there_are_38_provinces() -> None:
    """Kepmendagri 2025 lists 38 province codes."""
    assert len(PROVINCES) == 38


@pytest.mark.parametrize("province", ["65", "93", "94", "95", "96", "91", "92", "21"])
def test_new_and_easily_forgotten_provinces_are_valid(province: str) -> None:
    """Kalimantan Utara (65) and Papua's new provinces (93-96) are real provinces."""
    assert check_nik(f"{province}01011201850001", today=TODAY).valid


@pytest.mark.parametrize("province", ["00", "10", "20", "37", "50", "66", "77", "83", "97", "99"])
def test_unknown_provinces_are_errors(province: str) -> None:
    """A province code outside the 38 is an error."""
    assert "province_unknown" in check_nik(f"{province}01011201850001", today=TODAY).codes()


def test_zero_kabupaten_and_kecamatan_are_errors() -> None:
    """Kabupaten or kecamatan 00 cannot be."""
    assert "kabupaten_zero" in check_nik("3500041201850001", today=TODAY).codes()
    assert "kecamatan_zero" in check_nik("3573001201850001", today=TODAY).codes()


def test_leap_day_needs_a_leap_century() -> None:
    """29 February 00 is real (2000), 29 February 01 is not."""
    check = check_nik("3573042902000001", today=TODAY)
    assert check.valid and check.birth_date == date(2000, 2, 29)
    assert "birth_date_invalid" in check_nik("3573042902010001", today=TODAY).codes()


def test_woman_born_on_the_31st_has_day_71() -> None:
    """Day 71 is the 31st for a woman, valid only in a month with 31 days."""
    assert check_nik("3573047101850001", today=TODAY).birth_date == date(1985, 1, 31)
    assert "birth_date_invalid" in check_nik("3573047104850001", today=TODAY).codes()


@pytest.mark.parametrize("day", ["00", "40", "32", "72", "99"])
def test_impossible_days_are_errors(day: str) -> None:
    """Day 0 (or 40 = woman's day 0) and days past 31 (or 71) are not dates."""
    assert "birth_date_invalid" in check_nik(f"357304{day}01850001", today=TODAY).codes()


def test_serial_zero_is_an_error() -> None:
    """Serials start at 0001."""
    assert "serial_zero" in check_nik("3573044506850000", today=TODAY).codes()


def test_code_from_before_a_split_is_only_a_warning() -> None:
    """A kabupaten code missing from today's list is flagged, not rejected."""
    regions = {"35", "3573", "357304"}
    check = check_nik("6471014506850001", regions | {"64"}, today=TODAY)
    assert check.valid and "kabupaten_not_current" in check.codes()
    assert check_nik("3573044506850001", regions, today=TODAY).warnings == []
    assert "kecamatan_not_current" in check_nik("3573094506850001", regions, today=TODAY).codes()


def test_reported_sex_and_birth_date_are_compared() -> None:
    """Sex or birth date that differ from what was reported become warnings."""
    check = check_nik(
        "3573044506850001", today=TODAY, reported_sex="L", reported_birth_date=date(1985, 5, 6)
    )
    assert check.valid and {"sex_mismatch", "birth_date_mismatch"} <= check.codes()


def test_two_digit_year_century_from_reported_age() -> None:
    """Born '05': the reported age tells 2005 from 1905."""
    assert "century_ambiguous" in check_nik("3573040101050001", today=TODAY).codes()
    old = check_nik("3573040101050001", today=TODAY, reported_age=121)
    assert old.birth_date == date(1905, 1, 1) and "century_ambiguous" not in old.codes()
    young = check_nik("3573040101050001", today=TODAY, reported_age=21)
    assert young.birth_date == date(2005, 1, 1)


def test_a_year_in_the_future_means_the_1900s() -> None:
    """A two-digit year that would put the birth after today is read in the 1900s."""
    check = check_nik("3573040112260001", today=TODAY)  # 1 Dec 26: 1926 is possible
    assert check.birth_date == date(1926, 12, 1)


def test_kk_checks() -> None:
    """KK numbers carry an issue date without +40; a member's NIK typed as KK is caught."""
    assert check_kk("3573040101150001", today=TODAY).valid
    woman_nik = "3573044506850001"
    check = check_kk(woman_nik, today=TODAY, member_niks={woman_nik})
    assert {"kk_is_member_nik", "issue_date_invalid"} <= check.codes()
    assert "tampak seperti NIK" in next(
        i.id for i in check.errors if i.code == "issue_date_invalid"
    )
    assert "serial_zero" in check_kk("3573040101150000", today=TODAY).codes()


def test_mask_keeps_only_the_area() -> None:
    """Masked NIKs show province and kabupaten only."""
    assert mask("3573044506850001") == "3573************"
    assert mask(None) == ""


PROVINCE = st.sampled_from(sorted(PROVINCES))
TWO = st.integers(1, 99).map(lambda n: f"{n:02d}")
BORN = st.dates(min_value=date(1927, 1, 1), max_value=TODAY)
SERIAL = st.integers(1, 9999).map(lambda n: f"{n:04d}")


@settings(max_examples=300, deadline=None)
@given(PROVINCE, TWO, TWO, BORN, st.booleans(), SERIAL)
def test_any_well_formed_nik_is_valid_and_decodes(province, kab, kec, born, woman, serial):  # type: ignore[no-untyped-def]
    """A NIK built from real parts is valid and gives those parts back."""
    check = check_nik(
        nik(province, kab, kec, born, woman, serial), today=TODAY, reported_birth_date=born
    )
    assert check.valid, check.errors
    assert check.birth_date == born and check.sex == ("P" if woman else "L")
    assert check.kecamatan == province + kab + kec and check.serial == serial


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 .-x", max_size=24))
def test_checking_never_raises(value: str) -> None:
    """Any input gets a verdict, and a valid one always has a birth date in the past."""
    check = check_nik(value, today=TODAY)
    if check.valid:
        assert check.birth_date is not None and check.birth_date <= TODAY
        assert check.province in PROVINCES


@settings(max_examples=200, deadline=None)
@given(PROVINCE, TWO, TWO, BORN, SERIAL)
def test_one_day_past_month_end_is_invalid(province, kab, kec, born, serial):  # type: ignore[no-untyped-def]
    """The day after a month's last day never passes (for men and women alike)."""
    last = (born.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    day = last.day + 1
    for offset in (0, 40):
        value = (
            f"{province}{kab}{kec}{day + offset:02d}{born.month:02d}{born.year % 100:02d}{serial}"
        )
        check = check_nik(value, today=TODAY)
        if not (born.month == 2 and day == 29):  # 29 Feb can be real in the other century
            assert "birth_date_invalid" in check.codes()
