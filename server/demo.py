"""Demo data for `make run`: one project, one user per role, the forms shipped in forms/,
and fieldwork to try them with: a small synthetic DTKS of Kota Malang, a koordinator's team
and a target list whose households are split between the two demo enumerators. The
villages of Kota Malang get invented centroids (registry/centroids.py, not geography), so
V32 has something to measure a phone's location against.

The review queue gets something to show: the synthetic fieldwork generator
(server/validation/synth.py) visits the first households of each demo enumerator, with its
injected field errors, through the same path as a phone's POST, and the rules check every
one of those submissions before the demo is committed, so the flags are there when the
server starts.

Passwords are generated on the first run and kept (mode 0600) in the data directory, so a
demo server reachable on the network never runs with a password printed in our docs.
Form media live in forms/media/<form file stem>/.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.accounts import queries as account_queries
from server.accounts import service as accounts
from server.config import Settings
from server.forms.service import do_publish_form
from server.forms.xlsform import SUFFIXES
from server.models import Submission
from server.services import Services

PROJECT = "Demo Kota Malang"
USERS = (
    ("admin", "admin"),
    ("desainer", "designer"),
    ("koordinator1", "supervisor"),
    ("pencacah1", "enumerator"),
    ("pencacah2", "enumerator"),
)


# The synthetic registry and the list the demo enumerators receive.
DEMO_KOTA = "3573"  # Kota Malang
DEMO_PERSONS = 3000
REGISTRY_SEED = 7
DEMO_KECAMATAN = "357304"  # Sukun
DEMO_LIST = "Demo Sukun"
DEMO_TEAM = "Tim Sukun 1"
HOUSEHOLDS_EACH = 30
# Households each demo enumerator has visited: with the generator's duplicates, about 40
# submissions, checked in well under a second.
VISITED_EACH = 19
FIELDWORK_SEED = 7


@dataclass
class DemoSummary:
    project_id: int
    passwords: dict[str, str]
    tokens: dict[str, str]
    forms: list[str] = field(default_factory=list)
    fieldwork: str = ""
    centroids: str = ""
    submissions: str = ""


def _passwords(settings: Settings) -> dict[str, str]:
    path = settings.data_dir / "demo_credentials.json"
    try:
        stored = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        stored = {}
    changed = False
    for username, _role in USERS:
        if username not in stored:
            stored[username] = secrets.token_urlsafe(9)
            changed = True
    if changed:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
    return {username: stored[username] for username, _ in USERS}


def form_files(forms_dir: Path) -> list[Path]:
    """The XLSForms shipped in forms/ (not their media, and not the markdown twin of a
    workbook: `verval_ruta.md` beside `verval_ruta.xlsx` is its reviewable copy)."""
    if not forms_dir.is_dir():
        return []
    found = [p for p in forms_dir.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()]
    workbooks = {p.stem for p in found if p.suffix.lower() in (".xlsx", ".xls")}
    return sorted(p for p in found if not (p.suffix.lower() == ".md" and p.stem in workbooks))


def load_demo(svc: Services, session: Session, forms_dir: Path) -> DemoSummary:
    """Create what is missing of the demo; never touches existing data."""
    settings = svc.settings
    project = account_queries.project_by_name(session, PROJECT)
    if project is None:
        project = accounts.do_create_project(session, PROJECT)
    passwords = _passwords(settings)
    tokens = {}
    for username, role in USERS:
        user = account_queries.user_by_username(session, username)
        if user is None:
            user = accounts.do_create_user(
                session,
                username,
                role,
                settings.realm,
                password=passwords[username],
                project_id=project.id,
            )
        if role == "enumerator":
            tokens[username] = user.token or accounts.do_issue_token(session, user)
    summary = DemoSummary(project.id, passwords, tokens)
    for path in form_files(forms_dir):
        media_dir = forms_dir / "media" / path.stem
        media = sorted(p for p in media_dir.iterdir() if p.is_file()) if media_dir.is_dir() else []
        result = do_publish_form(session, settings, svc.store, project.id, path, media)
        summary.forms.append(f"{result.form.xml_form_id} {result.version.version}")
    summary.fieldwork = _fieldwork(settings, session, project.id)
    summary.centroids = _centroids(session)
    summary.submissions = _submissions(svc, session, project.id)
    return summary


def _centroids(session: Session) -> str:
    """Invented centroids for the demo kota's villages that have none (V32 in the demo)."""
    from server.registry.centroids import do_synthetic_centroids
    from server.registry.regions import region_by_code

    if region_by_code(session, DEMO_KOTA) is None:
        return "none (no villages to place)"
    # The same line on every run: the demo's output does not depend on what existed.
    do_synthetic_centroids(session, DEMO_KOTA, missing_only=True)
    return (
        f"the villages of {DEMO_KOTA} at invented positions (not geography: V32 flags a "
        "real phone's location)"
    )


