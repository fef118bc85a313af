"""The supervisors' dashboard through HTTP: who reaches it, what a koordinator sees of other
teams (nothing), the counts beside the database's, the links into the queue, the view kept in
the URL and the English page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from collect import WsgiTransport
from conftest import Seed, signed_in
from review_world import World, build, csrf_of
from sqlalchemy import func, select

from server.assignments.models import Target
from server.models import Submission, User
from server.validation.models import StoredFlag


@pytest.fixture
def world(svc, seed: Seed, tmp_path: Path, transport: WsgiTransport) -> World:  # type: ignore[no-untyped-def]
    """Two teams' checked submissions (see review_world)."""
    return build(svc, seed, tmp_path, transport)


def page(client, project_id: int, query: str = "") -> str:  # type: ignore[no-untyped-def]
    answer = client.get(f"/projects/{project_id}/dashboard{query}")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
    return str(answer.get_data(as_text=True))


def stat(html: str, name: str) -> int:
    found = re.search(rf'data-stat="{name}"[^>]*>(?:<a [^>]*>)?<b>([0-9.,]+)</b>', html)
    assert found, f"no {name} in the headline"
    return int(found.group(1).replace(".", "").replace(",", ""))


def user_ids(svc) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return {name: uid for uid, name in session.execute(select(User.id, User.username))}


def cards(html: str) -> dict[int, int]:
    """Submissions on each scorecard, by user ID."""
    rows = re.findall(r'<tr data-user="([0-9]+)" data-submissions="([0-9]+)"', html)
    return {int(uid): int(n) for uid, n in rows}


def rule_bars(html: str) -> dict[str, int]:
    return {r: int(n) for r, n in re.findall(r'data-rule="([A-Z0-9]+)" data-n="([0-9]+)"', html)}


def test_admin_sees_every_team(app, svc, world: World) -> None:
    """An admin's dashboard counts every enumerator's submissions and every target."""
    html = page(signed_in(app, "admin"), world.project_id)
    ids = user_ids(svc)
    shown = cards(html)
    for name in ("pencacah1", "pencacah2", "pencacah3"):
        assert shown[ids[name]] == 3
    assert stat(html, "submissions") == 9
    with svc.db.sessions() as session:
        targets = session.scalar(
            select(func.count())
            .select_from(Target)
            .where(Target.project_id == world.project_id, Target.state != "cancelled")
        )
    assert stat(html, "targets") == targets
    assert 'data-stat="visited" data-n="9"' in html


def test_a_koordinator_sees_only_their_team(app, svc, world: World) -> None:
    """koordinator1 sees pencacah1 and pencacah2, their submissions and targets, not pencacah3."""
    html = page(signed_in(app, "koordinator1"), world.project_id, "?level=enumerator")
    ids = user_ids(svc)
    assert set(cards(html)) == {ids["pencacah1"], ids["pencacah2"]}
    assert f"enumerator={ids['pencacah3']}" not in html
    assert "pencacah3" not in html
    assert stat(html, "submissions") == 6
    assert stat(html, "targets") == 6
    assert 'data-stat="visited" data-n="6"' in html
    with svc.db.sessions() as session:
        states = dict(
            session.execute(
                select(Submission.review_state, func.count())
                .where(Submission.id.in_(world.team1))
                .group_by(Submission.review_state)
            ).all()
        )
    assert stat(html, "issues") == states.get("hasIssues", 0)
    assert stat(html, "approved") == states.get("approved", 0)


def test_flags_by_rule_count_the_team_s_submissions(app, svc, world: World) -> None:
    """Each rule's bar counts the koordinator's team's submissions it flagged, once each."""
    html = page(signed_in(app, "koordinator1"), world.project_id)
    with svc.db.sessions() as session:
        expected = dict(
            session.execute(
                select(StoredFlag.rule, func.count(func.distinct(StoredFlag.submission_id)))
                .where(StoredFlag.submission_id.in_(world.team1))
                .group_by(StoredFlag.rule)
            ).all()
        )
    assert expected, "the world has flagged submissions"
    assert rule_bars(html) == expected


