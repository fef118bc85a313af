"""Who may reach what on the API Collect and scripts use: every OpenRosa and JSON route x
every role through HTTP Digest (as Collect signs), each enumerator's token URL, another
project's IDs and a wrong token. A route added without a row here fails the coverage test."""

from __future__ import annotations

from pathlib import Path

import pytest
from collect import CollectClient, WsgiTransport, multipart
from conftest import PASSWORD, Seed
from review_world import World, build, instance

from server.accounts import queries as account_queries
from server.http import HTML_BLUEPRINTS

WHO = ("anonymous", "admin", "koordinator1", "koordinator2", "pengamat", "desainer", "pencacah1")
A, K1, K2, V, D, E = "admin", "koordinator1", "koordinator2", "pengamat", "desainer", "pencacah1"


def expect(default: int, anonymous: int = 401, **by_user: int) -> dict[str, int]:
    """Statuses by who asks: `default` for every signed-in role not named."""
    return {"anonymous": anonymous} | {name: by_user.get(name, default) for name in WHO[1:]}


# (method, rule) -> (path template, expected status by who asks). {p}: the project, {q}:
# another project (a member of neither but the admin), {t}: pencacah1's token. A POST sends
# a new submission of the project's form. The API answers 403 for a project out of reach,
# as ODK Central does; a viewer reads forms but sends nothing.
CENTRAL = "/v1/projects/<int:project_id>"
TOKEN = "/v1/key/<token>/projects/<int:project_id>"
SENT = expect(201, **{V: 403})
OTHER = expect(403, **{A: 404})
ANYONE = {name: 200 for name in WHO}
NOBODY = {name: 403 for name in WHO}
MATRIX: dict[tuple[str, str], list[tuple[str, dict[str, int]]]] = {
    ("GET", CENTRAL + "/formList"): [
        ("/v1/projects/{p}/formList", expect(200)),
        ("/v1/projects/{q}/formList", expect(403, **{A: 200})),
    ],
    ("GET", CENTRAL + "/forms/<path:xml_form_id>.xml"): [
        ("/v1/projects/{p}/forms/uji_aturan.xml", expect(200)),
        ("/v1/projects/{q}/forms/uji_aturan.xml", OTHER),
    ],
    ("GET", CENTRAL + "/forms/<path:xml_form_id>/manifest"): [
        ("/v1/projects/{p}/forms/uji_aturan/manifest", expect(200)),
        ("/v1/projects/{q}/forms/uji_aturan/manifest", OTHER),
    ],
    ("GET", CENTRAL + "/forms/<path:xml_form_id>/attachments/<name>"): [
        ("/v1/projects/{p}/forms/uji_aturan/attachments/tidak-ada.csv", expect(404)),
        ("/v1/projects/{q}/forms/uji_aturan/attachments/tidak-ada.csv", OTHER),
    ],
    ("POST", CENTRAL + "/submission"): [
        ("/v1/projects/{p}/submission", SENT),
        ("/v1/projects/{q}/submission", OTHER),
    ],
    ("GET", CENTRAL + "/progress"): [
        ("/v1/projects/{p}/progress", expect(403, **{A: 200, K1: 200, K2: 200})),
        ("/v1/projects/{q}/progress", expect(403, **{A: 200})),
    ],
    ("GET", "/formList"): [("/formList", expect(200))],
    ("POST", "/submission"): [("/submission", SENT)],
    ("GET", "/<username>/formList"): [
        ("/pencacah1/formList", expect(200)),
        ("/tidak-ada/formList", expect(404)),
    ],
    ("POST", "/<username>/submission"): [("/pencacah1/submission", SENT)],
    ("GET", TOKEN + "/formList"): [
        ("/v1/key/{t}/projects/{p}/formList", ANYONE),
        ("/v1/key/{t}/projects/{q}/formList", NOBODY),
        ("/v1/key/salah/projects/{p}/formList", NOBODY),
    ],
    ("GET", TOKEN + "/forms/<path:xml_form_id>.xml"): [
        ("/v1/key/{t}/projects/{p}/forms/uji_aturan.xml", ANYONE),
        ("/v1/key/salah/projects/{p}/forms/uji_aturan.xml", NOBODY),
    ],
    ("GET", TOKEN + "/forms/<path:xml_form_id>/manifest"): [
        ("/v1/key/{t}/projects/{p}/forms/uji_aturan/manifest", ANYONE),
        ("/v1/key/{t}/projects/{q}/forms/uji_aturan/manifest", NOBODY),
    ],
    ("GET", TOKEN + "/forms/<path:xml_form_id>/attachments/<name>"): [
        ("/v1/key/{t}/projects/{p}/forms/uji_aturan/attachments/x.csv", {n: 404 for n in WHO}),
        ("/v1/key/salah/projects/{p}/forms/uji_aturan/attachments/x.csv", NOBODY),
    ],
    ("POST", TOKEN + "/submission"): [
        ("/v1/key/{t}/projects/{p}/submission", {name: 201 for name in WHO}),
        ("/v1/key/{t}/projects/{q}/submission", NOBODY),
        ("/v1/key/salah/projects/{p}/submission", NOBODY),
    ],
}


def _api_rules(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0] if "." in rule.endpoint else None
        if blueprint in HTML_BLUEPRINTS or blueprint in ("web", None):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.add((method, rule.rule))
    return found


@pytest.fixture
def world(svc, seed: Seed, tmp_path: Path, transport: WsgiTransport) -> World:  # type: ignore[no-untyped-def]
    """Two teams' checked submissions (see review_world)."""
    return build(svc, seed, tmp_path, transport)


def test_every_api_route_has_a_row_in_the_matrix(app) -> None:  # type: ignore[no-untyped-def]
    """The matrix covers each API route and method the app serves, and nothing else."""
    assert _api_rules(app) == set(MATRIX)


def test_each_role_gets_what_the_api_matrix_says(
    svc, world: World, transport: WsgiTransport
) -> None:  # type: ignore[no-untyped-def]
    """Every API route, every role signing as Collect does: the status the matrix expects."""
    with svc.db.sessions() as session:
        user = account_queries.user_by_username(session, "pencacah1")
        token = user.token if user else ""
    wrong = []
    for (method, _rule), cases in MATRIX.items():
        for template, statuses in cases:
            path = template.format(p=world.project_id, q=world.other_project_id, t=token)
            for who in WHO:
                username = None if who == "anonymous" else who
                client = CollectClient(transport, "http://localhost", username, PASSWORD)
                if method == "GET":
                    status = client.send("GET", "http://localhost" + path).status
                else:
                    xml = instance("1", "3573042001200005", ("3573041203850001",), "")
                    body, kind = multipart(xml, {}, "instance.xml", False)
                    headers = {"Content-Type": kind}
                    status = client.send("POST", "http://localhost" + path, body, headers).status
                if status != statuses[who]:
                    wrong.append(f"{method} {path} as {who}: {status}, expected {statuses[who]}")
    assert not wrong, "\n".join(wrong)
