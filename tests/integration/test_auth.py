"""Authentication and authorisation on the OpenRosa endpoints: Digest challenges, nonce
reuse, expiry and replay; Basic only over https (and behind a trusted proxy); enumerator
tokens; who may list, download and submit which project's forms in the Central and
KoBoCAT URL layouts; disabled accounts."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from collect import Answer, CollectClient, CollectError, WsgiTransport, instance_xml, multipart
from conftest import PASSWORD, publish
from sqlalchemy import select

from server import create_app
from server.accounts import digest as digest_module
from server.accounts import service as accounts
from server.accounts.digest import ha1_for, md5_hex, parse_auth_params
from server.accounts.queries import user_by_username
from server.models import Form, Submission, utcnow

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "forms" / "kunjungan_rumah.md"
DEMO_MEDIA = sorted((ROOT / "forms" / "media" / "kunjungan_rumah").iterdir())
DEMO_VERSION = "2026112301"
OTHER_FORM = """\
| settings |
| | form_title | form_id | version |
| | Survei Lain | survei_lain | 1 |

| survey |
| | type | name | label |
| | text | nama | Nama |
"""

AUTH_REQUIRED_ID = "Silakan masuk dengan nama pengguna dan kata sandi."
AUTH_FAILED_ID = "Nama pengguna atau kata sandi salah."
BASIC_HTTPS_ID = "Autentikasi Basic hanya diterima lewat https; gunakan Digest."
UNKNOWN_TOKEN_ID = (
    "Token perangkat tidak dikenal atau sudah dicabut. Minta kode QR baru ke koordinator."
)


# ---- helpers --------------------------------------------------------------------------------
class CountingTransport:
    """Passes requests through and remembers every answer (to count 401s)."""

    def __init__(self, inner: WsgiTransport) -> None:
        self.inner = inner
        self.answers: list[Answer] = []

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        answer = self.inner.request(method, url, headers, body)
        self.answers.append(answer)
        return answer

    def statuses(self) -> list[int]:
        return [a.status for a in self.answers]


class Clock:
    """Stands in for the `time` module inside the Digest code, so nonces can age."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A controllable clock for nonce issue and expiry."""
    fake = Clock()
    monkeypatch.setattr(digest_module, "time", fake)
    return fake


def get(
    transport: WsgiTransport,
    url: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes = b"",
) -> Answer:
    """One raw request with OpenRosa's version header and nothing Collect-specific."""
    return transport.request(method, url, {"X-OpenRosa-Version": "1.0"} | (headers or {}), body)


def digest_params(answer: Answer) -> dict[str, str]:
    """The parameters of the (single) Digest challenge of a 401."""
    found = [c for c in answer.all("WWW-Authenticate") if c.lower().startswith("digest ")]
    assert len(found) == 1, answer.all("WWW-Authenticate")
    return parse_auth_params(found[0][len("Digest ") :])


def digest_header(
    username: str,
    password: str,
    realm: str,
    nonce: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str = "0a4f113b",
) -> str:
    """An Authorization header answering a Digest challenge with qop=auth."""
    ha1 = ha1_for(username, realm, password)
    ha2 = md5_hex(f"{method}:{uri}")
    count = f"{nc:08x}"
    response = md5_hex(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'qop=auth, nc={count}, cnonce="{cnonce}", response="{response}", algorithm=MD5'
    )


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def form_ids(client: CollectClient) -> list[str]:
    return [entry.form_id for entry in client.form_list()]


def problem(answer: Answer) -> str | None:
    return answer.header("X-Verivali-Problem")


@pytest.fixture
def base(seed) -> str:
    """The Central-style server URL of the seeded project."""
    return f"http://localhost/v1/projects/{seed.project_id}"


def client(
    transport, url: str, username: str | None = None, password: str = PASSWORD
) -> CollectClient:
    return CollectClient(transport, url, username=username, password=password)


