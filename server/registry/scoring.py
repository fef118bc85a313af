"""How likely a registry person is the person on a field record, and why (pure, no I/O).

Candidates come from blocking (exact NIK, NIK one typo away, KK, village + birth date,
village + name key); this module scores each one. Every piece of evidence adds points on a
log-odds scale, and the score is the logistic of `PRIOR` plus the points, so it lies in
(0, 1) and each `Reason` shows exactly what it contributed:

====================================  =======  =============================================
reason code                           points   when
====================================  =======  =============================================
(prior)                               -5.0     every pair starts unlikely
nik_exact                             +7.0     the NIKs are equal
nik_one_typo                          +2.5     one digit differs or two neighbours swapped,
                                               and the names are similar
nik_one_typo_other_name               +0.5     the same, but the names differ: NIKs are
                                               area + birth date + a serial counted from
                                               0001, so people born the same day in the
                                               same or a neighbouring kecamatan often have
                                               NIKs one digit apart
nik_differs_same_birth                -1.0     both NIKs known and further apart, but they
                                               encode the same birth date and sex (a NIK
                                               issued again after a move, or a duplicate)
nik_differs                           -3.0     both NIKs known and further apart
name_equal / name_similar /           12 x (s - 0.80), clipped to [-4.0, +2.0], where s
name_differs                                   is `name_similarity` (equal: s = 1; similar:
                                               s >= 0.85; differs: below)
birth_date_equal                      +3.0     same date
birth_date_equal_placeholder          +1.5     same date, but 1 January, 1 July or
                                               31 December: the dates written when the real
                                               one is unknown, shared by many people
birth_date_day_month_swapped          +2.0     day and month exchanged, same year
birth_date_one_part_differs           +0.5     only the day, the month or the year differs
birth_date_differs                    -2.5     otherwise
sex_equal / sex_differs               +0.3 / -1.5
same_village                          +1.5     same 10-digit Kemendagri village code
same_kecamatan                        +0.5     other village in the same kecamatan
village_differs                       -0.5     people move; registry addresses go stale
mother_name_similar                   +1.5     mother's names similar (>= 0.85)
mother_name_differs                   -1.0     mother's names clearly differ (< 0.60)
kk_equal                              +2.0     same family card number (a different KK is
                                               no evidence: families split and merge)
====================================  =======  =============================================

A missing value on either side adds nothing. Sex and birth date are taken as given: callers
that only have a NIK derive them with `identity.check_nik` first.

What the weights give (logistic of the sum): equal NIK and a similar name (0.93) 0.97;
a NIK one typo away with the same name and birth date 0.92; same name, birth date, village
and sex without a NIK 0.86 (a reviewer decides; the mother's name or the KK lifts it above
`AUTO_LINK`); the same common name in the same village with another birth date 0.02
(0.001 when the NIKs differ too).

Names are compared by `name_similarity` on the forms `names` produces. Speed on one core:
about 4.5 us a pair of already-seen names (their forms are cached), up to three times that
when old-spelling readings must be compared too, and about 25 us more the first time a name
is seen. To screen a large list, compare `names.name_key` values with
`rapidfuzz.process.extract` and `JaroWinkler.normalized_similarity` (about 0.1 us a pair,
in C++) and score only the best few; `process.cdist` is faster still but needs numpy.

Thresholds: at or above `AUTO_LINK` (0.90) a record links to the candidate without a human;
from `REVIEW` (0.70) up to it, a reviewer chooses among the candidates; below `REVIEW` the
candidate is not offered as a match (the record may be a new proposal, V14).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal, NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from server.registry.identity import Sex
from server.registry.names import compact, spelling_variants

AUTO_LINK = 0.90
REVIEW = 0.70
PRIOR = -5.0
NAME_SIMILAR = 0.85
NAME_DIFFERENT = 0.60
NAME_POINTS_MAX = 2.0  # what the most alike names add (see the table above)

POINTS: dict[str, float] = {
    "nik_exact": 7.0,
    "nik_one_typo": 2.5,
    "nik_one_typo_other_name": 0.5,
    "nik_differs_same_birth": -1.0,
    "nik_differs": -3.0,
    "birth_date_equal": 3.0,
    "birth_date_equal_placeholder": 1.5,
    "birth_date_day_month_swapped": 2.0,
    "birth_date_one_part_differs": 0.5,
    "birth_date_differs": -2.5,
    "sex_equal": 0.3,
    "sex_differs": -1.5,
    "same_village": 1.5,
    "same_kecamatan": 0.5,
    "village_differs": -0.5,
    "mother_name_similar": 1.5,
    "mother_name_differs": -1.0,
    "kk_equal": 2.0,
}
_PLACEHOLDER_DAYS = frozenset({(1, 1), (1, 7), (31, 12)})
_SEPARATORS = re.compile(r"[\s.\-]")

Band = Literal["auto_link", "review", "no_match"]


@dataclass(frozen=True)
class PersonFacts:
    """What is known about one person, on the field record or in the registry."""

    nik: str | None = None
    name: str = ""
    birth_date: date | None = None
    sex: Sex | None = None  # L (laki-laki) or P (perempuan)
    village_code: str | None = None  # Kemendagri, 10 digits (dots allowed)
    mother_name: str | None = None
    kk: str | None = None


class Reason(NamedTuple):
    """One piece of evidence, with a stable code, messages in id and en, and its points."""

    code: str
    id: str
    en: str
    points: float


@dataclass
class Scored:
    """A candidate with its score in [0, 1] and the reasons that make it up."""

    score: float
    reasons: list[Reason] = dataclasses.field(default_factory=list)
    candidate: PersonFacts | None = None

    def codes(self) -> list[str]:
        """The reason codes, in the order the evidence was weighed."""
        return [reason.code for reason in self.reasons]


class _Form(NamedTuple):
    text: str  # tokens with doubled letters collapsed: "siti aminah"
    sorted_text: str  # the same tokens sorted
    set_text: str  # the distinct tokens sorted
    key: str  # no spaces: "sitiaminah"
    sorted_key: str
    first: str  # the first token; "" when the tokens are already sorted
    tokens: frozenset[str]


@lru_cache(maxsize=131072)
def _forms(name: str) -> tuple[_Form, ...]:
    forms = []
    for variant in spelling_variants(name):
        tokens = [compact(token) for token in variant.split()]
        ordered = sorted(tokens)
        forms.append(
            _Form(
                text=" ".join(tokens),
                sorted_text=" ".join(ordered),
                set_text=" ".join(sorted(set(tokens))),
                key="".join(tokens),
                sorted_key="".join(ordered),
                first="" if tokens == ordered else tokens[0],
                tokens=frozenset(tokens),
            )
        )
    return tuple(forms)


_ratio = fuzz.ratio
_token_set_ratio = fuzz.token_set_ratio
_jaro_winkler = JaroWinkler.similarity


def _form_similarity(a: _Form, b: _Form) -> float:
    # Jaro-Winkler forgives typos and rewards a shared start; the whole-name ratio counts
    # edits. Token-set ratio is 1 when one name's tokens contain the other's (a missing
    # middle name); the other two keep that from making "Siti" equal to "Siti Aminah".
    text_a, sorted_a, set_a, key_a, sorted_key_a, first_a, tokens_a = a
    text_b, sorted_b, set_b, key_b, sorted_key_b, first_b, tokens_b = b
    if key_a == key_b or sorted_key_a == sorted_key_b:
        return 1.0
    jaro = _jaro_winkler(key_a, key_b)
    whole = _ratio(key_a, key_b)
    if tokens_a.isdisjoint(tokens_b):
        # Without a shared token, token-set ratio is the plain ratio of the sorted distinct
        # tokens: the same figure at a third of the cost.
        token_set = _ratio(set_a, set_b)
    else:
        token_set = _token_set_ratio(text_a, text_b)
        if first_a != first_b:
            # A shared token, but not at the start of both: perhaps written in another
            # order, so compare the sorted tokens too.
            jaro = max(jaro, _jaro_winkler(sorted_key_a, sorted_key_b))
            whole = max(whole, _ratio(sorted_a, sorted_b))
    return 0.4 * jaro + (0.3 * token_set + 0.3 * whole) / 100  # rapidfuzz ratios are 0-100


def name_similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of two names after normalisation, old spelling included.

    1.0 when the keys agree (titles, variants, doubled letters, spacing and token order
    aside); otherwise 0.4 x Jaro-Winkler + 0.3 x token-set ratio + 0.3 x whole-name ratio,
    the best over the names' old-spelling readings. 0.0 if either has no name left."""
    forms_a, forms_b = _forms(a), _forms(b)
    if len(forms_a) == 1 and len(forms_b) == 1:
        return _form_similarity(forms_a[0], forms_b[0])
    if not forms_a or not forms_b:
        return 0.0
    # Primary with primary, then each old-spelling reading with the other side's reading of
    # the same depth (or its last one): a modern name's readings equal its primary form.
    last_a, last_b = len(forms_a) - 1, len(forms_b) - 1
    return max(
        _form_similarity(forms_a[min(i, last_a)], forms_b[min(i, last_b)])
        for i in range(max(last_a, last_b) + 1)
    )


