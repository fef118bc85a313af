"""POST /submission through the app: every decision of the submission tree (new, split part,
duplicate, conflict, deleted, edit, stale edit) and every kind of bad input (malformed or
hostile XML, broken multipart, unsafe file names, oversized bodies, odd methods and headers),
checked against what a fresh database session and the blob store hold afterwards.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from collect import (
    NS_RESPONSE,
    Answer,
    CollectClient,
    WsgiTransport,
    instance_xml,
    multipart,
    photo,
)
from conftest import ROOT, Seed, make_settings, publish
from lxml import etree
from sqlalchemy import select, text
from sqlalchemy.orm import undefer

from server import create_app, problems
from server.accounts import service as accounts
from server.forms import queries as form_queries
from server.forms.service import do_set_form_state
from server.models import (
    AuditEvent,
    Base,
    Blob,
    Submission,
    SubmissionAttachment,
    SubmissionVersion,
    utcnow,
)
from server.openrosa import queries as submission_queries
from server.openrosa.envelope import MAX_ELEMENTS
from server.openrosa.views import MULTIPART_SLACK
from server.services import Services

PHOTOS = ("depan.jpg", "samping.jpg", "belakang.jpg")
FORM_MD = ROOT / "forms" / "kunjungan_rumah.md"
FORM_MEDIA = sorted((ROOT / "forms" / "media" / "kunjungan_rumah").iterdir())
DECLARED = {p.code: p.status for p in vars(problems).values() if isinstance(p, problems.Problem)}


# ---- helpers ------------------------------------------------------------------------------
def submission_url(seed: Seed, query: str = "") -> str:
    """The enumerator's token URL for submissions (no authentication handshake needed)."""
    url = f"http://localhost/v1/key/{seed.enumerator_token}/projects/{seed.project_id}/submission"
    return f"{url}?{query}" if query else url


