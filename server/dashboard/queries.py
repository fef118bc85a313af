"""Queries of the dashboard: grouped counts of a project's submissions (per enumerator, per
day, per rule) and targets (per village, enumerator, state, outcome and review state), and a
bounded sample of interview times.
All dashboard SQL is here.

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
    Integer,
    LargeBinary,
    Select,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from server.assignments.models import Target
from server.assignments.queries import ProgressRow
from server.models import Form, FormVersion, Submission, SubmissionVersion, User
from server.reviews.queue import SEVERITY_RANK
from server.validation.models import StoredFlag

_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])
# The part of an instance searched for its start and end times: ODK forms put them first,
# and PostgreSQL decompresses only this much of a stored instance to read it.
HEAD_BYTES = 2000
TIME_TEXT = 40  # longest ISO time a phone writes, with fractions and offset


class _Position(FunctionElement[int]):
    """Where `needle` first starts in `haystack`, both bytes (1-based; 0 when absent)."""

    type = Integer()
    inherit_cache = True
    name = "position"


@compiles(_Position)
def _instr(element: _Position, compiler: Any, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


@compiles(_Position, "postgresql")
def _position_in(element: _Position, compiler: Any, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"position({compiler.process(needle, **kw)} IN {compiler.process(haystack, **kw)})"


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


def progress_rows(
    session: Session, project_id: int, assignees: frozenset[int] | None
) -> list[ProgressRow]:
    """The project's targets counted as assignments.progress counts them (by village,
    assignee, state, outcome and review state); with `assignees`, only the targets they hold
    (read through the assignee index, so a koordinator's page never scans the project)."""
    query = (
        select(
            Target.village_code,
            Target.assignee_id,
            Target.state,
            Target.outcome,
            Submission.review_state,
            func.count(),
        )
        .outerjoin(Submission, Submission.id == Target.submission_id)
        .where(Target.project_id == project_id, Target.state != "cancelled")
        .group_by(
            Target.village_code,
            Target.assignee_id,
            Target.state,
            Target.outcome,
            Submission.review_state,
        )
    )
    if assignees is not None:
        query = query.where(Target.assignee_id.in_(sorted(assignees) or [-1]))
    return [ProgressRow(*row) for row in session.execute(query)]


def time_fields(session: Session, project_id: int) -> list[dict[str, Any]]:
    """The field maps ([fields] of the rule settings) of the project's current form versions."""
    rows = session.scalars(
        select(FormVersion.rule_settings)
        .join(Form, Form.current_version_id == FormVersion.id)
        .where(Form.project_id == project_id)
    )
    return [dict(settings.get("fields") or {}) for settings in rows if settings]


def _between(head: ColumnElement[Any], tag: str) -> ColumnElement[Any]:
    """The bytes after `<tag>` in `head` (TIME_TEXT of them), or NULL without the tag."""
    opening = f"<{tag}>".encode()
    at = _Position(head, literal(opening, LargeBinary))
    return case((at > 0, func.substr(head, at + len(opening), TIME_TEXT)), else_=None)


def interview_times(
    session: Session,
    project_id: int,
    submitters: frozenset[int] | None,
    start: datetime | None,
    end: datetime | None,
    tags: tuple[str, str],
    sample: int,
    people: int,
) -> list[tuple[int, str | None, str | None]]:
    """(submitter, start text, end text) of each submitter's latest `sample` submissions in
    reach, read from the head of their current instance (at most `sample` rows for each of
    the `people` who submitted)."""
    latest = (
        select(
            Submission.submitter_id,
            Submission.current_version_id,
            func.row_number()
            .over(partition_by=Submission.submitter_id, order_by=Submission.id.desc())
            .label("n"),
        )
        .select_from(Submission)
        .where(Submission.submitter_id.is_not(None))
    )
    ranked = _in_reach(latest, project_id, submitters, start, end).subquery()
    # The limit (never reached) tells the planner how few rows come out of the window, so
    # it reads their versions by primary key rather than scanning every stored instance.
    chosen = (
        select(ranked.c.submitter_id, ranked.c.current_version_id)
        .where(ranked.c.n <= sample)
        .limit(sample * max(1, people))
        .subquery()
    )
    heads = (
        select(
            chosen.c.submitter_id,
            func.substr(SubmissionVersion.xml, 1, HEAD_BYTES).label("head"),
        )
        .join(SubmissionVersion, SubmissionVersion.id == chosen.c.current_version_id)
        .subquery()
    )
    query = select(
        heads.c.submitter_id, _between(heads.c.head, tags[0]), _between(heads.c.head, tags[1])
    )
    return [(int(row[0]), _text(row[1]), _text(row[2])) for row in session.execute(query)]


def _text(value: Any) -> str | None:
    """The time text at the start of the bytes read (up to the closing tag)."""
    if value is None:
        return None
    text = bytes(value).decode("utf-8", "replace")
    return text.partition("<")[0].strip() or None


def people(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """Each user's shown name: their display name, else their username."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    name = func.coalesce(func.nullif(User.display_name, ""), User.username)
    rows = session.execute(select(User.id, name).where(User.id.in_(ids)))
    return {int(uid): str(shown) for uid, shown in rows}
