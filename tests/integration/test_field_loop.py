"""The whole field loop through HTTP: a synthetic registry is imported, a target list made
and split between two enumerators; each phone downloads the questionnaire and only its own
households, JavaRosa fills the form from those lists, the phones submit with photos, and
the visited households leave their lists while the other phone never sees them."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from collect import CollectClient, LocalForm, WsgiTransport, photo
from conftest import IN_CI, PASSWORD, ROOT, Seed
from test_cli import run_inline
from test_questionnaire import HOUSE, INTERVIEW, NEW_BABY

from server.registry.synth import write_synthetic

sys.path.insert(0, str(ROOT / "tests" / "javarosa"))
from filler import fill_form, java_available  # noqa: E402

pytestmark = pytest.mark.java
if not java_available() and not IN_CI:
    pytest.skip("java/javac not installed (CI installs them)", allow_module_level=True)

SUKUN = "357304"
PHOTOS = ("depan.jpg", "samping.jpg", "belakang.jpg")


def verivali(svc, *args: str) -> str:  # type: ignore[no-untyped-def]
    """Run a `verivali` command in-process against the test instance; its stdout."""
    env = {
        "VERIVALI_DATA_DIR": str(svc.settings.data_dir),
        "VERIVALI_DATABASE_URL": svc.settings.database_url,
        "VERIVALI_JAVA_VALIDATE": "false",
        "VERIVALI_REGIONS_WITHIN": "3573",
    }
    outcome = run_inline(env, *args)
    assert outcome.code == 0, outcome.err
    return outcome.out


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def questionnaire(phone: CollectClient) -> LocalForm:
    return next(f for f in phone.download_all() if f.form_id == "verval_ruta")


def keys(form: LocalForm) -> set[str]:
    return {row["name"] for row in rows(form.media_bytes["sasaran.csv"])}


def found_answers(form: LocalForm, target: str) -> dict[str, str]:
    """A found household: every registry member present with their NIK checked, one baby."""
    members = [r for r in rows(form.media_bytes["sasaran_anggota.csv"]) if r["sasaran"] == target]
    answers = {
        "jenis_kunjungan": "daftar",
        "sasaran": target,
        "hasil": "ditemukan",
        "persetujuan": "ya",
        **HOUSE,
        "kk/kk_sesuai": "ya",
        "jumlah_art": str(len(members) + 1),
        **NEW_BABY,
        **INTERVIEW,
    }
    for member in members:
        position = member["urut"]
        answers[f"anggota/status_anggota#{position}"] = "ada"
        answers[f"anggota/nik_sesuai#{position}"] = "ya"
    return answers


@pytest.fixture
def java_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where FormFiller is compiled (once per test session, by content hash)."""
    return tmp_path_factory.getbasetemp() / "javarosa"


def test_field_loop(svc, seed: Seed, transport: WsgiTransport, tmp_path: Path, java_dir) -> None:  # type: ignore[no-untyped-def]
    """Registry → list → two enumerators → own lists only → JavaRosa → submit → lists shrink."""
    write_synthetic("3573", 400, 23, tmp_path / "synth")
    verivali(svc, "init")
    verivali(svc, "registry", "import", str(tmp_path / "synth" / "dtks.csv"), "--source", "dtks")
    verivali(svc, "users", "add", "pencacah2", "--role", "enumerator", "--project", "1")
    verivali(svc, "users", "token", "pencacah2")
    verivali(svc, "forms", "publish", str(ROOT / "forms" / "verval_ruta.xlsx"), "--project", "1")
    made = verivali(
        svc,
        "assign",
        "make-list",
        "Sukun",
        "--source",
        "dtks",
        "--kecamatan",
        SUKUN,
        "--project",
        "1",
    )
    assert made.startswith("list Sukun: ")
    for username in ("pencacah1", "pencacah2"):
        verivali(svc, "assign", "give", "Sukun", username, "--count", "3", "--project", "1")

    phones = {}
    for username in ("pencacah1", "pencacah2"):
        # The URL the QR code carries, on the test's in-process host.
        url = urlsplit(verivali(svc, "users", "token", username).strip())
        phones[username] = CollectClient(transport, f"http://localhost{url.path}")
    one, two = phones["pencacah1"], phones["pencacah2"]
    first, second = questionnaire(one), questionnaire(two)
    mine, theirs = keys(first), keys(second)
    assert len(mine) == len(theirs) == 3 and not mine & theirs

    visited = {}
    for phone, form, outcome in ((one, first, "ditemukan"), (two, second, "tidak_ditemukan")):
        target = sorted(keys(form))[0]
        if outcome == "ditemukan":
            answers = found_answers(form, target)
        else:
            answers = {
                "jenis_kunjungan": "daftar",
                "sasaran": target,
                "hasil": outcome,
                **HOUSE,
                "keterangan/nama_informan": "Slamet",
                "keterangan/hubungan_informan": "ketua_rt_rw",
                "keterangan/penjelasan": "Rumah kosong sejak tahun lalu",
            }
        answers["@property.deviceid"] = phone.device_id
        xml = fill_form(
            form.xml, answers, java_dir, media=form.media_bytes, timezone="Asia/Jakarta"
        )
        upload = phone.submit(xml, {name: photo(20_000) for name in PHOTOS})
        assert upload.status == 201, upload.message()
        visited[phone] = target

    # Each phone's next check sees its own list changed, and gets it without the visit.
    assert one.updates()["verval_ruta"] == two.updates()["verval_ruta"] == "updated media"
    left = {phone: keys(questionnaire(phone)) for phone in (one, two)}
    for phone in (one, two):
        assert visited[phone] not in left[phone] and len(left[phone]) == 2
    assert not left[one] & left[two] and not left[one] & theirs and not left[two] & mine

    outsider = CollectClient(
        transport, f"http://localhost/v1/key/{seed.outsider_token}/projects/{seed.project_id}"
    )
    assert outsider.send("GET", f"{outsider.server_url}/formList").status == 403

    admin = CollectClient(transport, "http://localhost/v1/projects/1", "admin", PASSWORD)
    progress = json.loads(admin.send("GET", f"{admin.server_url}/progress").body)
    assert progress["total"]["visited"] == 2
    assert progress["total"]["outcomes"] == {"ditemukan": 1, "tidak_ditemukan": 1}
    by_enumerator = {row["key"]: (row["targets"], row["visited"]) for row in progress["enumerator"]}
    assert by_enumerator["pencacah1"] == by_enumerator["pencacah2"] == (3, 1)
