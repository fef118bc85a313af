"""The `verivali` command: a scripted set-up session in a real process, --help everywhere,
and every kind of bad input answered with exactly one `verivali: error:` line on stderr.

Runs on SQLite only: the command line adds nothing backend-specific to what the services do.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from conftest import PASSWORD, ROOT

from server.cli import cli as cli_group
from server.cli import main

BASE_URL = "https://verivali.example.org"
HOUSE_VISIT = ROOT / "forms" / "kunjungan_rumah.md"
VILLAGES = ROOT / "forms" / "media" / "kunjungan_rumah" / "desa.csv"
TOKEN_URL = re.compile(rf"^{re.escape(BASE_URL)}/v1/key/[A-Za-z0-9_-]{{64}}/projects/(\d+)$")


@dataclass
class Outcome:
    """Exit code and output of one command."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def environment(root: Path) -> dict[str, str]:
    """VERIVALI_* settings for an instance living in `root`."""
    return {
        "VERIVALI_DATA_DIR": str(root / "data"),
        "VERIVALI_DATABASE_URL": f"sqlite:///{root / 'verivali.sqlite3'}",
        "VERIVALI_JAVA_VALIDATE": "false",
        "VERIVALI_BASE_URL": BASE_URL,
        # Kota Malang only: the whole country's 91,599 regions cost seconds per `init`.
        "VERIVALI_REGIONS_WITHIN": "3573",
    }


