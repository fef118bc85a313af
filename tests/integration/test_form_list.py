"""The formList, form download, manifest and media protocol as Collect reads it: status,
OpenRosa headers, namespaces, complete <xform> entries, hashes of the exact bytes, absolute
and URL-encoded links, filtering, escaping, caching, the HEAD /submission handshake, and
OpenRosa errors (never a 500) for everything unknown."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from collect import NS_FORMLIST, NS_MANIFEST, NS_RESPONSE, Answer, CollectClient, multipart
from collect import instance_xml as make_instance
from conftest import PASSWORD, publish
from lxml import etree
from sqlalchemy import select
from werkzeug.http import parse_date

from server.models import Submission

ACCEPT_LENGTH = 12_345_678


@pytest.fixture
def settings(settings):
    """The shared test settings with a distinctive accepted submission length."""
    return settings.with_overrides(max_submission_bytes=ACCEPT_LENGTH)


def form_source(form_id: str, title: str, version: str = "1", extra_rows: str = "") -> str:
    """A one-question XLSForm (markdown), without media unless extra rows ask for it."""
    return (
        "| settings |\n| | form_title | form_id | version |\n"
        f"| | {title} | {form_id} | {version} |\n\n"
        "| survey |\n| | type | name | label |\n| | text | nama | Nama |\n" + extra_rows
    )


@pytest.fixture
def add_form(svc, seed, tmp_path: Path):
    """Publishes a small form (media-free unless given rows and files) into the project."""

    def add(
        form_id: str,
        title: str = "Formulir",
        version: str = "1",
        extra_rows: str = "",
        media: list[Path] | None = None,
    ) -> None:
        path = tmp_path / f"form_{len(list(tmp_path.glob('form_*.md')))}.md"
        path.write_text(form_source(form_id, title, version, extra_rows), encoding="utf-8")
        publish(svc, seed.project_id, path, media)

    return add


@pytest.fixture
def token_base(seed) -> str:
    """The token-layout server URL of the seeded enumerator."""
    return f"http://localhost/v1/key/{seed.enumerator_token}/projects/{seed.project_id}"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def xforms(answer: Answer) -> list[dict[str, str | None]]:
    """The <xform> entries of a form list as dicts of child name → text."""
    root = etree.fromstring(answer.body)
    assert root.tag == f"{{{NS_FORMLIST}}}xforms"
    entries = []
    for xform in root:
        assert xform.tag == f"{{{NS_FORMLIST}}}xform"
        entries.append({etree.QName(child).localname: child.text for child in xform})
    return entries


def raw(
    transport,
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Answer:
    return transport.request(method, url, {"X-OpenRosa-Version": "1.0"} | (headers or {}), body)


def assert_openrosa_headers(answer: Answer) -> None:
    assert answer.header("X-OpenRosa-Version") == "1.0"
    assert answer.header("X-OpenRosa-Accept-Content-Length") == str(ACCEPT_LENGTH)
    assert parse_date(answer.header("Date")) is not None


def assert_openrosa_error(answer: Answer, status: int) -> None:
    """An error Collect can show: the status, OpenRosa headers and a readable <message>."""
    assert answer.status == status, (answer.status, answer.body[:200])
    assert_openrosa_headers(answer)
    assert "text/xml" in (answer.header("Content-Type") or "")
    root = etree.fromstring(answer.body)
    assert root.tag == f"{{{NS_RESPONSE}}}OpenRosaResponse"
    message = root.find(f"{{{NS_RESPONSE}}}message")
    assert message is not None and message.get("nature") == "error" and message.text


# ---- formList ---------------------------------------------------------------------------------
def test_form_list_status_and_headers(collect: CollectClient) -> None:
    """formList is a 200 with the OpenRosa headers, a Date and a text/xml content type."""
    answer = collect.send("GET", f"{collect.server_url}/formList")
    assert answer.status == 200
    assert_openrosa_headers(answer)
    content_type = answer.header("Content-Type") or ""
    assert content_type.startswith("text/xml")
    assert "application/xml" not in content_type
    assert "no-cache" in (answer.header("Cache-Control") or "")


def test_form_list_namespace_and_entries(collect: CollectClient, add_form) -> None:
    """Every element is in the xformsList namespace and every <xform> is complete."""
    add_form("tanpa_media", "Tanpa Media")
    answer = collect.send("GET", f"{collect.server_url}/formList")
    root = etree.fromstring(answer.body)
    assert root.nsmap[None] == NS_FORMLIST
    assert all(etree.QName(el).namespace == NS_FORMLIST for el in root.iter())
    entries = xforms(answer)
    assert [e["formID"] for e in entries] == ["kunjungan_rumah", "tanpa_media"]
    for entry in entries:
        for name in ("formID", "name", "version", "hash", "downloadUrl"):
            assert name in entry, name
        assert entry["formID"] and entry["name"] and entry["downloadUrl"] and entry["version"]
        assert re.fullmatch(r"md5:[0-9a-f]{32}", entry["hash"] or "")
    assert entries[0]["name"] == "Kunjungan Rumah (Demo)"
    assert entries[0]["version"] == "2026112301"


def test_hash_is_md5_of_downloaded_bytes(collect: CollectClient, add_form) -> None:
    """Each listed hash is md5: plus the MD5 of exactly the bytes served at downloadUrl."""
    add_form("tanpa_media")
    for entry in collect.form_list():
        answer = collect.send("GET", entry.download_url)
        assert answer.status == 200
        assert entry.hash == "md5:" + md5(answer.body)
        assert_openrosa_headers(answer)
        assert "text/xml" in (answer.header("Content-Type") or "")


def test_form_download_is_conditional(collect: CollectClient) -> None:
    """The form XML carries an ETag, and If-None-Match with it answers 304."""
    entry = collect.form_list()[0]
    first = collect.send("GET", entry.download_url)
    etag = first.header("ETag")
    assert etag is not None and entry.hash[4:] in etag
    again = collect.send("GET", entry.download_url, extra_headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""


def test_download_urls_are_absolute(collect: CollectClient, seed) -> None:
    """downloadUrl and manifestUrl are absolute URLs in the layout the list came through."""
    entry = collect.form_list()[0]
    base = f"http://localhost/v1/projects/{seed.project_id}/forms/kunjungan_rumah"
    assert entry.download_url == f"{base}.xml"
    assert entry.manifest_url == f"{base}/manifest"


def test_token_layout_urls_carry_the_token(collect_token: CollectClient, token_base: str) -> None:
    """In the token layout every link keeps the token, so no password is ever needed."""
    entry = collect_token.form_list()[0]
    assert entry.download_url == f"{token_base}/forms/kunjungan_rumah.xml"
    assert entry.manifest_url == f"{token_base}/forms/kunjungan_rumah/manifest"
    local = collect_token.download(entry)
    assert local.md5 == entry.hash[4:]
    assert collect_token.challenges == 0


def test_links_follow_the_requested_host(transport, seed) -> None:
    """Without a configured base URL, links use the host the phone asked for."""
    phone = CollectClient(
        transport,
        f"http://data.example.id:8443/v1/projects/{seed.project_id}",
        username="pencacah1",
        password=PASSWORD,
    )
    entry = phone.form_list()[0]
    assert entry.download_url.startswith("http://data.example.id:8443/v1/projects/")
    assert phone.head().header("Location") == (
        f"http://data.example.id:8443/v1/projects/{seed.project_id}/submission"
    )


def test_manifest_url_only_for_forms_with_media(collect: CollectClient, add_form) -> None:
    """Only forms that use media or data files get a manifestUrl."""
    add_form("tanpa_media")
    by_id = {e.form_id: e for e in collect.form_list()}
    assert by_id["kunjungan_rumah"].manifest_url is not None
    assert by_id["tanpa_media"].manifest_url is None
    answer = collect.send("GET", f"{collect.server_url}/formList")
    assert b"<manifestUrl>" in answer.body
    assert "manifestUrl" not in next(e for e in xforms(answer) if e["formID"] == "tanpa_media")


def test_form_id_filter(collect: CollectClient, add_form) -> None:
    """?formID=x lists just that form; an unknown ID gives an empty list (still 200)."""
    add_form("tanpa_media")
    answer = collect.send("GET", f"{collect.server_url}/formList?formID=tanpa_media")
    assert [e["formID"] for e in xforms(answer)] == ["tanpa_media"]
    empty = collect.send("GET", f"{collect.server_url}/formList?formID=tidak_ada")
    assert empty.status == 200
    assert xforms(empty) == []
    assert_openrosa_headers(empty)


def test_title_with_ampersand_escaped_once(collect: CollectClient, add_form) -> None:
    """A title "Crate & Barrel" is sent as Crate &amp; Barrel, never double-escaped."""
    add_form("crate_barrel", "Crate & Barrel")
    answer = collect.send("GET", f"{collect.server_url}/formList?formID=crate_barrel")
    assert b"<name>Crate &amp; Barrel</name>" in answer.body
    assert b"&amp;amp;" not in answer.body
    assert xforms(answer)[0]["name"] == "Crate & Barrel"


@pytest.mark.parametrize("form_id", ["isian ü&x%", "wilayah/desa"])
def test_form_ids_are_url_encoded(collect: CollectClient, add_form, seed, form_id: str) -> None:
    """Form IDs with spaces, &, %, non-ASCII or / are percent-encoded and still download."""
    add_form(form_id, "Khusus")
    answer = collect.send("GET", f"{collect.server_url}/formList?formID={quote(form_id)}")
    [entry] = xforms(answer)
    assert entry["formID"] == form_id
    expected = f"http://localhost/v1/projects/{seed.project_id}/forms/{quote(form_id, safe='')}.xml"
    assert entry["downloadUrl"] == expected
    downloaded = collect.send("GET", expected)
    assert downloaded.status == 200
    assert entry["hash"] == "md5:" + md5(downloaded.body)


def test_unknown_query_parameters_ignored(collect: CollectClient) -> None:
    """deviceID and other unknown query parameters change nothing in any answer."""
    noise = "?deviceID=collect%3AABCDEF&appVersion=v2024.3.1&foo=bar&formID"
    plain = collect.send("GET", f"{collect.server_url}/formList")
    noisy = collect.send("GET", f"{collect.server_url}/formList{noise}=kunjungan_rumah")
    assert noisy.status == 200 and noisy.body == plain.body
    entry = collect.form_list()[0]
    assert entry.manifest_url is not None
    for url in (
        entry.download_url,
        entry.manifest_url,
        f"{collect.server_url}/forms/kunjungan_rumah/attachments/desa.csv",
    ):
        assert collect.send("GET", url).body == collect.send("GET", url + noise).body
    assert collect.send("HEAD", f"{collect.server_url}/submission{noise}").status == 204


def test_odd_device_id_is_stored_safely(collect: CollectClient, svc) -> None:
    """A deviceID with control characters or of absurd length is cleaned, not a 500."""
    collect.device_id = "collect:" + "\x00\x07" + "A" * 1000
    upload = collect.submit(make_instance(photos=()), {})
    assert upload.status == 201
    with svc.db.sessions() as session:
        stored = session.scalar(select(Submission.device_id))
    assert stored is not None and stored.startswith("collect:AAAA") and len(stored) <= 255


def test_unsupported_openrosa_version_is_400(
    collect: CollectClient, token_base: str, transport
) -> None:
    """A request declaring X-OpenRosa-Version 2.0 is refused with 400 in every layout."""
    for url in (
        f"{collect.server_url}/formList",
        f"{token_base}/formList",
        f"{token_base}/forms/kunjungan_rumah.xml",
        "http://localhost/formList",
    ):
        answer = raw(transport, url, headers={"X-OpenRosa-Version": "2.0"})
        assert_openrosa_error(answer, 400)
        assert answer.message() == "Versi OpenRosa 2.0 tidak didukung; gunakan 1.0."


def test_missing_openrosa_version_header_is_fine(transport, token_base: str) -> None:
    """Clients that send no X-OpenRosa-Version (browsers, Enketo) are still served."""
    assert transport.request("GET", f"{token_base}/formList", {}, b"").status == 200


# ---- manifest and media ---------------------------------------------------------------------
def test_manifest_protocol(collect: CollectClient, token_base: str, seed) -> None:
    """The manifest is 200 text/xml in its namespace; each file's hash matches its bytes."""
    entry = collect.form_list()[0]
    assert entry.manifest_url is not None
    answer = collect.send("GET", entry.manifest_url)
    assert answer.status == 200
    assert_openrosa_headers(answer)
    assert (answer.header("Content-Type") or "").startswith("text/xml")
    assert "no-cache" in (answer.header("Cache-Control") or "")
    root = etree.fromstring(answer.body)
    assert root.tag == f"{{{NS_MANIFEST}}}manifest"
    assert all(etree.QName(el).namespace == NS_MANIFEST for el in root.iter())
    files = collect.manifest(entry.manifest_url)
    assert [name for name, _, _ in files] == ["desa.csv"]
    for name, digest, url in files:
        assert url == (
            f"http://localhost/v1/projects/{seed.project_id}/forms/kunjungan_rumah/"
            f"attachments/{name}"
        )
        media = collect.send("GET", url)
        assert media.status == 200 and md5(media.body) == digest
        assert media.header("ETag") is not None
        cached = collect.send("GET", url, extra_headers={"If-None-Match": media.header("ETag")})
        assert cached.status == 304
    token_files = CollectClient(collect.transport, token_base).manifest(
        f"{token_base}/forms/kunjungan_rumah/manifest"
    )
    assert all(url.startswith(token_base + "/") for _, _, url in token_files)


