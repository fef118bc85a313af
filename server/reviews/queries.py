"""Queries of the review pages: the queue and its counts, one submission with what the
detail page shows beside it, and the few writes the actions make. All review SQL is here."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, select, tuple_, update
from sqlalchemy.orm import Session, aliased

from server.assignments.models import Target, TeamMember
from server.models import (
    AuditEvent,
    Form,
    FormVersion,
    Submission,
    SubmissionAttachment,
    SubmissionVersion,
    User,
    utcnow,
)
from server.registry.models import Household, Person, Region
from server.reviews.models import Comment
from server.reviews.queue import SEVERITY_RANK, QueueFilter
from server.validation.models import StoredFlag

_MAX_ID = 2**31 - 1
# A person as pages name them: their display name, else their username.
_PERSON = func.coalesce(func.nullif(User.display_name, ""), User.username, "")
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Head:
    """A submission as the access check and the actions need it."""

    id: int
    form_id: int
    xml_form_id: str
    instance_id: str
    review_state: str
    review_by_rules: bool
    submitter_id: int | None
    current_version_id: int | None
    created_at: datetime
    updated_at: datetime
    village_code: str | None
    flag_rank: int
    flag_count: int
    escalated: bool
    first_approved_by: int | None  # a koordinator's approval awaiting the admin's


_HEAD = (
    select(
        Submission.id,
        Submission.form_id,
        Form.xml_form_id,
        Submission.instance_id,
        Submission.review_state,
        Submission.review_by_rules,
        Submission.submitter_id,
        Submission.current_version_id,
        Submission.created_at,
        Submission.updated_at,
        Submission.village_code,
        Submission.flag_rank,
        Submission.flag_count,
        Submission.escalated,
        Submission.first_approved_by,
    )
    .join(Form, Form.id == Submission.form_id)
    .where(Submission.deleted_at.is_(None))
)


def head(session: Session, project_id: int, submission_id: int) -> Head | None:
    """The live submission with this ID in the project."""
    if not 0 < submission_id <= _MAX_ID:
        return None
    row = session.execute(
        _HEAD.where(Submission.id == submission_id, Form.project_id == project_id)
    ).first()
    return Head(*tuple(row)) if row else None


def heads(session: Session, project_id: int, submission_ids: Sequence[int]) -> list[Head]:
    """The live submissions among these IDs in the project."""
    wanted = [i for i in submission_ids if 0 < i <= _MAX_ID]
    if not wanted:
        return []
    rows = session.execute(
        _HEAD.where(Submission.id.in_(wanted), Form.project_id == project_id)
    ).all()
    return [Head(*tuple(row)) for row in rows]


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue."""

    id: int
    instance_name: str | None
    xml_form_id: str
    household: str | None  # the visited household's label on the list (head, place)
    submitter: str
    created_at: datetime
    review_state: str
    flag_rank: int
    flag_count: int
    village_code: str | None
    escalated: bool


def day_start(day: date, zone: str) -> datetime:
    """Midnight starting `day` in `zone` (the queue's and the dashboard's date filters)."""
    return datetime.combine(day, time(), ZoneInfo(zone))


def _filtered(
    base: _Query,
    project_id: int,
    submitters: frozenset[int] | None,
    view: QueueFilter,
    zone: str,
    with_state: bool = True,
) -> _Query:
    """The queue's WHERE: project, the viewer's reach and the view's filters."""
    query = base.where(Form.project_id == project_id, Submission.deleted_at.is_(None))
    if submitters is not None:
        query = query.where(Submission.submitter_id.in_(sorted(submitters) or [-1]))
    if with_state and view.state:
        query = query.where(Submission.review_state == view.state)
    if view.severity:
        query = query.where(Submission.flag_rank == SEVERITY_RANK.get(view.severity, 0))
    if view.rule:
        query = query.where(
            exists().where(StoredFlag.submission_id == Submission.id, StoredFlag.rule == view.rule)
        )
    if view.village:
        query = query.where(Submission.village_code == view.village)
    elif view.kecamatan:
        query = query.where(
            Submission.village_code >= view.kecamatan,
            Submission.village_code < view.kecamatan + "9999~",
        )
    if view.enumerator is not None:
        query = query.where(Submission.submitter_id == view.enumerator)
    if view.received_from:
        query = query.where(Submission.created_at >= day_start(view.received_from, zone))
    if view.received_to:
        end = day_start(view.received_to + timedelta(days=1), zone)
        query = query.where(Submission.created_at < end)
    if view.escalated:
        query = query.where(Submission.escalated.is_(True))
    return query