def post(
    transport: WsgiTransport,
    url: str,
    xml: bytes,
    files: dict[str, bytes] | None = None,
    *,
    instance_file: str = "instance.xml",
    incomplete: bool = False,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One Collect-style multipart POST."""
    body, content_type = multipart(xml, files or {}, instance_file, incomplete)
    return transport.request(
        "POST",
        url,
        {"Content-Type": content_type, "X-OpenRosa-Version": "1.0", **(headers or {})},
        body,
    )


def raw_part(headers: list[str], data: bytes, boundary: str = "b0undary") -> bytes:
    return (
        f"--{boundary}\r\n".encode()
        + "\r\n".join(headers).encode("utf-8")
        + b"\r\n\r\n"
        + data
        + b"\r\n"
    )


def raw_multipart(parts: list[bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def xml_part(xml: bytes, filename: str | None = "instance.xml") -> bytes:
    disposition = 'Content-Disposition: form-data; name="xml_submission_file"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return raw_part([disposition, "Content-Type: text/xml"], xml)


def file_part(field: str, filename: str, data: bytes, content_type: str = "image/jpeg") -> bytes:
    return raw_part(
        [
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"',
            f"Content-Type: {content_type}",
        ],
        data,
    )


def openrosa_message(answer: Answer, status: int) -> str:
    """Check the status and that the body is an OpenRosaResponse Collect can show; its text."""
    assert answer.status == status, (answer.status, answer.body[:500])
    assert answer.header("X-OpenRosa-Version") == "1.0"
    assert "text/xml" in (answer.header("Content-Type") or "")
    root = etree.fromstring(answer.body)
    assert root.tag == f"{{{NS_RESPONSE}}}OpenRosaResponse"
    message = answer.message()
    assert message
    return message


def expect_problem(answer: Answer, problem: problems.Problem) -> str:
    """Check the answer is this declared problem as an OpenRosa error; its message."""
    message = openrosa_message(answer, problem.status)
    assert answer.header("X-Verivali-Problem") == problem.code, answer.body
    assert DECLARED[problem.code] == problem.status
    return message


@dataclass
class Stored:
    """Submission rows as a fresh session sees them."""

    submissions: list[Submission]
    versions: list[SubmissionVersion]
    attachments: list[SubmissionAttachment]
    blobs: set[str]

    def files(self, version_id: int) -> dict[str, str | None]:
        """name -> blob sha256 (None while missing) for one version."""
        return {
            a.name: a.blob_sha256 for a in self.attachments if a.submission_version_id == version_id
        }


def stored(svc) -> Stored:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return Stored(
            list(session.scalars(select(Submission).order_by(Submission.id))),
            list(
                session.scalars(
                    select(SubmissionVersion)
                    .options(undefer(SubmissionVersion.xml))
                    .order_by(SubmissionVersion.id)
                )
            ),
            list(session.scalars(select(SubmissionAttachment).order_by(SubmissionAttachment.id))),
            set(session.scalars(select(Blob.sha256))),
        )


def blob_bytes(svc, sha256: str | None) -> bytes:  # type: ignore[no-untyped-def]
    assert sha256 is not None
    return svc.store.path(sha256).read_bytes()


def new_id() -> str:
    return f"uuid:{uuid.uuid4()}"


def mark_deleted(svc, instance_id: str) -> None:  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        row = session.scalar(select(Submission).where(Submission.instance_id == instance_id))
        row.deleted_at = utcnow()


def set_form_state(svc, seed: Seed, state: str) -> None:  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        form = form_queries.form_by_xml_id(session, seed.project_id, seed.form_id)
        do_set_form_state(session, form, state)


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()}


# ---- a server with small limits (split uploads, 413) --------------------------------------
@dataclass
class SmallServer:
    """An instance with small upload limits."""

    svc: Services
    transport: WsgiTransport
    base_url: str

    @property
    def submission_url(self) -> str:
        return f"{self.base_url}/submission"


@pytest.fixture
def small_server(tmp_path: Path, database_url: str) -> Iterator[Callable[..., SmallServer]]:
    """Builds a separate app with the given limits, one enumerator (token) and the demo form."""
    built = []

    def build(**limits: int) -> SmallServer:
        settings = make_settings(tmp_path, database_url, **limits)
        application = create_app(settings)
        svc = application.extensions["verivali"]
        built.append(svc)
        svc.db.create_all()
        with svc.db.transaction() as session:
            project = accounts.do_create_project(session, "Kota Kecil")
            user = accounts.do_create_user(
                session, "pencacah_kecil", "enumerator", settings.realm, project_id=project.id
            )
            token = accounts.do_issue_token(session, user)
            project_id = project.id
        publish(svc, project_id, FORM_MD, FORM_MEDIA)
        return SmallServer(
            svc,
            WsgiTransport(application),
            f"http://localhost/v1/key/{token}/projects/{project_id}",
        )

    yield build
    for svc in built:
        svc.db.dispose()


@pytest.fixture
def small(small_server: Callable[..., SmallServer]) -> SmallServer:
    """An app accepting 50 KB per POST and 100 KB of instance XML (above one 64 KiB read)."""
    return small_server(max_submission_bytes=50_000, max_instance_xml_bytes=100_000)


class Recorder:
    """A transport that runs a check after every POST (to see the state between parts)."""

    def __init__(self, inner: WsgiTransport, after_post: Callable[[Answer], None]) -> None:
        self.inner = inner
        self.after_post = after_post

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        answer = self.inner.request(method, url, headers, body)
        if method == "POST":
            self.after_post(answer)
        return answer


# ---- new submissions ----------------------------------------------------------------------
def test_new_submission_is_created_and_durable(collect_token: CollectClient, svc, seed) -> None:
    """A new instanceID answers 201 in Indonesian; rows and files are durable and intact."""
    photos = {name: photo(3000) for name in PHOTOS}
    xml = instance_xml(photos=PHOTOS)
    upload = collect_token.submit(xml, photos)
    message = openrosa_message(upload.last, 201)
    assert message == "Data berhasil diterima."
    assert upload.last.header("X-OpenRosa-Accept-Content-Length") == str(
        svc.settings.max_submission_bytes
    )

    state = stored(svc)
    assert len(state.submissions) == 1 and len(state.versions) == 1
    submission, version = state.submissions[0], state.versions[0]
    assert submission.review_state == "received"
    assert submission.current_version_id == version.id
    assert submission.instance_id == version.instance_id
    assert version.xml == xml  # verbatim
    assert version.complete is True and version.encrypted is False
    assert version.instance_name == "Budi Santoso"
    files = state.files(version.id)
    assert list(files) == list(PHOTOS)
    for name, sha in files.items():
        assert blob_bytes(svc, sha) == photos[name]
        assert sha in state.blobs
    with svc.db.sessions() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "submission.create" in actions


def test_device_id_and_user_agent_are_stored(transport, svc, seed) -> None:
    """The deviceID query parameter and the User-Agent are kept with the submission."""
    answer = post(
        transport,
        submission_url(seed, "deviceID=collect%3AABCDEF0123456789"),
        instance_xml(photos=()),
        headers={"User-Agent": "org.odk.collect.android/v2024.3.1"},
    )
    openrosa_message(answer, 201)
    state = stored(svc)
    assert state.submissions[0].device_id == "collect:ABCDEF0123456789"
    assert state.versions[0].device_id == "collect:ABCDEF0123456789"
    assert state.versions[0].user_agent == "org.odk.collect.android/v2024.3.1"


def test_hostile_device_id_is_stored_cleaned(transport, svc, seed) -> None:
    """A deviceID with control characters or of great length is cleaned, never a 500."""
    query = "deviceID=" + "collect%3A%00ab%01" + "x" * 600
    openrosa_message(post(transport, submission_url(seed, query), instance_xml(photos=())), 201)
    device_id = stored(svc).submissions[0].device_id
    assert device_id is not None and device_id.startswith("collect:ab")
    assert len(device_id) <= 255 and "\x00" not in device_id and "\x01" not in device_id


def test_password_client_submits_through_digest(collect: CollectClient, svc) -> None:
    """A phone set up with username and password submits after the Digest handshake."""
    upload = collect.submit(instance_xml(photos=("depan.jpg",)), {"depan.jpg": photo(500)})
    openrosa_message(upload.last, 201)
    assert collect.challenges == 1
    assert stored(svc).submissions[0].submitter_id is not None


def test_missing_attachments_are_recorded_and_announced(transport, svc, seed) -> None:
    """Expected files not sent are recorded missing and the 201 message says it waits."""
    answer = post(transport, submission_url(seed), instance_xml(), {"depan.jpg": photo(800)})
    message = openrosa_message(answer, 201)
    assert message == "Data berhasil diterima. Masih menunggu 2 berkas: samping.jpg, belakang.jpg."
    state = stored(svc)
    files = state.files(state.versions[0].id)
    assert files["depan.jpg"] is not None
    assert files["samping.jpg"] is None and files["belakang.jpg"] is None


def test_parts_the_instance_does_not_name_are_ignored(transport, svc, seed) -> None:
    """A file part the instance does not refer to is neither recorded nor stored."""
    stray = photo(700)
    answer = post(
        transport,
        submission_url(seed),
        instance_xml(photos=("depan.jpg",)),
        {"depan.jpg": photo(700), "lain.jpg": stray},
    )
    openrosa_message(answer, 201)
    state = stored(svc)
    assert list(state.files(state.versions[0].id)) == ["depan.jpg"]
    assert not any(p.read_bytes() == stray for p in files_under(svc.settings.blob_dir))


def test_no_temporary_files_are_left_behind(transport, svc, seed) -> None:
    """Upload parts stream into temporary files that are gone once the answer is sent."""
    openrosa_message(
        post(transport, submission_url(seed), instance_xml(), {n: photo(2000) for n in PHOTOS}), 201
    )
    expect_problem(
        post(transport, submission_url(seed), b"<broken", {"depan.jpg": photo(9)}),
        problems.MALFORMED_XML,
    )
    assert files_under(svc.settings.tmp_dir) == set()


def test_instance_sent_as_plain_field_is_accepted(transport, svc, seed) -> None:
    """xml_submission_file sent as a form field without a file name is read all the same."""
    xml = instance_xml(photos=())
    body, content_type = raw_multipart([xml_part(xml, filename=None)])
    answer = transport.request("POST", submission_url(seed), {"Content-Type": content_type}, body)
    openrosa_message(answer, 201)
    assert stored(svc).versions[0].xml == xml


# ---- same instanceID again ----------------------------------------------------------------
def test_identical_resubmission_is_a_duplicate(transport, svc, seed) -> None:
    """The same XML and files again answer 202 and add no second submission or version."""
    xml = instance_xml()
    photos = {n: photo(1000) for n in PHOTOS}
    openrosa_message(post(transport, submission_url(seed), xml, photos), 201)
    message = openrosa_message(post(transport, submission_url(seed), xml, photos), 202)
    assert "sudah diterima sebelumnya" in message
    state = stored(svc)
    assert len(state.submissions) == 1 and len(state.versions) == 1
    assert len(state.attachments) == 3


def test_resubmission_fills_in_a_missing_file(transport, svc, seed) -> None:
    """Identical XML carrying a file that was missing answers 201 and stores that file."""
    xml = instance_xml()
    first = {"depan.jpg": photo(900), "samping.jpg": photo(900)}
    late = photo(900)
    assert "Masih menunggu 1 berkas" in openrosa_message(
        post(transport, submission_url(seed), xml, first), 201
    )
    message = openrosa_message(
        post(transport, submission_url(seed), xml, {"belakang.jpg": late}), 201
    )
    assert message == "Data berhasil diterima."
    state = stored(svc)
    assert len(state.versions) == 1
    assert blob_bytes(svc, state.files(state.versions[0].id)["belakang.jpg"]) == late
    openrosa_message(post(transport, submission_url(seed), xml, {"belakang.jpg": late}), 202)


def test_resent_file_does_not_replace_a_stored_one(transport, svc, seed) -> None:
    """Once a submission is complete, other bytes under a stored name change nothing."""
    xml = instance_xml(photos=("depan.jpg",))
    original = photo(600)
    openrosa_message(post(transport, submission_url(seed), xml, {"depan.jpg": original}), 201)
    openrosa_message(post(transport, submission_url(seed), xml, {"depan.jpg": photo(600)}), 202)
    state = stored(svc)
    sha = state.files(state.versions[0].id)["depan.jpg"]
    assert blob_bytes(svc, sha) == original


def test_split_upload_makes_one_complete_submission(small: SmallServer) -> None:
    """Three 30 KB photos over a 50 KB limit arrive in several POSTs as ONE submission."""
    photos = {name: photo(30_000) for name in PHOTOS}
    seen: list[tuple[int, int, bool, int]] = []

    def after_post(answer: Answer) -> None:
        state = stored(small.svc)
        filled = sum(1 for a in state.attachments if a.blob_sha256)
        seen.append((answer.status, len(state.submissions), state.versions[0].complete, filled))

    phone = CollectClient(Recorder(small.transport, after_post), small.base_url)
    upload = phone.submit(instance_xml(), photos)
    assert len(upload.answers) == 3
    assert seen == [(201, 1, False, 1), (201, 1, False, 2), (201, 1, True, 3)]
    assert upload.message() == "Data berhasil diterima."
    state = stored(small.svc)
    assert len(state.versions) == 1
    files = state.files(state.versions[0].id)
    assert {name: blob_bytes(small.svc, sha) for name, sha in files.items()} == photos


def test_part_of_a_split_upload_sent_twice_is_harmless(small: SmallServer) -> None:
    """A part repeated after a dropped connection changes nothing and completes nothing."""
    xml = instance_xml()
    photos = {name: photo(1000) for name in PHOTOS}
    openrosa_message(
        post(
            small.transport,
            small.submission_url,
            xml,
            {"depan.jpg": photos["depan.jpg"]},
            incomplete=True,
        ),
        201,
    )
    openrosa_message(
        post(
            small.transport,
            small.submission_url,
            xml,
            {"depan.jpg": photos["depan.jpg"]},
            incomplete=True,
        ),
        202,
    )
    assert stored(small.svc).versions[0].complete is False
    openrosa_message(
        post(small.transport, small.submission_url, xml, {n: photos[n] for n in PHOTOS[1:]}), 201
    )
    state = stored(small.svc)
    assert state.versions[0].complete is True
    assert all(state.files(state.versions[0].id).values())


def test_same_instance_with_other_xml_conflicts(transport, svc, seed) -> None:
    """The same instanceID with different XML answers 409 and leaves the stored XML alone."""
    instance_id = new_id()
    first = instance_xml(instance_id=instance_id, photos=())
    openrosa_message(post(transport, submission_url(seed), first), 201)
    answer = post(
        transport,
        submission_url(seed),
        instance_xml(instance_id=instance_id, photos=(), nama="Siti Aminah"),
    )
    assert instance_id in expect_problem(answer, problems.INSTANCE_CONFLICT)
    state = stored(svc)
    assert len(state.versions) == 1 and state.versions[0].xml == first


@pytest.mark.parametrize("same_xml", [True, False], ids=["same-xml", "other-xml"])
def test_instance_of_a_deleted_submission_conflicts(transport, svc, seed, same_xml) -> None:
    """Sending the instanceID of a deleted submission again answers 409, whatever the XML."""
    instance_id = new_id()
    xml = instance_xml(instance_id=instance_id, photos=())
    openrosa_message(post(transport, submission_url(seed), xml), 201)
    mark_deleted(svc, instance_id)
    again = xml if same_xml else instance_xml(instance_id=instance_id, photos=(), nama="Lain")
    expect_problem(post(transport, submission_url(seed), again), problems.SUBMISSION_DELETED)
    assert len(stored(svc).versions) == 1


def test_concurrent_first_posts_answer_409_not_500(transport, svc, seed, monkeypatch) -> None:
    """A twin POST that loses the race to insert the same instanceID gets a declared 409."""
    xml = instance_xml(photos=())
    openrosa_message(post(transport, submission_url(seed), xml), 201)
    # What the loser saw: the winner's row not yet committed when it looked.
    monkeypatch.setattr(submission_queries, "version_by_instance", lambda *args: None)
    answer = post(transport, submission_url(seed), xml)
    expect_problem(answer, problems.CONCURRENT_WRITE)
    monkeypatch.undo()
    assert len(stored(svc).submissions) == 1


# ---- edits ----------------------------------------------------------------------------------
def test_edit_makes_a_new_version_and_carries_files(transport, svc, seed) -> None:
    """Editing the current version: new version, "edited", unsent files carried, sent replaced."""
    original_id = new_id()
    photos = {n: photo(1200) for n in PHOTOS}
    openrosa_message(
        post(transport, submission_url(seed), instance_xml(instance_id=original_id), photos), 201
    )
    before = stored(svc)
    old_files = before.files(before.versions[0].id)

    edit_id = new_id()
    edit_xml = instance_xml(instance_id=edit_id, deprecated_id=original_id, nama="Budi S.")
    new_side = photo(1300)
    message = openrosa_message(
        post(transport, submission_url(seed), edit_xml, {"samping.jpg": new_side}), 201
    )
    assert message == "Perbaikan kiriman berhasil diterima."

    state = stored(svc)
    assert len(state.submissions) == 1 and len(state.versions) == 2
    submission = state.submissions[0]
    old, new = state.versions
    assert submission.review_state == "edited"
    assert submission.instance_id == original_id
    assert submission.current_version_id == new.id
    assert (new.instance_id, new.deprecated_id, new.xml) == (edit_id, original_id, edit_xml)
    new_files = state.files(new.id)
    assert new_files["depan.jpg"] == old_files["depan.jpg"]
    assert new_files["belakang.jpg"] == old_files["belakang.jpg"]
    assert blob_bytes(svc, new_files["samping.jpg"]) == new_side
    assert state.files(old.id) == old_files  # the old version keeps its own files
    assert blob_bytes(svc, old_files["samping.jpg"]) == photos["samping.jpg"]
    with svc.db.sessions() as session:
        assert "submission.update" in session.scalars(select(AuditEvent.action)).all()


def test_edit_sent_again_is_a_duplicate(transport, svc, seed) -> None:
    """Resending an accepted edit answers 202 and makes no third version."""
    original_id = new_id()
    openrosa_message(
        post(transport, submission_url(seed), instance_xml(instance_id=original_id, photos=())), 201
    )
    edit = instance_xml(deprecated_id=original_id, photos=(), nama="Perbaikan")
    openrosa_message(post(transport, submission_url(seed), edit), 201)
    openrosa_message(post(transport, submission_url(seed), edit), 202)
    assert len(stored(svc).versions) == 2


def test_edit_of_unknown_submission_is_404(transport, svc, seed) -> None:
    """A deprecatedID the server never saw answers 404 naming it."""
    missing = new_id()
    answer = post(transport, submission_url(seed), instance_xml(deprecated_id=missing, photos=()))
    assert missing in expect_problem(answer, problems.DEPRECATED_NOT_FOUND)
    assert stored(svc).submissions == []


def test_edit_of_an_older_version_is_409(transport, svc, seed) -> None:
    """An edit made from a version that has since been edited answers 409 (stale)."""
    original_id = new_id()
    openrosa_message(
        post(transport, submission_url(seed), instance_xml(instance_id=original_id, photos=())), 201
    )
    openrosa_message(
        post(
            transport,
            submission_url(seed),
            instance_xml(deprecated_id=original_id, photos=(), nama="A"),
        ),
        201,
    )
    answer = post(
        transport,
        submission_url(seed),
        instance_xml(deprecated_id=original_id, photos=(), nama="B"),
    )
    expect_problem(answer, problems.DEPRECATED_STALE)
    assert len(stored(svc).versions) == 2


def test_edit_of_a_deleted_submission_is_409(transport, svc, seed) -> None:
    """An edit whose deprecatedID names a deleted submission answers 409."""
    original_id = new_id()
    openrosa_message(
        post(transport, submission_url(seed), instance_xml(instance_id=original_id, photos=())), 201
    )
    mark_deleted(svc, original_id)
    answer = post(
        transport, submission_url(seed), instance_xml(deprecated_id=original_id, photos=())
    )
    expect_problem(answer, problems.SUBMISSION_DELETED)


def test_edit_racing_another_edit_is_stale(transport, svc, seed, monkeypatch) -> None:
    """An edit that read the submission before another edit committed is stale (409)."""
    original_id = new_id()
    openrosa_message(
        post(transport, submission_url(seed), instance_xml(instance_id=original_id, photos=())), 201
    )
    openrosa_message(
        post(
            transport,
            submission_url(seed),
            instance_xml(deprecated_id=original_id, photos=(), nama="A"),
        ),
        201,
    )
    real = submission_queries.version_by_instance

    def stale_read(session, form_id, instance_id):  # type: ignore[no-untyped-def]
        found = real(session, form_id, instance_id)
        if found is not None and instance_id == original_id:
            # As read just before the other edit committed.
            return dataclasses.replace(found, current_version_id=found.version_id)
        return found

    monkeypatch.setattr(submission_queries, "version_by_instance", stale_read)
    answer = post(
        transport,
        submission_url(seed),
        instance_xml(deprecated_id=original_id, photos=(), nama="B"),
    )
    expect_problem(answer, problems.DEPRECATED_STALE)
    monkeypatch.undo()
    state = stored(svc)
    assert len(state.versions) == 2
    assert state.submissions[0].current_version_id == state.versions[1].id


def test_split_edit_replaces_carried_files(small: SmallServer) -> None:
    """A split edit ends with the phone's new files, not those its first part carried forward."""
    original_id = new_id()
    phone = CollectClient(small.transport, small.base_url)
    phone.submit(instance_xml(instance_id=original_id), {n: photo(30_000) for n in PHOTOS})
    edited = {n: photo(30_000) for n in PHOTOS}
    upload = phone.submit(instance_xml(deprecated_id=original_id, nama="Budi S."), edited)
    assert len(upload.answers) == 3
    assert upload.answers[0].message() == "Perbaikan kiriman berhasil diterima."
    state = stored(small.svc)
    assert len(state.versions) == 2 and state.versions[1].complete is True
    files = state.files(state.versions[1].id)
    assert {name: blob_bytes(small.svc, sha) for name, sha in files.items()} == edited


# ---- forms: unknown, versions, states ---------------------------------------------------------
def test_unknown_form_is_404(transport, svc, seed) -> None:
    """A form ID the project does not have answers 404 naming it."""
    answer = post(transport, submission_url(seed), instance_xml(form_id="sensus_ternak"))
    assert "sensus_ternak" in expect_problem(answer, problems.FORM_NOT_FOUND)
    assert stored(svc).submissions == []


@pytest.mark.parametrize("version", ["1999010101", ""])
def test_unknown_form_version_is_404_naming_it(transport, svc, seed, version) -> None:
    """A version that was never published answers 404 whose message names the version."""
    answer = post(transport, submission_url(seed), instance_xml(version=version, photos=()))
    message = expect_problem(answer, problems.FORM_VERSION_NOT_FOUND)
    assert (version or "(kosong)") in message
    assert stored(svc).submissions == []


def test_older_published_version_is_still_accepted(transport, svc, seed, tmp_path) -> None:
    """After a new version is published, phones still holding the old one can submit."""
    newer = tmp_path / "kunjungan_rumah.md"
    newer.write_text(FORM_MD.read_text().replace("2026112301", "2026112302"))
    publish(svc, seed.project_id, newer, FORM_MEDIA)
    openrosa_message(post(transport, submission_url(seed), instance_xml(photos=())), 201)
    openrosa_message(
        post(transport, submission_url(seed), instance_xml(version="2026112302", photos=())), 201
    )
    versions = stored(svc).versions
    assert versions[0].form_version_id != versions[1].form_version_id


def test_closed_form_is_409(transport, svc, seed) -> None:
    """A closed form refuses submissions with 409."""
    set_form_state(svc, seed, "closed")
    answer = post(transport, submission_url(seed), instance_xml(photos=()))
    assert seed.form_id in expect_problem(answer, problems.FORM_CLOSED)
    assert stored(svc).submissions == []


def test_closing_form_accepts_but_is_not_listed(collect_token: CollectClient, svc, seed) -> None:
    """A closing form is hidden from formList yet still accepts what phones hold."""
    set_form_state(svc, seed, "closing")
    assert collect_token.form_list() == []
    upload = collect_token.submit(instance_xml(photos=("depan.jpg",)), {"depan.jpg": photo(300)})
    openrosa_message(upload.last, 201)
    assert len(stored(svc).submissions) == 1


# ---- bad requests ---------------------------------------------------------------------------
def test_missing_xml_part_is_400(transport, svc, seed) -> None:
    """A multipart body without xml_submission_file answers 400."""
    body, content_type = raw_multipart([file_part("depan.jpg", "depan.jpg", photo(100))])
    answer = transport.request("POST", submission_url(seed), {"Content-Type": content_type}, body)
    expect_problem(answer, problems.MISSING_XML_PART)


def test_xml_without_form_id_is_400(transport, seed) -> None:
    """An instance whose root has no id attribute answers 400."""
    xml = instance_xml(photos=()).replace(b' id="kunjungan_rumah"', b"")
    expect_problem(post(transport, submission_url(seed), xml), problems.MISSING_FORM_ID)


@pytest.mark.parametrize(
    "meta",
    [
        b"",
        b"<meta><instanceName>x</instanceName></meta>",
        b"<meta><instanceID>  </instanceID></meta>",
    ],
    ids=["no-meta", "no-instance-id", "blank-instance-id"],
)
def test_xml_without_instance_id_is_400(transport, seed, meta) -> None:
    """An instance without a usable meta/instanceID answers 400."""
    xml = (
        b'<data id="kunjungan_rumah" version="2026112301"><nama_krt>A</nama_krt>'
        + meta
        + b"</data>"
    )
    expect_problem(post(transport, submission_url(seed), xml), problems.MISSING_INSTANCE_ID)


@pytest.mark.parametrize(
    "xml",
    [b"<data id='kunjungan_rumah'><meta>", b"", b"not xml at all", b"\xff\xfe\x00<", b"<a></b>"],
    ids=["unclosed", "empty", "text", "bad-bytes", "mismatched"],
)
def test_malformed_xml_is_400(transport, svc, seed, xml) -> None:
    """XML that does not parse answers 400 and stores nothing."""
    expect_problem(post(transport, submission_url(seed), xml), problems.MALFORMED_XML)
    assert stored(svc).submissions == []


@pytest.mark.parametrize(
    "content_type", ["text/xml", "application/x-www-form-urlencoded", "application/json", None]
)
def test_non_multipart_body_is_400(transport, seed, content_type) -> None:
    """A body that is not multipart/form-data answers 400."""
    headers = {"Content-Type": content_type} if content_type else {}
    answer = transport.request("POST", submission_url(seed), headers, instance_xml(photos=()))
    expect_problem(answer, problems.NOT_MULTIPART)


@pytest.mark.parametrize("method", ["POST", "HEAD"])
def test_other_openrosa_version_is_400(transport, seed, method) -> None:
    """A request announcing X-OpenRosa-Version 2.0 answers 400."""
    body, content_type = multipart(instance_xml(photos=()), {})
    answer = transport.request(
        method,
        submission_url(seed),
        {"Content-Type": content_type, "X-OpenRosa-Version": "2.0"},
        body,
    )
    assert answer.status == 400
    assert answer.header("X-Verivali-Problem") == problems.BAD_OPENROSA_VERSION.code
    if method == "POST":
        expect_problem(answer, problems.BAD_OPENROSA_VERSION)


def test_head_answers_204_with_accepted_length(transport, svc, seed) -> None:
    """HEAD /submission answers 204 with the accepted length and a same-host Location."""
    answer = transport.request("HEAD", submission_url(seed), {"X-OpenRosa-Version": "1.0"}, b"")
    assert answer.status == 204
    assert answer.header("X-OpenRosa-Accept-Content-Length") == str(
        svc.settings.max_submission_bytes
    )
    assert answer.header("Location") == submission_url(seed)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(transport, seed, method) -> None:
    """Methods other than HEAD and POST on /submission answer 405 as an OpenRosa error."""
    answer = transport.request(method, submission_url(seed), {}, b"")
    expect_problem(answer, problems.METHOD_NOT_ALLOWED)


# ---- hostile XML ------------------------------------------------------------------------------
def _all_stored_text(svc) -> bytes:  # type: ignore[no-untyped-def]
    """Every row of every table, and every file under the data directory, as bytes."""
    dump = []
    with svc.db.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(table.select()):
                dump.append(repr(tuple(row)).encode())
                dump.extend(v for v in row if isinstance(v, bytes))
    dump.extend(p.read_bytes() for p in files_under(svc.settings.data_dir))
    return b"\n".join(dump)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_external_entity_is_refused_and_never_read(
    transport, svc, seed, tmp_path, encoding
) -> None:
    """XXE: a DOCTYPE with a SYSTEM entity answers 400 and the file's secret is stored nowhere."""
    secret = f"RAHASIA-{uuid.uuid4().hex}"
    target = tmp_path / "secret.txt"
    target.write_text(secret)
    xml = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        f'<!DOCTYPE data [<!ENTITY s SYSTEM "file://{target}">]>'
        '<data id="kunjungan_rumah" version="2026112301"><nama_krt>&s;</nama_krt>'
        f"<meta><instanceID>{new_id()}</instanceID><instanceName>&s;</instanceName></meta>"
        "</data>"
    ).encode(encoding)
    answer = post(transport, submission_url(seed), xml)
    assert answer.status == 400
    assert answer.header("X-Verivali-Problem") in {
        problems.XML_DTD_FORBIDDEN.code,
        problems.MALFORMED_XML.code,
    }
    openrosa_message(answer, 400)
    assert secret.encode() not in answer.body
    assert secret.encode() not in _all_stored_text(svc)
    assert stored(svc).submissions == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_is_refused(transport, svc, seed, encoding) -> None:
    """Nested internal entities (billion laughs) answer 400 without being expanded."""
    entities = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    xml = (
        f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE data [{entities}]>'
        '<data id="kunjungan_rumah" version="2026112301"><nama_krt>&l9;</nama_krt>'
        f"<meta><instanceID>{new_id()}</instanceID></meta></data>"
    ).encode(encoding)
    answer = post(transport, submission_url(seed), xml)
    openrosa_message(answer, 400)
    assert len(answer.body) < 2000
    assert stored(svc).submissions == []