def _fieldwork(settings: Settings, session: Session, project_id: int) -> str:
    """The synthetic registry, team and target list (once); what the demo holds."""
    from server.assignments import queries as assignment_queries
    from server.assignments import service as assignments
    from server.registry.importer import do_import
    from server.registry.regions import region_by_code
    from server.registry.synth import write_synthetic

    enumerators = []
    for name, role in USERS:
        user = account_queries.user_by_username(session, name)
        # Demo never touches existing accounts: users of the same name elsewhere are left out.
        if (
            role == "enumerator"
            and user
            and account_queries.is_member(session, user.id, project_id)
        ):
            enumerators.append(name)
    if not enumerators:
        return "none (no demo enumerators in the demo project)"
    summary = f"list {DEMO_LIST!r}, {HOUSEHOLDS_EACH} households each for {', '.join(enumerators)}"
    if assignment_queries.target_list_by_name(session, project_id, DEMO_LIST) is not None:
        return summary
    if region_by_code(session, DEMO_KOTA) is None:
        return f"none (the region table has no {DEMO_KOTA}; see VERIVALI_REGIONS_WITHIN)"
    out = settings.data_dir / "demo-registry"
    write_synthetic(DEMO_KOTA, DEMO_PERSONS, REGISTRY_SEED, out)
    do_import(session, out / "dtks.csv", "dtks", rejected_path=out / "dtks.rejected.csv")
    lead = account_queries.user_by_username(session, "koordinator1")
    team = assignments.do_create_team(
        session,
        project_id,
        DEMO_TEAM,
        "koordinator1" if lead and lead.role == "supervisor" else None,
    )
    assignments.do_add_to_team(session, team, enumerators)
    criteria = assignments.ListCriteria("dtks", kecamatan=(DEMO_KECAMATAN,))
    target_list, _added = assignments.do_create_target_list(
        session, project_id, DEMO_LIST, criteria
    )
    for name in enumerators:
        enumerator = assignments.check_enumerator(session, name, project_id)
        assignments.do_assign(session, target_list, enumerator, HOUSEHOLDS_EACH)
    return summary


def _submissions(svc: Services, session: Session, project_id: int) -> str:
    """Synthetic visits of the demo enumerators' households, checked by the rules (once,
    when the demo project has no submission of the questionnaire); its submissions by
    review state."""
    from server.forms import queries as form_queries
    from server.validation import queries as validation_queries
    from server.validation import synth

    form = form_queries.form_by_xml_id(session, project_id, synth.FORM_ID)
    if form is None:
        return f"none (no {synth.FORM_ID} form in forms/)"
    # Deleted ones count too: their instanceIDs, which the generator would send again, are
    # taken.
    sent = session.scalar(select(Submission.id).where(Submission.form_id == form.id).limit(1))
    if sent is None and (why_not := _visit(svc, session, project_id)):
        return why_not
    counts = validation_queries.review_states(session, [form.id])
    states = ", ".join(f"{state} {n}" for state, n in sorted(counts.items()))
    return f"{sum(counts.values())} ({states})"


