"""Queries over teams, target lists and targets. All assignment SQL lives here.

The list served to a phone is read with two plain statements (households, then their
members) on the session's connection and streamed row by row: an enumerator may carry
100,000 households, and building ORM objects for them would cost more than the CSV.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from server.assignments.models import (
    ON_LIST,
    EnumeratorList,
    Target,
    TargetList,
    Team,
    TeamMember,
)
from server.models import Submission, User
from server.registry.models import Region

# SQLite's default limit on bound variables is 32,766; stay far below it.
CHUNK = 5_000


def team_by_name(session: Session, project_id: int, name: str) -> Team | None:
    return session.scalar(select(Team).where(Team.project_id == project_id, Team.name == name))


def teams(session: Session, project_id: int) -> list[Team]:
    return list(
        session.scalars(select(Team).where(Team.project_id == project_id).order_by(Team.name))
    )


def team_of(session: Session, project_id: int, user_id: int) -> int | None:
    """The ID of the team the enumerator belongs to in the project."""
    return session.scalar(
        select(TeamMember.team_id).where(
            TeamMember.project_id == project_id, TeamMember.user_id == user_id
        )
    )


def team_member_ids(session: Session, team_id: int) -> list[int]:
    return list(session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team_id)))


def teams_supervised(session: Session, project_id: int, user_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Team.id).where(Team.project_id == project_id, Team.supervisor_id == user_id)
        )
    )


@dataclass(frozen=True)
class TeamRow:
    """A team as the provisioning sheet lists it: members with their tokens."""

    team_id: int
    team_name: str
    user_id: int
    username: str
    display_name: str
    token: str | None


def team_sheet_rows(session: Session, project_id: int, team_id: int | None) -> list[TeamRow]:
    """Enumerators of one team (or of every team of the project), with their tokens."""
    query = (
        select(Team.id, Team.name, User.id, User.username, User.display_name, User.token)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .join(User, User.id == TeamMember.user_id)
        .where(Team.project_id == project_id, User.disabled_at.is_(None))
        .order_by(Team.name, User.username)
    )
    if team_id is not None:
        query = query.where(Team.id == team_id)
    return [TeamRow(*row) for row in session.execute(query)]


def target_list_by_name(session: Session, project_id: int, name: str) -> TargetList | None:
    return session.scalar(
        select(TargetList).where(TargetList.project_id == project_id, TargetList.name == name)
    )


def target_lists(session: Session, project_id: int) -> list[tuple[TargetList, int, int]]:
    """Each list with its number of targets and of those not yet given to anyone."""
    rows = session.execute(
        select(
            TargetList,
            func.count(Target.id),
            func.count(Target.id).filter(Target.assignee_id.is_(None)),
        )
        .outerjoin(Target, Target.list_id == TargetList.id)
        .where(TargetList.project_id == project_id)
        .group_by(TargetList.id)
        .order_by(TargetList.id)
    )
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


# Households already on an open list of the project are not targeted twice.
_NOT_TARGETED = """
    NOT EXISTS (SELECT 1 FROM targets o WHERE o.project_id = :project_id
                AND o.household_id = h.id AND o.state IN ('open', 'revisit'))
