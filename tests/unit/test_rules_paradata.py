"""Paradata rules: interview length (V35), time anomalies (V36), night interviews (V37),
productivity (V38), outcome rates (V39), numeric outliers (V41), form version (V42) and data
without consent (V43). Times, rates and answers are synthetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from rules_cases import run

from server.rules.catalog import evaluate
from server.rules.engine import RuleSettings
from server.rules.model import (
    ENGINE_ERROR,
    EnumeratorStats,
    Facts,
    Member,
    Severity,
    Visit,
)
from server.rules.paradata import minutes_between

WIB = timezone(timedelta(hours=7))
WIT = timezone(timedelta(hours=9))
START = datetime(2025, 11, 3, 9, 0, tzinfo=WIB)


def at(minutes: float, start: datetime = START) -> datetime:
    return start + timedelta(minutes=minutes)


def people(n: int) -> tuple[Member, ...]:
    return tuple(Member(f"anggota[{i}]", status="ada") for i in range(1, n + 1))


def visit(**overrides: Any) -> Visit:
    base = Visit(
        submission_id=20,
        enumerator_id=3,
        outcome="ditemukan",
        consent=True,
        members=people(3),
        started=START,
        ended=at(30),
        received=at(60),
    )
    return replace(base, **overrides)


def stats(**overrides: Any) -> EnumeratorStats:
    return replace(EnumeratorStats(enumerator_id=3), **overrides)


def test_minutes_between_refuses_mixed_timezones() -> None:
    """A naive and an aware timestamp cannot be compared: None, not an exception."""
    assert minutes_between(START, at(12)) == 12
    assert minutes_between(START.replace(tzinfo=None), at(12)) is None
    assert minutes_between(None, at(12)) is None


# ---- V35 ----------------------------------------------------------------------------------

V35_CASES: list[tuple[str, dict[str, Any], float | None]] = [
    ("3 people, 10 min", {"ended": at(10)}, 11),
    ("3 people, exactly 11 min", {"ended": at(11)}, None),
    ("3 people, 30 min", {}, None),
    (
        "dead member not counted",
        {"members": (*people(2), Member("anggota[3]", status="meninggal")), "ended": at(8.5)},
        9,
    ),
    (
        "new member counted",
        {"members": (*people(2), Member("anggota_baru[1]", new=True)), "ended": at(10)},
        11,
    ),
    (
        "new household, 1 person, 6 min",
        {
            "outcome": "usulan_baru",
            "members": (Member("anggota_baru[1]", new=True),),
            "ended": at(6),
        },
        7,
    ),
    ("refused, 1 min", {"outcome": "menolak", "consent": None, "members": (), "ended": at(1)}, 2),
    (
        "refused, exactly 2 min",
        {"outcome": "menolak", "consent": None, "members": (), "ended": at(2)},
        None,
    ),
    ("found without consent, 3 min", {"consent": False, "ended": at(3)}, None),
    ("not found, 1.5 min", {"outcome": "tidak_ditemukan", "consent": None, "ended": at(1.5)}, 2),
    ("end before start", {"ended": at(-5)}, None),
    ("no end", {"ended": None}, None),
    ("mixed timezones", {"ended": at(3).replace(tzinfo=None)}, None),
]


@pytest.mark.parametrize(("case", "overrides", "needed"), V35_CASES, ids=[c[0] for c in V35_CASES])
def test_v35_interview_too_short(
    case: str, overrides: dict[str, Any], needed: float | None
) -> None:
    """V35 wants 5 min + 2 per person for an interview, 2 min for any other visit."""
    flags = run("V35", Facts(visit(**overrides)))
    assert [f.evidence["min_minutes"] for f in flags] == ([needed] if needed else [])
    assert all(f.rule == "V35" and f.severity is Severity.HIGH for f in flags)


def test_v35_thresholds_from_settings() -> None:
    """A 3-minute-per-person setting makes a 12-minute interview of 3 people too short."""
    settings = RuleSettings(thresholds={"V35": {"minutes_per_member": 3}})
    (flag,) = run("V35", Facts(visit(ended=at(12))), settings)
    assert flag.evidence == {"minutes": 12.0, "min_minutes": 14, "people": 3, "interviewed": True}


# ---- V36 ----------------------------------------------------------------------------------

V36_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("normal", {}, []),
    ("end before start", {"ended": at(-20), "received": at(60)}, ["end_before_start"]),
    ("end 11 min after receipt", {"ended": at(71), "received": at(60)}, ["future"]),
    ("end exactly 10 min after receipt", {"ended": at(70), "received": at(60)}, []),
    ("clock a day ahead", {"started": at(1440), "ended": at(1470), "received": at(60)}, ["future"]),
    ("received 15 days late", {"received": at(30 + 15 * 1440)}, ["late_send"]),
    ("received exactly 14 days later", {"received": at(30 + 14 * 1440)}, []),
    (
        "reversed and a day ahead",
        {"started": at(1500), "ended": at(1440), "received": at(0)},
        ["end_before_start", "future"],
    ),
    ("no receipt time", {"received": None}, []),
    ("naive receipt time", {"received": at(9000).replace(tzinfo=None)}, []),
]


@pytest.mark.parametrize(("case", "overrides", "reasons"), V36_CASES, ids=[c[0] for c in V36_CASES])
def test_v36_time_anomalies(case: str, overrides: dict[str, Any], reasons: list[str]) -> None:
    """V36 flags end before start, times after the receipt and late sending, each once."""
    flags = run("V36", Facts(visit(**overrides)))
    assert [f.evidence["reason"] for f in flags] == reasons
    assert all(f.rule == "V36" and f.severity is Severity.MED for f in flags)


def test_v36_future_names_every_timestamp() -> None:
    """A phone clock a day ahead gives one flag naming both start and end."""
    (flag,) = run("V36", Facts(visit(started=at(1440), ended=at(1470), received=at(60))))
    assert flag.fields == ("started", "ended")
    assert flag.evidence["minutes_ahead"] == 1410
    assert flag.evidence["received"] == at(60).isoformat()


# ---- V37 ----------------------------------------------------------------------------------

V37_CASES = [
    ("05:59 fires", datetime(2025, 11, 3, 5, 59, tzinfo=WIB), True),
    ("06:00 passes", datetime(2025, 11, 3, 6, 0, tzinfo=WIB), False),
    ("20:59 passes", datetime(2025, 11, 3, 20, 59, tzinfo=WIB), False),
    ("21:00 fires", datetime(2025, 11, 3, 21, 0, tzinfo=WIB), True),
    ("midnight fires", datetime(2025, 11, 4, 0, 30, tzinfo=WIB), True),
    ("22:00 WIT is local night", datetime(2025, 11, 3, 22, 0, tzinfo=WIT), True),
    ("10:00 WIT passes though 01:00 UTC", datetime(2025, 11, 3, 10, 0, tzinfo=WIT), False),
    ("no start", None, False),
]


@pytest.mark.parametrize(("case", "started", "fires"), V37_CASES, ids=[c[0] for c in V37_CASES])
def test_v37_night_interview(case: str, started: datetime | None, fires: bool) -> None:
    """V37 fires on a local start hour before 06 or from 21 on."""
    flags = run("V37", Facts(visit(started=started, ended=None)))
    assert len(flags) == (1 if fires else 0)
    assert all(f.rule == "V37" and f.severity is Severity.MED for f in flags)
    if started is not None and fires:
        assert flags[0].evidence["local_hour"] == started.hour


# ---- V38 ----------------------------------------------------------------------------------

V38_CASES = [
    ("21 against median 10", stats(visits_today=21, team_median_visits_per_day=10.0), True),
    ("exactly twice the median", stats(visits_today=20, team_median_visits_per_day=10.0), False),
    ("9 against median 4: too few", stats(visits_today=9, team_median_visits_per_day=4.0), False),
    ("10 against median 4", stats(visits_today=10, team_median_visits_per_day=4.0), True),
    ("no team median", stats(visits_today=40), False),
    ("team median zero", stats(visits_today=40, team_median_visits_per_day=0.0), False),
    ("no stats", None, False),
]


@pytest.mark.parametrize(("case", "numbers", "fires"), V38_CASES, ids=[c[0] for c in V38_CASES])
def test_v38_productivity(case: str, numbers: EnumeratorStats | None, fires: bool) -> None:
    """V38 fires above twice the team's daily median with at least 10 visits that day."""
    flags = run("V38", Facts(visit(), stats=numbers))
    assert len(flags) == (1 if fires else 0)
    assert all(f.rule == "V38" and f.severity is Severity.MED for f in flags)
    if fires:
        assert numbers is not None
        assert flags[0].evidence["visits_today"] == numbers.visits_today