def queue_page(
    session: Session,
    project_id: int,
    submitters: frozenset[int] | None,
    view: QueueFilter,
    zone: str,
    limit: int,
) -> list[QueueRow]:
    """Up to `limit` rows of the view after its cursor, in its sort order."""
    current = aliased(SubmissionVersion)
    base = (
        select(
            Submission.id,
            current.instance_name,
            Form.xml_form_id,
            Target.label,
            _PERSON,
            Submission.created_at,
            Submission.review_state,
            Submission.flag_rank,
            Submission.flag_count,
            Submission.village_code,
            Submission.escalated,
        )
        .join(Form, Form.id == Submission.form_id)
        .outerjoin(current, current.id == Submission.current_version_id)
        .outerjoin(User, User.id == Submission.submitter_id)
        .outerjoin(Target, Target.submission_id == Submission.id)
    )
    query = _filtered(base, project_id, submitters, view, zone)
    after = view.after
    if view.sort == "severity":
        if after is not None:
            query = query.where(
                tuple_(Submission.flag_rank, Submission.id) < tuple_(after.rank or 0, after.id)
            )
        query = query.order_by(Submission.flag_rank.desc(), Submission.id.desc())
    elif view.sort == "old":
        if after is not None:
            query = query.where(Submission.id > after.id)
        query = query.order_by(Submission.id.asc())
    else:
        if after is not None:
            query = query.where(Submission.id < after.id)
        query = query.order_by(Submission.id.desc())
    return [QueueRow(*row) for row in session.execute(query.limit(limit))]


def state_counts(
    session: Session,
    project_id: int,
    submitters: frozenset[int] | None,
    view: QueueFilter,
    zone: str,
) -> dict[str, int]:
    """Submissions of the view (whatever their state) by review state."""
    base = select(Submission.review_state, func.count()).join(Form, Form.id == Submission.form_id)
    query = _filtered(base, project_id, submitters, view, zone, with_state=False)
    return {str(s): int(n) for s, n in session.execute(query.group_by(Submission.review_state))}


def rules_of(session: Session, submission_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """Each submission's (rule, severity) pairs, worst first."""
    found: dict[int, list[tuple[str, str]]] = {i: [] for i in submission_ids}
    if not submission_ids:
        return found
    rows = session.execute(
        select(StoredFlag.submission_id, StoredFlag.rule, StoredFlag.severity)
        .where(StoredFlag.submission_id.in_(list(submission_ids)))
        .order_by(StoredFlag.submission_id, StoredFlag.id)
    )
    for sid, rule, severity in rows:
        if (rule, severity) not in found[sid]:
            found[sid].append((rule, severity))
    for pairs in found.values():
        pairs.sort(key=lambda pair: -SEVERITY_RANK.get(pair[1], 0))
    return found


def submitted_forms(session: Session, project_id: int) -> list[str]:
    """The project's form IDs that have submissions, the most submitted first."""
    rows = session.execute(
        select(Form.xml_form_id, func.count(Submission.id))
        .join(Submission, Submission.form_id == Form.id)
        .where(Form.project_id == project_id, Submission.deleted_at.is_(None))
        .group_by(Form.xml_form_id)
        .order_by(func.count(Submission.id).desc(), Form.xml_form_id)
    )
    return [str(form_id) for form_id, _n in rows]


def centroid(session: Session, code: str) -> tuple[float, float] | None:
    """A village's centroid (lat, lon), when one was loaded."""
    row = session.execute(select(Region.lat, Region.lon).where(Region.code == code)).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return float(row[0]), float(row[1])


def _distinct(column: Any, *where: Any) -> Select[tuple[Any]]:
    """The distinct non-null values of an indexed column among the rows `where` selects,
    ascending, by one index probe each (a loose index scan): a few dozen villages or rules
    found without reading the hundreds of thousands of rows that hold them."""

    def first(after: Any = None) -> Any:
        query = select(column).where(*where, column.is_not(None)).order_by(column).limit(1)
        return (query if after is None else query.where(column > after)).scalar_subquery()

    found = select(first().label("value")).cte("found", recursive=True)
    found = found.union_all(select(first(found.c.value)).where(found.c.value.is_not(None)))
    return select(found.c.value).where(found.c.value.is_not(None))


def project_villages(session: Session, project_id: int) -> list[str]:
    """The villages of the project's assigned households (for the queue's filter lists)."""
    rows = session.scalars(_distinct(Target.village_code, Target.project_id == project_id))
    return sorted(str(code) for code in rows)


def enumerators(
    session: Session, project_id: int, submitters: frozenset[int] | None
) -> list[tuple[int, str]]:
    """The enumerators in reach (team members of the project), by name."""
    query = (
        select(User.id, _PERSON)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.project_id == project_id)
    )
    if submitters is not None:
        query = query.where(User.id.in_(sorted(submitters) or [-1]))
    return sorted(((int(i), str(n)) for i, n in session.execute(query)), key=lambda r: r[1])