@pytest.fixture
def other_form(svc, seed, tmp_path: Path) -> str:
    """A small form published into the second project; returns its form ID."""
    path = tmp_path / "survei_lain.md"
    path.write_text(OTHER_FORM, encoding="utf-8")
    publish(svc, seed.other_project_id, path)
    return "survei_lain"


def publish_demo_copy(svc, project_id: int, tmp_path: Path, version: str) -> None:
    """Publish the demo house-visit form, with its own version, into another project."""
    source = DEMO.read_text(encoding="utf-8").replace(DEMO_VERSION, version)
    assert version == DEMO_VERSION or source != DEMO.read_text(encoding="utf-8")
    copy = tmp_path / f"kunjungan_rumah_{version}.md"
    copy.write_text(source, encoding="utf-8")
    publish(svc, project_id, copy, DEMO_MEDIA)


def submissions_by_project(svc) -> dict[int, int]:
    with svc.db.sessions() as session:
        rows = session.execute(
            select(Form.project_id, Submission.id).join(Form, Form.id == Submission.form_id)
        ).all()
    counts: dict[int, int] = {}
    for project_id, _ in rows:
        counts[project_id] = counts.get(project_id, 0) + 1
    return counts


# ---- challenges -----------------------------------------------------------------------------
PROTECTED = [
    ("GET", "/v1/projects/{p}/formList"),
    ("GET", "/v1/projects/{p}/forms/kunjungan_rumah.xml"),
    ("GET", "/v1/projects/{p}/forms/kunjungan_rumah/manifest"),
    ("GET", "/v1/projects/{p}/forms/kunjungan_rumah/attachments/desa.csv"),
    ("HEAD", "/v1/projects/{p}/submission"),
    ("POST", "/v1/projects/{p}/submission"),
    ("GET", "/formList"),
    ("HEAD", "/submission"),
    ("POST", "/submission"),
    ("GET", "/pencacah1/formList"),
    ("HEAD", "/pencacah1/submission"),
]


def test_every_401_carries_a_digest_challenge(transport, seed, svc) -> None:
    """Without credentials every endpoint answers 401 with a Digest challenge Collect can use."""
    for method, path in PROTECTED:
        answer = get(transport, "http://localhost" + path.format(p=seed.project_id), method=method)
        assert answer.status == 401, (method, path)
        params = digest_params(answer)
        assert params["qop"] == "auth"
        assert params["realm"] == svc.settings.realm
        assert svc.digest.nonce_age(params["nonce"]) is not None
        assert "stale" not in params
        if method != "HEAD":
            assert answer.message() == AUTH_REQUIRED_ID


def test_http_401_offers_only_digest(transport, base) -> None:
    """Over http the 401 offers Digest alone (Collect never sends Basic over http)."""
    challenges = get(transport, f"{base}/formList").all("WWW-Authenticate")
    assert len(challenges) == 1
    assert challenges[0].startswith("Digest ")


def test_https_401_offers_digest_and_basic(transport, seed, svc) -> None:
    """Over https the 401 offers Digest and Basic."""
    answer = get(transport, f"https://localhost/v1/projects/{seed.project_id}/formList")
    schemes = sorted(c.split(" ", 1)[0] for c in answer.all("WWW-Authenticate"))
    assert schemes == ["Basic", "Digest"]
    basic = next(c for c in answer.all("WWW-Authenticate") if c.startswith("Basic "))
    assert parse_auth_params(basic[len("Basic ") :])["realm"] == svc.settings.realm


def test_https_through_test_client_base_url(app, seed) -> None:
    """A plain test client on https://localhost sees the same two challenges."""
    test_client = app.test_client()
    with test_client.get(
        f"/v1/projects/{seed.project_id}/formList", base_url="https://localhost"
    ) as response:
        assert response.status_code == 401
        schemes = {v.split(" ", 1)[0] for v in response.headers.getlist("WWW-Authenticate")}
    assert schemes == {"Basic", "Digest"}