def run_process(root: Path, *args: str, stdin: str = "", cwd: Path | None = None) -> Outcome:
    """Run `python -m server ARGS` as a user would, with only our VERIVALI_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIVALI_")}
    env.update(environment(root))
    done = subprocess.run(
        [sys.executable, "-m", "server", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or root,
        timeout=120,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def run_inline(
    env: dict[str, str], *args: str, stdin: str = "", cwd: Path | None = None
) -> Outcome:
    """Run the command in this process (fast), with the given settings and standard input."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("VERIVALI_")]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        patch.setattr(sys, "stdin", io.StringIO(stdin))
        if cwd is not None:
            patch.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_one_error_line(outcome: Outcome, *fragments: str) -> str:
    """The command failed with one `verivali: error:` line on stderr mentioning `fragments`."""
    assert outcome.code != 0, outcome
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("verivali: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def demo_queue(root: Path) -> tuple[int, int, set[str]]:
    """The instance's submissions, those whose check is still to run, and the flags'
    severities."""
    from sqlalchemy import func, select

    from server import build_services
    from server.config import load_settings
    from server.models import Submission
    from server.validation.models import StoredFlag, ValidationJob

    svc = build_services(load_settings(environment(root)))
    try:
        with svc.db.transaction(write=False) as session:
            stored = session.scalar(select(func.count()).select_from(Submission)) or 0
            unchecked = session.scalar(select(func.count()).where(ValidationJob.state != "done"))
            severities = set(session.scalars(select(StoredFlag.severity).distinct()))
    finally:
        svc.db.dispose()
    return stored, unchecked or 0, severities


# ---- a whole session in real processes -----------------------------------------------------


def test_scripted_session(tmp_path: Path) -> None:
    """init, project, user, token, publish, state, list and demo work as a script uses them."""
    before = run_process(tmp_path, "projects", "list")
    assert_one_error_line(before, "verivali init")

    assert run_process(tmp_path, "init").lines == [
        f"initialised {tmp_path / 'data'}",
        "regions: 64 loaded",
    ]

    added = run_process(tmp_path, "projects", "add", "Kota Malang")
    assert added.code == 0 and re.fullmatch(r"\d+", added.out.strip()), added
    project_id = added.out.strip()
    assert run_process(tmp_path, "projects", "timezone", project_id, "Asia/Makassar").code == 0
    assert run_process(tmp_path, "projects", "approval", project_id, "two-level").code == 0
    listed = run_process(tmp_path, "projects", "list").lines
    assert f"{project_id}\tKota Malang\tAsia/Makassar\ttwo-level" in listed
    wrong = run_process(tmp_path, "projects", "timezone", project_id, "Europe/Paris")
    assert wrong.code != 0 and "Asia/Jayapura" in wrong.err

    user = run_process(
        tmp_path,
        "users",
        "add",
        "pencacah1",
        "--role",
        "enumerator",
        "--project",
        project_id,
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )
    assert (user.code, user.lines, user.err) == (0, ["created pencacah1 (enumerator)"], "")

    token = run_process(tmp_path, "users", "token", "pencacah1")
    assert token.code == 0 and len(token.lines) == 1, token
    match = TOKEN_URL.match(token.lines[0])
    assert match and match.group(1) == project_id, token.lines

    published = run_process(
        tmp_path,
        "forms",
        "publish",
        str(HOUSE_VISIT),
        "--project",
        project_id,
        "--media",
        str(VILLAGES),
    )
    assert published.code == 0 and published.err == "", published
    assert re.fullmatch(
        r"published kunjungan_rumah version 2026112301 md5:[0-9a-f]{32}", published.out.strip()
    ), published.out

    closing = run_process(tmp_path, "forms", "state", "kunjungan_rumah", "closing")
    assert closing.lines == ["kunjungan_rumah closing"]

    # The rest in-process, to keep the test quick; it reads what the processes wrote.
    listed = run_inline(environment(tmp_path), "forms", "list")
    assert listed.lines == [
        f"{project_id}\tkunjungan_rumah\t2026112301\tclosing\tKunjungan Rumah (Demo)"
    ]

    first = run_process(tmp_path, "demo", cwd=ROOT)
    second = run_inline(environment(tmp_path), "demo", cwd=ROOT)
    assert first.code == second.code == 0 and first.err == second.err == ""
    forms_line = next(line for line in first.lines if line.startswith("  forms: "))
    shipped = forms_line.removeprefix("  forms: ").split(", ")
    # Each shipped form once (a workbook's markdown twin is not published beside it).
    assert "kunjungan_rumah 2026112301" in shipped
    assert len({entry.split()[0] for entry in shipped}) == len(shipped)
    assert first.out == second.out  # same tokens and passwords: nothing was created twice
    assert "  centroids: the villages of 3573 at invented positions" in first.out
    # The review queue's synthetic fieldwork: checked, with a mix of outcomes, sent once.
    submissions_line = next(line for line in first.lines if line.startswith("  submissions: "))
    printed = re.fullmatch(r"  submissions: (\d+) \((.+)\)", submissions_line)
    assert printed, submissions_line
    states = {state: int(n) for state, n in (p.split() for p in printed.group(2).split(", "))}
    assert sum(states.values()) == int(printed.group(1)) > 0
    assert states.get("hasIssues", 0) >= 1 and states.get("approved", 0) >= 1, states
    stored, unchecked, severities = demo_queue(tmp_path)
    assert stored == int(printed.group(1))  # the second run added none
    assert unchecked == 0
    assert severities & {"HIGH", "BLOCK"}
    credentials = tmp_path / "data" / "demo_credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert set(json.loads(credentials.read_text())) >= {"admin", "pencacah1"}


# ---- --help ---------------------------------------------------------------------------------


def _commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(cli_group))


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "verivali")
def test_every_command_has_help(path: tuple[str, ...], tmp_path: Path) -> None:
    """Every command and group answers --help with its usage and exit 0, even before init."""
    outcome = run_inline(environment(tmp_path), *path, "--help")
    assert (outcome.code, outcome.err) == (0, "")
    assert outcome.out.startswith(f"Usage: {' '.join(('verivali', *path))}")
    assert COMMANDS[path].help, f"{' '.join(path)} has no description"


def test_version_option(tmp_path: Path) -> None:
    """--version prints the installed version."""
    outcome = run_inline(environment(tmp_path), "--version")
    assert outcome.code == 0 and outcome.out.startswith("verivali, version ")


# ---- bad input -----------------------------------------------------------------------------


def set_up(root: Path, with_users: bool) -> dict[str, str]:
    """Projects 1 and 2, both with the house-visit form (and, if asked, two users)."""
    env = environment(root)
    steps = [
        (("init",), ""),
        (("projects", "add", "Kota Malang"), ""),
        (("projects", "add", "Kota Lain"), ""),
        (("forms", "publish", str(HOUSE_VISIT), "--project", "1", "--media", str(VILLAGES)), ""),
        (("forms", "publish", str(HOUSE_VISIT), "--project", "2", "--media", str(VILLAGES)), ""),
    ]
    if with_users:
        steps += [
            (
                (
                    "users",
                    "add",
                    "pencacah1",
                    "--role",
                    "enumerator",
                    "--project",
                    "1",
                    "--password-stdin",
                ),
                f"{PASSWORD}\n",
            ),
            (
                ("users", "add", "tanpaproyek", "--role", "supervisor", "--password-stdin"),
                f"{PASSWORD}\n",
            ),
        ]
    for args, stdin in steps:
        outcome = run_inline(env, *args, stdin=stdin)
        assert outcome.code == 0, (args, outcome)
    return env