# ---- V39 ----------------------------------------------------------------------------------

RATES = stats(
    visits=40,
    outcome_rates={"pindah": 0.35, "tidak_ditemukan": 0.30, "menolak": 0.05, "meninggal": 0.5},
    team_outcome_rates={"pindah": 0.10, "tidak_ditemukan": 0.10, "menolak": 0.04},
)
DEAD = (Member("anggota[1]", status="ada"), Member("anggota[2]", status="meninggal"))

V39_CASES: list[tuple[str, dict[str, Any], EnumeratorStats | None, list[str]]] = [
    ("moved, rate far above", {"outcome": "pindah"}, RATES, ["pindah"]),
    ("not found, exactly 0.20 above", {"outcome": "tidak_ditemukan"}, RATES, []),
    ("refused, rate normal", {"outcome": "menolak"}, RATES, []),
    ("found: flag lands elsewhere", {"outcome": "ditemukan"}, RATES, []),
    ("moved, only 19 visits", {"outcome": "pindah"}, replace(RATES, visits=19), []),
    ("moved, exactly 20 visits", {"outcome": "pindah"}, replace(RATES, visits=20), ["pindah"]),
    ("dead member, no team rate", {"members": DEAD}, RATES, []),
    (
        "dead member, rate far above",
        {"members": DEAD},
        replace(RATES, team_outcome_rates={**RATES.team_outcome_rates, "meninggal": 0.05}),
        ["meninggal"],
    ),
    ("no stats", {"outcome": "pindah"}, None, []),
]


