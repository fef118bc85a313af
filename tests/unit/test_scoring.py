"""Scoring a registry candidate against a field record: NIK distance, name similarity, the
evidence table and its thresholds, ranking, and properties over generated records. Every
name and number is synthetic.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.registry import matching
from server.registry.scoring import (
    AUTO_LINK,
    POINTS,
    PRIOR,
    REVIEW,
    PersonFacts,
    band,
    ceiling,
    name_similarity,
    nik_distance,
    rank,
    score,
    total_points,
)

VILLAGE = "3573041001"  # a kelurahan in Sukun, Kota Malang
OTHER_VILLAGE_SAME_KECAMATAN = "3573041002"
FAR_VILLAGE = "3507122005"
BORN = date(1985, 6, 5)


def nik(born: date, woman: bool, serial: str = "0001", area: str = "357304") -> str:
    day = born.day + (40 if woman else 0)
    return f"{area}{day:02d}{born.month:02d}{born.year % 100:02d}{serial}"


SITI = PersonFacts(
    nik=nik(BORN, woman=True),  # 3573044506850001
    name="Siti Aminah",
    birth_date=BORN,
    sex="P",
    village_code=VILLAGE,
    mother_name="Sumarni",
    kk="3573040102100003",
)


# ---- nik_distance -------------------------------------------------------------------------

NIK_DISTANCE = [
    ("equal", "3573044506850001", "3573044506850001", 0),
    ("separators ignored", "3573 0445.0685-0001", "3573044506850001", 0),
    ("one substitution", "3573044506850001", "3573044506850007", 1),
    ("adjacent transposition", "3573044506850001", "3573045406850001", 1),
    ("non-adjacent swap", "3573044506850001", "3573064504850001", None),
    ("two substitutions", "3573044506850001", "3573044506850099", None),
    ("three digits rotated", "3573044506850001", "3573044506850100", None),
    ("different length", "3573044506850001", "357304450685001", None),
    ("empty", "", "", None),
]


@pytest.mark.parametrize(
    ("a", "b", "expected"), [row[1:] for row in NIK_DISTANCE], ids=[r[0] for r in NIK_DISTANCE]
)
def test_nik_distance(a: str, b: str, expected: int | None) -> None:
    """0 for equal, 1 for one typo or one swap of neighbours, None for anything more."""
    assert nik_distance(a, b) == expected


niks = st.text(alphabet="0123456789", min_size=16, max_size=16)


@given(niks, niks)
def test_nik_distance_is_symmetric(a: str, b: str) -> None:
    """The distance from a to b is the distance from b to a."""
    assert nik_distance(a, b) == nik_distance(b, a)


@given(niks, st.integers(0, 15), st.sampled_from("0123456789"))
def test_one_substitution_is_distance_one(value: str, at: int, digit: str) -> None:
    """Changing one digit gives distance 1 (or 0 if the digit was the same)."""
    typo = value[:at] + digit + value[at + 1 :]
    assert nik_distance(value, typo) == (0 if typo == value else 1)


# ---- name_similarity ----------------------------------------------------------------------

SIMILAR = [
    ("identical", "Siti Aminah", "Siti Aminah", 1.0),
    ("titles and case", "Hj. SITI AMINAH, S.Pd", "siti aminah", 1.0),
    ("token order", "Santoso Budi", "Budi Santoso", 1.0),
    ("old spelling", "Djoko Soesilo", "Joko Susilo", 1.0),
    ("Muhammad variant", "Moch. Rizki", "Muhammad Rizki", 1.0),
    ("joined", "Nur Hayati", "Nurhayati", 1.0),
    ("missing middle name", "Siti Nur Aminah", "Siti Aminah", 0.9),
    ("one typo", "Siti Aminah", "Siti Aminan", 0.9),
    ("reordered with a typo", "Budi Santoso", "Santosa Budi", 0.9),
    ("reordered, middle name missing", "Aminah Siti", "Siti Nur Aminah", 0.9),
]


@pytest.mark.parametrize(
    ("a", "b", "at_least"), [row[1:] for row in SIMILAR], ids=[row[0] for row in SIMILAR]
)
def test_similar_names(a: str, b: str, at_least: float) -> None:
    """Spellings of one name score at least the given similarity."""
    assert name_similarity(a, b) >= at_least


DIFFERENT = [
    ("different people", "Budi Santoso", "Agus Salim", 0.6),
    ("shared surname only", "Joko Widodo", "Bambang Widodo", 0.75),
    ("shared first name only", "Siti Aminah", "Siti Rohmah", 0.8),
    ("given name alone is not the full name", "Siti", "Siti Aminah", 0.85),
]


@pytest.mark.parametrize(
    ("a", "b", "below"), [row[1:] for row in DIFFERENT], ids=[row[0] for row in DIFFERENT]
)
def test_different_names(a: str, b: str, below: float) -> None:
    """Different names stay below the given similarity."""
    assert name_similarity(a, b) < below


def test_no_name_has_no_similarity() -> None:
    """An empty name, or one made only of titles, is similar to nothing."""
    assert name_similarity("", "Siti Aminah") == 0.0
    assert name_similarity("Ibu", "Ibu") == 0.0


names = st.lists(
    st.sampled_from(["Siti", "Sri", "Budi", "Agus", "Nur", "Aminah", "Santoso", "Djoko", "Moch."]),
    max_size=4,
).map(" ".join)


@given(names | st.text(max_size=20), names | st.text(max_size=20))
def test_name_similarity_is_bounded_and_symmetric(a: str, b: str) -> None:
    """Similarity lies in [0, 1] and does not depend on argument order."""
    assert 0.0 <= name_similarity(a, b) <= 1.0
    assert name_similarity(a, b) == pytest.approx(name_similarity(b, a))


# ---- score --------------------------------------------------------------------------------


def test_exact_nik_and_similar_name_links() -> None:
    """Equal NIK and a similar name score near 1, enough to link without review."""
    field = PersonFacts(nik=SITI.nik, name="Siti Aminnah Binti Karim")
    result = score(field, SITI)
    assert result.score >= 0.97 and band(result.score) == "auto_link"
    assert result.codes()[:1] == ["nik_exact"] and result.candidate is SITI


def test_nik_one_typo_with_same_name_and_birth_date_scores_high() -> None:
    """A NIK one swap away with the same name and birth date still scores at least 0.85."""
    field = PersonFacts(nik="3573045406850001", name="SITI AMINAH", birth_date=BORN)
    result = score(field, SITI)
    assert result.score >= 0.85
    assert result.codes() == ["nik_one_typo", "name_equal", "birth_date_equal"]


def test_name_birth_date_and_village_without_nik_go_to_review() -> None:
    """Same name, birth date, sex and village without a NIK score high, for a reviewer."""
    field = PersonFacts(name="Hj. Siti Aminah", birth_date=BORN, sex="P", village_code=VILLAGE)
    result = score(field, SITI)
    assert 0.8 <= result.score < AUTO_LINK and band(result.score) == "review"


def test_mother_name_lifts_a_match_without_nik_to_link() -> None:
    """The mother's name added to name, birth date and village is enough to link."""
    field = PersonFacts(
        name="Siti Aminah", birth_date=BORN, village_code=VILLAGE, mother_name="SUMARNI"
    )
    result = score(field, SITI)
    assert band(result.score) == "auto_link" and "mother_name_similar" in result.codes()


