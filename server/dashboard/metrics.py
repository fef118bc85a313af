"""The dashboard's figures, from the grouped counts its queries return: the page's view (level,
date range, sort) read from and written to the URL, progress bars split by review outcome,
bars of flags by rule, the scale of the day columns, and the enumerator scorecards with their
ranking. Pure: no database, no Flask.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.assignments.queries import ProgressRow
    from server.dashboard.queries import SubmitterTally

LEVELS = ("kecamatan", "village", "team", "enumerator")
SORTS = ("submissions", "name", "per_day", "minutes", "flagged", "approved", "rejected", "returned")
# The stacked parts of a progress bar, left to right; the rest of the bar is not yet visited.
SEGMENTS = ("approved", "waiting", "issues", "rejected", "revisit")
# Outcomes (hasil) in the order their bars stack: households found first, the losses last.
OUTCOMES = (
    "ditemukan",
    "usulan_baru",
    "pindah",
    "bagian_ruta_lain",
    "ganda",
    "tidak_ditemukan",
    "menolak",
)
SEVERITY_NAMES = {4: "BLOCK", 3: "HIGH", 2: "MED", 1: "LOW"}
CHART_DAYS = 30
# Rows shown in a progress table or the scorecards: a page stays small on a slow link.
MAX_ROWS = 150
# Latest interviews per enumerator whose minutes give the median duration.
SAMPLE = 20

Key = str | int | None


@dataclass(frozen=True)
class View:
    """What the dashboard shows: the progress level, the days received, the scorecard order."""

    level: str = "kecamatan"
    received_from: date | None = None
    received_to: date | None = None
    sort: str = "submissions"

    def args(self, **changes: Any) -> dict[str, str]:
        """The URL query of this view (with `changes`), leaving out the defaults."""
        view = replace(self, **changes)
        found: dict[str, str] = {}
        if view.level != "kecamatan":
            found["level"] = view.level
        if view.received_from:
            found["received_from"] = view.received_from.isoformat()
        if view.received_to:
            found["received_to"] = view.received_to.isoformat()
        if view.sort != "submissions":
            found["sort"] = view.sort
        return found

    @property
    def period(self) -> dict[str, str]:
        """The date range as the review queue's filter reads it."""
        return {k: v for k, v in self.args().items() if k.startswith("received_")}


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def parse(args: Mapping[str, str]) -> View:
    """The view a URL asks for; anything malformed is read as unset, a reversed range is
    turned round."""
    level = args.get("level", "")
    sort = args.get("sort", "")
    first, last = _date(args.get("received_from", "")), _date(args.get("received_to", ""))
    if first and last and first > last:
        first, last = last, first
    return View(
        level=level if level in LEVELS else "kecamatan",
        received_from=first,
        received_to=last,
        sort=sort if sort in SORTS else "submissions",
    )


def chart_days(view: View, today: date) -> tuple[date, date]:
    """The first and last day of the day chart: CHART_DAYS days up to the range's end (or
    today), never before the range's start."""
    last = view.received_to or today
    first = last - timedelta(days=CHART_DAYS - 1)
    if view.received_from and view.received_from > first:
        first = view.received_from
    return first, last


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def number(value: float, places: int = 0, trim: bool = False, lang: str = "id") -> str:
    """A number as the page's language writes it: 1.234,5 in Indonesian, 1,234.5 in English
    (`trim`: without a zero fraction). Plain formatting: a page has thousands of them."""
    text = f"{value:,.{places}f}"
    if trim and places:
        text = text.rstrip("0").rstrip(".")
    if lang == "id":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text


# --- progress ------------------------------------------------------------------------------


def segment(state: str, review_state: str | None) -> str:
    """Which part of a progress bar a target falls in."""
    if state == "revisit":
        return "revisit"
    if state != "visited":
        return "open"
    found = {"approved": "approved", "rejected": "rejected", "hasIssues": "issues"}
    return found.get(review_state or "", "waiting")


