"""The dashboard's pure figures: the view read from a URL, progress bars, rule bars, the day
chart's scale, interview minutes and the scorecards with their order."""

from __future__ import annotations

from collections import Counter
from datetime import date

from server.assignments.queries import ProgressRow
from server.dashboard import metrics
from server.dashboard.queries import SubmitterTally


def test_a_view_round_trips_through_its_url() -> None:
    """A parsed view writes back the same arguments, defaults left out."""
    args = {"level": "team", "received_from": "2026-03-01", "received_to": "2026-03-09"}
    view = metrics.parse(args | {"sort": "minutes"})
    assert view.args() == args | {"sort": "minutes"}
    assert view.period == {"received_from": "2026-03-01", "received_to": "2026-03-09"}
    assert metrics.View().args() == {}


def test_unreadable_arguments_are_read_as_unset() -> None:
    """Unknown levels and sorts and bad dates fall back to the defaults."""
    view = metrics.parse({"level": "x", "sort": "';--", "received_from": "kemarin"})
    assert view == metrics.View()


def test_numbers_are_written_as_the_language_writes_them() -> None:
    """Thousands and decimals: 12.345,7 in Indonesian, 12,345.7 in English."""
    assert metrics.number(12345.67, 1) == "12.345,7"
    assert metrics.number(12345.67, 1, lang="en") == "12,345.7"
    assert metrics.number(1234) == "1.234"
    assert metrics.number(25.0, 1, trim=True) == "25" and metrics.number(2.5, 1, trim=True) == "2,5"


def test_a_reversed_range_is_turned_round() -> None:
    """From after to is read as the same range the right way round."""
    view = metrics.parse({"received_from": "2026-03-09", "received_to": "2026-03-01"})
    assert (view.received_from, view.received_to) == (date(2026, 3, 1), date(2026, 3, 9))


def test_the_day_chart_covers_thirty_days_within_the_range() -> None:
    """Thirty days up to the range's end or today, never before the range's start."""
    today = date(2026, 3, 31)
    assert metrics.chart_days(metrics.View(), today) == (date(2026, 3, 2), today)
    short = metrics.View(received_from=date(2026, 3, 20), received_to=date(2026, 3, 25))
    assert metrics.chart_days(short, today) == (date(2026, 3, 20), date(2026, 3, 25))


def row(
    village: str | None, assignee: int | None, state: str, review: str | None, n: int
) -> ProgressRow:
    return ProgressRow(village, assignee, state, None, review, n)


ROWS = [
    row("3573041001", 1, "visited", "approved", 3),
    row("3573041001", 1, "visited", "hasIssues", 1),
    row("3573041002", 2, "visited", "received", 2),
    row("3573041002", 2, "revisit", "hasIssues", 1),
    row("3573051001", 2, "open", None, 3),
    row("3573051001", None, "open", None, 5),
]


def test_progress_splits_targets_by_review_outcome() -> None:
    """Each target falls in one part of its bar; returned ones are not counted visited."""
    total, by = metrics.progress(ROWS, "kecamatan", {1: "Tim A", 2: "Tim A"}, None)
    assert total.targets == 15 and total.visited == 6
    assert by["357304"].parts() == [
        ("approved", 3, 42.86),
        ("waiting", 2, 28.57),
        ("issues", 1, 14.29),
        ("revisit", 1, 14.29),
    ]
    assert round(by["357304"].percent, 1) == 85.7
    assert by["357305"].visited == 0 and by["357305"].counts["open"] == 8


def test_progress_of_a_koordinator_counts_only_their_enumerators_targets() -> None:
    """With members given, targets held by others (and unassigned ones) are left out."""
    total, by = metrics.progress(ROWS, "enumerator", {}, frozenset({1}))
    assert total.targets == 4 and set(by) == {1}


def test_progress_levels_key_teams_and_the_unassigned() -> None:
    """Team rows are keyed by team name, "" for an enumerator without one, None unassigned."""
    _total, by = metrics.progress(ROWS, "team", {1: "Tim A"}, None)
    assert {k: b.targets for k, b in by.items()} == {"Tim A": 4, "": 6, None: 5}
    ordered = metrics.ordered(by.values(), {"Tim A": "Tim A"})
    assert ordered[0].key == "Tim A"


def test_rule_bars_are_the_most_frequent_first_scaled_to_the_longest() -> None:
    """Bars sorted by submissions (ties: worse severity first), widths against the longest."""
    bars = metrics.rule_bars([("V31", 1, 5), ("V05", 4, 10), ("V35", 3, 5)], total=40)
    assert [(b.rule, b.severity, b.width, b.share) for b in bars] == [
        ("V05", "BLOCK", 100.0, 25.0),
        ("V35", "HIGH", 50.0, 12.5),
        ("V31", "LOW", 50.0, 12.5),
    ]


