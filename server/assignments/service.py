"""Making target lists, giving households to enumerators, recording visits and revisits.

check_* validates, do_* writes and audits. Every change to who holds a household, or to
whether it is on a list, bumps the affected enumerators' list versions in the same
transaction, so the phone's copy changes exactly when the enumerator's list does.
Supervisors may only move households between enumerators of their own team.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from server import audit, problems
from server.accounts import queries as account_queries
from server.accounts.service import do_issue_token
from server.assignments import queries
from server.assignments.lists import render
from server.assignments.models import ON_LIST, TargetList, Team, TeamMember
from server.models import User, utcnow
from server.problems import ProblemError
from server.registry.models import REGISTRY_SOURCES
from server.validation.queries import forget_finding_keys

# The questionnaire's top-level questions naming the household visited and the outcome.
TARGET_FIELD = "sasaran"
OUTCOME_FIELD = "hasil"
_NAME = re.compile(r"^[\w .()/-]{1,100}$")
MAX_REASON = 500


def check_name(field: str, name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise ProblemError(
            problems.INVALID_INPUT, field=field, reason="1-100 letters, digits, spaces or .()/-"
        )
    return name


def check_enumerator(session: Session, username: str, project_id: int) -> User:
    """An active enumerator who works in the project."""
    user = account_queries.user_by_username(session, username)
    if user is None or user.disabled_at is not None:
        raise ProblemError(problems.USER_NOT_FOUND, username=username)
    if user.role != "enumerator":
        raise ProblemError(problems.INVALID_INPUT, field=username, reason="is not an enumerator")
    if not account_queries.is_member(session, user.id, project_id):
        raise ProblemError(problems.INVALID_INPUT, field=username, reason="is not in the project")
    return user


def _check_codes(codes: Iterable[str], digits: int, field: str) -> list[str]:
    """Region codes as typed ('35.73.04' or '357304'), undotted, each exactly `digits` long."""
    found = []
    for code in codes:
        plain = code.replace(".", "").strip()
        if not (plain.isascii() and plain.isdigit() and len(plain) == digits):
            raise ProblemError(
                problems.INVALID_INPUT, field=field, reason=f"{code!r} is not a {digits}-digit code"
            )
        found.append(plain)
    return found


def check_villages(codes: Iterable[str]) -> list[str]:
    return _check_codes(codes, 10, "village")


def check_kecamatan(codes: Iterable[str]) -> list[str]:
    return _check_codes(codes, 6, "kecamatan")


def do_create_team(
    session: Session,
    project_id: int,
    name: str,
    supervisor: str | None,
    actor_id: int | None = None,
) -> Team:
    name = check_name("team", name)
    if queries.team_by_name(session, project_id, name) is not None:
        raise ProblemError(problems.INVALID_INPUT, field="team", reason="already exists")
    supervisor_id = None
    if supervisor:
        user = account_queries.user_by_username(session, supervisor)
        if user is None:
            raise ProblemError(problems.USER_NOT_FOUND, username=supervisor)
        if user.role not in ("supervisor", "admin"):
            raise ProblemError(problems.INVALID_INPUT, field=supervisor, reason="is no supervisor")
        supervisor_id = user.id
    team = Team(project_id=project_id, name=name, supervisor_id=supervisor_id)
    session.add(team)
    session.flush()
    audit.record(session, actor_id, "team.create", "team", team.id, supervisor_id=supervisor_id)
    return team


def team_or_404(session: Session, project_id: int, name: str) -> Team:
    team = queries.team_by_name(session, project_id, name)
    if team is None:
        raise ProblemError(problems.TEAM_NOT_FOUND, team=name)
    return team


def do_add_to_team(
    session: Session, team: Team, usernames: Sequence[str], actor_id: int | None = None
) -> int:
    """Put enumerators in the team (moving them out of another team of the project); one
    without a token gets one, so the team sheet has a QR code for everyone."""
    added = 0
    for username in usernames:
        user = check_enumerator(session, username, team.project_id)
        if user.token is None:
            do_issue_token(session, user, actor_id)
        current = queries.team_of(session, team.project_id, user.id)
        if current == team.id:
            continue
        if current is not None:
            member = session.get(TeamMember, (current, user.id))
            if member is not None:
                session.delete(member)
                session.flush()
        session.add(TeamMember(team_id=team.id, user_id=user.id, project_id=team.project_id))
        audit.record(session, actor_id, "team.member.add", "team", team.id, user_id=user.id)
        added += 1
    session.flush()
    return added


@dataclass(frozen=True)
class ListCriteria:
    """Which registry households a target list takes."""

    source: str
    villages: tuple[str, ...] = ()
    kecamatan: tuple[str, ...] = ()
    desil_max: int | None = None
    diff_file: Path | None = None
    diff_status: str | None = None

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {"source": self.source}
        if self.villages:
            data["villages"] = list(self.villages)
        if self.kecamatan:
            data["kecamatan"] = list(self.kecamatan)
        if self.desil_max is not None:
            data["desil_max"] = self.desil_max
        if self.diff_file is not None:
            data["diff_file"] = self.diff_file.name
            data["diff_status"] = self.diff_status
        return data


def _diff_keys(path: Path, source: str, status: str | None) -> list[str]:
    """The `source` household keys named in a `verivali registry diff` CSV."""
    column = f"{source}_key"
    keys = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise ProblemError(
                problems.INVALID_INPUT,
                field=path.name,
                reason=f"has no {column} column; make it with 'verivali registry diff'",
            )
        for row in reader:
            if status and row.get("status") != status:
                continue
            if row[column]:
                keys.append(row[column])
    return keys


def do_create_target_list(
    session: Session,
    project_id: int,
    name: str,
    criteria: ListCriteria,
    actor_id: int | None = None,
) -> tuple[TargetList, int]:
    """A new list of the registry households that meet the criteria (and are not already
    on an open list of the project); returns the list and how many households it took."""
    name = check_name("list", name)
    if account_queries.project_by_id(session, project_id) is None:
        raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
    if criteria.source not in REGISTRY_SOURCES:
        raise ProblemError(problems.INVALID_INPUT, field="source", reason="dtks, dtsen or p3ke")
    if queries.target_list_by_name(session, project_id, name) is not None:
        raise ProblemError(problems.INVALID_INPUT, field="list", reason="already exists")
    if criteria.desil_max is not None and not 1 <= criteria.desil_max <= 10:
        raise ProblemError(problems.INVALID_INPUT, field="desil", reason="between 1 and 10")
    keys = None
    if criteria.diff_file is not None:
        keys = _diff_keys(criteria.diff_file, criteria.source, criteria.diff_status)
    target_list = TargetList(
        project_id=project_id, name=name, criteria=criteria.as_json(), created_by_id=actor_id
    )
    session.add(target_list)
    session.flush()
    added = queries.insert_targets(
        session,
        target_list.id,
        project_id,
        utcnow(),
        criteria.source,
        check_villages(criteria.villages),
        check_kecamatan(criteria.kecamatan),
        criteria.desil_max,
        keys,
    )
    render(session, queries.target_ids_of_list(session, target_list.id))
    audit.record(
        session, actor_id, "target_list.create", "target_list", target_list.id, households=added
    )
    return target_list, added


def do_refresh_list(session: Session, target_list: TargetList, actor_id: int | None = None) -> int:
    """Re-read the registry data of the households still to visit (after a re-import)."""
    ids = queries.target_ids_of_list(session, target_list.id)
    holders = queries.touch_targets(session, ids, utcnow())
    render(session, ids)
    queries.bump_lists(session, target_list.project_id, holders)
    audit.record(
        session, actor_id, "target_list.refresh", "target_list", target_list.id, households=len(ids)
    )
    return len(ids)


def target_list_or_404(session: Session, project_id: int, name: str) -> TargetList:
    found = queries.target_list_by_name(session, project_id, name)
    if found is None:
        raise ProblemError(problems.TARGET_LIST_NOT_FOUND, name=name)
    return found


def do_assign(
    session: Session,
    target_list: TargetList,
    enumerator: User,
    count: int | None,
    villages: Sequence[str] = (),
    actor_id: int | None = None,
) -> int:
    """Give unassigned households of the list to an enumerator, village by village."""
    if count is not None and count < 1:
        raise ProblemError(problems.INVALID_INPUT, field="count", reason="at least 1")
    picked = queries.pick_targets(
        session, target_list.project_id, target_list.id, None, count, check_villages(villages)
    )
    ids = [target_id for target_id, _ in picked]
    queries.set_assignee(session, ids, enumerator.id, utcnow())
    queries.bump_lists(session, target_list.project_id, [enumerator.id])
    audit.record(
        session,
        actor_id,
        "targets.assign",
        "target_list",
        target_list.id,
        user_id=enumerator.id,
        households=len(ids),
    )
    return len(ids)


def check_may_move(
    session: Session, actor: User | None, project_id: int, user_ids: Iterable[int]
) -> None:
    """Admins move anything; a supervisor only between members of a team they lead."""
    if actor is None or actor.role == "admin":
        return
    led = set(queries.teams_supervised(session, project_id, actor.id))
    if actor.role != "supervisor" or any(
        queries.team_of(session, project_id, user_id) not in led for user_id in user_ids
    ):
        raise ProblemError(problems.OUTSIDE_TEAM)


def do_move(
    session: Session,
    project_id: int,
    source: User,
    destination: User,
    count: int | None = None,
    villages: Sequence[str] = (),
    target_ids: Sequence[int] | None = None,
    actor: User | None = None,
) -> int:
    """Move households still on `source`'s list to `destination`."""
    check_may_move(session, actor, project_id, [source.id, destination.id])
    if target_ids is not None:
        rows = queries.targets_by_id(session, project_id, target_ids)
        held = {row[0] for row in rows if row[1] == source.id and row[2] in ON_LIST}
        missing = sorted(set(target_ids) - held)
        if missing:
            raise ProblemError(problems.TARGET_NOT_FOUND, target=missing[0])
        ids = sorted(held)
    else:
        picked = queries.pick_targets(
            session, project_id, None, source.id, count, check_villages(villages)
        )
        ids = [target_id for target_id, _ in picked]
    queries.set_assignee(session, ids, destination.id, utcnow())
    queries.bump_lists(session, project_id, [source.id, destination.id])
    audit.record(
        session,
        actor.id if actor else None,
        "targets.move",
        "project",
        project_id,
        from_user_id=source.id,
        to_user_id=destination.id,
        households=len(ids),
    )
    return len(ids)