def test_xml_media_file_is_an_attachment(collect: CollectClient, add_form, tmp_path: Path) -> None:
    """A media file named *.xml (an external instance) downloads as media, not as a form."""
    lookup = tmp_path / "lookup.xml"
    lookup.write_bytes(b"<root><item><name>a</name><label>A</label></item></root>")
    add_form("dengan_xml", extra_rows="| | xml-external | lookup | |\n", media=[lookup])
    entry = next(e for e in collect.form_list() if e.form_id == "dengan_xml")
    assert entry.manifest_url is not None
    local = collect.download(entry)
    assert local.media_bytes == {"lookup.xml": lookup.read_bytes()}


def test_manifest_of_form_without_media_is_empty(collect: CollectClient, add_form) -> None:
    """A media-free form still has a valid, empty manifest."""
    add_form("tanpa_media")
    assert collect.manifest(f"{collect.server_url}/forms/tanpa_media/manifest") == []


def test_updates_up_to_date_after_download(
    collect: CollectClient, collect_token: CollectClient
) -> None:
    """Right after downloading, Collect's update check says every form is up to date."""
    for phone in (collect, collect_token):
        assert phone.updates() == {"kunjungan_rumah": "new"}
        phone.download_all()
        assert phone.updates() == {"kunjungan_rumah": "up to date"}
        assert phone.updates() == {"kunjungan_rumah": "up to date"}