# ---- file names and content addressing -------------------------------------------------------
@pytest.mark.parametrize("name", ["../../evil.jpg", "..\\evil.jpg", "/etc/passwd"])
def test_path_in_file_name_never_becomes_a_path(transport, svc, seed, tmp_path, name) -> None:
    """A file name with a path writes nothing outside the blob store and stays missing."""
    sentinels = {
        tmp_path / "evil.jpg": b"sentinel-1",
        svc.settings.data_dir / "evil.jpg": b"sentinel-2",
    }
    for path, data in sentinels.items():
        path.write_bytes(data)
    passwd = Path("/etc/passwd").read_bytes()
    before = files_under(tmp_path)
    xml_name = name.replace("&", "&amp;").replace("<", "&lt;")
    xml = instance_xml(photos=(xml_name,))
    body, content_type = raw_multipart([xml_part(xml), file_part(name, name, b"EVIL" * 100)])
    answer = transport.request("POST", submission_url(seed), {"Content-Type": content_type}, body)

    assert "Masih menunggu 1 berkas" in openrosa_message(answer, 201)
    state = stored(svc)
    assert state.files(state.versions[0].id) == {name: None}
    created = files_under(tmp_path) - before
    allowed = (svc.settings.blob_dir, svc.settings.tmp_dir)
    assert all(
        any(p.is_relative_to(root) for root in allowed) or p.name.startswith("verivali")
        for p in created
    ), created
    assert not any(p.read_bytes() == b"EVIL" * 100 for p in files_under(tmp_path))
    assert all(path.read_bytes() == data for path, data in sentinels.items())
    assert Path("/etc/passwd").read_bytes() == passwd
    assert not Path("/evil.jpg").exists()


