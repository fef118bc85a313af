"""Queries of the dashboard: grouped counts of a project's submissions (per enumerator, per
day, per rule) and a bounded sample of interview minutes. All dashboard SQL is here but the
targets' progress counts, which it shares with `verivali progress` (assignments.queries).

Every count is one GROUP BY over the submissions (or targets) in reach (the project's forms,
the viewer's enumerators, the days chosen), so the rows returned follow the number of
enumerators, villages, days or rules, never the number of submissions. Days are counted in
the page's zone by the database (PostgreSQL: AT TIME ZONE; SQLite: the zone's fixed offset,
as Indonesia's zones have no daylight saving).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from server.models import Form, Submission, User
from server.reviews.queue import SEVERITY_RANK
from server.validation.models import StoredFlag

_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


def _local_day(session: Session, zone: str) -> ColumnElement[Any]:
    """The day a submission was received, in `zone`."""
    # Rendered inline (a valid zone name or offset, quoted by SQLAlchemy) so that a GROUP BY
    # repeats exactly the selected expression.
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal(zone, literal_execute=True), Submission.created_at))
    offset = ZoneInfo(zone).utcoffset(datetime.now(UTC))
    minutes = int(offset.total_seconds() // 60) if offset else 0
    shift = literal(f"{minutes:+d} minutes", literal_execute=True)
    return func.date(Submission.created_at, shift)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _in_reach(
    query: _Query,
    project_id: int,
    submitters: frozenset[int] | None,
    start: datetime | None,
    end: datetime | None,
) -> _Query:
    """The live submissions of the project, of these submitters (None: anyone's), received
    from `start` until before `end`."""
    query = query.join(Form, Form.id == Submission.form_id).where(
        Form.project_id == project_id, Submission.deleted_at.is_(None)
    )
    if submitters is not None:
        query = query.where(Submission.submitter_id.in_(sorted(submitters) or [-1]))
    if start is not None:
        query = query.where(Submission.created_at >= start)
    if end is not None:
        query = query.where(Submission.created_at < end)
    return query


@dataclass(frozen=True)
class SubmitterTally:
    """One submitter's submissions in the range: how many, on how many days, how many with
    flags, and by review state."""

    submitter_id: int | None
    submissions: int
    active_days: int
    flagged: int
    issues: int
    approved: int
    rejected: int


def submitter_tallies(
    session: Session,
    project_id: int,
    submitters: frozenset[int] | None,
    start: datetime | None,
    end: datetime | None,
    zone: str,
) -> list[SubmitterTally]:
    state = Submission.review_state
    query = select(
        Submission.submitter_id,
        func.count(),
        func.count(func.distinct(_local_day(session, zone))),
        func.count().filter(Submission.flag_count > 0),
        func.count().filter(state == "hasIssues"),
        func.count().filter(state == "approved"),
        func.count().filter(state == "rejected"),
    ).select_from(Submission)
    query = _in_reach(query, project_id, submitters, start, end)
    rows = session.execute(query.group_by(Submission.submitter_id))
    return [SubmitterTally(row[0], *(int(n) for n in row[1:])) for row in rows]


def daily_counts(
    session: Session,
    project_id: int,
    submitters: frozenset[int] | None,
    start: datetime,
    end: datetime,
    zone: str,
) -> dict[date, int]:
    """Submissions received on each day (in `zone`) from `start` until before `end`."""
    day = _local_day(session, zone)
    query = select(day, func.count()).select_from(Submission)
    query = _in_reach(query, project_id, submitters, start, end).group_by(day)
    return {_as_date(row[0]): int(row[1]) for row in session.execute(query) if row[0]}


def rule_counts(
    session: Session,
    project_id: int,
    submitters: frozenset[int] | None,
    start: datetime | None,
    end: datetime | None,
) -> list[tuple[str, int, int]]:
    """(rule, worst severity rank, submissions flagged by it) of the submissions in reach."""
    rank = case(SEVERITY_RANK, value=StoredFlag.severity, else_=0)
    query = select(
        StoredFlag.rule, func.max(rank), func.count(func.distinct(StoredFlag.submission_id))
    ).join(Submission, Submission.id == StoredFlag.submission_id)
    query = _in_reach(query, project_id, submitters, start, end).group_by(StoredFlag.rule)
    return [(str(rule), int(worst or 0), int(n)) for rule, worst, n in session.execute(query)]


def interview_minutes(
    session: Session,
    project_id: int,
    submitters: frozenset[int] | None,
    start: datetime | None,
    end: datetime | None,
    sample: int,
) -> list[tuple[int, float]]:
    """(submitter, interview minutes) of each submitter's latest `sample` submissions in
    reach whose minutes the rules' check recorded."""
    latest = (
        select(
            Submission.submitter_id,
            Submission.interview_minutes,
            func.row_number()
            .over(partition_by=Submission.submitter_id, order_by=Submission.id.desc())
            .label("n"),
        )
        .select_from(Submission)
        .where(Submission.submitter_id.is_not(None), Submission.interview_minutes.is_not(None))
    )
    ranked = _in_reach(latest, project_id, submitters, start, end).subquery()
    query = select(ranked.c.submitter_id, ranked.c.interview_minutes).where(ranked.c.n <= sample)
    return [(int(who), float(minutes)) for who, minutes in session.execute(query)]


def people(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """Each user's shown name: their display name, else their username."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    name = func.coalesce(func.nullif(User.display_name, ""), User.username)
    rows = session.execute(select(User.id, name).where(User.id.in_(ids)))
    return {int(uid): str(shown) for uid, shown in rows}