@dataclass
class Bar:
    """Targets of one row of a progress table, by the part of the bar they fall in."""

    key: Key
    targets: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, state: str, review_state: str | None, n: int) -> None:
        self.targets += n
        self.counts[segment(state, review_state)] += n

    @property
    def visited(self) -> int:
        """Visited and not returned for a revisit."""
        return sum(self.counts[name] for name in SEGMENTS if name != "revisit")

    @property
    def percent(self) -> float:
        return percent(self.visited, self.targets)

    def parts(self) -> list[tuple[str, int, float]]:
        """(segment, targets, width in % of the bar) of the non-empty segments."""
        return [
            (name, self.counts[name], round(percent(self.counts[name], self.targets), 2))
            for name in SEGMENTS
            if self.counts[name]
        ]


def _level_key(
    level: str, village: str | None, assignee: int | None, teams: Mapping[int, str]
) -> Key:
    """A target's row at a level: kecamatan or village code ("" unknown), team name ("" for
    an enumerator without a team, None unassigned), or enumerator ID (None unassigned)."""
    if level == "kecamatan":
        return (village or "")[:6]
    if level == "village":
        return village or ""
    if level == "team":
        return None if assignee is None else teams.get(assignee, "")
    return assignee


def progress(
    rows: Iterable[Any],
    level: str,
    teams: Mapping[int, str],
    members: frozenset[int] | None,
) -> tuple[Bar, dict[Key, Bar]]:
    """The whole and the rows of one level, from progress rows (village, assignee, state,
    outcome, review state, count); with `members`, only targets held by them."""
    total = Bar(None)
    rows_by: dict[Key, Bar] = {}
    for row in rows:
        if members is not None and row.assignee_id not in members:
            continue
        key = _level_key(level, row.village_code, row.assignee_id, teams)
        total.add(row.state, row.review_state, row.count)
        rows_by.setdefault(key, Bar(key)).add(row.state, row.review_state, row.count)
    return total, rows_by


def ordered(bars: Iterable[Bar], labels: Mapping[Key, str]) -> list[Bar]:
    """Bars by their label, the unknown and unassigned last."""

    def order(bar: Bar) -> tuple[bool, str]:
        return (bar.key in (None, ""), labels.get(bar.key, str(bar.key)).lower())

    return sorted(bars, key=order)


# --- flags by rule -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleBar:
    """A rule's bar: the submissions it flags, its worst severity, and the bar's length."""

    rule: str
    severity: str
    submissions: int
    width: float  # % of the longest bar
    share: float  # % of the submissions shown


def rule_bars(rows: Iterable[tuple[str, int, int]], total: int) -> list[RuleBar]:
    """Bars from (rule, worst severity rank, submissions) rows, the most frequent first."""
    found = sorted(rows, key=lambda row: (-row[2], -row[1], row[0]))
    longest = max((row[2] for row in found), default=0)
    return [
        RuleBar(
            rule,
            SEVERITY_NAMES.get(rank, "LOW"),
            n,
            round(percent(n, longest), 2),
            round(percent(n, total), 1),
        )
        for rule, rank, n in found
    ]


# --- submissions per day -------------------------------------------------------------------


@dataclass(frozen=True)
class DayColumn:
    """One day's column: its submissions and height as a share of the chart's top."""

    day: date
    count: int
    height: float


