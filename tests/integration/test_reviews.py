"""The review web UI through HTTP: sign-in, CSRF, throttling, password change, the queue's
filters, counts and pages, the detail page with masked NIKs, and the decisions."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from collect import WsgiTransport
from conftest import PASSWORD, Seed, signed_in
from review_world import GOOD_NIK, World, build, csrf_of, sign_in
from sqlalchemy import select
from test_assignments import households, phone

from server.accounts import service as accounts
from server.models import AuditEvent, Project, Submission
from server.reviews import queue


@pytest.fixture
def world(svc, seed: Seed, tmp_path: Path, transport: WsgiTransport) -> World:  # type: ignore[no-untyped-def]
    """Two teams' checked submissions (see review_world)."""
    return build(svc, seed, tmp_path, transport)


def post(client, url: str, page_url: str, **data: str):  # type: ignore[no-untyped-def]
    """POST from a page, with the CSRF token that page carries."""
    token = csrf_of(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def state_of(svc, submission_id: int) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        row = session.execute(
            select(Submission.review_state, Submission.review_by_rules).where(
                Submission.id == submission_id
            )
        ).one()
    return str(row[0]), bool(row[1])


def audit_actions(svc, submission_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(
                    AuditEvent.subject_type == "submission", AuditEvent.subject_id == submission_id
                )
                .order_by(AuditEvent.id)
            )
        )


def test_pages_send_visitors_to_sign_in_and_back(app, world: World) -> None:
    """A visitor is sent to the sign-in page and, once signed in, to the page they wanted."""
    client = app.test_client()
    wanted = f"/projects/{world.project_id}/reviews?state=hasIssues"
    first = client.get(wanted)
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    login = client.get(first.headers["Location"])
    token = csrf_of(login.get_data(as_text=True))
    done = client.post(
        "/login",
        data={
            "username": "koordinator1",
            "password": PASSWORD,
            "csrf_token": token,
            "next": wanted,
        },
    )
    assert done.status_code == 302 and done.headers["Location"] == wanted
    assert client.get(wanted).status_code == 200


def test_a_wrong_password_and_an_unknown_user_read_the_same(app, world: World) -> None:
    """Both failures answer 401 with one message, and sign-in stays possible afterwards."""
    client = app.test_client()
    wrong = sign_in(client, "koordinator1", "salah-sekali")
    unknown = sign_in(client, "tidak_ada", "salah-sekali")
    assert wrong.status_code == unknown.status_code == 401
    assert "Nama pengguna atau kata sandi salah." in wrong.get_data(as_text=True)
    assert "Nama pengguna atau kata sandi salah." in unknown.get_data(as_text=True)
    assert sign_in(client, "koordinator1").status_code == 302


def test_repeated_failures_throttle_sign_in(app, world: World) -> None:
    """After five failures from one address for one username, even the right password waits."""
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, "koordinator1", "salah-sekali").status_code == 401
    blocked = sign_in(client, "koordinator1")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Terlalu banyak percobaan" in blocked.get_data(as_text=True)
    assert sign_in(app.test_client(), "koordinator2").status_code == 302


