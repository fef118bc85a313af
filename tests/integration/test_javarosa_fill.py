"""Forms filled by JavaRosa (ODK Collect's engine) and sent as Collect would send them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from collect import CollectClient, photo
from conftest import IN_CI, ROOT
from sqlalchemy import select

from server.models import Submission, SubmissionAttachment, SubmissionVersion

sys.path.insert(0, str(ROOT / "tests" / "javarosa"))
from filler import fill_form, java_available  # noqa: E402

pytestmark = pytest.mark.java
if not java_available() and not IN_CI:
    pytest.skip("java/javac not installed (CI installs them)", allow_module_level=True)

OUTCOMES = ("ditemukan", "tidak_ditemukan", "pindah", "menolak")


@pytest.fixture(scope="session")
def java_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One working directory per test session, so FormFiller.java is compiled once."""
    return tmp_path_factory.mktemp("javarosa")


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_javarosa_filled_instance_is_accepted(
    outcome: str, collect_token: CollectClient, svc, java_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    """The instance JavaRosa serialises for each visit outcome is stored byte for byte."""
    local = collect_token.download_all()[0]
    answers = {
        "desa": "3573041002",
        "nama_krt": "Siti Aminah",
        "nik_krt": "3573044506850001",
        "hasil": outcome,
        "jumlah_art": "3",
        "foto_depan": "depan.jpg",
        "foto_samping": "samping.jpg",
        "foto_belakang": "belakang.jpg",
        "lokasi": "-7.9797 112.6304 450 4.5",
        "@property.deviceid": collect_token.device_id,
    }
    xml = fill_form(local.xml, answers, java_dir, media=local.media_bytes)
    photos = {n: photo(5000) for n in ("depan.jpg", "samping.jpg", "belakang.jpg")}
    upload = collect_token.submit(xml, photos)
    assert upload.status == 201, upload.message()
    with svc.db.sessions() as session:
        stored = session.scalar(select(SubmissionVersion.xml))
        assert stored == xml
        instance_id = session.scalar(select(Submission.instance_id))
        assert instance_id and instance_id.startswith("uuid:")
        names = sorted(session.scalars(select(SubmissionAttachment.name)))
        assert names == sorted(photos)


def test_javarosa_refuses_what_the_form_forbids(
    collect_token: CollectClient, java_dir: Path
) -> None:
    """A NIK that is not 16 digits is stopped on the phone by the form's constraint."""
    from filler import FormFillerError

    local = collect_token.download_all()[0]
    with pytest.raises(FormFillerError) as caught:
        fill_form(
            local.xml,
            {"desa": "3573041002", "nama_krt": "X", "nik_krt": "12345"},
            java_dir,
            media=local.media_bytes,
        )
    assert "nik_krt" in str(caught.value.stderr)
