"""`verivali teams ...`, `verivali assign ...` and `verivali progress`: fieldwork set-up
from the command line (the web pages come with the review queue).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy.orm import Session

from server import problems
from server.accounts import queries as account_queries
from server.assignments import queries, service
from server.assignments.progress import LEVELS, progress
from server.cli_base import CliError, unit_of_work
from server.models import User
from server.problems import ProblemError

project_option = click.option(
    "--project", "project_id", type=int, help="Project ID (needed when there are several)."
)


def _project(session: Session, project_id: int | None) -> int:
    if project_id is not None:
        if account_queries.project_by_id(session, project_id) is None:
            raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
        return project_id
    projects = account_queries.all_projects(session)
    if len(projects) != 1:
        raise CliError("there are several projects (or none); add --project ID")
    return projects[0].id


def _user(session: Session, username: str | None) -> User | None:
    if username is None:
        return None
    user = account_queries.user_by_username(session, username)
    if user is None:
        raise ProblemError(problems.USER_NOT_FOUND, username=username)
    return user


@click.group()
def teams() -> None:
    """Koordinator teams of enumerators."""


@teams.command("add")
@click.argument("name")
@click.option("--supervisor", help="Username of the koordinator who leads the team.")
@click.option("--members", default="", help="Enumerator usernames, comma-separated.")
@project_option
def teams_add(name: str, supervisor: str | None, members: str, project_id: int | None) -> None:
    """Create a team (optionally with its koordinator and members)."""
    with unit_of_work() as (_svc, session):
        project = _project(session, project_id)
        team = service.do_create_team(session, project, name, supervisor)
        added = service.do_add_to_team(session, team, service.split_words(members))
    click.echo(f"team {name}: {added} members")


@teams.command("members")
@click.argument("name")
@click.argument("usernames", nargs=-1, required=True)
@project_option
def teams_members(name: str, usernames: tuple[str, ...], project_id: int | None) -> None:
    """Put enumerators in a team (taking them out of their previous team)."""
    with unit_of_work() as (_svc, session):
        team = service.team_or_404(session, _project(session, project_id), name)
        added = service.do_add_to_team(session, team, list(usernames))
    click.echo(f"team {name}: {added} added")


@teams.command("list")
@project_option
def teams_list(project_id: int | None) -> None:
    """List teams as name<TAB>koordinator<TAB>members."""
    with unit_of_work() as (_svc, session):
        project = _project(session, project_id)
        rows = queries.team_sheet_rows(session, project, None)
        lines = []
        for team in queries.teams(session, project):
            lead = account_queries.user_by_id(session, team.supervisor_id or 0)
            members = ",".join(r.username for r in rows if r.team_id == team.id)
            lines.append(f"{team.name}\t{lead.username if lead else '-'}\t{members}")
    for line in lines:
        click.echo(line)


@click.group()
def assign() -> None:
    """Target lists from the registry, and who visits which household."""


@assign.command("make-list")
@click.argument("name")
@click.option("--source", type=click.Choice(["dtks", "dtsen", "p3ke"]), required=True)
@click.option("--village", "villages", multiple=True, help="10-digit village code (repeatable).")
@click.option("--kecamatan", multiple=True, help="6-digit kecamatan code (repeatable).")
@click.option("--desil-max", type=int, help="Only households in desil 1..N.")
@click.option(
    "--from-diff",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A 'verivali registry diff' CSV: its households of --source.",
)
@click.option("--status", help="With --from-diff: only rows of this status (e.g. only_p3ke).")
@project_option
def assign_make_list(
    name: str,
    source: str,
    villages: tuple[str, ...],
    kecamatan: tuple[str, ...],
    desil_max: int | None,
    from_diff: Path | None,
    status: str | None,
    project_id: int | None,
) -> None:
    """Make a target list from registry households (not already on an open list)."""
    criteria = service.ListCriteria(source, villages, kecamatan, desil_max, from_diff, status)
    with unit_of_work() as (_svc, session):
        _list, added = service.do_create_target_list(
            session, _project(session, project_id), name, criteria
        )
    click.echo(f"list {name}: {added:,} households")


@assign.command("refresh")
@click.argument("list_name")
@project_option
def assign_refresh(list_name: str, project_id: int | None) -> None:
    """Re-read the registry data shown on phones for a list (after a registry re-import)."""
    with unit_of_work() as (_svc, session):
        target_list = service.target_list_or_404(session, _project(session, project_id), list_name)
        refreshed = service.do_refresh_list(session, target_list)
    click.echo(f"list {list_name}: {refreshed:,} households refreshed")


@assign.command("lists")
@project_option
def assign_lists(project_id: int | None) -> None:
    """Show target lists as name<TAB>households<TAB>not yet assigned."""
    with unit_of_work() as (_svc, session):
        rows = queries.target_lists(session, _project(session, project_id))
        lines = [f"{lst.name}\t{total}\t{free}" for lst, total, free in rows]
    for line in lines:
        click.echo(line)


@assign.command("give")
@click.argument("list_name")
@click.argument("username")
@click.option("--count", type=int, help="How many households (default: all unassigned).")
@click.option("--village", "villages", multiple=True, help="Only in this village (repeatable).")
@project_option
def assign_give(
    list_name: str,
    username: str,
    count: int | None,
    villages: tuple[str, ...],
    project_id: int | None,
) -> None:
    """Give unassigned households of a list to an enumerator."""
    with unit_of_work() as (_svc, session):
        project = _project(session, project_id)
        target_list = service.target_list_or_404(session, project, list_name)
        enumerator = service.check_enumerator(session, username, project)
        given = service.do_assign(session, target_list, enumerator, count, villages)
    click.echo(f"{username}: {given:,} households from {list_name}")


@assign.command("move")
@click.argument("source")
@click.argument("destination")
@click.option("--count", type=int, help="How many households (default: all).")
@click.option("--village", "villages", multiple=True, help="Only in this village (repeatable).")
@click.option("--targets", help="Exactly these target IDs, comma-separated.")
@click.option("--as", "as_user", help="Act as this koordinator (moves within their team only).")
@project_option
def assign_move(
    source: str,
    destination: str,
    count: int | None,
    villages: tuple[str, ...],
    targets: str | None,
    as_user: str | None,
    project_id: int | None,
) -> None:
    """Move households still to visit from one enumerator to another."""
    with unit_of_work() as (_svc, session):
        project = _project(session, project_id)
        moved = service.do_move(
            session,
            project,
            service.check_enumerator(session, source, project),
            service.check_enumerator(session, destination, project),
            count,
            villages,
            service.parse_ids(targets) if targets else None,
            _user(session, as_user),
        )
    click.echo(f"{moved:,} households moved from {source} to {destination}")


@assign.command("revisit")
@click.argument("submission_id", type=int)
@click.option("--reason", required=True, help="What the enumerator must check again.")
@project_option
def assign_revisit(submission_id: int, reason: str, project_id: int | None) -> None:
    """Return a visited household to its enumerator's list, with the reason."""
    with unit_of_work() as (_svc, session):
        target_id = service.do_return_for_revisit(
            session, _project(session, project_id), submission_id, reason
        )
    click.echo(f"target {target_id} is back on the list")


@click.command("progress")
@click.option("--by", "level", type=click.Choice(LEVELS), default="kecamatan")
@click.option("--json", "as_json", is_flag=True, help="Everything, as JSON.")
@project_option
def progress_command(level: str, as_json: bool, project_id: int | None) -> None:
    """Targets, visits, outcomes and review results per kecamatan, village, team or enumerator."""
    with unit_of_work() as (_svc, session):
        result = progress(session, _project(session, project_id))
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{level}\ttargets\tvisited\t%\trevisit\tflagged\tapproved\toutcomes")
    rows = sorted(result.levels[level].items()) + [("TOTAL", result.total)]
    for key, tally in rows:
        data = tally.as_json()
        outcomes = " ".join(f"{k}={v}" for k, v in data["outcomes"].items())
        click.echo(
            f"{key}\t{tally.targets}\t{tally.visited}\t{data['percent_visited']}\t"
            f"{tally.revisit}\t{tally.flagged}\t{tally.approved}\t{outcomes}"
        )