"""


_INSERT_TARGETS = (
    "INSERT INTO targets (list_id, project_id, household_id, village_code, state, version, "
    "updated_at, label, snapshot, members, line) "
    "SELECT :list_id, :project_id, h.id, h.village_code, 'open', 1, :now, '', '', '', '' "
    "FROM registry_households h"
)


def insert_targets(
    session: Session,
    list_id: int,
    project_id: int,
    now: datetime,
    source: str,
    village_codes: Sequence[str] = (),
    kecamatan_codes: Sequence[str] = (),
    desil_max: int | None = None,
    keys: Sequence[str] | None = None,
) -> int:
    """Put the matching households of `source` on the list; returns how many were added."""
    params: dict[str, Any] = {
        "list_id": list_id,
        "project_id": project_id,
        "now": now,
        "source": source,
    }
    where = ["h.source = :source", _NOT_TARGETED]
    places = []
    for i, code in enumerate(village_codes):
        places.append(f"h.village_code = :v{i}")
        params[f"v{i}"] = code
    for i, code in enumerate(kecamatan_codes):
        # Village codes start with their kecamatan's: a range keeps the index usable.
        places.append(f"(h.village_code >= :k{i} AND h.village_code < :kx{i})")
        params[f"k{i}"], params[f"kx{i}"] = code, code + "z"
    if places:
        where.append("(" + " OR ".join(places) + ")")
    if desil_max is not None:
        where.append("h.desil IS NOT NULL AND h.desil <= :desil_max")
        params["desil_max"] = desil_max
    # Only fixed fragments and numbered placeholders are joined here; values are bound.
    conditions = " AND ".join(where)
    sql = f"{_INSERT_TARGETS} WHERE {conditions}"  # noqa: S608
    if keys is None:
        return int(session.execute(text(sql), params).rowcount or 0)  # type: ignore[attr-defined]
    added = 0
    unique = sorted(set(keys))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        names = ", ".join(f":key{i}" for i in range(len(chunk)))
        chunk_params = params | {f"key{i}": key for i, key in enumerate(chunk)}
        result = session.execute(text(f"{sql} AND h.source_key IN ({names})"), chunk_params)
        added += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return added


def pick_targets(
    session: Session,
    project_id: int,
    list_id: int | None,
    assignee_id: int | None,
    count: int | None,
    village_codes: Sequence[str] = (),
    states: Sequence[str] = ON_LIST,
) -> list[tuple[int, int | None]]:
    """(target ID, current assignee) of targets to give out, in village then list order.

    `assignee_id` None picks unassigned targets; a user ID picks that user's targets."""
    query = select(Target.id, Target.assignee_id).where(
        Target.project_id == project_id, Target.state.in_(states)
    )
    if list_id is not None:
        query = query.where(Target.list_id == list_id)
    if assignee_id is None:
        query = query.where(Target.assignee_id.is_(None))
    else:
        query = query.where(Target.assignee_id == assignee_id)
    if village_codes:
        query = query.where(Target.village_code.in_(village_codes))
    query = query.order_by(Target.village_code, Target.id)
    if count is not None:
        query = query.limit(count)
    return [(row[0], row[1]) for row in session.execute(query)]


def targets_by_id(
    session: Session, project_id: int, target_ids: Iterable[int]
) -> list[tuple[int, int | None, str]]:
    """(target ID, assignee, state) of the given targets in the project."""
    found: list[tuple[int, int | None, str]] = []
    ids = sorted(set(target_ids))
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Target.id, Target.assignee_id, Target.state).where(
                Target.project_id == project_id, Target.id.in_(ids[start : start + CHUNK])
            )
        )
        found.extend((row[0], row[1], row[2]) for row in rows)
    return found


def set_assignee(
    session: Session, target_ids: Sequence[int], assignee_id: int | None, now: datetime
) -> None:
    for start in range(0, len(target_ids), CHUNK):
        session.execute(
            update(Target)
            .where(Target.id.in_(target_ids[start : start + CHUNK]))
            .values(assignee_id=assignee_id, version=Target.version + 1, updated_at=now)
        )
    _reline(session, target_ids)


def touch_targets(session: Session, target_ids: Sequence[int], now: datetime) -> set[int]:
    """Count a change to each target (its __version); returns their assignees."""
    holders: set[int] = set()
    for start in range(0, len(target_ids), CHUNK):
        chunk = target_ids[start : start + CHUNK]
        session.execute(
            update(Target)
            .where(Target.id.in_(chunk))
            .values(version=Target.version + 1, updated_at=now)
        )
        query = select(Target.assignee_id).where(Target.id.in_(chunk)).distinct()
        holders.update(u for u in session.scalars(query) if u is not None)
    _reline(session, target_ids)
    return holders