def test_unusable_authorization_is_challenged(transport, base) -> None:
    """An unsupported or incomplete Authorization header gets a fresh Digest challenge."""
    for authorization in (
        "Bearer abc",
        "Digest",
        "Digest garbage",
        'Digest username="pencacah1"',
        "Negotiate x",
    ):
        answer = get(transport, f"{base}/formList", {"Authorization": authorization})
        assert answer.status == 401, authorization
        assert digest_params(answer)["qop"] == "auth"


# ---- Digest -----------------------------------------------------------------------------------
def test_digest_handshake_after_401(transport, base) -> None:
    """Collect answers the first 401 with Digest and gets the form list."""
    counting = CountingTransport(transport)
    phone = client(counting, base, "pencacah1")
    assert form_ids(phone) == ["kunjungan_rumah"]
    assert counting.statuses() == [401, 200]
    assert phone.challenges == 1


def test_preemptive_nonce_reuse_needs_no_new_401(transport, base) -> None:
    """After the handshake, every request reuses the nonce with a rising nc: no more 401s."""
    counting = CountingTransport(transport)
    phone = client(counting, base, "pencacah1")
    phone.download_all()
    assert phone.updates() == {"kunjungan_rumah": "up to date"}
    assert phone.head().status == 204
    upload = phone.submit(instance_xml(photos=()), {})
    assert upload.status == 201
    assert counting.statuses().count(401) == 1
    assert phone.challenges == 1
    assert len(counting.answers) > 6


def test_wrong_password_gets_401_again(transport, base) -> None:
    """A wrong password is answered with another 401 and Collect's login prompt message."""
    phone = client(transport, base, "pencacah1", password="bukan-sandi")
    answer = phone.send("GET", f"{base}/formList")
    assert answer.status == 401
    assert answer.message() == AUTH_FAILED_ID
    assert "stale" not in digest_params(answer)
    with pytest.raises(CollectError):
        phone.form_list()


def test_unknown_user_gets_401(transport, base) -> None:
    """An unknown username is refused like a wrong password."""
    answer = client(transport, base, "tidak_ada").send("GET", f"{base}/formList")
    assert answer.status == 401
    assert answer.message() == AUTH_FAILED_ID


def test_expired_nonce_is_stale_and_client_recovers(transport, base, svc, clock: Clock) -> None:
    """Once the nonce expires the server says stale=true and Collect renews it silently."""
    counting = CountingTransport(transport)
    phone = client(counting, base, "pencacah1")
    assert form_ids(phone) == ["kunjungan_rumah"]
    clock.now += svc.settings.digest_nonce_ttl + 5
    assert form_ids(phone) == ["kunjungan_rumah"]
    assert counting.statuses() == [401, 200, 401, 200]
    assert digest_params(counting.answers[2])["stale"] == "true"
    assert counting.answers[2].message() == AUTH_REQUIRED_ID
    assert phone.challenges == 2


def test_short_ttl_app_marks_old_nonce_stale(settings, seed) -> None:
    """With digest_nonce_ttl=1 a nonce issued minutes ago is stale for the right password only."""
    app = create_app(settings.with_overrides(digest_nonce_ttl=1))
    try:
        transport = WsgiTransport(app)
        old = app.extensions["verivali"].digest.new_nonce(now=time.time() - 120)
        uri = f"/v1/projects/{seed.project_id}/formList"
        url = f"http://localhost{uri}"
        right = digest_header("pencacah1", PASSWORD, settings.realm, old, "GET", uri)
        answer = get(transport, url, {"Authorization": right})
        assert answer.status == 401
        assert digest_params(answer)["stale"] == "true"
        wrong = digest_header("pencacah1", "salah-sandi", settings.realm, old, "GET", uri)
        answer = get(transport, url, {"Authorization": wrong})
        assert answer.status == 401
        assert "stale" not in digest_params(answer)
        assert answer.message() == AUTH_FAILED_ID
    finally:
        app.extensions["verivali"].db.dispose()


