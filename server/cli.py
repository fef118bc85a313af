"""The `verivali` command (also `python -m server`): set-up, serving and administration.

Scriptable: results go to stdout one per line, errors to stderr as one line with a
non-zero exit, and every command has --help.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.exc import SQLAlchemyError

from server import build_services, problems
from server.accounts import queries as account_queries
from server.accounts import service as accounts
from server.cli_base import CliError, load_cli_settings, unit_of_work
from server.config import SettingsError
from server.forms import queries as form_queries
from server.models import PROJECT_ZONES
from server.problems import ProblemError

# server.forms.service pulls in pyxform (a third of a second): the commands that need it
# import it, so that scripts calling `verivali users ...` in a loop stay quick.
if TYPE_CHECKING:
    from server.forms.service import PublishResult


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="verivali", prog_name="verivali")
def cli() -> None:
    """Verivali: OpenRosa form server that checks submissions against the welfare registry."""


@cli.command()
def init() -> None:
    """Create the data directory, the tables and the region table (safe to run again)."""
    from server.registry.regions import do_load_regions

    svc = build_services(load_cli_settings())
    try:
        upgraded = svc.db.create_all()
        removed = svc.store.clean_tmp()
        with svc.db.transaction() as session:
            regions = do_load_regions(session, within=svc.settings.regions_within)
    finally:
        svc.db.dispose()
    click.echo(
        f"initialised {svc.settings.data_dir}"
        + (f" (removed {removed} unfinished uploads)" if removed else "")
    )
    click.echo(f"regions: {regions:,} loaded" if regions else "regions: up to date")
    if upgraded:
        click.echo(f"schema: {len(upgraded)} additions for this release (columns, indexes)")


@cli.command()
@click.option(
    "--host", default=None, help="Address to listen on (default VERIVALI_HOST or 0.0.0.0)."
)
@click.option("--port", type=int, default=None, help="Port (default VERIVALI_PORT or 8000).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes.")
@click.option("--dev", is_flag=True, help="Use Flask's development server (never in production).")
def serve(host: str | None, port: int | None, workers: int | None, dev: bool) -> None:
    """Serve the web UI and the OpenRosa endpoints (gunicorn)."""
    from server.serving import run_dev, run_gunicorn

    settings = load_cli_settings()
    host = host or settings.host
    port = port or settings.port
    if not 0 < port < 65536:
        raise CliError(f"port must be between 1 and 65535, got {port}")
    if dev:
        run_dev(host, port)
    else:
        run_gunicorn(settings, host, port, workers)


@cli.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run background jobs from Redis (needs VERIVALI_REDIS_URL)."""
    # SimpleWorker runs jobs in this process instead of a fork per job: the services (the
    # database pool, the cached statistics) are built once and kept between jobs.
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    import server.validation.jobs  # noqa: F401 - registers the validation job
    from server.jobs import RqQueue

    settings = load_cli_settings()
    if not settings.redis_url:
        raise CliError("VERIVALI_REDIS_URL is not set; without Redis jobs run in the server")
    queue = RqQueue(settings.redis_url, settings.rq_queue)
    SimpleWorker([queue.queue], connection=queue.connection, serializer=JSONSerializer).work(
        burst=burst
    )


@cli.command()
def demo() -> None:
    """Load the demo: a project, demo users and the forms in forms/ (idempotent)."""
    from server.demo import load_demo, print_demo

    with unit_of_work() as (svc, session):
        summary = load_demo(svc, session, Path("forms"))
    print_demo(summary, svc.settings)


@cli.group()
def projects() -> None:
    """Create and list projects."""


_ZONE = click.Choice(PROJECT_ZONES)


@projects.command("add")
@click.argument("name")
@click.option("--timezone", type=_ZONE, help="The fieldwork's zone (default: VERIVALI_TIMEZONE).")
def projects_add(name: str, timezone: str | None) -> None:
    """Create a project and print its ID."""
    with unit_of_work() as (_svc, session):
        project = accounts.do_create_project(session, name, timezone=timezone)
        project_id = project.id
    click.echo(project_id)


@projects.command("timezone")
@click.argument("project_id", type=int)
@click.argument("timezone", type=_ZONE, required=False)
def projects_timezone(project_id: int, timezone: str | None) -> None:
    """Set the zone a project's times are read in (none given: the instance's)."""
    with unit_of_work() as (_svc, session):
        project = account_queries.project_by_id(session, project_id)
        if project is None:
            raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
        accounts.do_set_project_zone(session, project, timezone)