def test_same_name_different_bytes_are_both_kept(transport, svc, seed) -> None:
    """Two submissions each with a depan.jpg of their own keep both (content-addressed)."""
    first, second = photo(700), photo(700)
    for data in (first, second):
        openrosa_message(
            post(
                transport,
                submission_url(seed),
                instance_xml(photos=("depan.jpg",)),
                {"depan.jpg": data},
            ),
            201,
        )
    state = stored(svc)
    shas = [state.files(v.id)["depan.jpg"] for v in state.versions]
    assert shas[0] != shas[1]
    assert [blob_bytes(svc, sha) for sha in shas] == [first, second]


def test_same_bytes_are_stored_once(transport, svc, seed) -> None:
    """The same photo in two submissions is one blob on disk and one blob row."""
    data = photo(700)
    for _ in range(2):
        openrosa_message(
            post(
                transport,
                submission_url(seed),
                instance_xml(photos=("depan.jpg",)),
                {"depan.jpg": data},
            ),
            201,
        )
    state = stored(svc)
    assert len({a.blob_sha256 for a in state.attachments}) == 1
    assert len(files_under(svc.settings.blob_dir)) == len(state.blobs)


def test_overlong_attachment_name_is_400(transport, svc, seed) -> None:
    """A file name no phone can produce (over 255 characters) answers 400, not a 500."""
    name = "a" * 300 + ".jpg"
    answer = post(transport, submission_url(seed), instance_xml(photos=(name,)))
    expect_problem(answer, problems.BAD_FILE_NAME)
    assert stored(svc).submissions == []