@pytest.mark.parametrize(
    ("case", "overrides", "numbers", "outcomes"), V39_CASES, ids=[c[0] for c in V39_CASES]
)
def test_v39_outcome_rates(
    case: str, overrides: dict[str, Any], numbers: EnumeratorStats | None, outcomes: list[str]
) -> None:
    """V39 fires on a visit whose outcome's rate is over 0.20 above the team's."""
    flags = run("V39", Facts(visit(**overrides), stats=numbers))
    assert [f.evidence["outcome"] for f in flags] == outcomes
    assert all(f.rule == "V39" and f.severity is Severity.MED for f in flags)


def test_v39_evidence_carries_both_rates() -> None:
    """V39's flag gives the enumerator's and the team's rate and points at the dead member."""
    numbers = replace(RATES, team_outcome_rates={"meninggal": 0.05})
    (flag,) = run("V39", Facts(visit(members=DEAD), stats=numbers))
    assert (flag.evidence["rate"], flag.evidence["team_rate"]) == (0.5, 0.05)
    assert flag.fields == ("anggota[2]/status",)


# ---- V41 ----------------------------------------------------------------------------------

QUARTILES = stats(numeric_quartiles={"aset/ternak/sapi": (0.0, 2.0), "jumlah_art": (3.0, 5.0)})

V41_CASES: list[tuple[str, dict[str, str], list[str]]] = [
    ("cattle 9 above 8", {"aset/ternak/sapi": "9"}, ["aset/ternak/sapi"]),
    ("cattle exactly 8", {"aset/ternak/sapi": "8"}, []),
    ("household of 12 is 11 max", {"jumlah_art": "12"}, ["jumlah_art"]),
    ("household of 11", {"jumlah_art": "11"}, []),
    ("below the low bound", {"jumlah_art": "-4"}, ["jumlah_art"]),
    ("decimal text", {"aset/ternak/sapi": " 8.5 "}, ["aset/ternak/sapi"]),
    ("not a number", {"aset/ternak/sapi": "banyak"}, []),
    ("nan", {"aset/ternak/sapi": "nan"}, []),
    ("path without quartiles", {"aset/ternak/kerbau": "500"}, []),
    ("unanswered", {}, []),
]


