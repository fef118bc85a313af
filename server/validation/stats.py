"""Enumerator statistics for V38, V39 and V41: what each submission leaves behind to be
counted, and the `EnumeratorStats` of its submitter compared with their team.

Every checked submission keeps, beside its peer keys (service._keys), these keys:
  day      "<submitter>/<interview day>": the date of the start time in the phone's own
           offset (the enumerator's local day, as V37 reads the hour); without a start time,
           the day it was received in the server's zone (VERIVALI_TIMEZONE). With the
           submitter in the value, a day's visits are one index look-up.
  outcome  its outcome (hasil)
  dead     "1" when a member was recorded dead (V39's "meninggal" rate)
  num      "path=value" for each numeric answer (int and decimal questions outside repeats,
           the first MAX_NUMERIC_PATHS of the form)
Only submissions already checked are counted, so a rerun sees everything and a live check
sees what was checked before it.

The team is the enumerator's koordinator team in the project; an enumerator without a team
is compared with every submitter of the form. The visits of the enumerator's day are counted
fresh on every check (one index look-up). Everything else (who is in the team, median
visits per member-day, outcome rates of the team and of each member, numeric quartiles)
costs a pass over the team's keys, so each process keeps it in CACHE for CACHE_SECONDS
(five minutes): it may lag that long behind the newest submissions, an enumerator's own
rates and visit count with it. Five minutes move figures over hundreds of visits very
little, while a refresh costs about 10-15 ms for a team of 7 with 700 visits (half a
second for a form of 50,000 submissions without teams). The bridge keeps village
centroids in the same cache.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from server.forms.xform import numeric_paths as xform_numeric_paths
from server.rules.model import EnumeratorStats, Visit
from server.rules.paradata import DEAD
from server.validation import stats_queries

TEAM_KINDS = ("day", "outcome", "dead", "num")
CACHE_SECONDS = 300.0
CACHE_SIZE = 4096
MIN_QUARTILE_VALUES = 20
# A team median of visits per day needs this many member-days: the first days of a round
# (or the first checks of a re-run) would otherwise set a median of one or two.
MIN_MEMBER_DAYS = 5
MAX_NUMERIC_PATHS = 20
KEY_LENGTH = 80  # SubmissionKey.value
DEFAULT_ZONE = "Asia/Jakarta"

T = TypeVar("T")


def interview_day(visit: Visit, zone: str = DEFAULT_ZONE) -> date | None:
    """The day the visit counts for: its start's date in the phone's own offset, else the
    day it was received in `zone`."""
    if visit.started is not None:
        return visit.started.date()
    received = visit.received
    if received is None:
        return None
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return received.astimezone(ZoneInfo(zone)).date()


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def day_key(submitter: int | None, day: date) -> str:
    """The value of a visit's `day` key: its submitter and interview day."""
    return f"{submitter if submitter is not None else '-'}/{day.isoformat()}"


def stat_keys(
    visit: Visit, day: date | None, paths: Iterable[str], submitter: int | None
) -> list[tuple[str, str]]:
    """The keys by which the visit is counted in its enumerator's and team's statistics."""
    keys: list[tuple[str, str]] = []
    if day is not None:
        keys.append(("day", day_key(submitter, day)))
    if visit.outcome:
        keys.append(("outcome", visit.outcome[:KEY_LENGTH]))
    if any(m.status == DEAD for m in visit.members):
        keys.append(("dead", "1"))
    for path in paths:
        text = (visit.answers.get(path) or "").strip()
        value = f"{path}={text}"
        if _number(text) is not None and len(value) <= KEY_LENGTH:
            keys.append(("num", value))
    return keys


@dataclass(frozen=True)
class MemberStats:
    """One member's visits and outcome rates."""

    visits: int = 0
    outcome_rates: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TeamStats:
    """A team's (or a form's) figures, as `EnumeratorStats` carries them, and each
    member's own."""

    median_visits_per_day: float | None = None
    outcome_rates: Mapping[str, float] = field(default_factory=dict)
    quartiles: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    members: Mapping[int | None, MemberStats] = field(default_factory=dict)


def _rates(outcomes: Counter[str], dead: int, visits: int) -> dict[str, float]:
    if not visits:
        return {}
    rates = {outcome: n / visits for outcome, n in outcomes.items()}
    rates[DEAD] = dead / visits
    return rates


