"""Rules: NIK, KK and roster checks (V01-V04, V06-V10).

The people checked are the members of the visit: registry members checked in the field and
new members. A member's NIK is the one the field confirmed or entered (`Member.nik`); the
structure and the sex and birth date it encodes are read with `server.registry.identity`.
Where a rule looks at everyone listed (the KK and duplicate checks), a member the field
left without a NIK (dead, moved) keeps the registry's NIK unless it was corrected.

V05 (a NIK prefix that is not in today's region codes) is not here: the facts carry no
region list, and the rule cannot be decided without one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date
from functools import lru_cache

from server.registry.identity import Check, check_kk, check_nik, mask
from server.rules.engine import Context, rule
from server.rules.model import Facts, Flag, Member, Severity

# check_nik and check_kk fall back to the clock when given no day; the structural checks do
# not depend on it (a 1900s reading of a date is always in the past), so a rule that has no
# `facts.today` passes this instead and never reads the clock.
_NO_TODAY = date.max
_SEPARATORS = re.compile(r"[\s.\-]")

HEAD, SPOUSE, CHILD = "1", "2", "3"
INTERVIEWED = frozenset({"ditemukan", "usulan_baru"})

# check_nik / check_kk error codes, by the rule that reports them.
_AREA_CODES = ("province_unknown", "kabupaten_zero", "kecamatan_zero")
_AREA_WORDS = {
    "province_unknown": (
        "kode provinsi {province} tidak ada",
        "province code {province} does not exist",
    ),
    "kabupaten_zero": ("kode kabupaten/kota 00", "kabupaten/kota code 00"),
    "kecamatan_zero": ("kode kecamatan 00", "kecamatan code 00"),
}
_KK_WORDS = {
    "not_16_digits": ("bukan 16 angka", "not 16 digits"),
    **_AREA_WORDS,
    "serial_zero": ("nomor urut 0000", "serial 0000"),
    "issue_date_invalid": (
        "tanggal terbit bukan tanggal yang ada",
        "the issue date is not a real date",
    ),
}


def _text(value: str | None) -> str:
    return (value or "").strip()


def _normalised(value: str) -> str:
    """The number as typed without spaces, dots or dashes (what check_nik compares)."""
    return _SEPARATORS.sub("", value)


def _entered_nik(member: Member) -> str:
    """The NIK the field confirmed or entered for this member ("" when none)."""
    return _text(member.nik)


def _listed_nik(member: Member) -> str:
    """The NIK the member is listed under: the field's, else the registry's unless corrected."""
    entered = _entered_nik(member)
    if entered:
        return _normalised(entered)
    if member.nik_corrected:
        return ""
    return _normalised(_text(member.registry_nik))


def _today(facts: Facts) -> date:
    return facts.today or _NO_TODAY


def _checked_niks(facts: Facts) -> Iterator[tuple[Member, str, Check]]:
    """Every member with an entered NIK, with the number and its structural check."""
    for member in facts.visit.members:
        value = _entered_nik(member)
        if value:
            yield member, value, _check(value, _today(facts))


@lru_cache(maxsize=1024)
def _check(value: str, today: date) -> Check:
    """A NIK's structural check, made once for the six rules that read it (they only read
    it: the same Check is handed to each)."""
    return check_nik(value, today=today)


def _shown(value: str, check: Check) -> str:
    return mask(check.digits or _normalised(value))


def _years_between(earlier: date, later: date) -> int:
    """Whole years from `earlier` to `later` (negative when `later` comes first)."""
    if later < earlier:
        return -_years_between(later, earlier)
    return later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))


def _paths(members: Sequence[Member]) -> str:
    return ", ".join(m.path for m in members)


@rule("V01", Severity.BLOCK, "NIK harus 16 angka", "NIK must be 16 digits")
def nik_sixteen_digits(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A NIK the field confirmed or entered that is not exactly 16 digits (spaces, dots and
    dashes between digits are ignored) blocks approval: no registry can match it. An empty
    NIK is not checked, since a person may have none yet; "12345" is. Such a NIK gets no
    V02-V04 flag: its parts cannot be read."""
    for member, value, check in _checked_niks(facts):
        if "not_16_digits" not in check.codes():
            continue
        typed = _normalised(value)
        yield ctx.flag(
            f"NIK {mask(typed)} pada {member.path} tidak terdiri dari 16 angka "
            f"({len(typed)} karakter).",
            f"The NIK {mask(typed)} at {member.path} is not 16 digits ({len(typed)} characters).",
            [f"{member.path}/nik"],
            member_path=member.path,
            nik_masked=mask(typed),
            length=len(typed),
            digits_only=typed.isdigit(),
        )