@pytest.mark.parametrize(("case", "answers", "paths"), V41_CASES, ids=[c[0] for c in V41_CASES])
def test_v41_numeric_outliers(case: str, answers: dict[str, str], paths: list[str]) -> None:
    """V41 fires on a number outside [q1 - 3 IQR, q3 + 3 IQR]."""
    flags = run("V41", Facts(visit(answers=answers), stats=QUARTILES))
    assert [f.evidence["path"] for f in flags] == paths
    assert all(f.rule == "V41" and f.severity is Severity.MED for f in flags)


def test_v41_zero_iqr_is_skipped() -> None:
    """A path where q1 equals q3 is not judged, whatever the value."""
    numbers = stats(numeric_quartiles={"aset/ternak/babi": (0.0, 0.0)})
    assert run("V41", Facts(visit(answers={"aset/ternak/babi": "50"}), stats=numbers)) == []


def test_v41_bounds_in_evidence() -> None:
    """V41's evidence gives the value, the quartiles and the bounds it broke."""
    (flag,) = run("V41", Facts(visit(answers={"jumlah_art": "12"}), stats=QUARTILES))
    assert flag.fields == ("jumlah_art",)
    assert (flag.evidence["value"], flag.evidence["low"], flag.evidence["high"]) == (12, -3, 11)


# ---- V42 ----------------------------------------------------------------------------------

V42_CASES = [
    ("older version", "2025100101", "2025110301", True),
    ("current version", "2025110301", "2025110301", False),
    ("current unknown", "2025100101", "", False),
    ("submitted version unknown", "", "2025110301", False),
]


@pytest.mark.parametrize(
    ("case", "used", "current", "fires"), V42_CASES, ids=[c[0] for c in V42_CASES]
)
def test_v42_outdated_form(case: str, used: str, current: str, fires: bool) -> None:
    """V42 fires when the submission's form version is not the current one."""
    flags = run("V42", Facts(visit(form_version=used, current_form_version=current)))
    assert len(flags) == (1 if fires else 0)
    assert all(f.rule == "V42" and f.severity is Severity.HIGH for f in flags)
    if fires:
        assert flags[0].evidence == {"form_version": used, "current_form_version": current}


# ---- V43 ----------------------------------------------------------------------------------

V43_CASES: list[tuple[str, dict[str, Any], list[str] | None]] = [
    ("no consent, nothing filled", {"consent": False, "members": ()}, None),
    (
        "no consent, roster answered",
        {"consent": False, "members": people(2)},
        ["anggota[1]/status", "anggota[2]/status"],
    ),
    (
        "no consent, new member, verdict, assets",
        {
            "consent": False,
            "members": (Member("anggota_baru[1]", new=True),),
            "verdict": "layak",
            "assets": frozenset({"mobil"}),
        },
        ["anggota_baru[1]", "verdict", "assets"],
    ),
    (
        "no consent, unanswered roster rows",
        {"consent": False, "members": (Member("anggota[1]"),)},
        None,
    ),
    ("consent, full data", {"consent": True, "verdict": "layak"}, None),
    ("consent unknown", {"consent": None, "verdict": "layak"}, None),
]


@pytest.mark.parametrize(("case", "overrides", "filled"), V43_CASES, ids=[c[0] for c in V43_CASES])
def test_v43_no_consent_with_data(
    case: str, overrides: dict[str, Any], filled: list[str] | None
) -> None:
    """V43 blocks a refused interview that still carries interview data, listing it."""
    flags = run("V43", Facts(visit(**overrides)))
    assert [f.evidence["filled"] for f in flags] == ([filled] if filled else [])
    assert all(f.rule == "V43" and f.severity is Severity.BLOCK for f in flags)


def test_paradata_rules_survive_a_bare_visit() -> None:
    """A visit with no times, stats or answers leaves no paradata flag and no crash."""
    flags = evaluate(Facts(Visit(submission_id=1), stats=stats()))
    ids = {"V35", "V36", "V37", "V38", "V39", "V41", "V42", "V43"}
    assert [f for f in flags if f.rule in ids] == []
    assert not {f.evidence["rule"] for f in flags if f.rule == ENGINE_ERROR} & ids
