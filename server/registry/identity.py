"""NIK and KK numbers: what they encode and whether they can be real (pure, no I/O).

NIK, 16 digits `PP KK CC DDMMYY SSSS`: province, kabupaten (01-69) or kota (71-99), the
kecamatan where it was issued, birth date with 40 added to the day for women, and a serial
from 0001. KK (family card) number: the same 6-digit area, the card's issue date DDMMYY
(no +40) and a serial.

Hard errors make a number impossible: not 16 digits, an unknown province, kabupaten or
kecamatan 00, no real date, serial 0000. Warnings are things a reviewer should see but that
real, valid numbers do: an area code that is not in today's region list (codes survive
region splits: Kalimantan Utara NIKs start with 64, Papua's new provinces with 91/92), a
two-digit year whose century cannot be told, a sex or birth date that disagrees with what
was reported. Province codes follow Kepmendagri 2025 (38 provinces); python-stdnum's NIK
check wrongly rejects 65 and 93-96, which is one reason this module exists.

Region lookups are injected (`RegionCodes`), so the rules engine can call this without a
database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol

PROVINCES: frozenset[str] = frozenset(
    [str(code) for code in range(11, 20)]
    + ["21"]
    + [str(code) for code in range(31, 37)]
    + ["51", "52", "53"]
    + [str(code) for code in range(61, 66)]
    + [str(code) for code in range(71, 77)]
    + ["81", "82"]
    + [str(code) for code in range(91, 97)]
)
_SEPARATORS = re.compile(r"[\s.\-]")
_DIGITS16 = re.compile(r"[0-9]{16}")

Sex = Literal["L", "P"]  # laki-laki, perempuan


class RegionCodes(Protocol):
    """Today's Kemendagri codes, undotted: '35', '3573', '357304'."""

    def __contains__(self, code: object) -> bool: ...


@dataclass(frozen=True)
class Issue:
    """One finding about a number, with a stable code and messages in id and en."""

    code: str
    id: str
    en: str