def _digits(value: str | None) -> str:
    if not value:
        return ""
    if value.isascii() and value.isdigit():  # registry values are clean already
        return value
    return _SEPARATORS.sub("", value)


def nik_distance(a: str, b: str) -> int | None:
    """0 if equal, 1 if one digit differs or two neighbours are swapped, else None."""
    a, b = _digits(a), _digits(b)
    if not a or not b or len(a) != len(b):
        return None
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if not differ:
        return 0
    if len(differ) == 1:
        return 1
    if len(differ) == 2 and differ[1] == differ[0] + 1:
        i = differ[0]
        if (a[i], a[i + 1]) == (b[i + 1], b[i]):
            return 1
    return None


def _reason(code: str, id_: str, en: str, points: float | None = None) -> Reason:
    return Reason(code, id_, en, POINTS[code] if points is None else points)


_TEXTS: dict[str, tuple[str, str]] = {
    "nik_exact": ("NIK sama.", "Same NIK."),
    "nik_one_typo": (
        "NIK berbeda satu angka atau dua angka tertukar (kemungkinan salah ketik).",
        "The NIK differs by one digit or two swapped digits (probably a typo).",
    ),
    "nik_one_typo_other_name": (
        "NIK hanya berbeda satu angka, tetapi namanya lain (NIK orang yang lahir pada hari "
        "yang sama sering berdekatan).",
        "The NIK is one digit off but the name differs (people born the same day often "
        "have NIKs one digit apart).",
    ),
    "nik_differs_same_birth": (
        "NIK berbeda, tetapi tanggal lahir dan jenis kelamin di dalamnya sama (mungkin NIK "
        "baru setelah pindah).",
        "Different NIK, but it encodes the same birth date and sex (perhaps a new NIK after "
        "a move).",
    ),
    "nik_differs": ("NIK berbeda.", "Different NIK."),
    # Birth dates: format fields a (the field's) and b (the candidate's).
    "birth_date_equal_placeholder": (
        "Tanggal lahir sama, tetapi {a:%d-%m} sering dipakai bila tanggal tidak diketahui.",
        "Same birth date, but {a:%d-%m} is often written when the date is unknown.",
    ),
    "birth_date_equal": ("Tanggal lahir sama.", "Same birth date."),
    "birth_date_day_month_swapped": (
        "Tanggal dan bulan lahir tertukar.",
        "Birth day and month are swapped.",
    ),
    "birth_date_one_part_differs": (
        "Tanggal lahir hanya berbeda pada tanggal, bulan atau tahunnya.",
        "The birth dates differ only in the day, the month or the year.",
    ),
    "birth_date_differs": (
        "Tanggal lahir berbeda ({a:%d-%m-%Y} / {b:%d-%m-%Y}).",
        "Different birth date ({a:%Y-%m-%d} / {b:%Y-%m-%d}).",
    ),
    "same_village": ("Desa/kelurahan sama.", "Same village."),
    "same_kecamatan": (
        "Desa/kelurahan lain di kecamatan yang sama.",
        "Another village in the same kecamatan.",
    ),
    "village_differs": ("Desa/kelurahan berbeda.", "Different village."),
}