# ---- sizes --------------------------------------------------------------------------------------
def test_oversized_body_is_413(small: SmallServer) -> None:
    """A body past the accepted length (plus multipart slack) answers 413 with a message."""
    limit = small.svc.settings.max_submission_bytes + MULTIPART_SLACK
    answer = post(
        small.transport, small.submission_url, instance_xml(), {"depan.jpg": photo(limit + 10)}
    )
    assert "terlalu besar" in expect_problem(answer, problems.TOO_LARGE)
    assert stored(small.svc).submissions == []
    assert files_under(small.svc.settings.tmp_dir) == set()


@pytest.mark.parametrize("as_file", [True, False], ids=["file-part", "field"])
def test_oversized_instance_xml_is_413(small: SmallServer, as_file) -> None:
    """An instance XML part over max_instance_xml_bytes answers 413."""
    xml = instance_xml(photos=(), extra="x" * 120_000)
    body, content_type = raw_multipart([xml_part(xml, "instance.xml" if as_file else None)])
    answer = small.transport.request(
        "POST", small.submission_url, {"Content-Type": content_type}, body
    )
    expect_problem(answer, problems.TOO_LARGE)
    assert stored(small.svc).submissions == []


def test_small_instance_xml_limit_still_lets_photos_through(small_server) -> None:
    """An instance-XML limit below 64 KiB limits the instance, not the photos beside it."""
    server = small_server(max_instance_xml_bytes=20_000)
    answer = post(
        server.transport,
        server.submission_url,
        instance_xml(photos=("depan.jpg",)),
        {"depan.jpg": photo(100_000)},
    )
    openrosa_message(answer, 201)