def test_common_name_of_another_person_scores_low() -> None:
    """Same common name and village but another NIK and birth date is no match."""
    other = date(1990, 3, 17)
    field = PersonFacts(
        nik=nik(other, woman=True, serial="0002"),
        name="Siti Aminah",
        birth_date=other,
        sex="P",
        village_code=VILLAGE,
    )
    result = score(field, SITI)
    assert result.score < 0.05 and band(result.score) == "no_match"
    assert {"nik_differs", "birth_date_differs"} <= set(result.codes())


def test_common_name_alone_is_not_a_match() -> None:
    """A name on its own, however equal, stays below review."""
    assert score(PersonFacts(name="Siti Aminah"), SITI).score < REVIEW


def test_exact_nik_with_another_name_and_birth_date_is_not_linked() -> None:
    """An equal NIK on someone with another name and birth date is not linked."""
    field = PersonFacts(nik=SITI.nik, name="Budi Santoso", birth_date=date(1979, 1, 2))
    assert band(score(field, SITI).score) == "no_match"


def test_exact_nik_with_another_name_but_same_birth_date_goes_to_review() -> None:
    """An equal NIK and birth date under another name is for a reviewer."""
    field = PersonFacts(nik=SITI.nik, name="Budi Santoso", birth_date=BORN)
    assert band(score(field, SITI).score) == "review"


