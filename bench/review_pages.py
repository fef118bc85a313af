"""Review pages benchmark: the queue page and a submission's detail page rendered on the
server with 100,000 submissions and 300,000 flags in PostgreSQL, and the approved export
streamed.

Seeding (a fresh database named by --database-url, dropped and created again):

  registry    `verivali registry synth --kabupaten 3573 --persons 450000 --seed 7` (Kota
              Malang: 5 kecamatan, 57 kelurahan, 109,523 households), imported, with
              synthetic village centroids.
  round       the questionnaire (forms/verval_ruta.xlsx) published; --teams koordinators
              each leading 7 pencacah; every household on one list, the enumerators given
              an equal share.
  visits      server/validation/synth.py plans every enumerator's visits (registry truth,
              field errors, duplicates, photos named as Collect names them), in the order
              they reach the server. --checked of them, spread over the round, go through
              the phone's path (do_receive_submission) and are checked by the rules; their
              flags are the templates of the rest.
  bulk        the other visits written with COPY as the phone's path writes them: the
              submission, its version with the instance XML verbatim, its photos (a few
              stored photos shared), the target visited, the audit rows. Flags (to
              --flags in all) are drawn from the templates; review states follow the rules'
              policy (BLOCK/HIGH: hasIssues; otherwise approved, a share held as received)
              and a koordinator's decisions (approved, rejected, escalated, commented).
  settle      VACUUM ANALYZE, as autovacuum would have done on a live instance.

With --reuse, a seeded database kept as a template (<name>_seeded) is copied instead, when
the schema and the sizes match; --no-seed measures the database seeded last as it is.

Measured in a fresh process with the Flask test client (server-side render: the WSGI call,
queries and templates), signed in as the admin and as a koordinator (team scope):

  queue       the first page and filtered views, --requests each after --warmup;
  detail      --details random flagged submissions with a registry household, once each;
  export      POST approved.csv as the admin, the body read a chunk at a time: time to the
              first byte, rows/s, this process's RSS after 10,000 and 100,000 rows; and the
              koordinator's approved.xlsx.

    python bench/review_pages.py --database-url postgresql://u:p@127.0.0.1:5432/bench_reviews

Results are appended to bench/results/review_pages-postgresql.json.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import html
import json
import math
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fieldwork import ROOT, VERIVALI, record, run, schema_fingerprint, services

PROJECT = "Verval kota"
FORM = ROOT / "forms" / "verval_ruta.xlsx"
PASSWORD = "bench-password-1"
KOTA = "3573"
TEAM_SIZE = 7
CHUNK = 5_000
PHOTOS = 48  # stored photos the bulk visits share
USER_AGENT = "org.odk.collect.android/v2025.2.3 (synthetic)"
# Decisions a koordinator made on submissions the rules sent to the queue (hasIssues).
DECIDED = {"approved": 0.30, "rejected": 0.10}
ESCALATED = 0.02
COMMENTED = 0.03
HELD = 0.20  # of clean submissions: held for review (received) instead of approved
FLAGS_EACH = 4  # mean flags of a flagged submission


# --- the database ---------------------------------------------------------------------------


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def _admin(url: str) -> str:
    return _plain(url).rsplit("/", 1)[0] + "/postgres"


def recreate(url: str, template: str | None = None) -> None:
    """Drop the database and create it again (empty, or a copy of `template`)."""
    import psycopg

    name = _name(url)
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')


def keep_template(url: str) -> None:
    import psycopg

    name = _name(url)
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}_seeded" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}_seeded" TEMPLATE "{name}"')


def template_exists(url: str) -> bool:
    import psycopg

    with psycopg.connect(_admin(url), autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (f"{_name(url)}_seeded",)
        ).fetchone()
    return found is not None


# --- seeding --------------------------------------------------------------------------------


@dataclass
class Round:
    project_id: int
    form_id: int
    form_version_id: int
    koordinators: dict[int, int]  # enumerator: their koordinator


def set_up(svc: Any, args: argparse.Namespace) -> Round:
    """Project, questionnaire, users, teams, the list and each enumerator's share."""
    from server.accounts import queries as account_queries
    from server.accounts import service as accounts
    from server.assignments import service as assignments
    from server.forms.service import do_publish_form

    realm = svc.settings.realm
    koordinators: dict[int, int] = {}
    with svc.db.transaction() as session:
        project = accounts.do_create_project(session, PROJECT)
        published = do_publish_form(session, svc.settings, svc.store, project.id, FORM, [])
        accounts.do_create_user(session, "admin", "admin", realm, password=PASSWORD)
        names = []
        for team in range(1, args.teams + 1):
            lead = f"koordinator{team:03d}"
            boss = accounts.do_create_user(
                session, lead, "supervisor", realm,
                password=PASSWORD if team == 1 else None, project_id=project.id,
            )  # fmt: skip
            members = [f"pencacah{(team - 1) * TEAM_SIZE + i:04d}" for i in range(1, TEAM_SIZE + 1)]
            for name in members:
                user = accounts.do_create_user(
                    session, name, "enumerator", realm, project_id=project.id
                )
                koordinators[user.id] = boss.id
            made = assignments.do_create_team(session, project.id, f"Tim {team}", lead)
            assignments.do_add_to_team(session, made, members)
            names += members
        target_list, taken = assignments.do_create_target_list(
            session, project.id, "Verval", assignments.ListCriteria(source="dtks")
        )
        each = math.ceil(args.submissions / len(names))
        for name in names:
            user = account_queries.user_by_username(session, name)
            assert user is not None
            assignments.do_assign(session, target_list, user, each)
        print(f"  {taken:,} households listed, {each} given to each of {len(names)}", flush=True)
        return Round(project.id, published.form.id, published.version.id, koordinators)