def _nik_code(a: str, b: str, names_similar: bool) -> str:
    distance = nik_distance(a, b)
    if distance == 0:
        return "nik_exact"
    if distance == 1:
        return "nik_one_typo" if names_similar else "nik_one_typo_other_name"
    if len(a) == len(b) == 16 and a[6:12] == b[6:12]:
        return "nik_differs_same_birth"
    return "nik_differs"


def _nik_reason(
    field_nik: str | None, candidate_nik: str | None, names_similar: bool
) -> Reason | None:
    a, b = _digits(field_nik), _digits(candidate_nik)
    if not a or not b:
        return None
    code = _nik_code(a, b, names_similar)
    return _reason(code, *_TEXTS[code])


def _name_reason(field_name: str, candidate_name: str) -> Reason | None:
    if not _forms(field_name) or not _forms(candidate_name):
        return None
    similarity = name_similarity(field_name, candidate_name)
    points = min(max(12 * (similarity - 0.80), -4.0), NAME_POINTS_MAX)
    if similarity == 1.0:
        return _reason("name_equal", "Nama sama.", "Same name.", points)
    if similarity >= NAME_SIMILAR:
        return _reason(
            "name_similar",
            f"Nama mirip ({similarity:.2f}).",
            f"Similar name ({similarity:.2f}).",
            points,
        )
    return _reason(
        "name_differs",
        f"Nama berbeda ({similarity:.2f}).",
        f"Different name ({similarity:.2f}).",
        points,
    )


def _birth_date_code(a: date, b: date) -> str:
    if a == b:
        if (a.day, a.month) in _PLACEHOLDER_DAYS:
            return "birth_date_equal_placeholder"
        return "birth_date_equal"
    if a.year == b.year and (a.day, a.month) == (b.month, b.day):
        return "birth_date_day_month_swapped"
    if sum((a.day != b.day, a.month != b.month, a.year != b.year)) == 1:
        return "birth_date_one_part_differs"
    return "birth_date_differs"


