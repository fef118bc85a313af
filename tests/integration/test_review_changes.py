"""Changes a review makes beyond a state: correcting an answer (a new version, audited,
checked again) and a revisit that supersedes the visit it was returned for."""

from __future__ import annotations

from pathlib import Path

import pytest
from collect import WsgiTransport
from conftest import Seed, signed_in
from lxml import etree
from review_world import GOOD_NIK, KK, World, build, instance
from sqlalchemy import select
from test_assignments import phone
from test_reviews import audit_actions, post, state_of

from server.accounts import service as accounts
from server.models import AuditEvent, Project, Submission, SubmissionVersion
from server.validation import jobs
from server.validation import queries as validation_queries

NEW_NIK = "3573041203850099"


@pytest.fixture
def world(svc, seed: Seed, tmp_path: Path, transport: WsgiTransport) -> World:  # type: ignore[no-untyped-def]
    """Two teams' checked submissions (see review_world)."""
    return build(svc, seed, tmp_path, transport)


def _versions(svc, sid: int) -> list[SubmissionVersion]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        found = session.scalars(
            select(SubmissionVersion)
            .where(SubmissionVersion.submission_id == sid)
            .order_by(SubmissionVersion.id)
        )
        return [session.merge(v, load=False) for v in found]


def _current_xml(svc, sid: int) -> etree._Element:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        xml = session.scalar(
            select(SubmissionVersion.xml)
            .join(Submission, Submission.current_version_id == SubmissionVersion.id)
            .where(Submission.id == sid)
        )
    return etree.fromstring(xml)


def _rules(svc, sid: int) -> set[str]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return {flag.rule for flag in validation_queries.flags_of(session, sid)}


def test_correcting_an_answer_keeps_a_new_version_and_audits_it(app, svc, world: World) -> None:
    """The short NIK corrected: version 2 (edited, deprecatedID), old/new audited, flag gone."""
    client = signed_in(app, "koordinator1")
    sid = world.by_enumerator["pencacah1"][0]
    url = f"/projects/{world.project_id}/submissions/{sid}"
    page = client.get(url).get_data(as_text=True)
    assert 'value="anggota[1]/nik[1]"' in page and "instanceID" not in page
    first = _current_xml(svc, sid).findtext("meta/instanceID")
    before = _rules(svc, sid)
    done = post(
        client,
        url + "/correct",
        url,
        field="anggota[1]/nik[1]",
        value=NEW_NIK,
        note="NIK dicocokkan dengan KK fisik",
        seen=state_of(svc, sid)[0],
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    assert state_of(svc, sid) == ("edited", False)
    now = _current_xml(svc, sid)
    assert now.findtext("anggota/nik") == NEW_NIK
    assert now.findtext("meta/deprecatedID") == first
    assert now.findtext("meta/instanceID") not in (None, first)
    assert len(_versions(svc, sid)) == 2
    with svc.db.sessions() as session:
        event = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "submission.correct", AuditEvent.subject_id == sid
            )
        ).one()
    assert event.details["old"] == "357304120385" and event.details["new"] == NEW_NIK
    assert event.note == "NIK dicocokkan dengan KK fisik"
    jobs.drain(svc)
    after = _rules(svc, sid)
    assert before - after, "the short NIK's flag is gone once checked again"
    assert state_of(svc, sid) == ("edited", False)
    shown = client.get(url).get_data(as_text=True)
    assert "nilai diperbaiki" in shown and NEW_NIK not in shown and "357304******0099" in shown


def test_a_correction_that_does_not_fit_is_refused(app, svc, world: World) -> None:
    """Unknown answers, metadata, no reason, a value of the wrong kind: 422, nothing kept."""
    client = signed_in(app, "koordinator1")
    sid = world.by_enumerator["pencacah2"][1]
    url = f"/projects/{world.project_id}/submissions/{sid}"
    cases = [
        {"field": "anggota[9]/nik[1]", "value": "1", "note": "x"},
        {"field": "meta[1]/instanceID[1]", "value": "uuid:x", "note": "x"},
        {"field": "../../etc", "value": "1", "note": "x"},
        {"field": "anggota[1]/nik[1]", "value": NEW_NIK, "note": " "},
        {"field": "anggota[1]", "value": "1", "note": "x"},
    ]
    for data in cases:
        answer = post(client, url + "/correct", url, **data)
        assert answer.status_code == 422, (data, answer.status_code)
    assert len(_versions(svc, sid)) == 1
    assert "submission.correct" not in audit_actions(svc, sid)
    viewer = signed_in(app, "pengamat")
    data = {"field": "anggota[1]/nik[1]", "value": NEW_NIK, "note": "x"}
    assert post(viewer, url + "/correct", url, **data).status_code == 403