def test_new_version_is_an_update(collect: CollectClient, svc, seed, tmp_path: Path) -> None:
    """Publishing a new version makes Collect see "updated version" for the form."""
    collect.download_all()
    root = Path(__file__).resolve().parents[2] / "forms"
    copy = tmp_path / "kunjungan_rumah.md"
    copy.write_text(
        (root / "kunjungan_rumah.md")
        .read_text(encoding="utf-8")
        .replace("2026112301", "2026112302")
        .replace("Catatan |", "Catatan akhir |"),
        encoding="utf-8",
    )
    publish(svc, seed.project_id, copy, sorted((root / "media" / "kunjungan_rumah").iterdir()))
    assert collect.updates() == {"kunjungan_rumah": "updated version"}


# ---- HEAD /submission ---------------------------------------------------------------------
def test_head_submission_in_every_layout(transport, seed, token_base: str) -> None:
    """HEAD …/submission answers 204 with the accepted length and a same-host Location."""
    layouts = [
        (f"http://localhost/v1/projects/{seed.project_id}", "pencacah1"),
        (token_base, None),
        ("http://localhost", "pencacah1"),
        ("http://localhost/pencacah1", "pencacah1"),
    ]
    for base, username in layouts:
        phone = CollectClient(
            transport, base, username=username, password=PASSWORD if username else None
        )
        answer = phone.head()
        assert answer.status == 204, base
        assert answer.body == b""
        assert_openrosa_headers(answer)
        location = answer.header("Location") or ""
        assert urlsplit(location).netloc == "localhost"
        assert location == f"{base}/submission"