# (rule, field birth date, registry birth date, reason code)
BIRTH_DATES = [
    ("equal", date(1985, 6, 5), date(1985, 6, 5), "birth_date_equal"),
    ("equal, a date written when unknown", date(1950, 12, 31), date(1950, 12, 31),
     "birth_date_equal_placeholder"),
    ("1 July is a placeholder too", date(1950, 7, 1), date(1950, 7, 1),
     "birth_date_equal_placeholder"),
    ("day and month swapped", date(1985, 6, 5), date(1985, 5, 6),
     "birth_date_day_month_swapped"),
    ("only the year differs", date(1985, 6, 5), date(1986, 6, 5), "birth_date_one_part_differs"),
    ("only the day differs", date(1985, 6, 5), date(1985, 6, 15), "birth_date_one_part_differs"),
    ("different", date(1985, 6, 5), date(1990, 3, 17), "birth_date_differs"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mine", "theirs", "code"), [row[1:] for row in BIRTH_DATES], ids=[r[0] for r in BIRTH_DATES]
)
def test_birth_date_reasons(mine: date, theirs: date, code: str) -> None:
    """Each way two birth dates can compare gives its own reason."""
    result = score(PersonFacts(birth_date=mine), PersonFacts(birth_date=theirs))
    assert result.codes() == [code]


def test_birth_date_evidence_is_ordered() -> None:
    """Equal beats placeholder-equal and swapped, which beat one part, which beats different."""
    assert (
        POINTS["birth_date_equal"]
        > POINTS["birth_date_day_month_swapped"]
        > POINTS["birth_date_equal_placeholder"]
        > POINTS["birth_date_one_part_differs"]
        > 0
        > POINTS["birth_date_differs"]
    )


# (rule, field facts, candidate facts, expected reason codes)
OTHER_EVIDENCE = [
    ("sex equal", PersonFacts(sex="P"), PersonFacts(sex="P"), ["sex_equal"]),
    ("sex differs", PersonFacts(sex="L"), PersonFacts(sex="P"), ["sex_differs"]),
    ("same village", PersonFacts(village_code="35.73.04.1001"), PersonFacts(village_code=VILLAGE),
     ["same_village"]),
    ("same kecamatan", PersonFacts(village_code=OTHER_VILLAGE_SAME_KECAMATAN),
     PersonFacts(village_code=VILLAGE), ["same_kecamatan"]),
    ("village differs", PersonFacts(village_code=FAR_VILLAGE), PersonFacts(village_code=VILLAGE),
     ["village_differs"]),
    ("mother similar", PersonFacts(mother_name="Ibu Sumarni"), PersonFacts(mother_name="SUMARNI"),
     ["mother_name_similar"]),
    ("mother differs", PersonFacts(mother_name="Kartika Sari"),
     PersonFacts(mother_name="Sumarni"), ["mother_name_differs"]),
    ("KK equal", PersonFacts(kk="3573040102100003"), PersonFacts(kk="3573040102100003"),
     ["kk_equal"]),
    ("KK differs adds nothing", PersonFacts(kk="3573040102100003"),
     PersonFacts(kk="3573040102100004"), []),
    ("missing values add nothing", PersonFacts(), SITI, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mine", "theirs", "codes"),
    [row[1:] for row in OTHER_EVIDENCE],
    ids=[row[0] for row in OTHER_EVIDENCE],
)
def test_other_evidence(mine: PersonFacts, theirs: PersonFacts, codes: list[str]) -> None:
    """Sex, village, mother's name and KK each give their reason when both sides know them."""
    assert score(mine, theirs).codes() == codes


def test_score_is_the_logistic_of_the_points() -> None:
    """The score is logistic(PRIOR + the reasons' points), so reasons explain it fully."""
    field = replace(SITI, nik="3573044506850002", name="Siti Aminah Hasan", sex="L")
    result = score(field, SITI)
    total = PRIOR + sum(reason.points for reason in result.reasons)
    assert result.score == pytest.approx(1 / (1 + math.exp(-total)))


def test_reasons_speak_both_languages() -> None:
    """Every reason has Indonesian and English text and the points of the table."""
    field = replace(SITI, nik="3573044506850007", name="Siti Aminnah")
    for reason in score(field, SITI).reasons:
        assert reason.id and reason.en and reason.id != reason.en
        if not reason.code.startswith("name_"):
            assert reason.points == POINTS[reason.code]


def test_name_reason_shows_the_similarity() -> None:
    """The name reason carries the similarity figure in both texts."""
    reason = score(PersonFacts(name="Siti Aminah"), PersonFacts(name="Siti Aminan")).reasons[0]
    assert reason.code == "name_similar" and "0.93" in reason.id and "0.93" in reason.en


def test_thresholds_and_bands() -> None:
    """Auto-link at or above AUTO_LINK, review from REVIEW, no match below."""
    assert 0 < REVIEW < AUTO_LINK < 1
    assert band(AUTO_LINK) == "auto_link" and band(0.99) == "auto_link"
    assert band(REVIEW) == "review" and band(AUTO_LINK - 0.01) == "review"
    assert band(REVIEW - 0.01) == "no_match"


# ---- rank ---------------------------------------------------------------------------------


def test_rank_orders_best_first_and_limits() -> None:
    """rank returns the best candidates first, at most `limit` of them."""
    field = PersonFacts(nik=SITI.nik, name="Siti Aminah", birth_date=BORN)
    sister = replace(SITI, nik=nik(date(1988, 2, 1), woman=True), name="Siti Rohmah",
                     birth_date=date(1988, 2, 1))  # fmt: skip
    namesake = replace(SITI, nik=nik(date(1990, 3, 17), woman=True, serial="0002"),
                       birth_date=date(1990, 3, 17))  # fmt: skip
    ranked = rank(field, [namesake, sister, SITI], limit=2)
    assert [scored.candidate for scored in ranked] == [SITI, namesake]


def test_rank_is_stable() -> None:
    """Candidates with equal scores keep their input order."""
    field = PersonFacts(name="Siti Aminah", birth_date=BORN)  # no village: villages not compared
    twins = [replace(SITI, nik=None, village_code=code) for code in ("1", "2", "3")]
    assert [s.candidate for s in rank(field, twins, limit=None)] == twins


def test_rank_of_nothing() -> None:
    """No candidates, no ranking."""
    assert rank(SITI, []) == []


# ---- properties ---------------------------------------------------------------------------

dates = st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31))
facts = st.builds(
    PersonFacts,
    nik=st.none() | st.sampled_from([SITI.nik, "3573045406850001", "3573044506850002"]) | niks,
    name=names,
    birth_date=st.none() | st.sampled_from([BORN, date(1985, 5, 6)]) | dates,
    sex=st.sampled_from([None, "L", "P"]),
    village_code=st.sampled_from([None, VILLAGE, OTHER_VILLAGE_SAME_KECAMATAN, FAR_VILLAGE]),
    mother_name=st.none() | names,
    kk=st.sampled_from([None, SITI.kk, "3573040102100004"]),
)