def test_a_revisit_supersedes_the_visit_it_was_returned_for(  # type: ignore[no-untyped-def]
    app, svc, seed: Seed, transport: WsgiTransport, world: World
) -> None:
    """The new visit of a returned household rejects the old one, which is nobody's duplicate."""
    client = signed_in(app, "koordinator1")
    old = world.by_enumerator["pencacah1"][1]
    url = f"/projects/{world.project_id}/submissions/{old}"
    assert post(client, url + "/revisit", url, note="Foto rumah buram").status_code == 302
    target = world.targets[old]
    again = instance(str(target), KK[:-2] + "01", (GOOD_NIK[:-1] + "1",), "-7.9810 112.63 450 5")
    assert phone(transport, svc, seed, "pencacah1").submit(again).status == 201
    jobs.drain(svc)
    with svc.db.sessions() as session:
        new = session.scalar(select(Submission.id).order_by(Submission.id.desc()))
        flags = validation_queries.flags_of(session, new)
    assert new != old
    assert state_of(svc, old) == ("rejected", False)
    assert "submission.supersede" in audit_actions(svc, old)
    assert all(flag.evidence.get("other_submission_id") != old for flag in flags)


def _first_approval(svc, sid: int) -> tuple[int | None, bool]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        row = session.get(Submission, sid)
        return row.first_approved_by, row.escalated


def test_two_level_approval_waits_for_the_admin(app, svc, world: World) -> None:
    """A koordinator's approval leaves the state and waits; the admin's approves."""
    with svc.db.transaction() as session:
        project = session.get(Project, world.project_id)
        accounts.do_set_approval_levels(session, project, True)
    lead = signed_in(app, "koordinator1")
    sid = world.by_enumerator["pencacah2"][1]
    url = f"/projects/{world.project_id}/submissions/{sid}"
    state = state_of(svc, sid)
    done = post(lead, url + "/approve", url, seen=state[0])
    assert done.status_code == 302
    assert state_of(svc, sid) == state
    waiting, escalated = _first_approval(svc, sid)
    assert waiting is not None and escalated
    assert audit_actions(svc, sid)[-1] == "submission.approve_first"
    assert "menunggu persetujuan admin" in lead.get(url).get_data(as_text=True)
    admin = signed_in(app, "admin")
    queue = admin.get(f"/projects/{world.project_id}/reviews?escalated=1").get_data(as_text=True)
    assert f"/submissions/{sid}" in queue
    assert post(admin, url + "/approve", url, seen=state[0]).status_code == 302
    assert state_of(svc, sid) == ("approved", False)
    assert _first_approval(svc, sid) == (None, False)


def test_two_level_bulk_approval_sends_the_clean_ones_up(app, svc, world: World) -> None:
    """In bulk, a koordinator's approvals wait for the admin too; no state changes."""
    chosen = world.team1
    with svc.db.transaction() as session:
        accounts.do_set_approval_levels(session, session.get(Project, world.project_id), True)
        for sid in chosen[:2]:  # received, no flags: clean, not approved by the rules
            row = session.get(Submission, sid)
            row.review_state, row.flag_rank = "received", 0
    lead = signed_in(app, "koordinator1")
    before = {sid: state_of(svc, sid) for sid in chosen}
    queue_url = f"/projects/{world.project_id}/reviews"
    done = post(lead, queue_url + "/approve", queue_url, submission=[str(s) for s in chosen])  # type: ignore[arg-type]
    assert done.status_code == 302
    assert {sid: state_of(svc, sid) for sid in chosen} == before
    sent = [sid for sid in chosen if _first_approval(svc, sid)[0] is not None]
    # The two made clean, and any other the rules held back for a sample check.
    assert set(chosen[:2]) <= set(sent) and all(before[sid][0] != "approved" for sid in sent)
