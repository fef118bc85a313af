"""A field round for the rules benchmarks: a synthetic registry imported, the questionnaire
published, teams of seven enumerators each given their households, and every household's
submission received as the server receives a phone's POST (server/validation/synth.py).

Used by bench/rules_accuracy.py and bench/rules_throughput.py. The command-line steps run
`verivali` as an operator would (init, registry import, centroids, publish); the round
itself (users, teams, lists, submissions) is made in-process, which is much faster than a
hundred subprocesses and goes through the same service functions.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERIVALI = ROOT / ".venv" / "bin" / "verivali"
sys.path.insert(0, str(ROOT))

from server import build_services  # noqa: E402 - after the path
from server.config import load_settings  # noqa: E402
from server.services import Services  # noqa: E402

PROJECT = "Verval bench"
RESULTS = ROOT / "bench" / "results"
TEAM_SIZE = 7


@dataclass
class Round:
    """A prepared instance and what the round put in it."""

    env: dict[str, str]
    svc: Services
    project_id: int
    enumerators: int
    targets: int


def record(name: str, backend: str, figures: dict[str, object]) -> None:
    """Append one run's figures, with when and where it ran, to results/<name>-<backend>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "backend": backend,
        "machine": f"{platform.machine()} {platform.python_version()} {os.cpu_count()} cpu",
        **figures,
    }
    path = RESULTS / f"{name}-{backend}.json"
    runs = json.loads(path.read_text()) if path.is_file() else []
    runs.append(result)
    path.write_text(json.dumps(runs, indent=1) + "\n")


def run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = dict(os.environ, VERIVALI_DATA_DIR=str(data_dir), VERIVALI_INPROCESS_WORKER="false")
    for name in ("VERIVALI_REGIONS_WITHIN", "VERIVALI_REDIS_URL", "VERIVALI_DATABASE_URL"):
        env.pop(name, None)
    if database_url:
        env["VERIVALI_DATABASE_URL"] = database_url
    return env


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def _admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://") + "/postgres"


def _postgres_copy(url: str, source: str, target: str) -> None:
    """Recreate database `target` as a copy of `source` (CREATE DATABASE ... TEMPLATE)."""
    import psycopg

    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


