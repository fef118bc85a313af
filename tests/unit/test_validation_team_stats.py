"""The pure parts of the enumerator statistics: the interview day, the keys a visit leaves,
the team figures computed from counted keys, and the timed cache."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from server.rules.model import Member, Visit
from server.validation import stats
from server.validation.stats import TimedCache, interview_day, stat_keys, team_stats

WITA = timezone(timedelta(hours=8))


def test_the_day_is_the_start_in_its_own_offset_else_received_in_the_zone() -> None:
    """A start at 23:30 WITA counts that day; without a start, the receipt in Asia/Jakarta."""
    late = Visit(1, started=datetime(2026, 11, 2, 23, 30, tzinfo=WITA))
    assert interview_day(late) == date(2026, 11, 2)
    received = Visit(1, received=datetime(2026, 11, 2, 18, 0, tzinfo=UTC))
    assert interview_day(received, "Asia/Jakarta") == date(2026, 11, 3)
    assert interview_day(received, "UTC") == date(2026, 11, 2)
    assert interview_day(Visit(1)) is None


def test_a_visit_leaves_day_outcome_dead_and_numeric_keys() -> None:
    """The day names its submitter; numbers only for numeric answers of watched paths."""
    visit = Visit(
        1,
        outcome="ditemukan",
        members=(Member("anggota[1]", status="meninggal"),),
        answers={"jumlah_art": "4", "aset/ternak/sapi": "", "catatan": "12", "x": "tiga"},
    )
    keys = stat_keys(visit, date(2026, 11, 2), ["jumlah_art", "aset/ternak/sapi", "x"], 7)
    assert keys == [
        ("day", "7/2026-11-02"),
        ("outcome", "ditemukan"),
        ("dead", "1"),
        ("num", "jumlah_art=4"),
    ]


def test_team_figures_from_counted_keys() -> None:
    """Median over member-days, shares of the team's and each member's visits, quartiles."""
    rows = [
        (1, "day", "1/2026-11-02", 2),
        (1, "day", "1/2026-11-03", 4),
        (2, "day", "2/2026-11-02", 10),
        (1, "outcome", "tidak_ditemukan", 4),
        (2, "outcome", "ditemukan", 10),
        (2, "dead", "1", 2),
        (1, "num", "jumlah_art=3", 10),
        (2, "num", "jumlah_art=5", 10),
        (2, "num", "aset/ternak/sapi=1", 19),
    ]
    figures = team_stats(rows, min_member_days=3)
    assert figures.median_visits_per_day == 4
    assert team_stats(rows).median_visits_per_day is None  # 3 member-days: too few
    assert figures.outcome_rates == {
        "tidak_ditemukan": 0.25,
        "ditemukan": 0.625,
        "meninggal": 0.125,
    }
    assert figures.quartiles == {"jumlah_art": (3.0, 5.0)}  # sapi: 19 values, too few
    assert figures.members == {
        1: stats.MemberStats(6, {"tidak_ditemukan": 4 / 6, "meninggal": 0.0}),
        2: stats.MemberStats(10, {"ditemukan": 1.0, "meninggal": 0.2}),
    }
    assert team_stats([]) == stats.TeamStats()


def test_the_cache_keeps_values_for_their_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value is loaded once within CACHE_SECONDS and again after."""
    clock = [100.0]
    monkeypatch.setattr(stats.time, "monotonic", lambda: clock[0])
    cache, loads = TimedCache(), []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get(("k",), load) == 1
    clock[0] += stats.CACHE_SECONDS - 1
    assert cache.get(("k",), load) == 1
    clock[0] += 2
    assert cache.get(("k",), load) == 2