def test_a_post_without_the_sessions_token_is_refused(app, world: World) -> None:
    """No token, a wrong token, or another site's Origin: 403 and nothing changes."""
    client = signed_in(app, "koordinator1")
    sid = world.team1[1]
    url = f"/projects/{world.project_id}/submissions/{sid}/approve"
    assert client.post(url, data={}).status_code == 403
    assert client.post(url, data={"csrf_token": "x" * 43}).status_code == 403
    token = csrf_of(client.get(f"/projects/{world.project_id}/reviews").get_data(as_text=True))
    foreign = client.post(
        url, data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "kedaluwarsa" in foreign.get_data(as_text=True)
    assert state_of(app.extensions["verivali"], sid)[1] is True


def test_changing_the_password_ends_the_other_sessions(app, world: World) -> None:
    """The session that changed it stays; another one with the old password is signed out."""
    here, there = signed_in(app, "koordinator1"), signed_in(app, "koordinator1")
    changed = post(
        here,
        "/account/password",
        "/account/password",
        current=PASSWORD,
        new="kata-sandi-baru",
        confirm="kata-sandi-baru",
    )
    assert changed.status_code == 200 and "Kata sandi diganti" in changed.get_data(as_text=True)
    queue_url = f"/projects/{world.project_id}/reviews"
    assert here.get(queue_url).status_code == 200
    assert there.get(queue_url).status_code == 302
    assert sign_in(app.test_client(), "koordinator1", "kata-sandi-baru").status_code == 302


def test_the_queue_counts_and_filters_what_the_koordinator_may_see(app, svc, world: World) -> None:
    """koordinator1 sees team 1's six submissions only, counted by state, filtered by rule."""
    client = signed_in(app, "koordinator1")
    page = client.get(f"/projects/{world.project_id}/reviews").get_data(as_text=True)
    for sid in world.team1:
        assert f">#{sid}<" in page
    for sid in world.team2:
        assert f">#{sid}<" not in page
    assert "Semua <b>6</b>" in page
    flagged = client.get(f"/projects/{world.project_id}/reviews?rule=V01").get_data(as_text=True)
    shown = {sid for sid in world.team1 if f">#{sid}<" in flagged}
    assert shown == {world.by_enumerator["pencacah1"][0], world.by_enumerator["pencacah2"][0]}


def test_keyset_pages_cover_the_queue_once(app, world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With two rows a page, following 'next' through every sort shows each row once."""
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    client = signed_in(app, "admin")
    for sort in ("new", "old", "severity"):
        seen: list[int] = []
        url = f"/projects/{world.project_id}/reviews?sort={sort}"
        while url:
            html = client.get(url).get_data(as_text=True)
            seen += [int(n) for n in re.findall(r">#(\d+)</a>", html)]
            found = re.search(r'rel="next" href="([^"]+)"', html)
            url = found.group(1).replace("&amp;", "&") if found else ""
        assert sorted(seen) == sorted(world.team1 + world.team2), sort
        assert len(seen) == len(set(seen)), sort


def test_the_detail_page_masks_niks_until_revealed_and_audits_it(app, svc, world: World) -> None:
    """NIKs read as 357304******dddd; a reveal shows them whole and leaves an audit row."""
    client = signed_in(app, "koordinator1")
    sid = world.by_enumerator["pencacah1"][1]
    url = f"/projects/{world.project_id}/submissions/{sid}"
    page = client.get(url).get_data(as_text=True)
    nik = GOOD_NIK[:-1] + "1"
    assert nik not in page and f"{nik[:6]}******{nik[-4:]}" in page
    revealed = post(client, url + "/reveal", url)
    assert revealed.status_code == 200 and nik in revealed.get_data(as_text=True)
    assert revealed.headers["Cache-Control"] == "no-store"
    assert audit_actions(svc, sid)[-1] == "submission.reveal"


def test_no_page_shows_a_whole_nik_or_kk_until_revealed(app, world: World) -> None:
    """The queue and every detail page carry no run of 16 digits (NIK, KK) for anyone."""
    for username in ("admin", "koordinator1", "pengamat"):
        client = signed_in(app, username)
        pages = [f"/projects/{world.project_id}/reviews"] + [
            f"/projects/{world.project_id}/submissions/{sid}"
            for sid in world.team1 + (world.team2 if username != "koordinator1" else [])
        ]
        for url in pages:
            html = client.get(url).get_data(as_text=True)
            assert not re.search(r"(?<![0-9])[0-9]{16}(?![0-9])", html), (username, url)


def test_approving_is_audited_and_taken_from_the_rules(app, svc, world: World) -> None:
    """Approve sets the state for good (review_by_rules off) and writes who did it."""
    client = signed_in(app, "koordinator1")
    sid = world.by_enumerator["pencacah2"][1]
    url = f"/projects/{world.project_id}/submissions/{sid}"
    seen = state_of(svc, sid)[0]
    done = post(client, url + "/approve", url, seen=seen)
    assert done.status_code == 302
    assert state_of(svc, sid) == ("approved", False)
    assert audit_actions(svc, sid)[-1] == "submission.approve"
    stale = post(client, url + "/reject", url, seen="hasIssues", note="data tidak sah")
    assert stale.status_code == 409 and "baru saja diubah" in stale.get_data(as_text=True)


def test_returning_for_revisit_puts_the_household_back_on_the_phone(  # type: ignore[no-untyped-def]
    app, svc, seed: Seed, transport: WsgiTransport, world: World
) -> None:
    """The returned household is on pencacah1's list again, with the koordinator's reason."""
    client = signed_in(app, "koordinator1")
    sid = world.by_enumerator["pencacah1"][0]
    url = f"/projects/{world.project_id}/submissions/{sid}"
    done = post(client, url + "/revisit", url, note="NIK kepala keluarga kurang digit")
    assert done.status_code == 302
    assert state_of(svc, sid) == ("hasIssues", False)
    listed = households(phone(transport, svc, seed, "pencacah1"))
    mine = [row for row in listed if row["name"] == str(world.targets[sid])]
    assert mine and "NIK kepala keluarga kurang digit" in str(mine[0])


def test_bulk_approve_takes_only_clean_submissions(app, svc, world: World) -> None:
    """Of the chosen, those with a BLOCK or HIGH flag keep their state; the others are approved."""
    client = signed_in(app, "koordinator1")
    chosen = world.by_enumerator["pencacah1"] + world.by_enumerator["pencacah2"]
    before = {sid: state_of(svc, sid)[0] for sid in chosen}
    queue_url = f"/projects/{world.project_id}/reviews"
    done = post(client, queue_url + "/approve", queue_url, submission=[str(s) for s in chosen])  # type: ignore[arg-type]
    assert done.status_code == 302
    after = {sid: state_of(svc, sid)[0] for sid in chosen}
    flagged = {sid for sid in chosen if before[sid] == "hasIssues"}
    assert flagged and len(flagged) < len(chosen)
    assert all(after[sid] == "hasIssues" for sid in flagged)
    assert all(after[sid] == "approved" for sid in set(chosen) - flagged)


def test_a_viewer_reads_masked_and_cannot_decide(app, svc, world: World) -> None:
    """A viewer sees both teams' submissions, but approving or revealing answers 403."""
    client = signed_in(app, "pengamat")
    sid = world.team2[1]
    url = f"/projects/{world.project_id}/submissions/{sid}"
    assert client.get(url).status_code == 200
    assert post(client, url + "/approve", url).status_code == 403
    assert post(client, url + "/reveal", url).status_code == 403
    assert state_of(svc, sid)[1] is True


def test_another_teams_submission_is_not_found(app, world: World) -> None:
    """koordinator1 guessing a team-2 submission's URL gets 404, as for one that does not exist."""
    client = signed_in(app, "koordinator1")
    sid = world.team2[0]
    assert client.get(f"/projects/{world.project_id}/submissions/{sid}").status_code == 404
    assert client.get(f"/projects/{world.project_id}/submissions/999999").status_code == 404
    assert client.get(f"/projects/{world.other_project_id}/reviews").status_code == 404


def test_an_export_streams_the_koordinators_rows_and_is_audited(app, svc, world: World) -> None:
    """approved.csv holds team 1's approved submissions only, and leaves an 'export' row."""
    client = signed_in(app, "koordinator1")
    queue_url = f"/projects/{world.project_id}/reviews"
    post(client, queue_url + "/approve", queue_url, submission=[str(s) for s in world.team1])  # type: ignore[arg-type]
    answer = post(client, f"/projects/{world.project_id}/exports/approved.csv", queue_url)
    assert answer.status_code == 200 and answer.is_streamed
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    text = answer.get_data().decode("utf-8-sig")
    exported = {int(row["submission_id"]) for row in csv.DictReader(io.StringIO(text))}
    approved = {sid for sid in world.team1 if state_of(svc, sid)[0] == "approved"}
    assert exported == approved and approved
    with svc.db.sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "export" in actions


def test_english_is_a_switch_away(app, world: World) -> None:
    """The language switch turns the queue's texts into English for this session."""
    client = signed_in(app, "admin")
    queue_url = f"/projects/{world.project_id}/reviews"
    assert "Antrean pemeriksaan" in client.get(queue_url).get_data(as_text=True)
    post(client, "/language", queue_url, lang="en", next=queue_url)
    page = client.get(queue_url).get_data(as_text=True)
    assert "Review queue" in page and "Antrean pemeriksaan" not in page


def test_times_read_in_the_projects_zone(app, svc, world: World) -> None:
    """A project in Papua shows WIT times; one without a zone of its own, the instance's WIB."""
    client = signed_in(app, "koordinator1")
    sid = world.by_enumerator["pencacah1"][0]
    url = f"/projects/{world.project_id}/submissions/{sid}"
    assert " WIB" in client.get(url).get_data(as_text=True)
    with svc.db.transaction() as session:
        project = session.get(Project, world.project_id)
        accounts.do_set_project_zone(session, project, "Asia/Jayapura")
    page = client.get(url).get_data(as_text=True)
    assert " WIT" in page and " WIB" not in page