@projects.command("approval")
@click.argument("project_id", type=int)
@click.argument("levels", type=click.Choice(("single", "two-level")))
def projects_approval(project_id: int, levels: str) -> None:
    """single: a koordinator's approval approves; two-level: an admin approves after it."""
    with unit_of_work() as (_svc, session):
        project = account_queries.project_by_id(session, project_id)
        if project is None:
            raise ProblemError(problems.PROJECT_NOT_FOUND, project_id=project_id)
        accounts.do_set_approval_levels(session, project, levels == "two-level")


@projects.command("list")
def projects_list() -> None:
    """List projects as ID<TAB>name<TAB>time zone<TAB>approval levels."""
    with unit_of_work() as (svc, session):
        for project in account_queries.all_projects(session):
            zone = project.timezone or svc.settings.timezone
            levels = "two-level" if project.two_level_approval else "single"
            click.echo(f"{project.id}\t{project.name}\t{zone}\t{levels}")


@cli.group()
def users() -> None:
    """Create users and enumerator tokens."""


@users.command("add")
@click.argument("name")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "designer", "supervisor", "enumerator"])
)
@click.option("--project", "project_id", type=int, help="Project the user works in.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(name: str, role: str, project_id: int | None, password_stdin: bool) -> None:
    """Create a user. Without --password-stdin a password is generated and printed once."""
    import secrets

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password = secrets.token_urlsafe(12)
        generated = True
    with unit_of_work() as (svc, session):
        accounts.do_create_user(
            session, name, role, svc.settings.realm, password=password, project_id=project_id
        )
    click.echo(f"created {name} ({role})")
    if generated:
        click.echo(f"password: {password}")


@users.command("token")
@click.argument("name")
@click.option("--reissue", is_flag=True, help="Revoke the current token and issue a new one.")
@click.option("--revoke", is_flag=True, help="Revoke the token: the phone's QR code stops working.")
def users_token(name: str, reissue: bool, revoke: bool) -> None:
    """Print the enumerator's Collect server URL(s) with their token."""
    from server.serving import public_base_url

    with unit_of_work() as (svc, session):
        user = account_queries.user_by_username(session, name)
        if user is None:
            raise ProblemError(problems.USER_NOT_FOUND, username=name)
        if revoke:
            accounts.do_revoke_token(session, user)
            click.echo(f"{name}: token revoked")
            return
        token = user.token if user.token and not reissue else accounts.do_issue_token(session, user)
        project_ids = account_queries.member_project_ids(session, user.id)
        if not project_ids:
            raise CliError(f"{name} belongs to no project; add them with 'users add --project'")
        base = public_base_url(svc.settings)
    for project_id in project_ids:
        click.echo(f"{base}/v1/key/{token}/projects/{project_id}")


@users.command("list")
def users_list() -> None:
    """List users as username<TAB>role<TAB>project IDs."""
    with unit_of_work() as (_svc, session):
        for user in account_queries.all_users(session):
            ids = ",".join(str(p) for p in account_queries.member_project_ids(session, user.id))
            click.echo(f"{user.username}\t{user.role}\t{ids}")


@cli.group()
def forms() -> None:
    """Publish forms and change their state."""


@forms.command("publish")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--project", "project_id", type=int, required=True, help="Project ID.")
@click.option(
    "--media",
    "media",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A media file for the form (CSV, image...); repeat for several.",
)
@click.option(
    "--rules",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rule settings (TOML); default: the .toml file beside the form, else the current "
    "version's settings.",
)
def forms_publish(path: Path, project_id: int, media: tuple[Path, ...], rules: Path | None) -> None:
    """Convert an XLSForm (.xlsx .xls .csv .md), check it with JavaRosa and publish it."""
    from server.forms import service as forms_service
    from server.validation import jobs as validation_jobs

    for file in (path, *media, *([rules] if rules else [])):
        if not file.is_file():
            raise CliError(f"no such file: {file}")
    with unit_of_work() as (svc, session):
        result = forms_service.do_publish_form(
            session,
            svc.settings,
            svc.store,
            project_id,
            path,
            list(media),
            rules_path=rules,
            keep_rules=True,
        )
        line = _publish_line(result)
        validation_jobs.notify_all(session, svc, result.rechecks)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for name in result.missing_media:
        click.echo(f"warning: the form uses {name} but it was not uploaded (--media)", err=True)
    click.echo(line)
    if result.rechecks:
        click.echo(f"queued {result.rechecks:,} submissions to check under the new rule settings")


def _publish_line(result: PublishResult) -> str:
    state = (
        "published"
        if result.created
        else "media updated"
        if result.media_updated
        else "rules updated"
        if result.rules_updated
        else "unchanged"
    )
    checked = ""
    if result.javarosa is not None:
        checked = " (JavaRosa: ok)" if result.javarosa.ran else " (JavaRosa: not run, no Java)"
    return (
        f"{state} {result.form.xml_form_id} version {result.version.version} "
        f"md5:{result.version.md5}{checked}"
    )


@forms.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of columns.")
def forms_list(as_json: bool) -> None:
    """List forms as project<TAB>form ID<TAB>version<TAB>state<TAB>title."""
    with unit_of_work() as (_svc, session):
        rows = [
            {
                "project_id": p.id,
                "form_id": f.xml_form_id,
                "version": v.version if v else "",
                "state": f.state,
                "title": v.title if v else "",
                "md5": v.md5 if v else "",
            }
            for f, v, p in form_queries.all_forms_with_projects(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            "\t".join(str(row[k]) for k in ("project_id", "form_id", "version", "state", "title"))
        )


@forms.command("state")
@click.argument("form_id")
@click.argument("state", type=click.Choice(["open", "closing", "closed"]), metavar="STATE")
@click.option("--project", "project_id", type=int, help="Needed when several projects use the ID.")
def forms_state(form_id: str, state: str, project_id: int | None) -> None:
    """Set a form's STATE: open, closing (no new downloads) or closed (no submissions)."""
    from server.forms import service as forms_service

    with unit_of_work() as (_svc, session):
        candidates = form_queries.forms_by_xml_id(
            session, form_id, [project_id] if project_id is not None else None
        )
        if not candidates:
            raise ProblemError(problems.FORM_NOT_FOUND, form_id=form_id)
        if len(candidates) > 1:
            raise CliError(f"form {form_id} exists in several projects; add --project")
        forms_service.do_set_form_state(session, candidates[0], state)
    click.echo(f"{form_id} {state}")


@forms.command("twin")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Only compare: fail if the committed twin differs.")
def forms_twin(path: Path, check: bool) -> None:
    """Write the markdown twin of an XLSForm workbook next to it (x.xlsx -> x.md)."""
    from server.forms.twin import TwinError, twin_path, workbook_to_markdown

    if not path.is_file():
        raise CliError(f"no such file: {path}")
    if path.suffix.lower() != ".xlsx":
        raise CliError(f"{path} is not an .xlsx workbook")
    try:
        text = workbook_to_markdown(path)
    except TwinError as exc:
        raise CliError(f"{path}: {exc}") from None
    target = twin_path(path)
    if check:
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current != text:
            raise CliError(f"{target} is not the twin of {path}; run 'verivali forms twin {path}'")
        click.echo(f"{target} is up to date")
        return
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}")


def _register_groups() -> None:
    from server.assignments.commands import assign, progress_command, teams
    from server.registry.commands import regions, registry
    from server.validation.commands import rules

    for command in (registry, regions, teams, assign, progress_command, rules):
        cli.add_command(command)


_register_groups()


def _fail(message: str, code: int) -> None:
    one_line = " ".join(message.split())
    click.echo(f"verivali: error: {one_line}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; every failure is one line on stderr and a non-zero exit."""
    try:
        result: Any = cli.main(args=argv, prog_name="verivali", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
        sys.exit(2)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(exc.format_message() + hint, 2)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code or 1)
    except click.Abort:
        _fail("aborted", 130)
    except (CliError, SettingsError) as exc:
        _fail(str(exc), 1)
    except ProblemError as exc:
        _fail(exc.message("en"), 1)
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "), 1)
    except SQLAlchemyError as exc:
        # A wrong VERIVALI_DATABASE_URL or a stopped database: say so, without a traceback.
        _fail(f"database: {getattr(exc, 'orig', None) or exc}", 1)
    if isinstance(result, int) and result:
        sys.exit(result)