def test_a_rule_bar_opens_the_queue_filtered_by_that_rule(app, world: World) -> None:
    """A rule's bar links to the review queue filtered by the rule (and the chosen days)."""
    client = signed_in(app, "koordinator1")
    today = date.today().isoformat()
    html = page(client, world.project_id, f"?received_from=2020-01-01&received_to={today}")
    rule = next(iter(rule_bars(html)))
    link = re.search(rf'<a class="hbar" href="([^"]+)" data-rule="{rule}"', html)
    assert link
    href = link.group(1).replace("&amp;", "&")
    assert href.startswith(f"/projects/{world.project_id}/reviews?")
    assert f"rule={rule}" in href and "received_from=2020-01-01" in href
    queue = client.get(href)
    assert queue.status_code == 200
    assert f"<option selected>{rule}</option>" in queue.get_data(as_text=True)


def test_median_interview_minutes_come_from_the_checks(app, svc, world: World) -> None:
    """A card shows the median of the interview minutes the rules' checks recorded."""
    with svc.db.transaction() as session:
        for sid, minutes in zip(world.by_enumerator["pencacah1"], (10.0, 20.0, 40.0), strict=True):
            session.get(Submission, sid).interview_minutes = minutes
    html = page(signed_in(app, "koordinator1"), world.project_id)
    uids = user_ids(svc)
    assert f'data-user="{uids["pencacah1"]}" data-submissions="3" data-minutes="20.0"' in html
    assert f'data-user="{uids["pencacah2"]}" data-submissions="3" data-minutes=""' in html


def test_scorecards_link_each_enumerator_to_their_queue(app, svc, world: World) -> None:
    """An enumerator's name on a scorecard opens the queue filtered by them."""
    html = page(signed_in(app, "admin"), world.project_id)
    uid = user_ids(svc)["pencacah2"]
    assert f'href="/projects/{world.project_id}/reviews?enumerator={uid}"' in html


def test_the_view_stays_in_the_url(app, world: World) -> None:
    """Level, days and sort are kept by the page's links; a range without submissions is empty."""
    client = signed_in(app, "admin")
    later = (date.today() + timedelta(days=400)).isoformat()
    query = f"?level=village&received_from={later}&sort=minutes"
    html = page(client, world.project_id, query)
    assert f"level=team&amp;received_from={later}&amp;sort=minutes" in html
    assert stat(html, "submissions") == 0
    assert rule_bars(html) == {}
    assert stat(html, "targets") > 0  # progress is the targets' state now, whatever the days
    assert "357304" in html  # village codes, in the kecamatan of the list


def test_today_s_submissions_are_in_the_day_chart(app, world: World) -> None:
    """The day chart has 30 days, the last of them today's (in the project's zone)."""
    html = page(signed_in(app, "admin"), world.project_id)
    days = re.findall(r'data-day="([0-9-]+)" data-n="([0-9]+)"', html)
    assert len(days) == 30
    assert sum(int(n) for _day, n in days) == 9


def test_unreadable_arguments_show_the_default_view(app, world: World) -> None:
    """A link with a typo shows the default view, never an error."""
    client = signed_in(app, "pengamat")
    html = page(client, world.project_id, "?level=planet&received_from=kemarin&sort=%27")
    assert stat(html, "submissions") == 9


@pytest.mark.parametrize(
    ("who", "status"),
    [("pengamat", 200), ("koordinator2", 200), ("desainer", 404), ("pencacah1", 404)],
)
def test_who_reaches_the_dashboard(app, world: World, who: str, status: int) -> None:
    """Viewers and koordinators read it; designers and enumerators find nothing."""
    answer = signed_in(app, who).get(f"/projects/{world.project_id}/dashboard")
    assert answer.status_code == status


def test_a_visitor_is_sent_to_sign_in(app, world: World) -> None:
    """Without a session the dashboard redirects to the sign-in page."""
    answer = app.test_client().get(f"/projects/{world.project_id}/dashboard")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_the_dashboard_in_english(app, world: World) -> None:
    """After switching to English the labels are English."""
    client = signed_in(app, "koordinator1")
    html = page(client, world.project_id)
    assert "Kartu skor pencacah" in html and "Dasbor" in html
    client.post("/language", data={"lang": "en", "csrf_token": csrf_of(html)})
    english = page(client, world.project_id)
    assert "Enumerator scorecards" in english and "Dashboard" in english
    assert "Flags by rule" in english and "Kartu skor" not in english