def nice_ceiling(n: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 ... that is at least `n` (the chart's top)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= n:
                return step * factor
        step *= 10


def day_columns(counts: Mapping[date, int], first: date, last: date) -> tuple[list[DayColumn], int]:
    """A column for each day from `first` to `last` (empty days too) and the chart's top."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    top = nice_ceiling(max((counts.get(day, 0) for day in days), default=0))
    return [DayColumn(day, counts.get(day, 0), counts.get(day, 0) / top) for day in days], top


# --- scorecards ----------------------------------------------------------------------------


@dataclass
class Scorecard:
    """One enumerator's figures: submissions received in the range and their review states,
    interview minutes, and the outcomes of the listed households they visited (whatever
    the range)."""

    user_id: int
    name: str
    team: str
    submissions: int = 0
    active_days: int = 0
    flagged: int = 0  # with at least one flag
    approved: int = 0
    rejected: int = 0
    visits: int = 0  # listed households visited (returned ones too)
    returned: int = 0  # of those, returned for a revisit
    minutes: float | None = None
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def per_day(self) -> float | None:
        return self.submissions / self.active_days if self.active_days else None

    @property
    def flagged_pct(self) -> float:
        return percent(self.flagged, self.submissions)

    @property
    def approved_pct(self) -> float:
        return percent(self.approved, self.submissions)

    @property
    def rejected_pct(self) -> float:
        return percent(self.rejected, self.submissions)

    @property
    def returned_pct(self) -> float:
        return percent(self.returned, self.visits)

    def outcome_parts(self) -> list[tuple[str, int, float]]:
        """(outcome, households, % of the outcomes recorded), known outcomes in OUTCOMES
        order, then the others by name."""
        whole = sum(self.outcomes.values())
        names = [o for o in OUTCOMES if self.outcomes[o]]
        names += sorted(o for o in self.outcomes if o not in OUTCOMES and self.outcomes[o])
        return [(o, self.outcomes[o], round(percent(self.outcomes[o], whole), 1)) for o in names]


def median_minutes(times: Iterable[tuple[int | None, float | None]]) -> dict[int, float]:
    """Each enumerator's median interview minutes from (submitter, minutes) rows."""
    found: dict[int, list[float]] = {}
    for submitter, minutes in times:
        if submitter is not None and minutes is not None:
            found.setdefault(submitter, []).append(minutes)
    return {who: round(statistics.median(values), 1) for who, values in found.items()}


def scorecards(
    names: Mapping[int, str],
    teams: Mapping[int, str],
    tallies: Iterable[SubmitterTally],
    targets: Iterable[ProgressRow],
    minutes: Mapping[int, float],
) -> list[Scorecard]:
    """A card for each enumerator named in `names` (those in reach, with or without
    submissions), filled from the submission tallies and the progress rows of the targets
    they hold (visited, or returned for a revisit after a visit)."""
    cards = {uid: Scorecard(uid, name, teams.get(uid, "")) for uid, name in names.items()}
    for tally in tallies:
        card = cards.get(tally.submitter_id) if tally.submitter_id is not None else None
        if card is None:
            continue
        card.submissions += tally.submissions
        card.active_days += tally.active_days
        card.flagged += tally.flagged
        card.approved += tally.approved
        card.rejected += tally.rejected
    for row in targets:
        card = cards.get(row.assignee_id) if row.assignee_id is not None else None
        if card is None or row.state not in ("visited", "revisit"):
            continue
        card.visits += row.count
        if row.state == "revisit":
            card.returned += row.count
        if row.outcome:
            card.outcomes[row.outcome] += row.count
    for uid, value in minutes.items():
        if uid in cards:
            cards[uid].minutes = value
    return list(cards.values())


_SORT_KEYS: dict[str, Callable[[Scorecard], Any]] = {
    "name": lambda c: 0,
    "submissions": lambda c: -c.submissions,
    "per_day": lambda c: -(c.per_day or 0.0),
    # The shortest interviews first: those are the ones to look at.
    "minutes": lambda c: (c.minutes is None, c.minutes or 0.0),
    "flagged": lambda c: -c.flagged_pct,
    "approved": lambda c: -c.approved_pct,
    "rejected": lambda c: -c.rejected_pct,
    "returned": lambda c: -c.returned_pct,
}


def rank(cards: Iterable[Scorecard], sort: str) -> list[Scorecard]:
    """The cards in the chosen order, ties (and the "name" order) by name."""
    key = _SORT_KEYS.get(sort, _SORT_KEYS["submissions"])
    return sorted(cards, key=lambda c: (key(c), c.name.lower(), c.user_id))


# --- headline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """The numbers at the top of the page."""

    targets: int
    visited: int
    revisit: int
    submissions: int
    issues: int
    approved: int
    rejected: int

    @property
    def visited_pct(self) -> float:
        return percent(self.visited, self.targets)


def headline(total: Bar, tallies: Iterable[SubmitterTally]) -> Headline:
    """From the progress of every target in reach and the submitters' tallies."""
    found = list(tallies)
    return Headline(
        targets=total.targets,
        visited=total.visited,
        revisit=total.counts["revisit"],
        submissions=sum(t.submissions for t in found),
        issues=sum(t.issues for t in found),
        approved=sum(t.approved for t in found),
        rejected=sum(t.rejected for t in found),
    )
