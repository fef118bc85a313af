"""Who may reach what: every web route x every role, including a koordinator asking for
another team's submission and anyone asking for another project. A route added without a
row here fails the coverage test."""

from __future__ import annotations

from pathlib import Path

import pytest
from collect import WsgiTransport
from conftest import Seed
from review_world import World, build, csrf_of, sign_in
from sqlalchemy import select

from server.http import HTML_BLUEPRINTS
from server.models import Form

# Who asks: no one, an admin, the koordinator of the submission's team, the koordinator of
# the other team, a viewer, a form designer and an enumerator.
WHO = ("anonymous", "admin", "koordinator1", "koordinator2", "pengamat", "desainer", "pencacah1")
USERS = {"anonymous": None} | {name: name for name in WHO[1:]}
DECISIONS = "<any(approve, reject, revisit, escalate, comment):action>"
EXPORTS = "<any(approved, submissions):kind>.<any(csv, xlsx):fmt>"
A, K1, K2, V, D, E = "admin", "koordinator1", "koordinator2", "pengamat", "desainer", "pencacah1"


def expect(default: int, anonymous: int = 302, **by_user: int) -> dict[str, int]:
    """Statuses by who asks: `default` for every signed-in role not named."""
    found = {name: by_user.get(name, default) for name in WHO[1:]}
    return {"anonymous": anonymous, **found}


# (method, rule) -> (path template, form data, expected status by who asks).
# {p}: the project, {q}: another project, {s}: a submission of koordinator1's team; {who}
# in form data: who asks (each failed sign-in under its own username, below the throttle).
MATRIX: dict[tuple[str, str], list[tuple[str, dict[str, str], dict[str, int]]]] = {
    ("GET", "/"): [("/", {}, expect(200, 200))],
    ("GET", "/healthz"): [("/healthz", {}, expect(200, 200))],
    ("GET", "/login"): [("/login", {}, expect(302, 200))],
    ("POST", "/login"): [("/login", {"username": "x-{who}", "password": "y"}, expect(401, 401))],
    ("POST", "/logout"): [("/logout", {}, expect(302, 302))],
    ("POST", "/language"): [("/language", {"lang": "en"}, expect(302, 302))],
    ("GET", "/account/password"): [("/account/password", {}, expect(200))],
    ("POST", "/account/password"): [
        ("/account/password", {"current": "salah", "new": "x", "confirm": "x"}, expect(422))
    ],
    ("GET", "/projects"): [("/projects", {}, expect(302, **{A: 200, D: 200, E: 200}))],
    ("GET", "/projects/<int:project_id>/reviews"): [
        ("/projects/{p}/reviews", {}, expect(200, **{D: 404, E: 404})),
        ("/projects/{q}/reviews", {}, expect(404, **{A: 200})),
        ("/projects/999999/reviews", {}, expect(404)),
    ],
    ("GET", "/projects/<int:project_id>/dashboard"): [
        ("/projects/{p}/dashboard", {}, expect(200, **{D: 404, E: 404})),
        ("/projects/{q}/dashboard", {}, expect(404, **{A: 200})),
        ("/projects/999999/dashboard", {}, expect(404)),
    ],
    ("POST", "/projects/<int:project_id>/reviews/approve"): [
        ("/projects/{p}/reviews/approve", {}, expect(302, **{V: 403, D: 404, E: 404})),
        ("/projects/{q}/reviews/approve", {}, expect(404, **{A: 302})),
    ],
    ("GET", "/projects/<int:project_id>/submissions/<int:submission_id>"): [
        ("/projects/{p}/submissions/{s}", {}, expect(200, **{K2: 404, D: 404, E: 404})),
        ("/projects/{q}/submissions/{s}", {}, expect(404)),
    ],
    ("POST", "/projects/<int:project_id>/submissions/<int:submission_id>/reveal"): [
        (
            "/projects/{p}/submissions/{s}/reveal",
            {},
            expect(200, **{K2: 404, V: 403, D: 404, E: 404}),
        ),
        ("/projects/{q}/submissions/{s}/reveal", {}, expect(404)),
    ],
    ("POST", "/projects/<int:project_id>/submissions/<int:submission_id>/" + DECISIONS): [
        (
            "/projects/{p}/submissions/{s}/comment",
            {"note": "cek lagi"},
            expect(302, **{K2: 404, V: 403, D: 404, E: 404}),
        ),
        ("/projects/{q}/submissions/{s}/comment", {"note": "cek"}, expect(404)),
        *(
            (
                "/projects/{p}/submissions/{s}/" + action,
                {"note": "cek lagi"},
                expect(302, **{K2: 404, V: 403, D: 404, E: 404}),
            )
            for action in ("reject", "approve", "revisit", "escalate")
        ),
    ],
    ("POST", "/projects/<int:project_id>/exports/" + EXPORTS): [
        *(
            (f"/projects/{{p}}/exports/{name}", {}, expect(200, **{V: 403, D: 404, E: 404}))
            for name in ("approved.csv", "approved.xlsx", "submissions.csv", "submissions.xlsx")
        ),
        ("/projects/{q}/exports/approved.csv", {}, expect(404, **{A: 200})),
    ],
    ("POST", "/projects/<int:project_id>/submissions/<int:submission_id>/correct"): [
        (
            "/projects/{p}/submissions/{s}/correct",
            {"field": "anggota[1]/nik[1]", "value": "{who}", "note": "cek KK"},
            expect(302, **{K2: 404, V: 403, D: 404, E: 404}),
        ),
        ("/projects/{q}/submissions/{s}/correct", {"note": "cek"}, expect(404)),
    ],
    ("GET", "/projects/<int:project_id>/teams/sheet"): [
        ("/projects/{p}/teams/sheet", {}, expect(200, **{V: 404, D: 404, E: 404})),
        ("/projects/{q}/teams/sheet", {}, expect(404, **{A: 200})),
    ],
    ("GET", "/projects/<int:project_id>/submissions/<int:submission_id>/files/<path:name>"): [
        ("/projects/{p}/submissions/{s}/files/tidak-ada.jpg", {}, expect(404)),
        ("/projects/{p}/submissions/{s}/files/../../../etc/passwd", {}, expect(404)),
    ],
    # {v}: the current version of the seeded form kunjungan_rumah.
    ("GET", "/projects/<int:project_id>/forms"): [
        ("/projects/{p}/forms", {}, expect(404, **{A: 200, D: 200})),
        ("/projects/{q}/forms", {}, expect(404, **{A: 200})),
        ("/projects/999999/forms", {}, expect(404)),
    ],
    ("POST", "/projects/<int:project_id>/forms"): [
        ("/projects/{p}/forms", {}, expect(404, **{A: 422, D: 422})),
        ("/projects/{q}/forms", {}, expect(404, **{A: 422})),
        ("/projects/{p}/forms", {"form_id": "tidak_ada"}, expect(404)),
    ],
    ("GET", "/projects/<int:project_id>/forms/<xml_form_id>"): [
        ("/projects/{p}/forms/kunjungan_rumah", {}, expect(404, **{A: 200, D: 200})),
        ("/projects/{p}/forms/tidak_ada", {}, expect(404)),
        ("/projects/{q}/forms/kunjungan_rumah", {}, expect(404)),
    ],
    ("POST", "/projects/<int:project_id>/forms/<xml_form_id>/state"): [
        (
            "/projects/{p}/forms/kunjungan_rumah/state",
            {"state": "open"},
            expect(404, **{A: 302, D: 302}),
        ),
        ("/projects/{q}/forms/kunjungan_rumah/state", {"state": "open"}, expect(404)),
    ],
    ("GET", "/projects/<int:project_id>/forms/<xml_form_id>/versions/<int:version_id>/form.xml"): [
        (
            "/projects/{p}/forms/kunjungan_rumah/versions/{v}/form.xml",
            {},
            expect(404, **{A: 200, D: 200}),
        ),
        ("/projects/{p}/forms/uji_aturan/versions/{v}/form.xml", {}, expect(404)),
        ("/projects/{q}/forms/kunjungan_rumah/versions/{v}/form.xml", {}, expect(404)),
    ],
    # The 200 (a streamed file) is pinned in test_form_pages.py, which closes it.
    ("GET", "/projects/<int:project_id>/forms/<xml_form_id>/versions/<int:version_id>/source"): [
        ("/projects/{p}/forms/kunjungan_rumah/versions/999999/source", {}, expect(404)),
        ("/projects/{q}/forms/kunjungan_rumah/versions/{v}/source", {}, expect(404)),
    ],
}