@dataclass
class Check:
    """The outcome of checking one NIK or KK number."""

    input: str
    digits: str | None = None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    province: str | None = None
    kabupaten: str | None = None  # 4 digits: province + kab/kota
    kecamatan: str | None = None  # 6 digits
    sex: Sex | None = None  # NIK only
    birth_date: date | None = None  # NIK: the date it encodes (century resolved if possible)
    issue_date: date | None = None  # KK only
    serial: str | None = None

    @property
    def valid(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {issue.code for issue in (*self.errors, *self.warnings)}


def _issue(code: str, id_: str, en: str) -> Issue:
    return Issue(code, id_, en)


def _digits(value: str) -> str | None:
    cleaned = _SEPARATORS.sub("", value or "")
    return cleaned if _DIGITS16.fullmatch(cleaned) else None


def _real_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _check_area(check: Check, digits: str, regions: RegionCodes | None, what: str) -> None:
    province, kab, kec = digits[:2], digits[2:4], digits[4:6]
    check.province, check.kabupaten, check.kecamatan = province, digits[:4], digits[:6]
    if province not in PROVINCES:
        check.errors.append(
            _issue(
                "province_unknown",
                f"Kode provinsi {province} pada {what} tidak ada.",
                f"Province code {province} in the {what} does not exist.",
            )
        )
    if kab == "00":
        check.errors.append(
            _issue(
                "kabupaten_zero",
                f"Kode kabupaten/kota pada {what} tidak boleh 00.",
                f"The kabupaten/kota code in the {what} cannot be 00.",
            )
        )
    if kec == "00":
        check.errors.append(
            _issue(
                "kecamatan_zero",
                f"Kode kecamatan pada {what} tidak boleh 00.",
                f"The kecamatan code in the {what} cannot be 00.",
            )
        )
    if regions is None or check.errors:
        return
    if digits[:4] not in regions:
        check.warnings.append(
            _issue(
                "kabupaten_not_current",
                f"Kode kabupaten/kota {digits[:4]} tidak ada dalam daftar wilayah saat ini "
                "(mungkin kode lama sebelum pemekaran).",
                f"Kabupaten/kota code {digits[:4]} is not in today's region list "
                "(perhaps a code from before a region split).",
            )
        )
    elif digits[:6] not in regions:
        check.warnings.append(
            _issue(
                "kecamatan_not_current",
                f"Kode kecamatan {digits[:6]} tidak ada dalam daftar wilayah saat ini.",
                f"Kecamatan code {digits[:6]} is not in today's region list.",
            )
        )


def _start(value: str, regions: RegionCodes | None, what: str) -> Check:
    """The checks NIK and KK share: 16 digits, then the area code."""
    check = Check(input=value)
    digits = _digits(value)
    if digits is None:
        label = "NIK" if what == "NIK" else "Nomor KK"
        check.errors.append(
            _issue("not_16_digits", f"{label} harus 16 angka.", f"A {what} must be 16 digits.")
        )
        return check
    check.digits = digits
    _check_area(check, digits, regions, what)
    check.serial = digits[12:]
    if check.serial == "0000":
        check.errors.append(
            _issue(
                "serial_zero",
                f"Nomor urut {what} tidak boleh 0000.",
                f"The {what} serial cannot be 0000.",
            )
        )
    return check


def _candidates(day: int, month: int, yy: int) -> list[date]:
    """Real dates for DDMMYY in the 1900s and 2000s (29 February depends on the century)."""
    return [d for century in (1900, 2000) if (d := _real_date(century + yy, month, day))]


def _pick_century(
    candidates: list[date], today: date, reported: date | None, age: int | None
) -> tuple[date, bool]:
    """Choose among the candidate birth dates; returns (date, ambiguous).

    The 1900s candidate is always in the past, so there is always one to choose."""
    possible = [d for d in candidates if d <= today]
    if reported is not None:
        for d in possible:
            if d.year == reported.year:
                return d, False
    if age is not None:
        for d in possible:
            years = today.year - d.year - ((today.month, today.day) < (d.month, d.day))
            if abs(years - age) <= 1:
                return d, False
    if len(possible) == 1:
        return possible[0], False
    # Both centuries possible: the later one is likelier unless the person would be a child
    # holding an ID (NIKs are given at birth now, so that is no longer unusual): ambiguous.
    return possible[-1], True


def check_nik(
    value: str,
    regions: RegionCodes | None = None,
    *,
    today: date | None = None,
    reported_birth_date: date | None = None,
    reported_sex: Sex | None = None,
    reported_age: int | None = None,
) -> Check:
    """Check a NIK; `regions` enables the "not in today's codes" warning."""
    today = today or date.today()
    check = _start(value, regions, "NIK")
    if check.digits is None:
        return check
    digits = check.digits
    day, month, yy = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    check.sex = "P" if day > 40 else "L"
    real_day = day - 40 if day > 40 else day
    candidates = _candidates(real_day, month, yy)
    if not candidates:
        check.errors.append(
            _issue(
                "birth_date_invalid",
                f"Tanggal lahir pada NIK ({digits[6:12]}) bukan tanggal yang ada"
                + (" (perempuan: tanggal + 40)." if day > 40 else "."),
                f"The birth date in the NIK ({digits[6:12]}) is not a real date"
                + (" (women: day + 40)." if day > 40 else "."),
            )
        )
    else:
        chosen, ambiguous = _pick_century(candidates, today, reported_birth_date, reported_age)
        check.birth_date = chosen
        if ambiguous:
            check.warnings.append(
                _issue(
                    "century_ambiguous",
                    "Abad tahun lahir pada NIK tidak dapat dipastikan; periksa umur.",
                    "The century of the birth year in the NIK cannot be told; check the age.",
                )
            )
    if reported_sex is not None and check.sex != reported_sex:
        check.warnings.append(
            _issue(
                "sex_mismatch",
                f"Jenis kelamin menurut NIK ({check.sex}) berbeda dengan yang dilaporkan "
                f"({reported_sex}).",
                f"Sex according to the NIK ({check.sex}) differs from the reported one "
                f"({reported_sex}).",
            )
        )
    if (
        reported_birth_date is not None
        and check.birth_date is not None
        and check.birth_date != reported_birth_date
    ):
        check.warnings.append(
            _issue(
                "birth_date_mismatch",
                f"Tanggal lahir menurut NIK ({check.birth_date:%d-%m-%Y}) berbeda dengan yang "
                f"dilaporkan ({reported_birth_date:%d-%m-%Y}).",
                f"Birth date according to the NIK ({check.birth_date:%Y-%m-%d}) differs from the "
                f"reported one ({reported_birth_date:%Y-%m-%d}).",
            )
        )
    return check


def check_kk(
    value: str,
    regions: RegionCodes | None = None,
    *,
    today: date | None = None,
    member_niks: frozenset[str] | set[str] = frozenset(),
) -> Check:
    """Check a KK (family card) number; `member_niks` catches a NIK typed into the KK field."""
    today = today or date.today()
    check = _start(value, regions, "KK")
    if check.digits is None:
        return check
    digits = check.digits
    if digits in member_niks:
        check.errors.append(
            _issue(
                "kk_is_member_nik",
                "Nomor KK sama dengan NIK salah satu anggota keluarga (NIK diketik di kolom KK).",
                "The KK number equals a member's NIK (a NIK typed into the KK field).",
            )
        )
    day, month, yy = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    candidates = [d for d in _candidates(day, month, yy) if d <= today]
    if not candidates:
        looks_like_nik = day > 40 and _candidates(day - 40, month, yy)
        check.errors.append(
            _issue(
                "issue_date_invalid",
                f"Tanggal terbit pada nomor KK ({digits[6:12]}) bukan tanggal yang ada"
                + ("; nomor ini tampak seperti NIK perempuan." if looks_like_nik else "."),
                f"The issue date in the KK number ({digits[6:12]}) is not a real date"
                + ("; it looks like a woman's NIK." if looks_like_nik else "."),
            )
        )
    else:
        check.issue_date = candidates[-1]
    return check


def mask(number: str | None) -> str:
    """Show only the province and kabupaten of a NIK/KK: 3573************ (UU PDP)."""
    if not number:
        return ""
    return number[:4] + "*" * max(len(number) - 4, 0)