def registry_instance(
    data_dir: Path, synth_dir: Path, database_url: str | None, reuse: bool
) -> dict[str, str]:
    """A fresh instance with the DTKS and DTSEN extracts imported and village centroids
    loaded. With `reuse`, a snapshot taken right after an earlier import is restored
    instead (a file copy on SQLite; a template database on PostgreSQL, which needs a
    database other than `postgres` in the URL)."""
    env = environment(data_dir, database_url)
    backend = "postgresql" if database_url else "sqlite"
    marker = data_dir / f"registry-{backend}"
    database = data_dir / "verivali.sqlite3"
    snapshot = data_dir / "registry-snapshot.sqlite3"
    name = _database_name(database_url) if database_url else ""
    can_snapshot = not database_url or name != "postgres"
    data_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("blobs", "lists", "tmp"):
        subprocess.run(["rm", "-rf", str(data_dir / sub)], check=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    schema = schema_fingerprint(backend)
    if reuse and can_snapshot and marker.is_file() and marker.read_text().strip() == schema:
        print("restoring the imported registry ...", flush=True)
        if database_url:
            _postgres_copy(database_url, f"{name}_registry", name)
        else:
            subprocess.run(["cp", str(snapshot), str(database)], check=True)
        return env
    if database_url:
        reset_postgres(database_url)
    run([str(VERIVALI), "init"], env)
    for source in ("dtks", "dtsen"):
        started = time.monotonic()
        print(f"importing {source}.csv ...", flush=True)
        run([str(VERIVALI), "registry", "import", str(synth_dir / f"{source}.csv"),
             "--source", source], env)  # fmt: skip
        print(f"  {time.monotonic() - started:.0f} s", flush=True)
    run([str(VERIVALI), "regions", "centroids", "--synthetic", "3573"], env)
    if can_snapshot:
        if database_url:
            _postgres_copy(database_url, name, f"{name}_registry")
        else:
            snapshot.unlink(missing_ok=True)
            run([str(VERIVALI.parent / "python"), "-c",
                 "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('VACUUM INTO ?',"
                 " (sys.argv[2],))", str(database), str(snapshot)], env)  # fmt: skip
        marker.write_text(schema + "\n")
    return env


def schema_fingerprint(backend: str) -> str:
    """A digest of the tables and indexes the code creates on this backend: a snapshot
    taken under another schema is not restored (the registry is imported again)."""
    import hashlib

    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    import server.assignments.models  # noqa: F401 - the tables Database.create_all makes
    import server.registry.models  # noqa: F401
    import server.validation.models  # noqa: F401
    from server.models import Base

    dialect = postgresql.dialect() if backend == "postgresql" else sqlite.dialect()
    ddl = []
    for table in Base.metadata.sorted_tables:
        ddl.append(str(CreateTable(table).compile(dialect=dialect)))
        ddl.extend(sorted(str(CreateIndex(i).compile(dialect=dialect)) for i in table.indexes))
    return hashlib.sha256("\n".join(ddl).encode()).hexdigest()[:16]


def services(env: dict[str, str]) -> Services:
    return build_services(load_settings(env))


def set_up_round(
    env: dict[str, str], enumerators: int, per_enumerator: int, kecamatan: tuple[str, ...] = ()
) -> Round:
    """Publish the questionnaire, make the teams and give each enumerator their households."""
    from server.accounts import service as accounts
    from server.assignments import service as assignments
    from server.forms.service import do_publish_form

    run([str(VERIVALI), "projects", "add", PROJECT], env)
    svc = services(env)
    with svc.db.transaction() as session:
        from server.accounts import queries as account_queries

        project = account_queries.project_by_name(session, PROJECT)
        assert project is not None
        project_id = project.id
        do_publish_form(
            session, svc.settings, svc.store, project_id, ROOT / "forms" / "verval_ruta.xlsx", []
        )
        names = [f"pencacah{i:04d}" for i in range(1, enumerators + 1)]
        for name in names:
            accounts.do_create_user(session, name, "enumerator", svc.settings.realm,
                                    project_id=project_id)  # fmt: skip
        for start in range(0, len(names), TEAM_SIZE):
            number = start // TEAM_SIZE + 1
            koordinator = f"koordinator{number:03d}"
            accounts.do_create_user(session, koordinator, "supervisor", svc.settings.realm,
                                    project_id=project_id)  # fmt: skip
            team = assignments.do_create_team(session, project_id, f"Tim {number}", koordinator)
            assignments.do_add_to_team(session, team, names[start : start + TEAM_SIZE])
        target_list, _ = assignments.do_create_target_list(
            session,
            project_id,
            "Verval",
            assignments.ListCriteria(source="dtks", kecamatan=kecamatan),
        )
        given = 0
        for name in names:
            user = assignments.check_enumerator(session, name, project_id)
            given += assignments.do_assign(session, target_list, user, per_enumerator)
    return Round(env, svc, project_id, enumerators, given)


def send_round(
    round_: Round, synth_dir: Path, seed: int, rates: object = None, batch: int = 200
) -> dict[int, set[str]]:
    """Receive every assigned household's submission; the truth by submission ID."""
    from datetime import date

    from server.forms import queries as form_queries
    from server.validation import synth, synth_queries
    from server.validation.synth import FieldRates, RegistryTruth, plan_fieldwork

    svc = round_.svc
    with svc.db.transaction() as session:
        targets = list(synth_queries.assigned_targets(session, round_.project_id))
        version = synth_queries.current_version(session, round_.project_id, synth.FORM_ID)
        centroids = synth_queries.centroids(session, "3573")
        person_ids = sorted({m.person_id for t in targets for m in synth.list_members(t.members)})
        keys = synth_queries.source_keys(session, person_ids)
        form = form_queries.submission_forms(
            session, synth.FORM_ID, version or "", [round_.project_id]
        )[0]
    assert version is not None
    kks = {synth.snapshot_kk(t.snapshot) for t in targets}
    truth = RegistryTruth.read(synth_dir, kks)
    per = max(1, len(targets) // max(1, round_.enumerators))
    planned = plan_fieldwork(
        targets,
        truth,
        centroids,
        version,
        keys,
        synth.first_day_for(per, date.today()),
        rates if isinstance(rates, FieldRates) else None,
        seed,
    )
    found: dict[int, set[str]] = {}
    pending = []
    started = time.monotonic()

    def flush() -> None:
        synth.keep_photos(svc.store, pending)
        with svc.db.transaction() as session:
            receipts = synth.do_store_visits(session, svc.store, form, pending)
        for visit, receipt in zip(pending, receipts, strict=True):
            found[receipt.submission_id] = visit.truth
        pending.clear()

    for visit in planned:
        pending.append(visit)
        if len(pending) >= batch:
            flush()
            if len(found) % 2000 < batch:
                rate = len(found) / (time.monotonic() - started)
                print(f"  {len(found):,} submissions received ({rate:.0f}/s)", flush=True)
    if pending:
        flush()
    return found
