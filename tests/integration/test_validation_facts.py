"""The rules' view of a real questionnaire instance: JavaRosa fills verval_ruta and the
bridge reads it through forms/verval_ruta.toml into a Visit."""

from __future__ import annotations

import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest
from conftest import IN_CI, ROOT
from test_questionnaire import FOUND, LIST_MEDIA

from server.forms.xlsform import convert_xlsform
from server.rules.settings import parse_settings
from server.validation.facts import Received, visit_from_instance

sys.path.insert(0, str(ROOT / "tests" / "javarosa"))
from filler import fill_form, java_available  # noqa: E402

pytestmark = pytest.mark.java
if not java_available() and not IN_CI:
    pytest.skip("java/javac not installed (CI installs them)", allow_module_level=True)

SETTINGS = parse_settings(tomllib.loads((ROOT / "forms" / "verval_ruta.toml").read_text()))


@pytest.fixture(scope="module")
def found_xml(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The found household of the questionnaire test, as JavaRosa serialises it."""
    xform = convert_xlsform(ROOT / "forms" / "verval_ruta.xlsx").render("2026112301")
    answers = {k: v for k, v in FOUND.items() if v is not None}
    work = tmp_path_factory.getbasetemp() / "javarosa"
    return fill_form(xform, answers, Path(work), media=LIST_MEDIA, timezone="Asia/Jakarta")


def test_found_household_becomes_a_visit(found_xml: bytes) -> None:
    """Outcome, consent, photos, members with corrections, death and the new baby come through."""
    files = {name: (True, None) for name in ("depan.jpg", "samping.jpg", "ktp_siti.jpg")}
    visit = visit_from_instance(
        found_xml,
        SETTINGS.fields,
        Received(submission_id=7, current_form_version="2026112301", files=files),
    )
    assert (visit.target_key, visit.visit_type, visit.outcome) == ("1042", "daftar", "ditemukan")
    assert visit.consent is True and visit.household_size == 3
    assert visit.form_version == "2026112301"
    assert visit.location is not None and visit.location.accuracy == 4.5
    assert visit.started is not None and visit.ended is not None and visit.started.tzinfo
    assert [(p.field, p.received) for p in visit.photos] == [
        ("foto_depan", True),
        ("foto_samping", True),
        ("foto_belakang", False),
    ]
    assert visit.assets == {"gas", "sepeda_motor", "smartphone"}
    statuses = [(m.path, m.status) for m in visit.members]
    assert statuses == [
        ("anggota[1]", "ada"),
        ("anggota[2]", "ada"),
        ("anggota[3]", "pindah_dalam_negeri"),
        ("anggota[4]", "meninggal"),
        ("anggota_baru[1]", "baru"),
    ]
    corrected = visit.members[1]
    assert corrected.nik == "3573044506850002" and corrected.nik_corrected and corrected.id_photo
    assert corrected.registry_nik and corrected.registry_nik != corrected.nik
    dead = visit.members[3]
    assert dead.death_date == date(2025, 8, 17) and not dead.death_document  # file not received
    head = visit.members[0]
    assert head.relationship == "1" and head.registry_key and not head.nik_corrected
    baby = visit.members[4]
    assert baby.new and baby.relationship == "5" and baby.birth_date == date(2025, 2, 3)
    assert [m.path for m in visit.people()] == ["anggota[1]", "anggota[2]", "anggota_baru[1]"]
    assert visit.answers["anggota[4]/status_anggota"] == "meninggal"
    assert visit.answers["perumahan/daya"] == "1"
