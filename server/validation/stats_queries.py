"""Queries behind the enumerator statistics (stats.py): an enumerator's team, the keys their
team's submissions left (counted by value), one key's count, and a form version's XML.

A team's counts go from submissions (index on form and submitter) to each one's keys (the
key table's primary key starts with the submission), so their cost follows the number of
the team's submissions, never the whole form's (unless there is no team).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from server.assignments.models import TeamMember
from server.db import run
from server.models import FormVersion, Submission
from server.validation.models import SubmissionKey

_TEAM_OF = select(TeamMember.team_id).where(
    TeamMember.project_id == bindparam("project_id"), TeamMember.user_id == bindparam("user_id")
)


def team_of(session: Session, project_id: int, user_id: int) -> int | None:
    """The enumerator's team in the project (one at most), if any."""
    found = run(session, _TEAM_OF, {"project_id": project_id, "user_id": user_id}).scalar()
    return int(found) if found is not None else None


def team_members(session: Session, team_id: int) -> list[int]:
    return sorted(session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team_id)))


def key_counts(
    session: Session, form_id: int, submitters: Sequence[int] | None, kinds: Sequence[str]
) -> list[tuple[int | None, str, str, int]]:
    """(submitter, kind, value, how many submissions) over the live submissions of the form
    by these submitters (None: by anyone), for keys of these kinds."""
    query = (
        select(Submission.submitter_id, SubmissionKey.kind, SubmissionKey.value, func.count())
        .join(SubmissionKey, SubmissionKey.submission_id == Submission.id)
        .where(
            Submission.form_id == form_id,
            Submission.deleted_at.is_(None),
            SubmissionKey.kind.in_(kinds),
        )
        .group_by(Submission.submitter_id, SubmissionKey.kind, SubmissionKey.value)
    )
    if submitters is not None:
        query = query.where(Submission.submitter_id.in_(submitters))
    return [(row[0], row[1], row[2], int(row[3])) for row in session.execute(query)]


# An index-only count: like the peer look-ups (queries.holders), it trusts that a
# submission's keys exist only while it does (joining submissions doubles the cost on
# PostgreSQL).
_COUNT_KEYS = (
    select(SubmissionKey.value, func.count())
    .where(
        SubmissionKey.form_id == bindparam("form_id"),
        SubmissionKey.kind == bindparam("kind"),
        SubmissionKey.value.in_(bindparam("values", expanding=True)),
    )
    .group_by(SubmissionKey.value)
)


def count_keys(session: Session, form_id: int, kind: str, values: Sequence[str]) -> dict[str, int]:
    """How many submissions of the form carry each of these keys (of one kind)."""
    found = dict.fromkeys(values, 0)
    if values:
        params = {"form_id": form_id, "kind": kind, "values": sorted(set(values))}
        found.update((row[0], int(row[1])) for row in run(session, _COUNT_KEYS, params))
    return found


def version_xml(session: Session, version_id: int) -> bytes | None:
    return session.scalar(select(FormVersion.xml).where(FormVersion.id == version_id))