def do_return_for_revisit(
    session: Session, project_id: int, submission_id: int, reason: str, actor_id: int | None = None
) -> int:
    """Put the household a submission visited back on its enumerator's list, with why."""
    reason = " ".join(reason.split())
    if not reason or len(reason) > MAX_REASON:
        raise ProblemError(problems.INVALID_INPUT, field="reason", reason="1-500 characters")
    target = queries.target_of_submission(session, submission_id)
    if target is None or target.project_id != project_id:
        raise ProblemError(problems.TARGET_NOT_FOUND, target=f"kiriman {submission_id}")
    # The household goes back to whoever holds it now (the visitor, unless reassigned).
    holder = target.assignee_id or target.visited_by_id
    queries.set_revisit(session, target.id, reason, utcnow())
    if target.assignee_id is None:
        queries.set_assignee(session, [target.id], holder, utcnow())
    queries.bump_lists(session, project_id, [holder])
    audit.record(
        session, actor_id, "target.revisit", "submission", submission_id, target_id=target.id
    )
    return target.id


def target_key(value: str | None) -> int | None:
    """The target ID a submission's `sasaran` answer names, if it is one."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 12 else None


def do_record_visit(
    session: Session,
    project_id: int,
    key: str | None,
    submission_id: int,
    user_id: int | None,
    outcome: str | None,
) -> bool:
    """Take the household a new submission names off its enumerator's list.

    A target that is not on a list (unknown, already visited, cancelled) is left alone: the
    rules flag it (V13, V21), and the submission itself is never refused for it."""
    target_id = target_key(key)
    if target_id is None:
        return False
    found = queries.target_for_visit(session, project_id, target_id)
    if found is None or found[1] not in ON_LIST:
        return False
    assignee_id, state, earlier = found
    clean_outcome = (outcome or "").strip()[:32] or None
    queries.set_visited(session, target_id, submission_id, user_id, clean_outcome, utcnow())
    queries.bump_lists(session, project_id, [assignee_id])
    if state == "revisit" and earlier is not None and earlier != submission_id:
        _supersede(session, earlier, submission_id, user_id)
    return True


def _supersede(session: Session, earlier: int, later: int, user_id: int | None) -> None:
    """The returned visit gives way to the revisit: rejected, and nobody's duplicate."""
    was = queries.supersede(session, earlier, utcnow())
    if was is None:
        return
    forget_finding_keys(session, [earlier])
    audit.record(
        session,
        user_id,
        "submission.supersede",
        "submission",
        earlier,
        by=later,
        **{"from": was, "to": "rejected"},
    )


def split_words(text: str) -> list[str]:
    """Usernames or IDs separated by commas, spaces or new lines."""
    return [word for word in re.split(r"[\s,]+", text) if word]


def parse_ids(text: str) -> list[int]:
    """Target IDs separated by commas, spaces or new lines."""
    tokens = split_words(text)
    for token in tokens:
        if not token.isdigit():
            raise ProblemError(problems.INVALID_INPUT, field="target", reason=f"{token!r}")
    return [int(token) for token in tokens]