# ---- encryption ---------------------------------------------------------------------------------
def encrypted_xml(instance_id: str) -> bytes:
    return (
        '<data id="kunjungan_rumah" version="2026112301" encrypted="yes" '
        'xmlns="http://www.opendatakit.org/xforms/encrypted">'
        "<base64EncryptedKey>c2VjcmV0LWtleS1ibG9i</base64EncryptedKey>"
        f'<meta xmlns="http://openrosa.org/xforms"><instanceID>{instance_id}</instanceID></meta>'
        "<media><file>depan.jpg.enc</file></media>"
        "<encryptedXmlFile>submission.xml.enc</encryptedXmlFile>"
        "<base64EncryptedElementSignature>c2lnbmF0dXJl</base64EncryptedElementSignature>"
        "</data>"
    ).encode()


def test_encrypted_envelope_is_stored_verbatim(transport, svc, seed) -> None:
    """An encrypted submission is stored byte for byte with its .enc parts, flagged encrypted."""
    xml = encrypted_xml(new_id())
    parts = {"submission.xml.enc": photo(400), "depan.jpg.enc": photo(900)}
    answer = post(transport, submission_url(seed), xml, parts, instance_file="submission.xml")
    assert openrosa_message(answer, 201) == "Data berhasil diterima."
    state = stored(svc)
    version = state.versions[0]
    assert version.xml == xml and version.encrypted is True
    files = state.files(version.id)
    assert list(files) == ["submission.xml.enc", "depan.jpg.enc"]
    assert {name: blob_bytes(svc, sha) for name, sha in files.items()} == parts