def _visit(svc: Services, session: Session, project_id: int) -> str:
    """Send the generator's visits of the first `VISITED_EACH` households of each demo
    enumerator as phones do, then run their queued checks here, in this transaction; why
    not, when nothing could be sent."""
    from server.forms import queries as form_queries
    from server.registry.synth import TRUTH_FILE, write_synthetic
    from server.validation import jobs, synth, synth_queries

    enumerators = {
        user.id
        for name, role in USERS
        if role == "enumerator"
        and (user := account_queries.user_by_username(session, name)) is not None
        and account_queries.is_member(session, user.id, project_id)
    }
    taken: dict[int, int] = {}
    targets = []
    for target in synth_queries.assigned_targets(session, project_id):
        if target.assignee_id in enumerators and taken.get(target.assignee_id, 0) < VISITED_EACH:
            taken[target.assignee_id] = taken.get(target.assignee_id, 0) + 1
            targets.append(target)
    version = synth_queries.current_version(session, project_id, synth.FORM_ID)
    if not targets or version is None:
        return "none (no households assigned to the demo enumerators)"
    registry = svc.settings.data_dir / "demo-registry"
    if not (registry / TRUTH_FILE).is_file():
        # The generator is deterministic: the same registry as the one imported.
        write_synthetic(DEMO_KOTA, DEMO_PERSONS, REGISTRY_SEED, registry)
    person_ids = sorted({m.person_id for t in targets for m in synth.list_members(t.members)})
    visits = list(
        synth.plan_fieldwork(
            targets,
            synth.RegistryTruth.read(registry, {synth.snapshot_kk(t.snapshot) for t in targets}),
            synth_queries.centroids(session, DEMO_KOTA),
            version,
            synth_queries.source_keys(session, person_ids),
            synth.first_day_for(VISITED_EACH, date.today()),
            seed=FIELDWORK_SEED,
        )
    )
    form = form_queries.submission_forms(session, synth.FORM_ID, version, [project_id])[0]
    synth.keep_photos(svc.store, visits)
    receipts = synth.do_store_visits(session, svc.store, form, visits)
    # As a worker would, but in the demo's own transaction: on SQLite a worker's could not
    # write until this one commits. One group, so duplicates find each other.
    claimed = [job for r in receipts if r.job_id for job in jobs.claim(session, r.job_id)]
    if claimed:
        jobs.run_claimed(session, svc, claimed)
    return ""


def print_demo(summary: DemoSummary, settings: Settings) -> None:
    """Tell the person at the terminal how to point ODK Collect at this server."""
    from server.serving import public_base_url

    base = public_base_url(settings)
    pid = summary.project_id
    echo = click.echo
    echo("")
    echo("Verivali demo ready / demo siap")
    echo(f"  forms: {', '.join(summary.forms) or '(none in forms/)'}")
    echo(f"  fieldwork: {summary.fieldwork}")
    echo(f"  centroids: {summary.centroids}")
    echo(f"  submissions: {summary.submissions}")
    echo(f"  web:   {base}/")
    echo(f"  review queue (sign in as koordinator1 or admin): {base}/projects/{pid}/reviews")
    echo(f"  QR team sheet (koordinator1): {base}/projects/{pid}/teams/sheet")
    echo("")
    echo("ODK Collect / KoboCollect — server URL with the enumerator's token (no password):")
    for username, token in summary.tokens.items():
        echo(f"  {username}: {base}/v1/key/{token}/projects/{pid}")
    echo("")
    echo("Or with username and password (ODK Central layout, or KoBoCAT layout at the root):")
    echo(f"  server URL: {base}/v1/projects/{pid}    or    {base}/")
    for username, password in summary.passwords.items():
        echo(f"  {username:<13} {password}")
    echo(f"(passwords are kept in {settings.data_dir / 'demo_credentials.json'})")
    echo("")