def test_submission_answer_carries_openrosa_headers(collect: CollectClient) -> None:
    """A normal submission through HEAD + POST is answered 201 with an OpenRosa message."""
    upload = collect.submit(make_instance(photos=()), {})
    assert upload.status == 201
    assert_openrosa_headers(upload.last)
    assert upload.message()


# ---- errors -----------------------------------------------------------------------------------
UNROUTED = [
    "/tidak/ada/sama/sekali",
    "/v1",
    "/v1/nothing",
    "/v1/projects",
    "/v1/projects/abc/formList",
    "/v1/projects/{p}/nothing",
    "/v1/projects/{p}/forms",
    "/v1/key/abc",
    "/v1/key/abc/projects/{p}/nothing",
    "/favicon.ico",
]


def test_unknown_routes_answer_openrosa_404(transport, seed) -> None:
    """Paths that match no route answer an OpenRosa 404, without asking for a password."""
    for path in UNROUTED:
        answer = raw(transport, "http://localhost" + path.format(p=seed.project_id))
        assert_openrosa_error(answer, 404)
        assert answer.all("WWW-Authenticate") == []


def test_unknown_things_answer_openrosa_404(collect: CollectClient, seed) -> None:
    """Unknown projects, forms, media, users and %00 tricks are 404s, never a 500."""
    cases = {
        "/v1/projects/999/formList": "404.5",
        "/v1/projects/0/submission": "404.5",
        "/v1/projects/99999999999999999999/formList": "404.5",
        "/v1/projects/{p}/forms/tidak_ada.xml": "404.2",
        "/v1/projects/{p}/forms/tidak_ada/manifest": "404.2",
        "/v1/projects/{p}/forms/kunjungan_rumah/attachments/tidak_ada.csv": "404.7",
        "/v1/projects/{p}/forms/a%00b.xml": "404.1",
        "/v1/projects/{p}/forms/kunjungan_rumah/attachments/a%00b.csv": "404.1",
        "/tidak_ada/formList": "404.6",
        "/a%00b/formList": "404.1",
        "/v1/key/a%00b/projects/{p}/formList": "404.1",
    }
    for path, code in cases.items():
        method = "HEAD" if path.endswith("submission") else "GET"
        answer = collect.send(method, "http://localhost" + path.format(p=seed.project_id))
        if method == "HEAD":
            assert answer.status == 404, path
        else:
            assert_openrosa_error(answer, 404)
        assert answer.header("X-Verivali-Problem") == code, path


def test_huge_project_id_in_token_layout_is_404(transport, token_base: str, seed) -> None:
    """A valid token with an out-of-range project ID is a 404, not a database error."""
    url = token_base.replace(f"/projects/{seed.project_id}", "/projects/99999999999999999999")
    assert_openrosa_error(raw(transport, f"{url}/formList"), 404)


def test_wrong_method_is_openrosa_405(collect: CollectClient) -> None:
    """POST to formList or GET on submission answer an OpenRosa 405."""
    body, content_type = multipart(make_instance(photos=()), {})
    answer = collect.send(
        "POST", f"{collect.server_url}/formList", body, {"Content-Type": content_type}
    )
    assert_openrosa_error(answer, 405)
    assert_openrosa_error(collect.send("GET", f"{collect.server_url}/submission"), 405)