@settings(max_examples=300)
@given(facts, facts)
def test_score_is_between_zero_and_one(field: PersonFacts, candidate: PersonFacts) -> None:
    """Any pair of records scores within [0, 1]."""
    assert 0.0 <= score(field, candidate).score <= 1.0


@settings(max_examples=100)
@given(facts, st.lists(facts, max_size=8), st.integers(1, 10))
def test_rank_is_sorted(field: PersonFacts, candidates: list[PersonFacts], limit: int) -> None:
    """rank returns at most `limit` results in non-increasing score order."""
    ranked = rank(field, candidates, limit=limit)
    assert len(ranked) == min(limit, len(candidates))
    assert all(a.score >= b.score for a, b in zip(ranked, ranked[1:], strict=False))


@settings(max_examples=300)
@given(facts, facts)
def test_ceiling_bounds_the_score(field: PersonFacts, candidate: PersonFacts) -> None:
    """No pair scores more points than its ceiling, which never compares names."""
    assert total_points(score(field, candidate)) <= ceiling(field, candidate) + 1e-9


@settings(max_examples=200)
@given(facts, st.lists(facts, max_size=12), st.integers(1, 4))
def test_search_rank_is_scoring_everyone(
    field: PersonFacts, candidates: list[PersonFacts], limit: int
) -> None:
    """matching.rank skips who cannot make the cut, yet keeps whom scoring all would keep."""
    keys = matching.blocking_keys(field, neighbours=False)
    found = [
        matching.Candidate(pid, "dtks", str(pid), None, False, facts)
        for pid, facts in enumerate(candidates)
    ]
    everyone = sorted(
        ((score(field, c.facts).score, c.person_id) for c in found),
        key=lambda item: -item[0],
    )[:limit]
    ranked = matching.rank(field, found, keys, limit)
    assert [(m.score, m.candidate.person_id) for m in ranked] == everyone
