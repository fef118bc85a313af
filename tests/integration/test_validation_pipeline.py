"""The validation pipeline: a submission queues its check in its own transaction, the answer
to Collect does not wait for it, and a worker (the in-process thread, or a real rq worker on
Redis) runs it, retries it on failure, and queues the peers of a duplicate."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from collect import CollectClient, WsgiTransport
from conftest import PASSWORD, REDIS_URL, ROOT, Seed, make_settings, publish
from sqlalchemy import select

from server import create_app
from server.accounts import service as accounts
from server.validation import jobs
from server.validation.models import StoredFlag, ValidationJob

FORM = """
| settings |
| | form_title | form_id | version |
| | Uji aturan | uji_aturan | 2026112301 |

| survey |
| | type | name | label |
| | text | sasaran | Sasaran |
| | select_one hasil | hasil | Hasil |
| | text | kk | No. KK |
| | geopoint | lokasi | Lokasi |
| | begin_repeat | anggota | Anggota |
| | text | nik | NIK |
| | end_repeat | | |

| choices |
| | list_name | name | label |
| | hasil | ditemukan | Ditemukan |
"""
RULES = """
[fields]
target = "sasaran"
outcome = "hasil"
kk = "kk"
location = "lokasi"

[fields.roster]
repeat = "anggota"
nik = "nik"

[rules]
disabled = ["V13", "V19", "V27", "V35", "V36"]
"""
KK = "3573042001200005"


def publish_form(svc, project_id: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    form = tmp_path / "uji_aturan.md"
    form.write_text(FORM)
    form.with_suffix(".toml").write_text(RULES)
    publish(svc, project_id, form)


def instance(
    kk: str = KK, location: str = "", niks: tuple[str, ...] = (), target: str = ""
) -> bytes:
    members = "".join(f"<anggota><nik>{nik}</nik></anggota>" for nik in niks)
    return (
        f'<data id="uji_aturan" version="2026112301"><sasaran>{target}</sasaran>'
        "<hasil>ditemukan</hasil>"
        f"<kk>{kk}</kk><lokasi>{location}</lokasi>{members}"
        f"<meta><instanceID>uuid:{uuid.uuid4()}</instanceID></meta></data>"
    ).encode()


@pytest.fixture
def ready(svc, seed: Seed, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The test form with its rule settings in the seeded project."""
    publish_form(svc, seed.project_id, tmp_path)
    return svc


def enumerator_phone(app, tmp_path: Path) -> CollectClient:  # type: ignore[no-untyped-def]
    """A project with one enumerator and the test form; that enumerator's phone."""
    svc = app.extensions["verivali"]
    with svc.db.transaction() as session:
        project = accounts.do_create_project(session, "Kota Malang")
        user = accounts.do_create_user(
            session, "pencacah1", "enumerator", svc.settings.realm, PASSWORD, project.id
        )
        token = accounts.do_issue_token(session, user)
        project_id = project.id
    publish_form(svc, project_id, tmp_path)
    return CollectClient(
        WsgiTransport(app), f"http://localhost/v1/key/{token}/projects/{project_id}"
    )


def job_states(svc) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        rows = session.execute(
            select(ValidationJob.reason, ValidationJob.state).order_by(ValidationJob.id)
        )
        return [(r[0], r[1]) for r in rows]