def test_replayed_request_is_refused(transport, base, seed, svc) -> None:
    """The same Authorization header sent twice works once; the copy gets a 401."""
    uri = f"/v1/projects/{seed.project_id}/formList"
    nonce = digest_params(get(transport, f"{base}/formList"))["nonce"]
    header = {
        "Authorization": digest_header("pencacah1", PASSWORD, svc.settings.realm, nonce, "GET", uri)
    }
    assert get(transport, f"{base}/formList", header).status == 200
    replay = get(transport, f"{base}/formList", header)
    assert replay.status == 401
    assert digest_params(replay)["stale"] == "true"


def test_rising_nc_with_same_nonce_accepted(transport, base, seed, svc) -> None:
    """Raw requests reusing one nonce with nc 1, 2, 3 all succeed."""
    uri = f"/v1/projects/{seed.project_id}/formList"
    nonce = digest_params(get(transport, f"{base}/formList"))["nonce"]
    for count in (1, 2, 3):
        header = digest_header(
            "pencacah1",
            PASSWORD,
            svc.settings.realm,
            nonce,
            "GET",
            uri,
            nc=count,
            cnonce=secrets.token_hex(4),
        )
        assert get(transport, f"{base}/formList", {"Authorization": header}).status == 200


def test_digest_answer_for_another_uri_refused(transport, seed, svc) -> None:
    """A Digest answer computed for one URL does not open another."""
    nonce = digest_params(get(transport, "http://localhost/formList"))["nonce"]
    header = digest_header("pencacah1", PASSWORD, svc.settings.realm, nonce, "GET", "/formList")
    answer = get(
        transport,
        f"http://localhost/v1/projects/{seed.project_id}/formList",
        {"Authorization": header},
    )
    assert answer.status == 401


def test_digest_uri_may_carry_the_query(transport, base, seed, svc) -> None:
    """Collect's uri includes ?deviceID=…; the answer is checked against that exact uri."""
    uri = f"/v1/projects/{seed.project_id}/formList?deviceID=collect%3Aabc"
    nonce = digest_params(get(transport, f"{base}/formList"))["nonce"]
    header = digest_header("pencacah1", PASSWORD, svc.settings.realm, nonce, "GET", uri)
    assert get(transport, f"http://localhost{uri}", {"Authorization": header}).status == 200


def test_digest_with_non_ascii_response_is_401(transport, base, seed) -> None:
    """A garbled Digest response (non-ASCII) is a 401, never a server error."""
    nonce = digest_params(get(transport, f"{base}/formList"))["nonce"]
    uri = f"/v1/projects/{seed.project_id}/formList"
    header = (
        f'Digest username="pencacah1", realm="Verivali", nonce="{nonce}", uri="{uri}", '
        f'qop=auth, nc=00000001, cnonce="x", response="{"é" * 32}"'
    )
    assert get(transport, f"{base}/formList", {"Authorization": header}).status == 401


# ---- Basic ------------------------------------------------------------------------------------
def test_basic_over_http_refused_with_message(transport, base) -> None:
    """Basic over http is a 401 telling the user to use https, with a Digest challenge."""
    answer = get(
        transport, f"{base}/formList", {"Authorization": basic_header("pencacah1", PASSWORD)}
    )
    assert answer.status == 401
    assert answer.message() == BASIC_HTTPS_ID
    assert [c.split(" ", 1)[0] for c in answer.all("WWW-Authenticate")] == ["Digest"]


def test_basic_over_https_works(transport, seed) -> None:
    """Basic over https lists the enumerator's forms, twice (the second time from the cache)."""
    url = f"https://localhost/v1/projects/{seed.project_id}/formList"
    for _ in range(2):
        answer = get(transport, url, {"Authorization": basic_header("pencacah1", PASSWORD)})
        assert answer.status == 200
        assert b"<formID>kunjungan_rumah</formID>" in answer.body


