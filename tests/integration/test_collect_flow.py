"""End-to-end behaviour as ODK Collect sees it: list, download, submit, update."""

from __future__ import annotations

import pytest
from collect import CollectClient, instance_xml, photo
from sqlalchemy import select

from server.models import Submission, SubmissionAttachment, SubmissionVersion


def test_digest_handshake_then_form_list(collect: CollectClient) -> None:
    """Collect gets a 401 Digest challenge, answers it, and sees the project's forms."""
    forms = collect.form_list()
    assert [f.form_id for f in forms] == ["kunjungan_rumah"]
    assert collect.challenges == 1


def test_download_form_and_media_hashes_match(collect: CollectClient) -> None:
    """The form and its media download with hashes matching formList and the manifest."""
    local = collect.download_all()[0]
    assert local.media == {"desa.csv": local.media["desa.csv"]}
    assert collect.updates() == {"kunjungan_rumah": "up to date"}


def test_token_client_submits_with_photos(collect_token: CollectClient, svc) -> None:
    """A phone set up by QR (token URL) sends a form with three photos: 201, all stored."""
    photos = {n: photo(2000) for n in ("depan.jpg", "samping.jpg", "belakang.jpg")}
    upload = collect_token.submit(instance_xml(), photos)
    assert upload.status == 201
    assert upload.message() == "Data berhasil diterima."
    with svc.db.sessions() as session:
        assert session.scalar(select(Submission.device_id)) == collect_token.device_id
        rows = session.scalars(select(SubmissionAttachment)).all()
        assert sorted(r.name for r in rows) == sorted(photos)
        assert all(svc.store.path(r.blob_sha256).read_bytes() == photos[r.name] for r in rows)
        assert session.scalar(select(SubmissionVersion.complete)) is True


@pytest.mark.real_password_hash
def test_passwords_are_stored_with_scrypt_and_digest_ha1(svc, seed) -> None:  # type: ignore[no-untyped-def]
    """Passwords are kept as a scrypt hash plus the Digest HA1, never in clear."""
    from conftest import PASSWORD

    from server.accounts.digest import ha1_for
    from server.accounts.service import do_create_user
    from server.models import User

    with svc.db.transaction() as session:
        do_create_user(session, "kuat", "enumerator", svc.settings.realm, password=PASSWORD)
    with svc.db.sessions() as session:
        user = session.scalar(select(User).where(User.username == "kuat"))
        assert user.password_hash.startswith("scrypt:")
        assert PASSWORD not in user.password_hash
        assert user.digest_ha1 == ha1_for("kuat", svc.settings.realm, PASSWORD)