def test_encrypted_envelope_without_instance_id_is_400(transport, seed) -> None:
    """An encrypted envelope must carry its instanceID in the clear."""
    xml = encrypted_xml("").replace(b"<instanceID></instanceID>", b"")
    answer = post(
        transport,
        submission_url(seed),
        xml,
        {"submission.xml.enc": photo(50)},
        instance_file="submission.xml",
    )
    expect_problem(answer, problems.MISSING_INSTANCE_ID)


# ---- no input is a 500 ------------------------------------------------------------------------
def _fuzz_cases(rng: random.Random, url: str) -> Iterator[tuple[str, str, str, dict, bytes, bool]]:
    """(label, method, url, headers, body, may_succeed) for ~200 hostile requests."""
    base = instance_xml(photos=("depan.jpg",))
    ctypes = [
        "multipart/form-data; boundary=b0undary",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "text/xml",
        "application/octet-stream",
        "multipart/mixed; boundary=b0undary",
        'multipart/form-data; boundary="x"',
        "application/x-www-form-urlencoded",
        "",
        "multipart/form-data; charset=utf-16",
    ]

    def mp(*parts: bytes) -> tuple[dict, bytes]:
        body, ctype = raw_multipart(list(parts))
        return {"Content-Type": ctype}, body

    for i in range(45):
        size = rng.choice([0, 1, 10, 500, 5000])
        yield (
            f"random-bytes-{i}",
            "POST",
            url,
            {"Content-Type": rng.choice(ctypes)},
            rng.randbytes(size),
            False,
        )
    whole = mp(xml_part(base), file_part("depan.jpg", "depan.jpg", photo(2000)))
    for i in range(30):
        cut = rng.randrange(len(whole[1]) - 10)
        yield f"truncated-{i}", "POST", url, whole[0], whole[1][:cut], False
    for i in range(40):
        mutated = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(mutated))
            action = rng.choice(["flip", "delete", "insert"])
            if action == "flip":
                mutated[pos] = rng.randrange(256)
            elif action == "delete":
                del mutated[pos : pos + rng.randint(1, 20)]
            else:
                mutated[pos:pos] = rng.choice(
                    [
                        b"<",
                        b">",
                        b"&",
                        b"\x00",
                        b"]]>",
                        b"<!--",
                        b"&#0;",
                        b"\xc3",
                        b"<x>",
                        b"'",
                        b'"',
                    ]
                )
        headers, body = mp(xml_part(bytes(mutated)))
        yield f"mutated-xml-{i}", "POST", url, headers, body, True
    for i in range(20):
        depth = rng.randint(1, 300)
        tags = [rng.choice(["a", "data", "meta", "x:y", "instanceID", "b1"]) for _ in range(depth)]
        attrs = rng.choice(["", ' id="kunjungan_rumah"', ' id=""', ' version="1"', ' id="x" v="'])
        doc = (
            f"<root{attrs}>"
            + "".join(f"<{t}>" for t in tags)
            + rng.choice(["v", ""])
            + "".join(f"</{t}>" for t in reversed(tags))
            + "</root>"
        )
        headers, body = mp(xml_part(doc.encode()))
        yield f"random-xml-{i}", "POST", url, headers, body, False
    huge_values = {
        "form-id": lambda n: instance_xml(form_id="f" * n, photos=()),
        "version": lambda n: instance_xml(version="9" * n, photos=()),
        "instance-id": lambda n: instance_xml(instance_id="uuid:" + "i" * n, photos=()),
        "deprecated-id": lambda n: instance_xml(deprecated_id="uuid:" + "d" * n, photos=()),
        "instance-name": lambda n: instance_xml(nama="N" * n, photos=()),
        "attribute": lambda n: base.replace(b"<data ", b'<data junk="' + b"j" * n + b'" '),
        "photo-name": lambda n: instance_xml(photos=("p" * n + ".jpg",)),
    }
    for label, build in huge_values.items():
        for n in (256, 5000, 200_000):
            headers, body = mp(xml_part(build(n)))
            yield f"huge-{label}-{n}", "POST", url, headers, body, True
    odd_names = [
        "\x00.jpg",
        "a\x01b.jpg",
        "é.jpg",
        "x" * 300,
        ".",
        "..",
        "",
        " ",
        "con",
        "depan.jpg\x00.exe",
        "%2e%2e%2fevil.jpg",
        "depan.jpg",
    ]
    for i, name in enumerate(odd_names):
        headers, body = mp(
            xml_part(base),
            file_part(
                name or "f",
                name,
                photo(100),
                rng.choice(["image/jpeg", "\x00", "a" * 300, "", "x/y; z"]),
            ),
        )
        yield f"odd-name-{i}", "POST", url, headers, body, True
    yield (
        "duplicate-xml-parts",
        "POST",
        url,
        *mp(xml_part(base), xml_part(instance_xml(photos=()))),
        True,
    )
    yield ("no-disposition", "POST", url, *mp(raw_part(["Content-Type: text/xml"], base)), False)
    yield (
        "many-parts",
        "POST",
        url,
        *mp(
            xml_part(base),
            *[
                raw_part([f'Content-Disposition: form-data; name="f{i}"'], b"x")
                for i in range(1100)
            ],
        ),
        False,
    )
    for i, query in enumerate(
        [
            "deviceID=%00",
            "deviceID=" + "d" * 10_000,
            "deviceID=%ff%fe",
            "deviceID=a&deviceID=b",
            "deviceID",
            "%zz=1",
            "deviceID=" + "%E2%80%AE" * 50,
        ]
    ):
        headers, body = mp(xml_part(instance_xml(photos=())))
        yield f"query-{i}", "POST", f"{url}?{query}", headers, body, True
    for i in range(15):
        method = rng.choice(["GET", "PUT", "DELETE", "PATCH"])
        yield (
            f"method-{i}",
            method,
            url,
            {"Content-Type": rng.choice(ctypes)},
            rng.randbytes(rng.choice([0, 100])),
            False,
        )
    for i, version in enumerate(["2.0", "", "1.0\x7f", "0.9", "1.0, 1.0", "x" * 500]):
        headers, body = mp(xml_part(instance_xml(photos=())))
        yield (
            f"openrosa-version-{i}",
            "POST",
            url,
            {**headers, "X-OpenRosa-Version": version},
            body,
            False,
        )
    for i, elements in enumerate([10_000, 50_000, MAX_ELEMENTS]):
        doc = (
            "<data id='kunjungan_rumah' version='2026112301'>"
            + "<a/>" * elements
            + f"<meta><instanceID>{new_id()}</instanceID></meta></data>"
        )
        headers, body = mp(xml_part(doc.encode()))
        yield f"many-elements-{i}", "POST", url, headers, body, True
    for i, junk in enumerate(["<!-- c -->", "<?pi x?>", "<media><!-- c --></media>"]):
        envelope = encrypted_xml(new_id()).replace(b"<media>", junk.encode() + b"<media>")
        headers, body = mp(xml_part(envelope, "submission.xml"))
        yield f"encrypted-with-junk-{i}", "POST", url, headers, body, True


def test_no_input_yields_a_500(transport, svc, seed) -> None:
    """~200 random, truncated and hostile requests all get a declared answer, never a 500."""
    rng = random.Random(20261123)
    failures = []
    count = 0
    for label, method, url, headers, body, may_succeed in _fuzz_cases(rng, submission_url(seed)):
        count += 1
        answer = transport.request(method, url, headers, body)
        if answer.status in (201, 202) and may_succeed:
            continue
        code = answer.header("X-Verivali-Problem")
        problem = f"{answer.status} {code} {answer.body[:200]!r}"
        if not (400 <= answer.status < 500) or DECLARED.get(code or "") != answer.status:
            failures.append(f"{label}: {problem}")
            continue
        if method != "HEAD":
            try:
                openrosa_message(answer, answer.status)
            except (AssertionError, etree.XMLSyntaxError) as exc:
                failures.append(f"{label}: not an OpenRosa answer ({exc!r}) {problem}")
    assert count >= 200
    assert failures == []
    assert files_under(svc.settings.tmp_dir) == set()
    with svc.db.sessions() as session:
        session.execute(text("SELECT 1"))  # the database is still usable