def flag_rules(svc, submission_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        query = select(StoredFlag.rule).where(StoredFlag.submission_id == submission_id)
        return sorted(session.scalars(query))


def test_the_answer_tells_the_enumerator_of_a_malformed_nik(  # type: ignore[no-untyped-def]
    ready, collect_token: CollectClient
) -> None:
    """A NIK that cannot be one is named (masked) in the 201 text; a good one adds nothing."""
    bad = collect_token.submit(instance(niks=("3573041203850001", "357304120385")))
    assert bad.status == 201
    text = bad.message()
    assert "Mohon periksa" in text and "anggota[2]" in text and "16 angka" in text
    assert "357304120385" not in text  # masked, as in the web pages
    good = collect_token.submit(instance(niks=("3573041203850001",)))
    assert good.status == 201 and "Mohon periksa" not in good.message()
    assert job_states(ready) == [("submitted", "queued")] * 2  # the full check still follows


def test_one_enumerators_households_at_one_spot_are_flagged_on_each(  # type: ignore[no-untyped-def]
    ready, seed: Seed, transport: WsgiTransport, collect_token: CollectClient
) -> None:
    """Three households one enumerator sent from one spot all get V34; another's does not."""
    spots = {"901": "-7.98 112.63", "902": "-7.98005 112.63", "903": "-7.98 112.63005"}
    for target, spot in spots.items():
        assert (
            collect_token.submit(instance(kk="", location=f"{spot} 0 5", target=target)).status
            == 201
        )
    someone_else = CollectClient(
        transport, f"http://localhost/v1/projects/{seed.project_id}", "admin", PASSWORD
    )
    assert (
        someone_else.submit(instance(kk="", location="-7.98 112.63 0 5", target="904")).status
        == 201
    )
    jobs.drain(ready)
    flagged = {i for i in range(1, 5) if "V34" in flag_rules(ready, i)}
    assert flagged == {1, 2, 3}


def test_the_answer_does_not_wait_for_the_check(ready, collect_token: CollectClient) -> None:  # type: ignore[no-untyped-def]
    """Collect's 201 leaves a queued job; a worker run stores the flags and the state."""
    assert collect_token.submit(instance()).status == 201
    assert job_states(ready) == [("submitted", "queued")]
    assert flag_rules(ready, 1) == []
    assert jobs.drain(ready) == 1
    assert job_states(ready) == [("submitted", "done")]
    assert flag_rules(ready, 1) == ["V31"]  # no location


def test_duplicate_kk_flags_both_through_a_peer_job(ready, collect_token: CollectClient) -> None:  # type: ignore[no-untyped-def]
    """The second of two households with one KK flags itself and queues the first again."""
    here = "-7.98 112.62 450 5"
    collect_token.submit(instance(location=here))
    jobs.drain(ready)
    assert flag_rules(ready, 1) == []
    collect_token.submit(instance(location="-7.90 112.70 450 5"))
    jobs.drain(ready)
    assert job_states(ready) == [
        ("submitted", "done"),
        ("submitted", "done"),
        ("peer", "done"),
    ]
    assert flag_rules(ready, 1) == ["V22"] and flag_rules(ready, 2) == ["V22"]


def test_duplicates_checked_in_one_group_flag_each_other_at_once(ready, collect_token) -> None:  # type: ignore[no-untyped-def]
    """Two households with one KK checked in the same group both carry V22 straight away."""
    collect_token.submit(instance(location="-7.98 112.62 450 5"))
    collect_token.submit(instance(location="-7.90 112.70 450 5"))
    assert jobs.run_batch(ready) == 2
    assert flag_rules(ready, 1) == ["V22"] and flag_rules(ready, 2) == ["V22"]
    # Each saw the other in the group: no peer check is queued, none would change anything.
    assert jobs.drain(ready) == 0
    assert job_states(ready) == [("submitted", "done")] * 2


def test_a_key_everyone_shares_is_read_a_bounded_number_of_times(  # type: ignore[no-untyped-def]
    ready, collect_token: CollectClient
) -> None:
    """A placeholder NIK or a chunk every dark photo has returns at most `limit` holders."""
    from server.validation import queries
    from server.validation.models import SubmissionKey
    from server.validation.photos import chunk_entries, chunk_keys

    for _ in range(4):
        collect_token.submit(instance(kk=""))
    jobs.drain(ready)
    placeholder = "9999999999999999"
    with ready.db.transaction() as session:
        form_id = session.scalar(select(SubmissionKey.form_id).limit(1))
        for submission_id in range(1, 5):
            values = [("nik", placeholder), ("kk", f"357304200120000{submission_id}")]
            # Three nearly black photos each: all share their top chunk (0).
            values += [("ph", entry) for dark in range(3) for entry in chunk_entries(dark)]
            for kind, value in values:
                session.add(SubmissionKey(
                    submission_id=submission_id, kind=kind, value=value, form_id=form_id
                ))  # fmt: skip
        session.flush()
        nik = ("nik", placeholder)
        assert queries.holders(session, form_id, [nik], 10) == {nik: [1, 2, 3, 4]}
        assert queries.holders(session, form_id, [nik], 2) == {nik: [1, 2]}
        # The same 16 digits as a KK and as a NIK are different keys.
        assert queries.holders(session, form_id, [("nik", "3573042001200001")], 10) == {}
        shared = chunk_keys(0)[3]
        assert len(queries.chunk_holders(session, form_id, [shared], 100)[shared]) == 12
        few = queries.chunk_holders(session, form_id, [shared], 5)[shared]
        assert len(few) == 5 and {value for _id, value in few} <= {0, 1, 2}


def test_keys_are_replaced_by_what_changed_only(ready, collect_token) -> None:  # type: ignore[no-untyped-def]
    """Keys written again keep the unchanged rows, drop the gone ones and add the new ones."""
    from server.validation import queries
    from server.validation.models import SubmissionKey

    collect_token.submit(instance())
    collect_token.submit(instance())
    jobs.drain(ready)

    def keys(session) -> set[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
        rows = session.execute(
            select(SubmissionKey.submission_id, SubmissionKey.kind, SubmissionKey.value)
        )
        return {(r[0], r[1], r[2]) for r in rows}

    with ready.db.transaction() as session:
        form_id = session.scalar(select(SubmissionKey.form_id).limit(1))
        second = {(kind, value) for sid, kind, value in keys(session) if sid == 2}
        first = [("nik", "3573041203850001"), ("kk", KK), ("point", "x" * 90)]
        queries.replace_keys(session, {1: (form_id, first), 2: (form_id, second)})
        queries.replace_keys(session, {1: (form_id, [*first[1:], ("nik", "3573041203850002")])})
        held = keys(session)
    assert {(kind, value) for sid, kind, value in held if sid == 1} == {
        ("kk", KK),
        ("point", "x" * 80),
        ("nik", "3573041203850002"),
    }
    assert {(kind, value) for sid, kind, value in held if sid == 2} == second


def test_two_workers_never_take_the_same_job(ready, collect_token) -> None:  # type: ignore[no-untyped-def]
    """A worker claiming while another holds its jobs gets the next ones, never the same."""
    for _ in range(4):
        collect_token.submit(instance())
    first = ready.db.relaxed_sessions()
    try:
        taken = jobs.claim(first, limit=2)
        if ready.settings.is_sqlite:  # one writer at a time: the second waits for the first
            first.commit()
        with ready.db.transaction(durable=False) as second:
            others = jobs.claim(second, limit=4)
        first.commit()
    finally:
        first.close()
    assert [job[0] for job in taken] == [1, 2] and [job[0] for job in others] == [3, 4]
    assert [job[0] for job in jobs_claimable(ready)] == []


def jobs_claimable(svc) -> list[tuple[int, int, str]]:  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        return jobs.claim(session, limit=10)


def test_a_new_version_that_is_no_duplicate_clears_the_pair(ready, collect_token) -> None:  # type: ignore[no-untyped-def]
    """An edit with another KK re-checks the submission its old flag named: both lose V22."""
    collect_token.submit(instance(location="-7.98 112.62 450 5"))
    second = instance(location="-7.90 112.70 450 5")
    collect_token.submit(second)
    jobs.drain(ready)
    assert flag_rules(ready, 1) == ["V22"] and flag_rules(ready, 2) == ["V22"]
    original = second.split(b"<instanceID>")[1].split(b"</instanceID>")[0]
    edit = instance(kk="3573042001200099", location="-7.90 112.70 450 5").replace(
        b"</instanceID>", b"</instanceID><deprecatedID>" + original + b"</deprecatedID>"
    )
    assert collect_token.submit(edit).status == 201
    jobs.drain(ready)
    assert flag_rules(ready, 2) == [] and flag_rules(ready, 1) == []


def test_a_failing_check_in_a_batch_leaves_the_others_done(  # type: ignore[no-untyped-def]
    ready, collect_token: CollectClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One check that raises is rolled back alone: the batch's other checks keep their flags."""
    from server.validation import service

    real = service.evaluate_many

    def broken_for_the_second(session, store, submission_ids, **kwargs):  # type: ignore[no-untyped-def]
        result = real(session, store, submission_ids, **kwargs)
        if 2 in submission_ids:
            raise RuntimeError("half-written")  # after its flags were written
        return result

    monkeypatch.setattr(service, "evaluate_many", broken_for_the_second)
    for kk in ("3573042001200001", "3573042001200002", "3573042001200003"):
        collect_token.submit(instance(kk=kk))
    assert jobs.run_batch(ready) == 3
    assert flag_rules(ready, 1) == ["V31"] and flag_rules(ready, 3) == ["V31"]
    assert flag_rules(ready, 2) == []
    assert job_states(ready) == [
        ("submitted", "done"),
        ("submitted", "queued"),
        ("submitted", "done"),
    ]


def test_a_batch_out_of_time_puts_the_rest_back(ready, collect_token) -> None:  # type: ignore[no-untyped-def]
    """Jobs a batch had no time for are queued again, their try not counted."""
    for kk in ("3573042001200001", "3573042001200002"):
        collect_token.submit(instance(kk=kk))
    assert jobs.run_batch(ready, seconds=0, group=1) == 1
    assert job_states(ready) == [("submitted", "done"), ("submitted", "queued")]
    with ready.db.sessions() as session:
        assert session.scalars(select(ValidationJob.attempts).order_by(ValidationJob.id)).all() == [
            1,
            0,
        ]


def test_new_rule_settings_check_the_forms_submissions_again(  # type: ignore[no-untyped-def]
    ready, seed, collect_token: CollectClient, tmp_path: Path
) -> None:
    """Publishing changed rule settings queues the form's submissions; their flags follow."""
    from test_field_loop import verivali

    collect_token.submit(instance())
    jobs.drain(ready)
    assert flag_rules(ready, 1) == ["V31"]
    form = tmp_path / "uji_aturan.md"
    form.with_suffix(".toml").write_text(RULES.replace('"V36"]', '"V36", "V31"]'))
    out = verivali(ready, "forms", "publish", str(form), "--project", str(seed.project_id))
    assert "rules updated" in out and "queued 1 submissions" in out
    assert job_states(ready)[-1] == ("settings", "queued")
    jobs.drain(ready)
    assert flag_rules(ready, 1) == []


def test_a_registry_import_queues_every_submission(ready, collect_token, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """After an extract is imported every submission is queued to be checked against it."""
    from test_field_loop import verivali

    from server.registry.synth import write_synthetic

    collect_token.submit(instance())
    jobs.drain(ready)
    write_synthetic("3573", 50, 3, tmp_path / "synth")
    extract = str(tmp_path / "synth" / "dtks.csv")
    out = verivali(ready, "registry", "import", extract, "--source", "dtks")
    assert "queued 1 submissions to check again" in out
    assert job_states(ready)[-1] == ("registry", "queued")
    quiet = verivali(ready, "registry", "import", extract, "--source", "dtks", "--no-recheck")
    assert "queued" not in quiet and len(job_states(ready)) == 2


def test_a_failing_check_is_retried_then_recorded(  # type: ignore[no-untyped-def]
    ready, collect_token: CollectClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check that raises is tried MAX_ATTEMPTS times, then kept as failed with the error."""
    from server.validation import service

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("registry unavailable")

    monkeypatch.setattr(service, "evaluate_many", broken)
    collect_token.submit(instance())
    assert jobs.drain(ready) == jobs.MAX_ATTEMPTS
    with ready.db.sessions() as session:
        job = session.scalars(select(ValidationJob)).one()
        assert (job.state, job.attempts, job.error) == ("failed", 3, "RuntimeError")


def test_jobs_left_running_by_a_dead_process_are_queued_again(ready, collect_token) -> None:  # type: ignore[no-untyped-def]
    """A job claimed long ago and never finished goes back to the queue when a worker starts."""
    collect_token.submit(instance())
    with ready.db.transaction() as session:
        claimed = jobs.claim(session)
        assert len(claimed) == 1
        job = session.get(ValidationJob, claimed[0][0])
        assert job is not None
        job.started_at = job.started_at - jobs.STALE_AFTER * 2  # type: ignore[operator]
    with ready.db.transaction() as session:
        assert jobs.requeue_stale(session) == 1
    assert jobs.drain(ready) == 1 and job_states(ready) == [("submitted", "done")]


SHOWN = ("synchronous_commit", "enable_seqscan")


def test_the_checks_commits_alone_go_unsynced(svc) -> None:  # type: ignore[no-untyped-def]
    """durable=False relaxes its own transaction only (on PostgreSQL no sequential scans)."""

    def synced(durable: bool) -> str:
        with svc.db.transaction(durable=durable) as session:
            run = session.connection().exec_driver_sql
            if svc.settings.is_sqlite:  # 2 FULL, 1 NORMAL
                return str(run("PRAGMA synchronous").scalar())
            commit, seqscan = (run(f"SHOW {name}").scalar() for name in SHOWN)
            return f"{commit}/{seqscan}"

    expected = (
        ("1", "2", "1", "2") if svc.settings.is_sqlite else ("off/off", "on/on", "off/off", "on/on")
    )
    assert (synced(False), synced(True), synced(False), synced(True)) == expected


def test_the_checks_read_through_a_page_cache_of_their_own(tmp_path: Path) -> None:
    """On SQLite the checks' connections get VERIVALI_WORKER_CACHE_MB; requests keep 2 MB."""
    from server.db import Database

    db = Database(make_settings(tmp_path, "", worker_cache_mb=64))
    try:

        def cache(durable: bool) -> int:
            with db.transaction(durable=durable) as session:
                return int(session.connection().exec_driver_sql("PRAGMA cache_size").scalar())

        assert (cache(False), cache(True), cache(False)) == (-64 * 1024, -2000, -64 * 1024)
    finally:
        db.dispose()


def test_the_checks_leave_the_sqlite_log_to_a_checkpoint_thread(tmp_path: Path) -> None:
    """The checks' connections start a checkpoint thread; disposing of the database stops it."""
    import sqlite3

    from server.db import Database

    db = Database(make_settings(tmp_path, ""))
    try:
        checkpointer = db.checkpointer
        assert checkpointer is not None and checkpointer._thread is None
        with db.transaction(durable=False) as session:
            pages = session.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            session.connection().exec_driver_sql("CREATE TABLE scratch (line TEXT)")
            for n in range(200):
                session.connection().exec_driver_sql(
                    "INSERT INTO scratch (line) VALUES (?)", (f"{n:04096x}",)
                )
        assert pages == checkpointer.FALLBACK_PAGES
        thread = checkpointer._thread
        assert thread is not None and thread.is_alive()
        own = sqlite3.connect(db.settings.data_dir / "verivali.sqlite3")
        try:
            _busy, logged, copied = checkpointer.checkpoint(own)
        finally:
            own.close()
        assert logged > 0 and copied == logged
    finally:
        db.dispose()
    assert not thread.is_alive()


def test_a_running_worker_requeues_jobs_a_dead_one_left(  # type: ignore[no-untyped-def]
    ready, collect_token, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stale running jobs go back to the queue while workers run, not only when one starts."""
    collect_token.submit(instance())
    with ready.db.transaction() as session:
        job = session.get(ValidationJob, jobs.claim(session)[0][0])
        assert job is not None
        job.started_at = job.started_at - jobs.STALE_AFTER * 2  # type: ignore[operator]
    monkeypatch.setattr(jobs, "REQUEUE_EVERY", 0.0)
    assert jobs.drain(ready) == 1 and job_states(ready) == [("submitted", "done")]


def test_the_in_process_worker_checks_in_the_background(  # type: ignore[no-untyped-def]
    tmp_path: Path, database_url: str
) -> None:
    """With no Redis, a thread of the server process runs the queue as submissions arrive."""
    settings = make_settings(tmp_path, database_url, inprocess_worker=True)
    build = create_app(make_settings(tmp_path, database_url))  # `verivali init` first
    build.extensions["verivali"].db.create_all()
    build.extensions["verivali"].db.dispose()
    app = create_app(settings)
    svc = app.extensions["verivali"]
    try:
        client = enumerator_phone(app, tmp_path)
        assert client.submit(instance()).status == 201
        deadline = time.monotonic() + 20
        while job_states(svc) != [("submitted", "done")] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job_states(svc) == [("submitted", "done")]
        assert flag_rules(svc, 1) == ["V31"]
    finally:
        app.extensions["verivali_worker"].stop()
        app.extensions["verivali_worker"].join(timeout=10)
        svc.db.dispose()


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="VERIVALI_TEST_REDIS_URL not set (CI always sets it)")
def test_a_real_rq_worker_checks_submissions(tmp_path: Path, database_url: str) -> None:
    """Through Redis `verivali worker` stores the flags; `rules rerun` replaces, never doubles."""
    queue = f"test-{uuid.uuid4().hex[:8]}"  # tests on other backends run at the same time
    settings = make_settings(tmp_path, database_url, redis_url=REDIS_URL, rq_queue=queue)
    app = create_app(settings)
    svc = app.extensions["verivali"]
    svc.db.create_all()
    try:
        client = enumerator_phone(app, tmp_path)
        assert client.submit(instance()).status == 201
        assert job_states(svc) == [("submitted", "queued")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERIVALI_")}
        env.update(
            VERIVALI_DATA_DIR=str(settings.data_dir),
            VERIVALI_DATABASE_URL=database_url,
            VERIVALI_REDIS_URL=REDIS_URL,
            VERIVALI_RQ_QUEUE=queue,
            VERIVALI_SECRET_KEY="test-secret",
        )
        run = [sys.executable, "-m", "server"]
        worker = subprocess.run(
            [*run, "worker", "--burst"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == 0, worker.stderr
        assert job_states(svc) == [("submitted", "done")]
        assert flag_rules(svc, 1) == ["V31"]
        rerun = subprocess.run(
            [*run, "rules", "rerun", "--form", "uji_aturan"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert flag_rules(svc, 1) == ["V31"]
    finally:
        svc.db.dispose()