def flagged_rules(session: Session, project_id: int) -> list[str]:
    """The rules that have flags in the project."""
    rules = _distinct(StoredFlag.rule).subquery()
    # A flag of the rule in the project, looked up rule by rule (as EXISTS, PostgreSQL
    # would join every flag instead).
    in_project = (
        select(StoredFlag.id)
        .join(Submission, Submission.id == StoredFlag.submission_id)
        .join(Form, Form.id == Submission.form_id)
        .where(StoredFlag.rule == rules.c.value, Form.project_id == project_id)
        .limit(1)
        .scalar_subquery()
    )
    return sorted(session.scalars(select(rules.c.value).where(in_project.is_not(None))))


# --- one submission -------------------------------------------------------------------


@dataclass(frozen=True)
class VersionInfo:
    """A version of a submission as the history lists it."""

    id: int
    instance_id: str
    deprecated_id: str | None
    instance_name: str | None
    submitter: str
    created_at: datetime
    form_version_id: int


def versions(session: Session, submission_id: int) -> list[VersionInfo]:
    rows = session.execute(
        select(
            SubmissionVersion.id,
            SubmissionVersion.instance_id,
            SubmissionVersion.deprecated_id,
            SubmissionVersion.instance_name,
            _PERSON,
            SubmissionVersion.created_at,
            SubmissionVersion.form_version_id,
        )
        .outerjoin(User, User.id == SubmissionVersion.submitter_id)
        .where(SubmissionVersion.submission_id == submission_id)
        .order_by(SubmissionVersion.id)
    )
    return [VersionInfo(*row) for row in rows]


def version_xml(session: Session, version_id: int) -> bytes:
    return bytes(
        session.scalar(select(SubmissionVersion.xml).where(SubmissionVersion.id == version_id))
        or b""
    )


def form_xml(session: Session, form_version_id: int) -> bytes:
    return bytes(
        session.scalar(select(FormVersion.xml).where(FormVersion.id == form_version_id)) or b""
    )


def attachments(session: Session, version_id: int) -> list[SubmissionAttachment]:
    return list(
        session.scalars(
            select(SubmissionAttachment)
            .where(SubmissionAttachment.submission_version_id == version_id)
            .order_by(SubmissionAttachment.name)
        )
    )


def attachment(session: Session, version_id: int, name: str) -> SubmissionAttachment | None:
    if "\x00" in name:
        return None
    return session.scalar(
        select(SubmissionAttachment).where(
            SubmissionAttachment.submission_version_id == version_id,
            SubmissionAttachment.name == name,
        )
    )


def target_of(session: Session, submission_id: int) -> Target | None:
    return session.scalar(select(Target).where(Target.submission_id == submission_id).limit(1))


def household(session: Session, household_id: int) -> Household | None:
    return session.get(Household, household_id)


def household_members(session: Session, household_id: int) -> list[Person]:
    return list(
        session.scalars(
            select(Person).where(Person.household_id == household_id).order_by(Person.id)
        )
    )


@dataclass(frozen=True)
class HistoryEntry:
    """An audit row about the submission, with who did it."""

    at: datetime
    actor: str
    action: str
    details: dict[str, Any]
    note: str | None


def history(session: Session, submission_id: int) -> list[HistoryEntry]:
    rows = session.execute(
        select(
            AuditEvent.at,
            _PERSON,
            AuditEvent.action,
            AuditEvent.details,
            AuditEvent.note,
        )
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.subject_type == "submission", AuditEvent.subject_id == submission_id)
        .order_by(AuditEvent.id)
    )
    return [HistoryEntry(*row) for row in rows]


@dataclass(frozen=True)
class CommentRow:
    at: datetime
    author: str
    body: str