def test_the_day_chart_top_is_a_round_number() -> None:
    """The chart's top is 1, 2 or 5 times a power of ten, at least the busiest day."""
    assert [metrics.nice_ceiling(n) for n in (0, 1, 3, 7, 10, 11, 240)] == [
        1,
        1,
        5,
        10,
        10,
        20,
        500,
    ]
    columns, top = metrics.day_columns({date(2026, 3, 2): 8}, date(2026, 3, 1), date(2026, 3, 3))
    assert top == 10
    assert [(c.count, c.height) for c in columns] == [(0, 0.0), (8, 0.8), (0, 0.0)]


def test_median_minutes_per_enumerator() -> None:
    """Each enumerator's median over the interviews whose minutes are known."""
    times = [(1, 10.0), (1, 30.0), (1, 20.0), (2, None), (None, 5.0)]
    assert metrics.median_minutes(times) == {1: 20.0}


def tally(
    uid: int | None, n: int, days: int, flagged: int, approved: int, rejected: int
) -> SubmitterTally:
    return SubmitterTally(uid, n, days, flagged, flagged, approved, rejected)


def test_scorecards_combine_submissions_visits_and_minutes() -> None:
    """A card per enumerator in reach, with rates over their submissions and visited targets."""
    cards = metrics.scorecards(
        {1: "Siti", 2: "Agus"},
        {1: "Tim A"},
        [tally(1, 10, 4, 2, 5, 1), tally(None, 3, 1, 0, 0, 0), tally(9, 5, 1, 0, 0, 0)],
        [
            ProgressRow("3573041001", 1, "visited", "ditemukan", "approved", 6),
            ProgressRow("3573041001", 1, "visited", "pindah", "received", 2),
            ProgressRow("3573041001", 1, "revisit", "menolak", "hasIssues", 2),
            ProgressRow("3573041001", 1, "open", None, None, 7),
            ProgressRow("3573041001", None, "visited", "pindah", "received", 1),
        ],
        {1: 18.5},
    )
    siti, agus = cards
    assert (siti.submissions, siti.per_day, siti.minutes, siti.team) == (10, 2.5, 18.5, "Tim A")
    assert (siti.flagged_pct, siti.approved_pct, siti.rejected_pct) == (20.0, 50.0, 10.0)
    assert (siti.visits, siti.returned, siti.returned_pct) == (10, 2, 20.0)
    assert siti.outcome_parts() == [
        ("ditemukan", 6, 60.0),
        ("pindah", 2, 20.0),
        ("menolak", 2, 20.0),
    ]
    assert (agus.submissions, agus.per_day, agus.minutes, agus.outcome_parts()) == (
        0,
        None,
        None,
        [],
    )


def test_unknown_outcomes_follow_the_known_ones() -> None:
    """Outcomes outside the form's list are kept, after the known ones."""
    card = metrics.Scorecard(1, "Siti", "", outcomes=Counter({"lainnya": 1, "ditemukan": 3}))
    assert [name for name, _n, _share in card.outcome_parts()] == ["ditemukan", "lainnya"]


def test_rank_orders_the_scorecards() -> None:
    """Most submissions first by default; shortest interviews first; names break ties."""
    a = metrics.Scorecard(1, "Budi", "", submissions=5, minutes=30.0)
    b = metrics.Scorecard(2, "agus", "", submissions=5, minutes=None)
    c = metrics.Scorecard(3, "Citra", "", submissions=9, minutes=12.0)
    assert [x.user_id for x in metrics.rank([a, b, c], "submissions")] == [3, 2, 1]
    assert [x.user_id for x in metrics.rank([a, b, c], "minutes")] == [3, 1, 2]
    assert [x.user_id for x in metrics.rank([a, b, c], "name")] == [2, 1, 3]


def test_the_headline_adds_up_the_tallies() -> None:
    """Submissions and review states summed over submitters (those without one too)."""
    total, _by = metrics.progress(ROWS, "kecamatan", {}, None)
    head = metrics.headline(total, [tally(1, 10, 4, 2, 5, 1), tally(None, 3, 1, 1, 0, 0)])
    assert (head.targets, head.visited, head.revisit) == (15, 6, 1)
    assert (head.submissions, head.issues, head.approved, head.rejected) == (13, 3, 5, 1)
    assert round(head.visited_pct) == 40