@pytest.fixture(scope="module")
def ready(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An instance shared by the failing commands (which change nothing)."""
    return set_up(tmp_path_factory.mktemp("cli"), with_users=True)


@pytest.fixture
def fresh(tmp_path: Path) -> dict[str, str]:
    """An instance of this test's own, for commands that change it."""
    return set_up(tmp_path, with_users=False)


BAD_INPUT = {
    "unknown role": (("users", "add", "siti", "--role", "boss", "--project", "1"), "'boss'"),
    "bad username": (("users", "add", "Siti Aminah", "--role", "enumerator"), "username"),
    "short password": (
        ("users", "add", "siti", "--role", "enumerator", "--password-stdin"),
        "password",
    ),
    "duplicate user": (("users", "add", "pencacah1", "--role", "enumerator"), "already exists"),
    "user in unknown project": (
        ("users", "add", "siti", "--role", "enumerator", "--project", "999"),
        "Project 999",
    ),
    "unknown user": (("users", "token", "nobody"), "User nobody was not found"),
    "user without project": (("users", "token", "tanpaproyek"), "belongs to no project"),
    "duplicate project": (("projects", "add", "Kota Malang"), "already exists"),
    "missing --project": (("forms", "publish", str(HOUSE_VISIT)), "--project"),
    "project not a number": (
        ("forms", "publish", str(HOUSE_VISIT), "--project", "satu"),
        "--project",
    ),
    "unknown project": (("forms", "publish", str(HOUSE_VISIT), "--project", "999"), "Project 999"),
    "nonexistent form file": (
        ("forms", "publish", "/tidak/ada.xlsx", "--project", "1"),
        "/tidak/ada.xlsx",
    ),
    "nonexistent media file": (
        ("forms", "publish", str(HOUSE_VISIT), "--project", "1", "--media", "/tidak/ada.csv"),
        "/tidak/ada.csv",
    ),
    "bad state": (
        ("forms", "state", "kunjungan_rumah", "archived", "--project", "1"),
        "'archived'",
    ),
    "unknown form": (("forms", "state", "tidak_ada", "open"), "tidak_ada"),
    "form in several projects": (("forms", "state", "kunjungan_rumah", "closed"), "--project"),
    "unknown command": (("frobnicate",), "frobnicate"),
    "unknown option": (("projects", "list", "--colour"), "--colour"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_error_line(case: str, ready: dict[str, str]) -> None:
    """Each kind of bad input fails with one 'verivali: error:' line and a non-zero exit."""
    args, fragment = BAD_INPUT[case]
    outcome = run_inline(ready, *args, stdin="pendek\n")
    assert_one_error_line(outcome, fragment)
    assert outcome.out == ""


def test_unconvertible_form_is_one_error_line(ready: dict[str, str], tmp_path: Path) -> None:
    """A broken XLSForm's multi-line explanation is folded into the one error line."""
    broken = tmp_path / "rusak.md"
    broken.write_text(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n| | txet | b | B |\n",
        encoding="utf-8",
    )
    outcome = run_inline(ready, "forms", "publish", str(broken), "--project", "1")
    assert_one_error_line(outcome, "Lembar 'survey', baris 3", "txet")


def test_unsupported_form_file_is_one_error_line(ready: dict[str, str], tmp_path: Path) -> None:
    """A form file of another type is refused naming the accepted ones."""
    other = tmp_path / "formulir.ods"
    other.write_bytes(b"PK\x03\x04")
    outcome = run_inline(ready, "forms", "publish", str(other), "--project", "1")
    assert_one_error_line(outcome, "formulir.ods", ".xlsx")


@pytest.mark.parametrize(
    "args",
    [
        ("projects", "list"),
        ("projects", "add", "Kota"),
        ("users", "list"),
        ("users", "token", "pencacah1"),
        ("users", "add", "siti", "--role", "admin"),
        ("forms", "list"),
        ("forms", "state", "x", "open"),
        ("demo",),
    ],
    ids=" ".join,
)
def test_commands_before_init_fail_cleanly(args: tuple[str, ...], tmp_path: Path) -> None:
    """Before `verivali init`, commands that need the database say so in one line."""
    assert_one_error_line(run_inline(environment(tmp_path), *args), "verivali init")


@pytest.mark.parametrize(
    "setting,value,fragment",
    [
        ("VERIVALI_PORT", "delapan", "VERIVALI_PORT"),
        ("VERIVALI_JAVA_VALIDATE", "kadang", "VERIVALI_JAVA_VALIDATE"),
        ("VERIVALI_DATABASE_URL", "sqlite:////tidak/ada/db.sqlite3", "database"),
    ],
)
def test_bad_settings_are_one_error_line(
    setting: str, value: str, fragment: str, tmp_path: Path
) -> None:
    """A bad VERIVALI_* value or an unreachable database is one error line, not a traceback."""
    env = environment(tmp_path) | {setting: value}
    assert_one_error_line(run_inline(env, "init"), fragment)


# ---- output of successful commands ---------------------------------------------------------


def test_users_add_without_stdin_prints_a_generated_password(fresh: dict[str, str]) -> None:
    """Without --password-stdin a password is generated and printed once."""
    outcome = run_inline(
        fresh, "users", "add", "koordinator1", "--role", "supervisor", "--project", "1"
    )
    assert outcome.code == 0 and outcome.err == ""
    created, password = outcome.lines
    assert created == "created koordinator1 (supervisor)"
    assert re.fullmatch(r"password: \S{12,}", password)
    assert run_inline(fresh, "users", "list").lines == ["koordinator1\tsupervisor\t1"]


def test_republish_prints_unchanged_then_media_updated(
    fresh: dict[str, str], tmp_path: Path
) -> None:
    """Publishing the same form says 'unchanged'; new media only says 'media updated'."""
    same = run_inline(
        fresh, "forms", "publish", str(HOUSE_VISIT), "--project", "1", "--media", str(VILLAGES)
    )
    assert same.code == 0 and same.out.startswith("unchanged kunjungan_rumah version 2026112301")
    villages = tmp_path / "desa.csv"
    villages.write_bytes(VILLAGES.read_bytes() + b"3573041099,Kelurahan Baru (Sukun)\n")
    media = run_inline(
        fresh, "forms", "publish", str(HOUSE_VISIT), "--project", "1", "--media", str(villages)
    )
    assert media.code == 0
    assert media.out.startswith("media updated kunjungan_rumah version 2026112301"), media.out


def test_publish_warns_about_missing_media_on_stderr(fresh: dict[str, str]) -> None:
    """Publishing without the form's CSV succeeds and warns on stderr that it is missing."""
    outcome = run_inline(fresh, "forms", "publish", str(HOUSE_VISIT), "--project", "2")
    assert outcome.code == 0
    assert outcome.out.startswith("media updated kunjungan_rumah")
    assert "warning: the form uses desa.csv but it was not uploaded (--media)" in outcome.err


def test_forms_list_json_and_state_with_project(fresh: dict[str, str]) -> None:
    """`forms list --json` gives every form with its md5; --project picks one of two forms."""
    rows = json.loads(run_inline(fresh, "forms", "list", "--json").out)
    assert {(r["project_id"], r["form_id"]) for r in rows} == {
        (1, "kunjungan_rumah"),
        (2, "kunjungan_rumah"),
    }
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["md5"]) for r in rows)
    outcome = run_inline(fresh, "forms", "state", "kunjungan_rumah", "closing", "--project", "2")
    assert outcome.lines == ["kunjungan_rumah closing"]
    rows = json.loads(run_inline(fresh, "forms", "list", "--json").out)
    assert {r["project_id"]: r["state"] for r in rows} == {1: "open", 2: "closing"}


def test_a_new_version_without_settings_keeps_the_current_ones(
    fresh: dict[str, str], tmp_path: Path
) -> None:
    """Publishing a new version with no .toml beside it keeps the form's rule settings."""
    first = run_inline(
        fresh, "forms", "publish", str(ROOT / "forms" / "verval_ruta.md"), "--project", "1"
    )
    assert first.code == 0, first
    text = (ROOT / "forms" / "verval_ruta.md").read_text(encoding="utf-8")
    newer = tmp_path / "verval_ruta.md"
    newer.write_text(text.replace("| 2026112301 |", "| 2026112402 |"), encoding="utf-8")
    second = run_inline(fresh, "forms", "publish", str(newer), "--project", "1")
    assert second.code == 0 and "2026112402" in second.out, second
    database = fresh["VERIVALI_DATABASE_URL"].removeprefix("sqlite:///")
    with closing(sqlite3.connect(database)) as connection:
        kept = connection.execute(
            "SELECT version, rule_settings IS NOT NULL FROM form_versions"
            " JOIN forms ON forms.id = form_versions.form_id WHERE xml_form_id = 'verval_ruta'"
            " ORDER BY form_versions.id"
        ).fetchall()
    assert kept == [("2026112301", 1), ("2026112402", 1)]