def bump_lists(session: Session, project_id: int, user_ids: Iterable[int | None]) -> None:
    """Count a change to each enumerator's list (so the phone's copy is replaced)."""
    for user_id in sorted({u for u in user_ids if u is not None}):
        result = session.execute(
            update(EnumeratorList)
            .where(EnumeratorList.project_id == project_id, EnumeratorList.user_id == user_id)
            .values(version=EnumeratorList.version + 1)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            session.add(EnumeratorList(project_id=project_id, user_id=user_id, version=1))
            session.flush()


def list_version(session: Session, project_id: int, user_id: int) -> int:
    version = session.scalar(
        select(EnumeratorList.version).where(
            EnumeratorList.project_id == project_id, EnumeratorList.user_id == user_id
        )
    )
    return int(version or 0)


_RENDER_HOUSEHOLDS = text(
    """
    SELECT t.id, h.kk, h.address, h.rt, h.rw, h.dusun, t.village_code, v.name, k.name, h.desil
    FROM targets t
    JOIN registry_households h ON h.id = t.household_id
    LEFT JOIN regions v ON v.code = t.village_code
    LEFT JOIN regions k ON k.code = v.parent_code
    WHERE t.id IN :ids
    ORDER BY t.id
    """
).bindparams(bindparam("ids", expanding=True))
_RENDER_MEMBERS = text(
    """
    SELECT t.id, t.version, p.id, p.nik, p.name, p.sex, p.birth_date, p.relationship, p.dead
    FROM targets t
    JOIN registry_persons p ON p.household_id = t.household_id
    WHERE t.id IN :ids
    ORDER BY t.id, p.id
    """
).bindparams(bindparam("ids", expanding=True))
_STORE_SNAPSHOT = (
    update(Target)
    .where(Target.id == bindparam("target_id"))
    .values(label=bindparam("label"), snapshot=bindparam("snapshot"), members=bindparam("members"))
)


def target_ids_of_list(
    session: Session, list_id: int, states: Sequence[str] = ON_LIST
) -> list[int]:
    query = select(Target.id).where(Target.list_id == list_id, Target.state.in_(states))
    return list(session.scalars(query.order_by(Target.id)))


def households_to_render(session: Session, target_ids: Sequence[int]) -> list[Any]:
    """Registry data of the targets' households, with their village and kecamatan names."""
    return list(session.execute(_RENDER_HOUSEHOLDS, {"ids": list(target_ids)}))


def members_to_render(session: Session, target_ids: Sequence[int]) -> list[Any]:
    """The registry members of the targets' households, by target then person."""
    return list(session.execute(_RENDER_MEMBERS, {"ids": list(target_ids)}))


def store_snapshots(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(_STORE_SNAPSHOT, list(rows))
        _reline(session, [row["target_id"] for row in rows])


# A household's CSV line as the phone gets it (lists.HOUSEHOLD_COLUMNS), put together by the
# database from the row's current values: label and reason always quoted.
_LINE = """
    id || ',"' || CASE WHEN state = 'revisit' THEN '[ULANG] ' ELSE '' END
    || replace(label, '"', '""') || '",' || version || ',' || snapshot || ','
    || CASE WHEN state = 'revisit'
            THEN '1,"' || replace(coalesce(revisit_reason, ''), '"', '""') || '"'
            ELSE '0,' END
"""
_RELINE = text(f"UPDATE targets SET line = {_LINE} WHERE id IN :ids").bindparams(  # noqa: S608
    bindparam("ids", expanding=True)
)


def _reline(session: Session, target_ids: Sequence[int]) -> None:
    """Rewrite the CSV line of targets whose version, state or rendering just changed."""
    for start in range(0, len(target_ids), CHUNK):
        session.execute(_RELINE, {"ids": list(target_ids[start : start + CHUNK])})


_LIST_LINES = """
    SELECT line, members FROM targets
    WHERE assignee_id = {0} AND project_id = {0} AND state IN ('open', 'revisit')
    ORDER BY id
"""


def list_lines(session: Session, project_id: int, user_id: int) -> Iterator[tuple[str, str]]:
    """(household CSV line, member CSV lines) of each of the enumerator's open and revisit
    targets, streamed in batches straight from the driver: an enumerator may hold 100,000
    households, and this is the cold path of a phone's manifest request."""
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        cursor = raw.cursor(name="assignment_list")  # server-side: rows arrive in batches
        cursor.execute(_LIST_LINES.format("%s"), (user_id, project_id))
    else:
        cursor = raw.cursor()
        cursor.execute(_LIST_LINES.format("?"), (user_id, project_id))
    try:
        while rows := cursor.fetchmany(2_000):
            yield from rows
    finally:
        cursor.close()


def target_for_visit(
    session: Session, project_id: int, target_id: int
) -> tuple[int | None, str, int | None] | None:
    """(assignee, state, the visit recorded so far) of a target a submission names, locked
    against a racing visit."""
    row = session.execute(
        select(Target.assignee_id, Target.state, Target.submission_id)
        .where(Target.id == target_id, Target.project_id == project_id)
        .with_for_update()
    ).first()
    return (row[0], row[1], row[2]) if row else None


def supersede(session: Session, submission_id: int, now: datetime) -> str | None:
    """Reject a visit a revisit has replaced, unless a person approved it meanwhile; the
    state it had, if it changed."""
    state = session.scalar(
        select(Submission.review_state).where(
            Submission.id == submission_id, Submission.deleted_at.is_(None)
        )
    )
    if state is None or state in ("approved", "rejected"):
        return None
    session.execute(
        update(Submission)
        .where(Submission.id == submission_id)
        .values(review_state="rejected", review_by_rules=False, updated_at=now)
    )
    return str(state)


def set_visited(
    session: Session,
    target_id: int,
    submission_id: int,
    user_id: int | None,
    outcome: str | None,
    now: datetime,
) -> None:
    session.execute(
        update(Target)
        .where(Target.id == target_id)
        .values(
            state="visited",
            submission_id=submission_id,
            visited_by_id=user_id,
            visited_at=now,
            outcome=outcome,
            version=Target.version + 1,
            updated_at=now,
        )
    )
    _reline(session, [target_id])


def target_of_submission(session: Session, submission_id: int) -> Target | None:
    return session.scalar(select(Target).where(Target.submission_id == submission_id))


def set_revisit(session: Session, target_id: int, reason: str, now: datetime) -> None:
    session.execute(
        update(Target)
        .where(Target.id == target_id)
        .values(state="revisit", revisit_reason=reason, version=Target.version + 1, updated_at=now)
    )
    _reline(session, [target_id])


@dataclass(frozen=True)
class ProgressRow:
    """Targets counted by village, enumerator, state, outcome and review state."""

    village_code: str | None
    assignee_id: int | None
    state: str
    outcome: str | None
    review_state: str | None
    count: int


def progress_rows(
    session: Session, project_id: int, assignees: frozenset[int] | None = None
) -> list[ProgressRow]:
    """The project's targets counted by village, assignee, state, outcome and review state;
    with `assignees`, only the targets they hold (read through the assignee index, so a
    koordinator's page never scans the project)."""
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


def region_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(codes))
    names: dict[str, str] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(Region.code, Region.name).where(Region.code.in_(wanted[start : start + CHUNK]))
        )
        names.update({row[0]: row[1] for row in rows})
    return names


def team_names_by_user(session: Session, project_id: int) -> dict[int, str]:
    rows = session.execute(
        select(TeamMember.user_id, Team.name)
        .join(Team, Team.id == TeamMember.team_id)
        .where(TeamMember.project_id == project_id)
    )
    return {row[0]: row[1] for row in rows}


def usernames(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {
        row[0]: row[1]
        for row in session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    }


def member_ids_of_teams(session: Session, team_ids: Sequence[int]) -> list[int]:
    if not team_ids:
        return []
    query = select(TeamMember.user_id).where(TeamMember.team_id.in_(team_ids))
    return list(session.scalars(query))


def list_sizes(session: Session, project_id: int) -> dict[int, int]:
    """Households on each enumerator's list (open or returned for revisit)."""
    rows = session.execute(
        select(Target.assignee_id, func.count())
        .where(
            Target.project_id == project_id,
            Target.state.in_(ON_LIST),
            Target.assignee_id.is_not(None),
        )
        .group_by(Target.assignee_id)
    )
    return {row[0]: int(row[1]) for row in rows if row[0] is not None}