def test_bad_basic_over_https_is_401(transport, seed) -> None:
    """Wrong or malformed Basic credentials over https get 401 with both challenges."""
    for authorization in (
        basic_header("pencacah1", "salah-sandi"),
        basic_header("tidak_ada", PASSWORD),
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    ):
        answer = get(
            transport,
            f"https://localhost/v1/projects/{seed.project_id}/formList",
            {"Authorization": authorization},
        )
        assert answer.status == 401, authorization
        assert answer.message() == AUTH_FAILED_ID
        assert len(answer.all("WWW-Authenticate")) == 2


@pytest.fixture
def proxied_transport(settings, seed) -> Iterator[WsgiTransport]:
    """The same instance started with trust_proxy (VERIVALI_TRUST_PROXY) on."""
    app = create_app(settings.with_overrides(trust_proxy=True))
    yield WsgiTransport(app)
    app.extensions["verivali"].db.dispose()


def test_trusted_proxy_https_accepts_basic(proxied_transport, seed) -> None:
    """With trust_proxy, X-Forwarded-Proto: https makes an http request count as https."""
    url = f"http://localhost/v1/projects/{seed.project_id}/formList"
    forwarded = {"X-Forwarded-Proto": "https"}
    challenge = get(proxied_transport, url, forwarded)
    assert {c.split(" ", 1)[0] for c in challenge.all("WWW-Authenticate")} == {"Basic", "Digest"}
    answer = get(
        proxied_transport, url, forwarded | {"Authorization": basic_header("pencacah1", PASSWORD)}
    )
    assert answer.status == 200
    assert b"<downloadUrl>https://localhost/" in answer.body


def test_forwarded_proto_ignored_without_trust_proxy(transport, base) -> None:
    """Without trust_proxy, X-Forwarded-Proto is ignored and Basic over http stays refused."""
    answer = get(
        transport,
        f"{base}/formList",
        {"X-Forwarded-Proto": "https", "Authorization": basic_header("pencacah1", PASSWORD)},
    )
    assert answer.status == 401
    assert answer.message() == BASIC_HTTPS_ID


# ---- tokens -----------------------------------------------------------------------------------
def test_token_layout_needs_no_credentials(transport, seed, collect_token) -> None:
    """The /v1/key/<token>/ layout lists, downloads and accepts submissions with no 401."""
    counting = CountingTransport(transport)
    phone = CollectClient(counting, collect_token.server_url)
    phone.download_all()
    assert phone.submit(instance_xml(photos=()), {}).status == 201
    assert 401 not in counting.statuses()
    assert phone.challenges == 0


TOKEN_PATHS = [
    "formList",
    "forms/kunjungan_rumah.xml",
    "forms/kunjungan_rumah/manifest",
    "forms/kunjungan_rumah/attachments/desa.csv",
    "submission",
]


def test_unknown_token_is_403_without_challenge(transport, seed) -> None:
    """An unknown token answers 403 with an OpenRosa message and no WWW-Authenticate."""
    token = secrets.token_urlsafe(48)[:64]
    for path in TOKEN_PATHS:
        url = f"http://localhost/v1/key/{token}/projects/{seed.project_id}/{path}"
        for method in ("HEAD", "POST") if path == "submission" else ("GET",):
            answer = get(transport, url, method=method)
            assert answer.status == 403, (method, path)
            assert answer.all("WWW-Authenticate") == []
            assert problem(answer) == "403.1"
            if method != "HEAD":
                assert answer.message() == UNKNOWN_TOKEN_ID


def test_other_projects_token_is_403(transport, seed) -> None:
    """A token of another project's enumerator is refused on this project with 403."""
    phone = CollectClient(
        transport, f"http://localhost/v1/key/{seed.outsider_token}/projects/{seed.project_id}"
    )
    answer = phone.send("GET", f"{phone.server_url}/formList")
    assert answer.status == 403
    assert answer.all("WWW-Authenticate") == []
    assert answer.message() == f"Anda tidak memiliki akses ke proyek {seed.project_id}."
    assert phone.head().status == 403