_END = re.compile(rb"<end>([^<]+)</end>")
_NAME = re.compile(rb"<instanceName>([^<]*)</instanceName>")
_NEW_VILLAGE = re.compile(rb"<kode_desa_baru>([0-9]{10})</kode_desa_baru>")
_OUTCOME = re.compile(rb"<hasil>([^<]*)</hasil>")


@dataclass
class Visit:
    planned: Any  # synth.PlannedVisit
    received: datetime
    village: str | None


def plan(svc: Any, round_: Round, synth_dir: Path, count: int, seed: int) -> list[Visit]:
    """The first `count` planned visits, by the time they reach the server."""
    from server.validation import synth, synth_queries

    with svc.db.transaction() as session:
        targets = list(synth_queries.assigned_targets(session, round_.project_id))
        version = synth_queries.current_version(session, round_.project_id, synth.FORM_ID)
        centroids = synth_queries.centroids(session, KOTA)
        person_ids = sorted({m.person_id for t in targets for m in synth.list_members(t.members)})
        keys = synth_queries.source_keys(session, person_ids)
    assert version is not None
    villages = {t.target_id: t.village_code for t in targets}
    truth = synth.RegistryTruth.read(synth_dir, {synth.snapshot_kk(t.snapshot) for t in targets})
    per = max(1, len(targets) // max(1, len(round_.koordinators)))
    real_photo = synth.photo
    stand_in = real_photo(random.Random(0))  # noqa: S311 - synthetic data
    synth.photo = lambda rng: stand_in  # names matter here; the bytes are drawn later
    try:
        planned = list(
            islice(
                synth.plan_fieldwork(
                    targets, truth, centroids, version, keys,
                    synth.first_day_for(per, date.today()), seed=seed,
                ),
                count,
            )
        )  # fmt: skip
    finally:
        synth.photo = real_photo
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    now = datetime.now(UTC) - timedelta(minutes=1)
    visits = []
    for visit in planned:
        ended = datetime.fromisoformat(_END.search(visit.xml).group(1).decode())  # type: ignore[union-attr]
        received = min(now, ended.astimezone(UTC) + timedelta(minutes=rng.uniform(1, 120)))
        village = villages.get(visit.target_id) if visit.target_id else None
        if village is None and (found := _NEW_VILLAGE.search(visit.xml)):
            village = found.group(1).decode()
        visits.append(Visit(visit, received, village))
    visits.sort(key=lambda v: v.received)
    return visits


def receive_checked(svc: Any, round_: Round, visits: Sequence[Visit], seed: int) -> None:
    """The phone's path and the rules for these visits (their own photos drawn now)."""
    from sqlalchemy import update

    from server.forms import queries as form_queries
    from server.models import Submission, SubmissionVersion
    from server.validation import jobs, synth, synth_queries

    rng = random.Random(seed + 1)  # noqa: S311 - synthetic data
    for visit in visits:
        visit.planned.photos = {name: synth.photo(rng) for name in visit.planned.photos}
    with svc.db.transaction() as session:
        version = synth_queries.current_version(session, round_.project_id, synth.FORM_ID)
        form = form_queries.submission_forms(
            session, synth.FORM_ID, version or "", [round_.project_id]
        )[0]
    for start in range(0, len(visits), 200):
        batch = visits[start : start + 200]
        synth.keep_photos(svc.store, [v.planned for v in batch])
        with svc.db.transaction() as session:
            receipts = synth.do_store_visits(session, svc.store, form, [v.planned for v in batch])
            # Received when the phone sent them, not now: the rules' "today" is that day.
            for visit, receipt in zip(batch, receipts, strict=True):
                at = visit.received
                session.execute(
                    update(Submission)
                    .where(Submission.id == receipt.submission_id)
                    .values(created_at=at, updated_at=at)
                )
                session.execute(
                    update(SubmissionVersion)
                    .where(SubmissionVersion.id == receipt.version_id)
                    .values(created_at=at)
                )
    jobs.drain(svc)


@dataclass(frozen=True)
class Template:
    rule: str
    severity: str
    message_id: str
    message_en: str
    fields: str  # JSON
    evidence: str  # JSON


def templates(conn: Any) -> list[Template]:
    rows = conn.execute(
        "SELECT rule, severity, message_id, message_en, fields::text, evidence::text FROM flags"
    ).fetchall()
    return [Template(*row) for row in rows]


def _flag_counts(count: int, flags: int, rng: random.Random) -> list[int]:
    """Flags of each of `count` submissions: a quarter clean, the others FLAGS_EACH on
    average, `flags` in all."""
    counts = [0] * count
    if flags <= 0 or count == 0:
        return counts
    flagged = rng.sample(range(count), min(count, math.ceil(flags / FLAGS_EACH)))
    for i in flagged:
        counts[i] = 1
    for _ in range(flags - len(flagged)):
        counts[rng.choice(flagged)] += 1
    return counts


class Copier:
    """COPY rows into a table, chunk by chunk."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        n = 0
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                n += 1
        return n


SUBMISSION_COLUMNS = (
    "id", "form_id", "instance_id", "current_version_id", "review_state", "review_by_rules",
    "submitter_id", "device_id", "village_code", "flag_rank", "flag_count", "escalated",
    "interview_minutes", "created_at", "updated_at",
)  # fmt: skip
VERSION_COLUMNS = (
    "id", "submission_id", "form_id", "form_version_id", "instance_id", "instance_name", "xml",
    "xml_sha256", "encrypted", "complete", "submitter_id", "device_id", "user_agent",
    "created_at",
)  # fmt: skip
ATTACHMENT_COLUMNS = (
    "submission_version_id", "name", "blob_sha256", "size", "content_type", "received_at",
)  # fmt: skip
FLAG_COLUMNS = (
    "submission_id", "version_id", "rule", "severity", "message_id", "message_en", "fields",
    "evidence", "created_at",
)  # fmt: skip
AUDIT_COLUMNS = ("at", "actor_id", "action", "subject_type", "subject_id", "details", "note")


def bulk(
    svc: Any, url: str, round_: Round, visits: Sequence[Visit], flags: int, seed: int
) -> dict[str, int]:
    """Write the visits as the phone's path and the rules would have, with COPY."""
    import psycopg

    from server.reviews.queue import SEVERITY_RANK
    from server.validation import synth

    rng = random.Random(seed + 2)  # noqa: S311 - synthetic data
    photos = []
    with svc.db.transaction() as session:
        from server import blobs

        for i in range(PHOTOS):
            info = svc.store.put_bytes(synth.photo(random.Random(f"photo{i}")))  # noqa: S311
            blobs.remember(session, info)
            photos.append((info.sha256, info.size))
    written: Counter[str] = Counter()
    with psycopg.connect(_plain(url)) as conn:
        shapes = templates(conn)
        if not shapes:
            sys.exit("the checked visits gave no flag to copy: raise --checked")
        flags_left = flags - len(shapes)
        first_sid = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM submissions").fetchone()[0]
        first_vid = conn.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM submission_versions"
        ).fetchone()[0]
        visited = {
            row[0] for row in conn.execute("SELECT id FROM targets WHERE submission_id IS NOT NULL")
        }
        counts = _flag_counts(len(visits), flags_left, rng)
        conn.execute("ALTER TABLE submissions DROP CONSTRAINT fk_submissions_current")
        conn.execute(
            "CREATE TEMPORARY TABLE visited (id integer, submission_id integer,"
            " outcome varchar(32), visited_by_id integer, visited_at timestamptz)"
        )
        copier = Copier(conn)
        for start in range(0, len(visits), CHUNK):
            rows: dict[str, list[Sequence[Any]]] = {
                k: [] for k in ("s", "v", "a", "f", "e", "c", "t")
            }
            for offset, visit in enumerate(visits[start : start + CHUNK]):
                i = start + offset
                _bulk_rows(
                    rows, visit, first_sid + i, first_vid + i, counts[i], round_, shapes,
                    photos, visited, SEVERITY_RANK, rng,
                )  # fmt: skip
            written["submissions"] += copier.rows("submissions", SUBMISSION_COLUMNS, rows["s"])
            written["versions"] += copier.rows("submission_versions", VERSION_COLUMNS, rows["v"])
            written["attachments"] += copier.rows(
                "submission_attachments", ATTACHMENT_COLUMNS, rows["a"]
            )
            written["flags"] += copier.rows("flags", FLAG_COLUMNS, rows["f"])
            written["audit"] += copier.rows("audit_events", AUDIT_COLUMNS, rows["e"])
            written["comments"] += copier.rows(
                "submission_comments",
                ("submission_id", "author_id", "body", "created_at"),
                rows["c"],
            )
            copier.rows(
                "visited",
                ("id", "submission_id", "outcome", "visited_by_id", "visited_at"),
                rows["t"],
            )
            conn.commit()
            done = min(len(visits), start + CHUNK)
            print(f"  {done:,} of {len(visits):,} written", flush=True)
        conn.execute(
            "UPDATE targets SET state = 'visited', submission_id = v.submission_id,"
            " outcome = v.outcome, visited_by_id = v.visited_by_id, visited_at = v.visited_at,"
            " updated_at = v.visited_at, version = targets.version + 1"
            " FROM visited v WHERE targets.id = v.id"
        )
        conn.execute(
            "ALTER TABLE submissions ADD CONSTRAINT fk_submissions_current"
            " FOREIGN KEY (current_version_id) REFERENCES submission_versions (id)"
        )
        for table in ("submissions", "submission_versions"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        conn.commit()
    return dict(written)


def _bulk_rows(
    rows: dict[str, list[Sequence[Any]]],
    visit: Visit,
    sid: int,
    vid: int,
    count: int,
    round_: Round,
    shapes: Sequence[Template],
    photos: Sequence[tuple[str, int]],
    visited: set[int],
    ranks: dict[str, int],
    rng: random.Random,
) -> None:
    planned = visit.planned
    xml: bytes = planned.xml
    at = visit.received
    enumerator = planned.enumerator_id
    boss = round_.koordinators.get(enumerator)
    chosen = rng.choices(shapes, k=count) if count else []
    rank = max((ranks.get(t.severity, 0) for t in chosen), default=0)
    checked = at + timedelta(seconds=rng.uniform(2, 60))
    by_rules, escalated, decided_at = True, False, checked
    if rank >= ranks["HIGH"]:
        state = "hasIssues"
        draw = rng.random()
        if draw < DECIDED["approved"]:
            state = "approved"
        elif draw < DECIDED["approved"] + DECIDED["rejected"]:
            state = "rejected"
        elif draw < DECIDED["approved"] + DECIDED["rejected"] + ESCALATED:
            escalated = True
        by_rules = state == "hasIssues" and not escalated
        if not by_rules:
            decided_at = checked + timedelta(hours=rng.uniform(1, 72))
    else:
        state = "received" if rng.random() < HELD else "approved"
    rule_state = "hasIssues" if rank >= ranks["HIGH"] else state
    device = f"collect:synth{enumerator:05d}"
    rows["s"].append(
        (sid, round_.form_id, planned.instance_id, vid, state, by_rules, enumerator, device,
         visit.village, rank, count, escalated, round(rng.lognormvariate(3.2, 0.4), 1), at,
         decided_at)
    )  # fmt: skip
    name = _NAME.search(xml)
    rows["v"].append(
        (vid, sid, round_.form_id, round_.form_version_id, planned.instance_id,
         html.unescape(name.group(1).decode()) if name else None, xml,
         hashlib.sha256(xml).hexdigest(), False, True, enumerator, device, USER_AGENT, at)
    )  # fmt: skip
    for photo_name in planned.photos:
        if rng.random() < 0.01:  # not sent yet
            rows["a"].append((vid, photo_name, None, None, None, None))
        else:
            sha, size = rng.choice(photos)
            rows["a"].append((vid, photo_name, sha, size, "image/jpeg", at))
    for shape in chosen:
        rows["f"].append(
            (sid, vid, shape.rule, shape.severity, shape.message_id, shape.message_en,
             shape.fields, shape.evidence, checked)
        )  # fmt: skip
    create = {"instance_id": planned.instance_id, "form_version_id": round_.form_version_id}
    rows["e"].append(
        (at, enumerator, "submission.create", "submission", sid,
         json.dumps(create | {"missing": 0}), None)
    )  # fmt: skip
    if rule_state != "received":
        rows["e"].append(
            (checked, None, "submission.review", "submission", sid,
             json.dumps({"state": rule_state}), None)
        )  # fmt: skip
    if not by_rules:
        action = "submission.escalate" if escalated else f"submission.{state[:-1]}"
        details = {} if escalated else {"from": "hasIssues", "to": state}
        note = "Mohon dicek ulang di lapangan." if state == "rejected" or escalated else None
        rows["e"].append(
            (decided_at, boss, action, "submission", sid, json.dumps(details), note)
        )  # fmt: skip
    if count and rng.random() < COMMENTED:
        rows["c"].append((sid, boss, "Foto rumah kurang jelas, cek lagi NIK anggota.", decided_at))
    if planned.target_id and planned.target_id not in visited:
        visited.add(planned.target_id)
        outcome = _OUTCOME.search(xml)
        rows["t"].append(
            (planned.target_id, sid, outcome.group(1).decode()[:32] if outcome else None,
             enumerator, at)
        )  # fmt: skip


def seed_instance(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    url = args.database_url
    timings: dict[str, float] = {}
    began = time.monotonic()
    persons = max(20_000, math.ceil(args.submissions * 4.5))
    synth_dir = args.work / f"synth-{KOTA}-p{persons}-s7"
    if not (synth_dir / "dtks.csv").exists():
        print(f"synthesising {persons:,} persons ...", flush=True)
        run([str(VERIVALI), "registry", "synth", "--kabupaten", KOTA, "--persons", str(persons),
             "--seed", "7", "--out", str(synth_dir)], env)  # fmt: skip
    timings["synth_s"] = time.monotonic() - began
    recreate(url)
    run([str(VERIVALI), "init"], env)
    print("importing the registry ...", flush=True)
    step = time.monotonic()
    run([str(VERIVALI), "registry", "import", str(synth_dir / "dtks.csv"), "--source", "dtks"],
        env)  # fmt: skip
    run([str(VERIVALI), "regions", "centroids", "--synthetic", KOTA], env)
    timings["registry_s"] = time.monotonic() - step
    svc = services(env)
    step = time.monotonic()
    print("setting up the round ...", flush=True)
    round_ = set_up(svc, args)
    timings["round_s"] = time.monotonic() - step
    step = time.monotonic()
    print("planning the visits ...", flush=True)
    visits = plan(svc, round_, synth_dir, args.submissions, args.seed)
    timings["plan_s"] = time.monotonic() - step
    step = time.monotonic()
    # Visits spread over the whole round (the first days hold most of the duplicates that
    # other enumerators propose as new households).
    step_by = max(1, len(visits) // max(1, args.checked))
    checked = visits[::step_by][: args.checked]
    print(f"receiving and checking {len(checked):,} visits ...", flush=True)
    receive_checked(svc, round_, checked, args.seed)
    timings["checked_s"] = time.monotonic() - step
    step = time.monotonic()
    sent = {id(v) for v in checked}
    rest = [v for v in visits if id(v) not in sent]
    print(f"writing {len(rest):,} visits ...", flush=True)
    written = bulk(svc, url, round_, rest, args.flags, args.seed)
    timings["bulk_s"] = time.monotonic() - step
    svc.db.engine.dispose()
    step = time.monotonic()
    print("VACUUM ANALYZE ...", flush=True)
    import psycopg

    with psycopg.connect(_plain(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timings["vacuum_s"] = time.monotonic() - step
    timings["total_s"] = time.monotonic() - began
    facts = {
        "project_id": round_.project_id,
        "written": written,
        "seed_s": {k: round(v, 1) for k, v in timings.items()},
    }
    print(json.dumps(facts), flush=True)
    return facts


# --- measuring ------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(times: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(_pct(times, 0.95), 1),
        "p99_ms": round(_pct(times, 0.99), 1),
        "max_ms": round(max(times), 1),
    }


def sign_in(client: Any, username: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = _csrf(page)
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code in (302, 303), answer.status_code


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def timed_get(client: Any, url: str) -> tuple[float, str]:
    began = time.perf_counter()
    answer = client.get(url)
    body = answer.get_data(as_text=True)
    took = 1000 * (time.perf_counter() - began)
    assert answer.status_code == 200, (url, answer.status_code, body[:300])
    return took, body


@dataclass
class Choices:
    """Filter values worth asking for in one scope."""

    submitters: list[int] | None
    common_rule: str
    rare_rule: str
    kecamatan: str
    village: str
    enumerator: int
    days: tuple[date, date]
    details: list[int]


def choices(
    conn: Any, project_id: int, submitters: list[int] | None, rng: random.Random
) -> Choices:
    """The most and least frequent rules, the busiest kecamatan and village, an enumerator
    and a week in the middle of the round, within the scope."""
    scope = "" if submitters is None else " AND s.submitter_id = ANY(%(ids)s)"
    params = {"p": project_id, "ids": submitters or []}
    base = (
        " FROM submissions s JOIN forms f ON f.id = s.form_id"
        f" WHERE f.project_id = %(p)s AND s.deleted_at IS NULL{scope}"
    )
    rules = conn.execute(
        "SELECT fl.rule, count(DISTINCT fl.submission_id) n FROM flags fl"
        f" JOIN submissions s ON s.id = fl.submission_id JOIN forms f ON f.id = s.form_id"
        f" WHERE f.project_id = %(p)s{scope} GROUP BY fl.rule ORDER BY n DESC, fl.rule",
        params,
    ).fetchall()
    villages = conn.execute(
        f"SELECT s.village_code, count(*) n{base} AND s.village_code IS NOT NULL"
        " GROUP BY s.village_code ORDER BY n DESC",
        params,
    ).fetchall()
    enumerator = conn.execute(
        f"SELECT s.submitter_id, count(*) n{base} GROUP BY s.submitter_id ORDER BY n DESC LIMIT 1",
        params,
    ).fetchone()[0]
    first, last = conn.execute(
        f"SELECT min(s.created_at), max(s.created_at){base}", params
    ).fetchone()
    middle = first + (last - first) / 2
    start = (middle - timedelta(days=3)).astimezone(UTC).date()
    ids = [
        row[0]
        for row in conn.execute(
            f"SELECT s.id{base} AND s.flag_count > 0"
            " AND EXISTS (SELECT 1 FROM targets t WHERE t.submission_id = s.id)",
            params,
        )
    ]
    kecamatan = Counter[str]()
    for code, n in villages:
        kecamatan[code[:6]] += n
    return Choices(
        submitters=submitters,
        common_rule=rules[0][0],
        rare_rule=rules[-1][0],
        kecamatan=kecamatan.most_common(1)[0][0],
        village=villages[len(villages) // 2][0],
        enumerator=int(enumerator),
        days=(start, start + timedelta(days=6)),
        details=rng.sample(ids, min(len(ids), 10_000)),
    )


def variants(chosen: Choices) -> list[tuple[str, dict[str, str]]]:
    start, end = chosen.days
    return [
        ("first page", {}),
        ("page 2 (cursor)", {"page2": ""}),
        ("state=hasIssues", {"state": "hasIssues"}),
        (f"rule={chosen.common_rule} (most flagged)", {"rule": chosen.common_rule}),
        (f"rule={chosen.rare_rule} (least flagged)", {"rule": chosen.rare_rule}),
        ("severity=BLOCK", {"severity": "BLOCK"}),
        ("kecamatan", {"kecamatan": chosen.kecamatan}),
        ("village", {"village": chosen.village}),
        ("enumerator", {"enumerator": str(chosen.enumerator)}),
        ("sort=severity", {"sort": "severity"}),
        ("sort=severity, page 2", {"sort": "severity", "page2": ""}),
        ("received in a week", {"received_from": str(start), "received_to": str(end)}),
        (
            "hasIssues + kecamatan + sort=severity",
            {"state": "hasIssues", "kecamatan": chosen.kecamatan, "sort": "severity"},
        ),
    ]


_NEXT = re.compile(r'rel="next" href="([^"]+)"')


def _repeat(client: Any, username: str, label: str, url: str, warmup: int, times: int) -> dict:
    """Figures of `times` requests of one page after `warmup` more, printed as they come."""
    for _ in range(warmup):
        timed_get(client, url)
    figures = summary([timed_get(client, url)[0] for _ in range(times)]) | {"url": url}
    print(
        f"  {username:<15} {label:<42} p50 {figures['p50_ms']:7.1f}"
        f"  p95 {figures['p95_ms']:7.1f}  p99 {figures['p99_ms']:7.1f} ms",
        flush=True,
    )
    return figures


def measure_role(
    app: Any, username: str, project_id: int, chosen: Choices, args: argparse.Namespace
) -> dict[str, Any]:
    client = app.test_client()
    sign_in(client, username)
    queue = f"/projects/{project_id}/reviews"
    found: dict[str, Any] = {"queue": {}, "choices": {}}
    for label, query in variants(chosen):
        query = dict(query)
        url = f"{queue}?{urlencode(query)}" if query else queue
        if "page2" in query:
            query.pop("page2")
            first = f"{queue}?{urlencode(query)}" if query else queue
            _took, body = timed_get(client, first)
            link = _NEXT.search(body)
            assert link, f"{label}: no next page"
            url = html.unescape(link.group(1))
        found["queue"][label] = _repeat(client, username, label, url, args.warmup, args.requests)
    details = chosen.details
    for sid in details[-10:]:
        timed_get(client, f"/projects/{project_id}/submissions/{sid}")
    times = []
    for sid in details[: args.details]:
        took, body = timed_get(client, f"/projects/{project_id}/submissions/{sid}")
        times.append(took)
    found["detail"] = summary(times)
    print(
        f"  {username:<15} {'detail (' + str(len(times)) + ' submissions)':<42}"
        f" p50 {found['detail']['p50_ms']:7.1f}  p95 {found['detail']['p95_ms']:7.1f}"
        f"  p99 {found['detail']['p99_ms']:7.1f} ms",
        flush=True,
    )
    for label, query in (("dashboard", ""), ("dashboard, by enumerator", "?level=enumerator")):
        url = f"/projects/{project_id}/dashboard{query}"
        times = max(10, args.requests // 5)
        found["queue"][label] = _repeat(client, username, label, url, args.warmup, times)
    found["choices"] = {
        "common_rule": chosen.common_rule,
        "rare_rule": chosen.rare_rule,
        "kecamatan": chosen.kecamatan,
        "village": chosen.village,
        "enumerator": chosen.enumerator,
        "days": [str(d) for d in chosen.days],
    }
    return found


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def measure_export(
    app: Any, username: str, project_id: int, fmt: str, marks: Sequence[int] = (10_000, 100_000)
) -> dict[str, Any]:
    """POST an approved export and read its body a chunk at a time."""
    client = app.test_client()
    sign_in(client, username)
    token = _csrf(client.get(f"/projects/{project_id}/reviews").get_data(as_text=True))
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the export's own peak
    before = _vm("VmRSS")
    began = time.perf_counter()
    answer = client.post(
        f"/projects/{project_id}/exports/approved.{fmt}",
        data={"csrf_token": token},
        buffered=False,
    )
    assert answer.status_code == 200, answer.status_code
    first_byte = None
    size = rows = 0
    at_marks: dict[str, float] = {}
    pending = list(marks)
    tail = b""
    for chunk in answer.iter_encoded():
        if first_byte is None:
            first_byte = time.perf_counter() - began
        size += len(chunk)
        if fmt == "csv":
            rows += chunk.count(b"\n")
            tail = chunk[-200:]
            while pending and rows - 1 >= pending[0]:
                at_marks[f"at_{pending.pop(0)}_rows"] = {
                    "s": round(time.perf_counter() - began, 2),
                    "rss_mb": round(_vm("VmRSS") / 1e6, 1),
                }
    answer.close()
    took = time.perf_counter() - began
    rows = max(0, rows - 1)  # the header
    found: dict[str, Any] = {
        "format": fmt,
        "as": username,
        "bytes": size,
        "seconds": round(took, 2),
        "first_byte_s": round(first_byte or took, 3),
        "rss_before_mb": round(before / 1e6, 1),
        "rss_after_mb": round(_vm("VmRSS") / 1e6, 1),
        "peak_rss_mb": round(_vm("VmHWM") / 1e6, 1),
        **at_marks,
    }
    if fmt == "csv":
        found["rows"] = rows
        found["rows_per_s"] = round(rows / took)
        found["ends_with_newline"] = tail.endswith(b"\n")
    print(f"  export {fmt} as {username}: {json.dumps(found)}", flush=True)
    return found


def measure(
    args: argparse.Namespace, env: dict[str, str], facts: dict[str, Any], exports: bool = True
) -> dict:
    import psycopg

    from server import create_app
    from server.config import load_settings

    project_id = facts["project_id"]
    rng = random.Random(args.seed)  # noqa: S311 - synthetic data
    with psycopg.connect(_plain(args.database_url)) as conn:
        counts = dict(
            conn.execute(
                "SELECT review_state, count(*) FROM submissions GROUP BY review_state"
            ).fetchall()
        )
        sizes = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "submissions", "flags", "submission_versions", "submission_attachments",
                "audit_events", "targets", "registry_households", "registry_persons", "users",
            )
        }  # fmt: skip
        team = [
            row[0]
            for row in conn.execute(
                "SELECT m.user_id FROM team_members m JOIN teams t ON t.id = m.team_id"
                " JOIN users u ON u.id = t.supervisor_id WHERE u.username = 'koordinator001'"
            )
        ]
        admin_choices = choices(conn, project_id, None, rng)
        team_choices = choices(conn, project_id, team, rng)
        database_mb = conn.execute("SELECT pg_database_size(current_database()) / 1e6").fetchone()[
            0
        ]
    app = create_app(load_settings(env))
    found: dict[str, Any] = {
        "sizes": sizes,
        "review_states": counts,
        "team_enumerators": len(team),
        "database_mb": round(float(database_mb)),
    }
    print(json.dumps(found), flush=True)
    found["admin"] = measure_role(app, "admin", project_id, admin_choices, args)
    found["koordinator"] = measure_role(app, "koordinator001", project_id, team_choices, args)
    if exports:
        found["export_csv"] = measure_export(app, "admin", project_id, "csv")
        found["export_xlsx_koordinator"] = measure_export(app, "koordinator001", project_id, "xlsx")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL URL (dropped, made)")
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--flags", type=int, default=300_000)
    parser.add_argument("--teams", type=int, default=40, help="koordinators, 7 pencacah each")
    parser.add_argument("--checked", type=int, default=1_000, help="visits the rules check")
    parser.add_argument("--requests", type=int, default=100, help="per queue view")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--details", type=int, default=200, help="detail pages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--reuse", action="store_true", help="copy the kept seeded database")
    parser.add_argument(
        "--no-seed", action="store_true", help="measure the database seeded last, as it is"
    )
    args = parser.parse_args()
    if not args.database_url.startswith(("postgresql://", "postgresql+psycopg://")):
        sys.exit("--database-url must be a PostgreSQL URL")
    if _name(args.database_url) in ("postgres", "template0", "template1"):
        sys.exit("name a throwaway database in --database-url: it is dropped and made again")
    data_dir = args.work / "reviews-postgresql"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **_environment(data_dir, args.database_url),
        "VERIVALI_REGIONS_WITHIN": KOTA,
        "VERIVALI_JAVA_VALIDATE": "false",
    }
    marker = data_dir / "seeded.json"
    wanted = {
        "schema": schema_fingerprint("postgresql"),
        "submissions": args.submissions,
        "flags": args.flags,
        "teams": args.teams,
        "checked": args.checked,
        "seed": args.seed,
    }
    facts = json.loads(marker.read_text()) if marker.is_file() else {}
    if args.no_seed and facts:
        print("measuring the database as it is ...", flush=True)
        if facts.get("wanted", {}).get("schema") != wanted["schema"]:
            print("  (seeded under another schema: pages may fail)", flush=True)
    elif args.reuse and facts.get("wanted") == wanted and template_exists(args.database_url):
        print("copying the seeded database ...", flush=True)
        recreate(args.database_url, f"{_name(args.database_url)}_seeded")
    else:
        marker.unlink(missing_ok=True)
        facts = seed_instance(args, env) | {"wanted": wanted}
        keep_template(args.database_url)
        marker.write_text(json.dumps(facts))
        # Measured in a fresh process, as a server's would be: this one holds the seeding's
        # memory.
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--no-seed"], check=False)
        sys.exit(done.returncode)
    figures = {"seeded": facts, **measure(args, env, facts)}
    record("review_pages", "postgresql", figures)


def _environment(data_dir: Path, url: str) -> dict[str, str]:
    from fieldwork import environment

    return environment(data_dir, url)


if __name__ == "__main__":
    main()