def comments(session: Session, submission_id: int) -> list[CommentRow]:
    rows = session.execute(
        select(
            Comment.created_at,
            _PERSON,
            Comment.body,
        )
        .outerjoin(User, User.id == Comment.author_id)
        .where(Comment.submission_id == submission_id)
        .order_by(Comment.id)
    )
    return [CommentRow(*row) for row in rows]


def user_name(session: Session, user_id: int | None) -> str:
    if user_id is None:
        return ""
    row = session.execute(
        select(User.display_name, User.username).where(User.id == user_id)
    ).first()
    return (row[0] or row[1]) if row else ""


# --- writes -------------------------------------------------------------------------------


def set_decision(
    session: Session, submission_ids: Sequence[int], state: str, escalated: bool = False
) -> None:
    """A person's decision: the state, and the rules no longer change it."""
    if submission_ids:
        session.execute(
            update(Submission)
            .where(Submission.id.in_(list(submission_ids)))
            .values(
                review_state=state,
                review_by_rules=False,
                escalated=escalated,
                first_approved_by=None,
                updated_at=utcnow(),
            )
        )


def set_first_approval(session: Session, submission_ids: Sequence[int], user_id: int) -> None:
    """A koordinator's approval in a two-level project: the state stays, and the submission
    waits for an admin (among the escalated)."""
    if submission_ids:
        session.execute(
            update(Submission)
            .where(Submission.id.in_(list(submission_ids)))
            .values(escalated=True, first_approved_by=user_id, updated_at=utcnow())
        )


def set_escalated(session: Session, submission_id: int, escalated: bool) -> None:
    session.execute(
        update(Submission)
        .where(Submission.id == submission_id)
        .values(escalated=escalated, updated_at=utcnow())
    )


def add_comment(session: Session, submission_id: int, author_id: int, body: str) -> None:
    session.add(Comment(submission_id=submission_id, author_id=author_id, body=body))


def add_corrected_version(
    session: Session,
    head: Head,
    previous: VersionInfo,
    xml: bytes,
    instance_id: str,
    author_id: int,
) -> int:
    """A person's correction as the submission's new current version (state edited), its
    files carried over from the version it corrects; the new version's ID."""
    now = utcnow()
    version = SubmissionVersion(
        submission_id=head.id,
        form_id=head.form_id,
        form_version_id=previous.form_version_id,
        instance_id=instance_id,
        deprecated_id=previous.instance_id,
        instance_name=previous.instance_name,
        xml=xml,
        xml_sha256=hashlib.sha256(xml).hexdigest(),
        submitter_id=author_id,
        user_agent="verivali-web",
        created_at=now,
    )
    session.add(version)
    session.flush()
    files = session.execute(
        select(
            SubmissionAttachment.name,
            SubmissionAttachment.blob_sha256,
            SubmissionAttachment.size,
            SubmissionAttachment.content_type,
            SubmissionAttachment.received_at,
        ).where(SubmissionAttachment.submission_version_id == previous.id)
    ).all()
    for name, blob, size, kind, received in files:
        session.add(
            SubmissionAttachment(
                submission_version_id=version.id,
                name=name,
                blob_sha256=blob,
                size=size,
                content_type=kind,
                received_at=received,
            )
        )
    session.execute(
        update(Submission)
        .where(Submission.id == head.id)
        .values(
            current_version_id=version.id,
            review_state="edited",
            review_by_rules=False,
            first_approved_by=None,
            updated_at=now,
        )
    )
    return version.id


def clean_ids(
    session: Session,
    project_id: int,
    submitters: frozenset[int] | None,
    ids: Sequence[int],
    awaiting_too: bool = True,
) -> list[int]:
    """Those of the IDs in reach that may be approved in bulk: not decided by a person yet,
    not approved already, and without a BLOCK or HIGH flag; `awaiting_too` False leaves
    out those a koordinator approved already (awaiting the admin)."""
    wanted = [i for i in ids if 0 < i <= _MAX_ID]
    if not wanted:
        return []
    query = (
        select(Submission.id)
        .join(Form, Form.id == Submission.form_id)
        .where(
            Submission.id.in_(wanted),
            Form.project_id == project_id,
            Submission.deleted_at.is_(None),
            Submission.review_by_rules.is_(True),
            Submission.review_state.in_(("received", "hasIssues", "edited")),
            Submission.flag_rank < SEVERITY_RANK["HIGH"],
        )
    )
    if submitters is not None:
        query = query.where(Submission.submitter_id.in_(sorted(submitters) or [-1]))
    if not awaiting_too:
        query = query.where(Submission.first_approved_by.is_(None))
    return sorted(session.scalars(query))