@rule("V02", Severity.BLOCK, "Kode wilayah NIK tidak sah", "NIK area code invalid")
def nik_area_code(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A 16-digit NIK whose province code is not one of the 38 provinces (11-19, 21, 31-36,
    51-53, 61-65, 71-76, 81, 82, 91-96; 65 and 93-96 are real), or whose kabupaten/kota or
    kecamatan code is 00, blocks approval. One flag per NIK, listing every problem. Whether
    the code is still in today's region list is not checked here (that would be V05)."""
    for member, value, check in _checked_niks(facts):
        problems = [code for code in _AREA_CODES if code in check.codes()]
        if not problems:
            continue
        words_id = "; ".join(
            _AREA_WORDS[code][0].format(province=check.province) for code in problems
        )
        words_en = "; ".join(
            _AREA_WORDS[code][1].format(province=check.province) for code in problems
        )
        shown = _shown(value, check)
        yield ctx.flag(
            f"Kode wilayah NIK {shown} pada {member.path} tidak sah: {words_id}.",
            f"The area code of the NIK {shown} at {member.path} is invalid: {words_en}.",
            [f"{member.path}/nik"],
            member_path=member.path,
            nik_masked=shown,
            problems=problems,
            province=check.province,
        )


@rule("V03", Severity.BLOCK, "Tanggal lahir pada NIK tidak ada", "NIK birth date not real")
def nik_birth_date_real(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A 16-digit NIK whose DDMMYY part is no real date, after taking 40 off the day of a
    woman's NIK (45 = the 5th), in either the 1900s or the 2000s (so 290200 is real: 2000
    was a leap year) blocks approval."""
    for member, value, check in _checked_niks(facts):
        if "birth_date_invalid" not in check.codes():
            continue
        shown = _shown(value, check)
        digits = check.digits or ""
        day = int(digits[6:8])
        yield ctx.flag(
            f"Tanggal lahir yang tersimpan dalam NIK {shown} pada {member.path} bukan tanggal "
            "yang ada (untuk perempuan tanggal ditambah 40).",
            f"The birth date encoded in the NIK {shown} at {member.path} is not a real date "
            "(for women the day has 40 added).",
            [f"{member.path}/nik"],
            member_path=member.path,
            nik_masked=shown,
            encoded_date=digits[6:12],
            woman=day > 40,
        )


@rule("V04", Severity.BLOCK, "Nomor urut NIK 0000", "NIK serial 0000")
def nik_serial(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A 16-digit NIK whose last four digits (the serial, from 0001) are 0000 blocks
    approval: no such NIK is issued, so it was typed or made up."""
    for member, value, check in _checked_niks(facts):
        if "serial_zero" not in check.codes():
            continue
        shown = _shown(value, check)
        yield ctx.flag(
            f"Nomor urut NIK {shown} pada {member.path} adalah 0000 (nomor urut mulai 0001).",
            f"The serial of the NIK {shown} at {member.path} is 0000 (serials start at 0001).",
            [f"{member.path}/nik"],
            member_path=member.path,
            nik_masked=shown,
            serial=check.serial,
        )


@rule("V06", Severity.HIGH, "Jenis kelamin berbeda dengan NIK", "Sex differs from the NIK")
def nik_sex(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A structurally valid NIK that encodes a woman (day + 40) for a member reported as a
    man, or the reverse. Nothing when the reported sex is missing or not L/P, or when the NIK
    already failed V01-V04 (its parts cannot be trusted)."""
    for member, value, check in _checked_niks(facts):
        reported = _text(member.sex).upper()
        if not check.valid or reported not in {"L", "P"} or check.sex == reported:
            continue
        shown = _shown(value, check)
        yield ctx.flag(
            f"NIK {shown} pada {member.path} adalah NIK {_sex_id(check.sex)}, tetapi jenis "
            f"kelamin yang dilaporkan {_sex_id(reported)}.",
            f"The NIK {shown} at {member.path} is a {_sex_en(check.sex)}'s, but the reported "
            f"sex is {_sex_en(reported)}.",
            [f"{member.path}/nik", f"{member.path}/sex"],
            member_path=member.path,
            nik_masked=shown,
            nik_sex=check.sex,
            reported_sex=reported,
        )


def _sex_id(sex: str | None) -> str:
    return "perempuan" if sex == "P" else "laki-laki"


def _sex_en(sex: str | None) -> str:
    return "woman" if sex == "P" else "man"


@rule("V07", Severity.MED, "Tanggal lahir berbeda dengan NIK", "Birth date differs from the NIK")
def nik_birth_date(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A structurally valid NIK whose day, month or two-digit year differs from the reported
    birth date. The NIK holds only two digits of the year, so a difference of whole
    centuries alone (NIK 850605 vs. 2085-06-05) is no mismatch. Nothing without a reported
    birth date or when the NIK already failed V01-V04."""
    for member, value, check in _checked_niks(facts):
        reported = member.birth_date
        if not check.valid or reported is None or check.digits is None:
            continue
        digits = check.digits
        day, month, yy = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
        if day > 40:
            day -= 40
        differs = [
            part
            for part, same in (
                ("day", day == reported.day),
                ("month", month == reported.month),
                ("year", yy == reported.year % 100),
            )
            if not same
        ]
        if not differs:
            continue
        shown = _shown(value, check)
        encoded = f"{day:02d}-{month:02d}-{yy:02d}"
        yield ctx.flag(
            f"NIK {shown} pada {member.path} menyatakan lahir {encoded} (DD-MM-YY), tetapi "
            f"tanggal lahir yang dilaporkan {reported:%d-%m-%Y}.",
            f"The NIK {shown} at {member.path} says born {encoded} (DD-MM-YY), but the "
            f"reported birth date is {reported:%Y-%m-%d}.",
            [f"{member.path}/nik", f"{member.path}/birth_date"],
            member_path=member.path,
            nik_masked=shown,
            nik_birth=encoded,
            reported_birth_date=reported.isoformat(),
            differs=differs,
        )


@rule("V08", Severity.HIGH, "Nomor KK tidak sah", "KK number invalid")
def kk_number(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """The household's KK (the one entered in the field when there is one, else the
    registry's) fails the structural checks (16 digits, province, kabupaten/kota and
    kecamatan not 00, a real issue date DDMMYY without +40, serial not 0000), or equals the
    NIK a member is listed under: the usual slip of typing a NIK into the KK field. That case
    is one flag naming the members, since its other failures (a woman's day + 40 is no issue
    date) follow from it. Nothing when the household has no KK."""
    visit = facts.visit
    entered = _text(visit.kk)
    value, source, field = (
        (entered, "field", "kk")
        if entered
        else (_text(visit.registry_kk), "registry", "registry_kk")
    )
    if not value:
        return
    listed = [(member, _listed_nik(member)) for member in visit.members]
    check = check_kk(value, today=_today(facts), member_niks={nik for _, nik in listed if nik})
    shown = mask(check.digits or _normalised(value))
    problems = [issue.code for issue in check.errors]
    if "kk_is_member_nik" in problems:
        same = [m for m, nik in listed if nik and nik == check.digits]
        yield ctx.flag(
            f"Nomor KK {shown} sama dengan NIK anggota {_paths(same)}: NIK diketik di kolom KK.",
            f"The KK number {shown} equals the NIK of member {_paths(same)}: a NIK typed into "
            "the KK field.",
            [field, *(f"{m.path}/nik" for m in same)],
            kk_masked=shown,
            kk_source=source,
            member_paths=[m.path for m in same],
            problems=problems,
        )
        return
    if not problems:
        return
    words = [_KK_WORDS[code] for code in problems if code in _KK_WORDS]
    words_id = "; ".join(w[0].format(province=check.province) for w in words)
    words_en = "; ".join(w[1].format(province=check.province) for w in words)
    where_id = "yang diisi di lapangan" if source == "field" else "dari registri"
    where_en = "entered in the field" if source == "field" else "from the registry"
    yield ctx.flag(
        f"Nomor KK {shown} {where_id} tidak sah: {words_id}.",
        f"The KK number {shown} {where_en} is invalid: {words_en}.",
        [field],
        kk_masked=shown,
        kk_source=source,
        problems=problems,
    )


@rule("V09", Severity.BLOCK, "NIK ganda dalam satu ruta", "Same NIK twice in one household")
def nik_twice(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """The same NIK listed for two or more people of the roster blocks approval. Everyone
    listed counts, not only those present: a member who died or moved keeps their NIK (the
    registry's, when the field entered none and did not correct it), so a new member entered
    under it is a duplicate too. Spaces, dots and dashes are ignored; empty NIKs are not
    compared. One flag per repeated NIK, naming every path that holds it."""
    holders: dict[str, list[Member]] = {}
    for member in facts.visit.members:
        nik = _listed_nik(member)
        if nik:
            holders.setdefault(nik, []).append(member)
    for nik, members in holders.items():
        if len(members) < 2:
            continue
        yield ctx.flag(
            f"NIK {mask(nik)} tercatat untuk {len(members)} orang dalam satu ruta: "
            f"{_paths(members)}.",
            f"The NIK {mask(nik)} is listed for {len(members)} people of one household: "
            f"{_paths(members)}.",
            [f"{m.path}/nik" for m in members],
            nik_masked=mask(nik),
            member_paths=[m.path for m in members],
            statuses=[m.status or ("baru" if m.new else None) for m in members],
        )


@rule(
    "V10",
    Severity.HIGH,
    "Susunan anggota rumah tangga tidak wajar",
    "Household roster does not add up",
    thresholds={"min_parent_gap_years": 12, "max_age_years": 110},
)
def roster_logic(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """For an interviewed household (consent given, outcome ditemukan or usulan_baru), over
    the people present now (registry members still there and new members), each problem is
    its own flag: no head (relationship 1) although people are listed; more than one head; a
    child (relationship 3) less than `min_parent_gap_years` younger than the head, or than
    every spouse (relationship 2) whose birth date is known (a household may list more than
    one spouse, and a child need only be the child of one of them); a person aged below 0
    or above `max_age_years` at `facts.today`. Missing birth dates skip the comparisons that
    need them; without `facts.today` ages are not checked. Whether a spouse is married is
    not checked: the facts hold no marital status."""
    visit = facts.visit
    if visit.consent is not True or visit.outcome not in INTERVIEWED:
        return
    people = visit.people()
    if not people:
        return
    heads = [m for m in people if _text(m.relationship) == HEAD]
    spouses = [m for m in people if _text(m.relationship) == SPOUSE]
    if not heads:
        yield ctx.flag(
            f"Tidak ada kepala rumah tangga (hubungan 1) di antara {len(people)} anggota yang ada.",
            f"No head of household (relationship 1) among the {len(people)} people present.",
            [f"{m.path}/relationship" for m in people],
            problem="no_head",
            people=len(people),
        )
    elif len(heads) > 1:
        yield ctx.flag(
            f"Ada {len(heads)} kepala rumah tangga (hubungan 1): {_paths(heads)}.",
            f"There are {len(heads)} heads of household (relationship 1): {_paths(heads)}.",
            [f"{m.path}/relationship" for m in heads],
            problem="several_heads",
            member_paths=[m.path for m in heads],
        )
    yield from _parent_gaps(ctx, people, heads, spouses)
    if facts.today is not None:
        yield from _ages(ctx, people, facts.today)


def _parent_gaps(
    ctx: Context, people: Sequence[Member], heads: list[Member], spouses: list[Member]
) -> Iterator[Flag]:
    min_gap = int(ctx.threshold("min_parent_gap_years"))
    dated_spouses = [s for s in spouses if s.birth_date is not None]
    for child in people:
        born = child.birth_date
        if _text(child.relationship) != CHILD or born is None:
            continue
        for head in heads:
            if head.birth_date is None:
                continue
            gap = _years_between(head.birth_date, born)
            if gap < min_gap:
                yield _gap_flag(ctx, child, head, "head", gap, min_gap)
        gaps = [(s, _years_between(s.birth_date, born)) for s in dated_spouses if s.birth_date]
        if gaps and all(gap < min_gap for _, gap in gaps):
            spouse, gap = max(gaps, key=lambda pair: pair[1])
            yield _gap_flag(ctx, child, spouse, "spouse", gap, min_gap)


def _gap_flag(
    ctx: Context, child: Member, parent: Member, role: str, gap: int, min_gap: int
) -> Flag:
    role_id = "kepala rumah tangga" if role == "head" else "istri/suami"
    role_en = "head of household" if role == "head" else "spouse"
    return ctx.flag(
        f"Anak {child.path} hanya {gap} tahun lebih muda dari {role_id} {parent.path} "
        f"(minimal {min_gap} tahun).",
        f"The child {child.path} is only {gap} years younger than the {role_en} "
        f"{parent.path} (at least {min_gap} years expected).",
        [f"{child.path}/birth_date", f"{parent.path}/birth_date", f"{child.path}/relationship"],
        problem="child_too_old",
        child_path=child.path,
        parent_path=parent.path,
        parent_role=role,
        gap_years=gap,
        min_gap_years=min_gap,
    )


def _ages(ctx: Context, people: Sequence[Member], today: date) -> Iterator[Flag]:
    max_age = int(ctx.threshold("max_age_years"))
    for person in people:
        if person.birth_date is None:
            continue
        age = _years_between(person.birth_date, today)
        if person.birth_date > today:
            yield ctx.flag(
                f"Tanggal lahir {person.path} ({person.birth_date:%d-%m-%Y}) di masa depan.",
                f"The birth date of {person.path} ({person.birth_date:%Y-%m-%d}) is in the future.",
                [f"{person.path}/birth_date"],
                problem="born_in_future",
                member_path=person.path,
                birth_date=person.birth_date.isoformat(),
                today=today.isoformat(),
            )
        elif age > max_age:
            yield ctx.flag(
                f"Umur {person.path} {age} tahun, di atas batas {max_age} tahun.",
                f"{person.path} is {age} years old, above the limit of {max_age} years.",
                [f"{person.path}/birth_date"],
                problem="too_old",
                member_path=person.path,
                age_years=age,
                max_age_years=max_age,
            )