def team_stats(
    rows: Iterable[tuple[Any, str, str, int]], min_member_days: int = MIN_MEMBER_DAYS
) -> TeamStats:
    """The team's figures from (submitter, kind, value, count) rows: the median of visits
    per (member, day) with a visit (from `min_member_days` of them), outcome shares over
    the team's visits, and the inclusive quartiles (q1, q3) of each numeric path with
    MIN_QUARTILE_VALUES values; and each member's visits and outcome rates."""
    per_day: list[int] = []
    outcomes: Counter[str] = Counter()
    dead = visits = 0
    numbers: dict[str, list[tuple[float, int]]] = {}
    own_visits: Counter[int | None] = Counter()
    own_outcomes: dict[int | None, Counter[str]] = {}
    own_dead: Counter[int | None] = Counter()
    for submitter, kind, value, count in rows:
        if kind == "day":
            per_day.append(count)
            visits += count
            own_visits[submitter] += count
        elif kind == "outcome":
            outcomes[value] += count
            own_outcomes.setdefault(submitter, Counter())[value] += count
        elif kind == "dead":
            dead += count
            own_dead[submitter] += count
        elif kind == "num":
            path, _, text = value.partition("=")
            number = _number(text)
            if number is not None:
                numbers.setdefault(path, []).append((number, count))
    quartiles = {}
    for path, counted in numbers.items():
        values = sorted(v for v, n in counted for _ in range(n))
        if len(values) >= MIN_QUARTILE_VALUES:
            q1, _median, q3 = statistics.quantiles(values, n=4, method="inclusive")
            quartiles[path] = (q1, q3)
    members = {
        member: MemberStats(n, _rates(own_outcomes.get(member, Counter()), own_dead[member], n))
        for member, n in own_visits.items()
    }
    return TeamStats(
        median_visits_per_day=float(statistics.median(per_day))
        if len(per_day) >= min_member_days
        else None,
        outcome_rates=_rates(outcomes, dead, visits),
        quartiles=quartiles,
        members=members,
    )


class TimedCache:
    """A small per-process cache whose entries live `CACHE_SECONDS` (least recently
    used entries go first beyond CACHE_SIZE); safe across threads."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], load: Callable[[], T], ttl: float | None = None) -> T:
        ttl = CACHE_SECONDS if ttl is None else ttl
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] < ttl:
                self._entries.move_to_end(key)
                return found[1]  # type: ignore[no-any-return]
        value = load()
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = TimedCache()


def numeric_paths(session: Session, version_id: int, md5: str) -> tuple[str, ...]:
    """The numeric questions a version's submissions are counted by (cached by the
    version's hash: a published version's XML never changes)."""

    def load() -> tuple[str, ...]:
        xml = stats_queries.version_xml(session, version_id)
        return tuple(xform_numeric_paths(xml)[:MAX_NUMERIC_PATHS]) if xml else ()

    return CACHE.get(("numeric_paths", md5), load, ttl=float("inf"))


def database(session: Session) -> str:
    """Which database a session works on (cache keys: tests run many side by side)."""
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def enumerator_stats(
    session: Session, project_id: int, form_id: int, submitter_id: int, visits_today: int
) -> EnumeratorStats:
    """The submitter's figures on this form beside their team's: the day's visits as the
    caller counted them (one `count_keys` for a batch of checks), the rest from the team
    cache."""
    db = database(session)
    team = CACHE.get(
        (db, "team_of", project_id, submitter_id),
        lambda: stats_queries.team_of(session, project_id, submitter_id),
    )

    def load_team() -> TeamStats:
        members = stats_queries.team_members(session, team) if team is not None else None
        return team_stats(stats_queries.key_counts(session, form_id, members, TEAM_KINDS))

    figures = CACHE.get((db, "team", form_id, team), load_team)
    own = figures.members.get(submitter_id, MemberStats())
    return EnumeratorStats(
        enumerator_id=submitter_id,
        visits_today=visits_today,
        team_median_visits_per_day=figures.median_visits_per_day,
        outcome_rates=own.outcome_rates,
        team_outcome_rates=figures.outcome_rates,
        visits=own.visits,
        numeric_quartiles=figures.quartiles,
    )