def test_revoked_token_is_403(transport, svc, seed, collect_token) -> None:
    """After do_revoke_token the old token URL answers 403."""
    assert form_ids(collect_token) == ["kunjungan_rumah"]
    with svc.db.transaction() as session:
        user = user_by_username(session, "pencacah1")
        accounts.do_revoke_token(session, user)
    answer = collect_token.send("GET", f"{collect_token.server_url}/formList")
    assert answer.status == 403
    assert answer.message() == UNKNOWN_TOKEN_ID


def test_token_layout_urls_keep_the_token(collect_token, seed) -> None:
    """formList links in the token layout carry the token, so downloads need no password."""
    entry = collect_token.form_list()[0]
    prefix = f"http://localhost/v1/key/{seed.enumerator_token}/projects/{seed.project_id}/"
    assert entry.download_url.startswith(prefix)
    assert entry.manifest_url is not None and entry.manifest_url.startswith(prefix)


# ---- authorisation ----------------------------------------------------------------------------
OUTSIDER_REQUESTS = [
    ("GET", "formList"),
    ("GET", "forms/kunjungan_rumah.xml"),
    ("GET", "forms/kunjungan_rumah/manifest"),
    ("GET", "forms/kunjungan_rumah/attachments/desa.csv"),
    ("HEAD", "submission"),
    ("POST", "submission"),
]


def test_outsider_forbidden_on_project(transport, base, svc) -> None:
    """An enumerator of another project gets 403 on this project's list, files and submission."""
    phone = client(transport, base, "orang_lain")
    for method, path in OUTSIDER_REQUESTS:
        body, headers = b"", {}
        if method == "POST":
            body, content_type = multipart(instance_xml(photos=()), {})
            headers = {"Content-Type": content_type}
        answer = phone.send(method, f"{base}/{path}", body, headers)
        assert answer.status == 403, (method, path)
        assert problem(answer) == "403.2"
    assert phone.challenges == 1
    assert submissions_by_project(svc) == {}


def test_member_may_use_own_project(collect, seed) -> None:
    """The project's enumerator downloads and submits there."""
    collect.download_all()
    assert collect.submit(instance_xml(photos=()), {}).status == 201


def test_admin_sees_every_project(transport, seed, other_form) -> None:
    """An admin lists both projects' forms at the root and may use any project."""
    root = client(transport, "http://localhost", "admin")
    assert sorted(form_ids(root)) == ["kunjungan_rumah", other_form]
    project = client(transport, f"http://localhost/v1/projects/{seed.project_id}", "admin")
    project.download_all()
    assert project.submit(instance_xml(photos=()), {}).status == 201
    other = client(transport, f"http://localhost/v1/projects/{seed.other_project_id}", "admin")
    assert form_ids(other) == [other_form]


def test_root_form_list_shows_only_callers_projects(transport, seed, other_form) -> None:
    """The KoBoCAT root /formList lists only forms of the caller's own projects."""
    assert form_ids(client(transport, "http://localhost", "pencacah1")) == ["kunjungan_rumah"]
    assert form_ids(client(transport, "http://localhost", "orang_lain")) == [other_form]


def test_root_submission_refuses_unseen_project_form(transport, seed, svc) -> None:
    """Through the root /submission an outsider cannot reach another project's form (404)."""
    phone = client(transport, "http://localhost", "orang_lain")
    with pytest.raises(CollectError, match="404"):
        phone.submit(instance_xml(photos=()), {})
    assert submissions_by_project(svc) == {}


def test_owner_layout_lists_and_submits(transport, seed, svc) -> None:
    """/<username>/formList and /<username>/submission work for that user."""
    phone = client(transport, "http://localhost/pencacah1", "pencacah1")
    phone.download_all()
    assert phone.updates() == {"kunjungan_rumah": "up to date"}
    head = phone.head()
    assert head.status == 204
    assert head.header("Location") == "http://localhost/pencacah1/submission"
    assert phone.submit(instance_xml(photos=()), {}).status == 201
    assert submissions_by_project(svc) == {seed.project_id: 1}