def _birth_date_reason(a: date | None, b: date | None) -> Reason:
    assert a is not None and b is not None
    code = _birth_date_code(a, b)
    id_, en = _TEXTS[code]
    return _reason(code, id_.format(a=a, b=b), en.format(a=a, b=b))


def _village_code(a: str, b: str) -> str:
    if a == b:
        return "same_village"
    return "same_kecamatan" if len(a) >= 6 and a[:6] == b[:6] else "village_differs"


def _village_reason(a: str, b: str) -> Reason:
    code = _village_code(a, b)
    return _reason(code, *_TEXTS[code])


def _mother_reason(a: str, b: str) -> Reason | None:
    if not _forms(a) or not _forms(b):
        return None
    similarity = name_similarity(a, b)
    if similarity >= NAME_SIMILAR:
        return _reason(
            "mother_name_similar",
            f"Nama ibu kandung mirip ({similarity:.2f}).",
            f"Similar mother's name ({similarity:.2f}).",
        )
    if similarity < NAME_DIFFERENT:
        return _reason(
            "mother_name_differs",
            f"Nama ibu kandung berbeda ({similarity:.2f}).",
            f"Different mother's name ({similarity:.2f}).",
        )
    return None


def score(field: PersonFacts, candidate: PersonFacts) -> Scored:
    """Score a registry candidate against a field record; see the module docstring."""
    name = _name_reason(field.name, candidate.name)
    names_similar = name is None or name.code != "name_differs"
    reasons: list[Reason | None] = [_nik_reason(field.nik, candidate.nik, names_similar), name]
    if field.birth_date and candidate.birth_date:
        reasons.append(_birth_date_reason(field.birth_date, candidate.birth_date))
    if field.sex and candidate.sex:
        reasons.append(
            _reason("sex_equal", "Jenis kelamin sama.", "Same sex.")
            if field.sex == candidate.sex
            else _reason("sex_differs", "Jenis kelamin berbeda.", "Different sex.")
        )
    villages = _digits(field.village_code), _digits(candidate.village_code)
    if all(villages):
        reasons.append(_village_reason(*villages))
    if field.mother_name and candidate.mother_name:
        reasons.append(_mother_reason(field.mother_name, candidate.mother_name))
    if _digits(field.kk) and _digits(field.kk) == _digits(candidate.kk):
        reasons.append(_reason("kk_equal", "Nomor KK sama.", "Same KK number."))
    kept = [reason for reason in reasons if reason is not None]
    total = PRIOR + sum(reason.points for reason in kept)
    return Scored(1 / (1 + math.exp(-total)), kept, candidate)


def ceiling(field: PersonFacts, candidate: PersonFacts) -> float:
    """The most points (the prior included) `score` can give this pair, at a fraction of
    its cost: everything but the names is weighed as `score` weighs it, and the names and
    the mothers' names count as alike as they can be. The logistic of it bounds the score,
    so a search that wants the best few scores only candidates whose ceiling can reach
    them (`matching.rank`)."""
    total = PRIOR
    niks = _digits(field.nik), _digits(candidate.nik)
    if all(niks):
        total += POINTS[_nik_code(*niks, names_similar=True)]
    if field.name and candidate.name:
        total += NAME_POINTS_MAX
    if field.birth_date and candidate.birth_date:
        total += POINTS[_birth_date_code(field.birth_date, candidate.birth_date)]
    if field.sex and candidate.sex:
        total += POINTS["sex_equal" if field.sex == candidate.sex else "sex_differs"]
    villages = _digits(field.village_code), _digits(candidate.village_code)
    if all(villages):
        total += POINTS[_village_code(*villages)]
    if field.mother_name and candidate.mother_name:
        total += POINTS["mother_name_similar"]
    if _digits(field.kk) and _digits(field.kk) == _digits(candidate.kk):
        total += POINTS["kk_equal"]
    return total


def total_points(scored: Scored) -> float:
    """A score's points before the logistic (the prior included), as `score` added them."""
    return PRIOR + sum(reason.points for reason in scored.reasons)


def rank(
    field: PersonFacts, candidates: Iterable[PersonFacts], limit: int | None = 5
) -> list[Scored]:
    """Score every candidate, best first (ties keep their input order), at most `limit`."""
    scored = sorted((score(field, c) for c in candidates), key=lambda s: s.score, reverse=True)
    return scored if limit is None else scored[:limit]


def band(value: float) -> Band:
    """Which decision a score leads to: link automatically, ask a reviewer, or no match."""
    if value >= AUTO_LINK:
        return "auto_link"
    return "review" if value >= REVIEW else "no_match"