@pytest.fixture
def world(svc, seed: Seed, tmp_path: Path, transport: WsgiTransport) -> World:  # type: ignore[no-untyped-def]
    """Two teams' checked submissions (see review_world)."""
    return build(svc, seed, tmp_path, transport)


def _web_rules(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0] if "." in rule.endpoint else None
        if blueprint in HTML_BLUEPRINTS or blueprint == "web":
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.add((method, rule.rule))
    return found


def _token(client) -> str:  # type: ignore[no-untyped-def]
    """The session's CSRF token (a page shown to anyone carries it)."""
    with client.session_transaction() as session:
        token = session.get("csrf")
    return str(token) if token else csrf_of(client.get("/login").get_data(as_text=True))


def test_every_web_route_has_a_row_in_the_matrix(app) -> None:  # type: ignore[no-untyped-def]
    """The matrix covers each web route and method the app serves, and nothing else."""
    assert _web_rules(app) == set(MATRIX)


def test_each_role_gets_what_the_matrix_says(app, world: World) -> None:  # type: ignore[no-untyped-def]
    """Every route, every role: the status the matrix expects (404 for what is out of reach)."""
    submission = world.by_enumerator["pencacah1"][1]
    with app.extensions["verivali"].db.sessions() as session:
        version = session.scalar(
            select(Form.current_version_id).where(Form.xml_form_id == "kunjungan_rumah")
        )
    clients = {}
    for who, username in USERS.items():
        client = app.test_client()
        if username is not None:
            assert sign_in(client, username).status_code == 302, who
        clients[who] = client
    wrong = []
    for (method, _rule), cases in MATRIX.items():
        for template, data, statuses in cases:
            path = template.format(
                p=world.project_id, q=world.other_project_id, s=submission, v=version
            )
            for who, client in clients.items():
                if method == "GET":
                    status = client.get(path).status_code
                else:
                    token = _token(client)
                    sent = {key: value.format(who=who) for key, value in data.items()}
                    status = client.post(path, data={"csrf_token": token, **sent}).status_code
                    if path in ("/logout",) and USERS[who]:
                        assert sign_in(client, USERS[who] or "").status_code == 302
                if status != statuses[who]:
                    wrong.append(f"{method} {path} as {who}: {status}, expected {statuses[who]}")
    assert not wrong, "\n".join(wrong)