def test_owner_layout_of_someone_else_is_empty(transport, seed) -> None:
    """Another user's /<username>/formList shows only forms the caller may fill too."""
    assert form_ids(client(transport, "http://localhost/pencacah1", "orang_lain")) == []
    assert form_ids(client(transport, "http://localhost/pencacah1", "admin")) == ["kunjungan_rumah"]


def test_unknown_username_is_404(transport, seed) -> None:
    """/<username>/… for a username that does not exist answers 404 once authenticated."""
    phone = client(transport, "http://localhost/tidak_ada", "pencacah1")
    for method, path in (("GET", "formList"), ("HEAD", "submission"), ("POST", "submission")):
        body, headers = b"", {}
        if method == "POST":
            body, content_type = multipart(instance_xml(photos=()), {})
            headers = {"Content-Type": content_type}
        answer = phone.send(method, f"http://localhost/tidak_ada/{path}", body, headers)
        assert answer.status == 404, (method, path)
        assert problem(answer) == "404.6"


def test_same_form_id_resolved_by_version(transport, svc, seed, tmp_path: Path) -> None:
    """Through the root /submission the same form ID in two projects is told apart by version."""
    publish_demo_copy(svc, seed.other_project_id, tmp_path, "2026112302")
    phone = client(transport, "http://localhost", "admin")
    assert phone.submit(instance_xml(version=DEMO_VERSION, photos=()), {}).status == 201
    assert submissions_by_project(svc) == {seed.project_id: 1}
    assert phone.submit(instance_xml(version="2026112302", photos=()), {}).status == 201
    assert submissions_by_project(svc) == {seed.project_id: 1, seed.other_project_id: 1}


def test_same_form_id_same_version_is_ambiguous(transport, svc, seed, tmp_path: Path) -> None:
    """The same form ID and version in two of the caller's projects answers 409."""
    publish_demo_copy(svc, seed.other_project_id, tmp_path, DEMO_VERSION)
    phone = client(transport, "http://localhost", "admin")
    with pytest.raises(CollectError, match="409"):
        phone.submit(instance_xml(photos=()), {})
    body, content_type = multipart(instance_xml(photos=()), {})
    answer = phone.send("POST", "http://localhost/submission", body, {"Content-Type": content_type})
    assert answer.status == 409
    assert problem(answer) == "409.5"
    assert "kunjungan_rumah" in (answer.message() or "")
    assert submissions_by_project(svc) == {}


def test_same_form_id_in_unseen_project_is_not_ambiguous(
    transport, svc, seed, tmp_path: Path
) -> None:
    """A project the caller cannot see does not make their form ID ambiguous."""
    publish_demo_copy(svc, seed.other_project_id, tmp_path, DEMO_VERSION)
    phone = client(transport, "http://localhost", "pencacah1")
    assert phone.submit(instance_xml(photos=()), {}).status == 201
    assert submissions_by_project(svc) == {seed.project_id: 1}


# ---- disabled accounts ------------------------------------------------------------------------
def test_disabled_user_is_refused(transport, svc, seed, base) -> None:
    """A disabled account is refused through Digest, Basic and its token."""
    phone = client(transport, base, "pencacah1")
    assert form_ids(phone) == ["kunjungan_rumah"]
    with svc.db.transaction() as session:
        user = user_by_username(session, "pencacah1")
        user.disabled_at = utcnow()
    assert phone.send("GET", f"{base}/formList").status == 401
    assert client(transport, base, "pencacah1").send("GET", f"{base}/formList").status == 401
    basic = get(
        transport,
        f"https://localhost/v1/projects/{seed.project_id}/formList",
        {"Authorization": basic_header("pencacah1", PASSWORD)},
    )
    assert basic.status == 401
    token = get(
        transport,
        f"http://localhost/v1/key/{seed.enumerator_token}/projects/{seed.project_id}/formList",
    )
    assert token.status == 403
