"""The form designer's pages through HTTP: publishing an XLSForm with media and rule
settings, pyxform's and JavaRosa's refusals shown on the page, new versions, form states,
downloads, who may reach them, and uploads that are unsafe, oversized or garbage."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from collect import WsgiTransport
from conftest import Seed, signed_in
from review_world import World, build, csrf_of
from sqlalchemy import func, select
from sqlalchemy.orm import undefer
from test_forms import colour_form, requires_java, write_md, write_xlsx
from test_validation_pipeline import FORM as RULED_FORM
from test_validation_pipeline import RULES

from server.models import AuditEvent, Form, FormVersion, User


@pytest.fixture
def world(svc, seed: Seed, tmp_path: Path, transport: WsgiTransport) -> World:  # type: ignore[no-untyped-def]
    """Two teams' checked submissions (see review_world); the designer is a member."""
    return build(svc, seed, tmp_path, transport)


def forms_url(world: World, *rest: str) -> str:
    return "/".join([f"/projects/{world.project_id}/forms", *rest])


def upload(client, world: World, xlsform=None, media=(), rules=None, form_id: str = ""):  # type: ignore[no-untyped-def]
    """POST a multipart upload from the forms page, as the browser sends it."""
    page = forms_url(world, form_id) if form_id else forms_url(world)
    token = csrf_of(client.get(page).get_data(as_text=True))
    data: dict[str, object] = {"csrf_token": token}
    if form_id:
        data["form_id"] = form_id
    if xlsform is not None:
        data["xlsform"] = (io.BytesIO(xlsform[1]), xlsform[0])
    data["media"] = [(io.BytesIO(body), name) for name, body in media]
    if rules is not None:
        data["rules"] = (io.BytesIO(rules[1]), rules[0])
    answer = client.post(forms_url(world), data=data, content_type="multipart/form-data")
    answer.request.input_stream.close()  # the test client spools big bodies to a file
    return answer


def xlsx(tmp_path: Path, form_id: str, version: str = "2025010101") -> tuple[str, bytes]:
    path = write_xlsx(tmp_path / f"{form_id}.xlsx", colour_form(form_id, version))
    return path.name, path.read_bytes()


def md(tmp_path: Path, name: str, text: str) -> tuple[str, bytes]:
    return name, text.encode()


def count_forms(svc) -> int:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Form)) or 0)


def versions(svc, world: World, form_id: str) -> list[FormVersion]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return list(
            session.scalars(
                select(FormVersion)
                .options(undefer(FormVersion.xml))
                .join(Form, Form.id == FormVersion.form_id)
                .where(Form.project_id == world.project_id, Form.xml_form_id == form_id)
                .order_by(FormVersion.id)
            )
        )


def page_text(answer) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", answer.get_data(as_text=True))


def test_designer_publishes_an_xlsform_and_sees_it_listed(
    app, svc, world: World, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A designer uploads a workbook with media; the form is listed, its page shows the version."""
    client = signed_in(app, "desainer")
    listed = client.get(forms_url(world))
    assert listed.status_code == 200
    assert "uji_aturan" in listed.get_data(as_text=True)
    assert "kunjungan_rumah" in listed.get_data(as_text=True)
    answer = upload(client, world, xlsx(tmp_path, "warna"), media=[("desa.csv", b"kode\n1\n")])
    assert answer.status_code == 302, page_text(answer)
    assert answer.headers["Location"].endswith(forms_url(world, "warna"))
    page = page_text(client.get(answer.headers["Location"]))
    assert "Versi 2025010101 diterbitkan." in page
    assert "desa.csv" in page and "desainer" in page
    listed_text = page_text(client.get(forms_url(world)))
    assert 'data-form="warna"' in listed_text and "Warna warna" in listed_text
    with svc.db.sessions() as session:
        actor = session.scalar(
            select(AuditEvent.actor_id)
            .where(AuditEvent.action == "form.publish")
            .order_by(AuditEvent.id.desc())
        )
        designer = session.scalar(select(User.id).where(User.username == "desainer"))
    assert actor == designer


def test_list_counts_submissions_per_form(app, world: World) -> None:  # type: ignore[no-untyped-def]
    """The forms list shows each form's count of submissions and the last one's time."""
    client = signed_in(app, "admin")
    html = page_text(client.get(forms_url(world)))
    row = re.search(r'data-form="uji_aturan">(.*?)</tr>', html)
    assert row is not None
    sent = sum(len(ids) for ids in world.by_enumerator.values())
    assert f"<td>{sent}</td>" in row.group(1)
    assert re.search(r"\d\d-\d\d-\d{4} \d\d\.\d\d W", row.group(1))


def test_broken_xlsform_shows_pyxform_error_and_publishes_nothing(
    app, svc, world: World, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """An unknown question type is shown with its sheet and row; nothing is published."""
    client = signed_in(app, "desainer")
    before = count_forms(svc)
    text = (
        "| survey |\n| | type | name | label |\n| | text | a | A |\n| | tex | b | B |\n"
        "| settings |\n| | form_id |\n| | rusak |\n"
    )
    answer = upload(client, world, md(tmp_path, "rusak.md", text))
    assert answer.status_code == 422
    html = page_text(answer)
    assert "Formulir tidak dapat dikonversi" in html
    assert "<td>survey</td><td>3</td>" in html
    assert "Tipe pertanyaan tidak dikenal" in html and "tex" in html
    assert "Tidak ada yang diterbitkan" in html
    assert count_forms(svc) == before


def test_second_upload_makes_a_new_version(app, svc, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A new version from the form's page; the same file is a no-op; another form is refused."""
    client = signed_in(app, "desainer")
    assert upload(client, world, xlsx(tmp_path, "warna")).status_code == 302
    second = upload(client, world, xlsx(tmp_path, "warna", "2025010102"), form_id="warna")
    assert second.status_code == 302
    page = page_text(client.get(forms_url(world, "warna")))
    assert 'data-version="2025010102"' in page and 'data-version="2025010101"' in page
    assert re.search(r'data-version="2025010102">.*?sekarang', page)
    assert [v.version for v in versions(svc, world, "warna")] == ["2025010101", "2025010102"]
    again = upload(client, world, xlsx(tmp_path, "warna", "2025010102"), form_id="warna")
    assert "Tidak ada yang berubah" in page_text(client.get(again.headers["Location"]))
    other = upload(client, world, xlsx(tmp_path, "lain"), form_id="warna")
    assert other.status_code == 409
    assert "mendefinisikan formulir lain, bukan warna" in page_text(other)
    reused = upload(client, world, xlsx(tmp_path, "warna", "2025010101"), form_id="warna")
    assert reused.status_code == 409 and "2025010101" in page_text(reused)
    assert len(versions(svc, world, "warna")) == 2


def test_new_version_without_settings_keeps_rule_settings(
    app, svc, world: World, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Rule settings upload with the form; a later version without a settings file keeps them."""
    client = signed_in(app, "desainer")
    bumped = RULED_FORM.replace("2026112301", "2026112302")
    answer = upload(client, world, md(tmp_path, "uji_aturan.md", bumped), form_id="uji_aturan")
    assert answer.status_code == 302, page_text(answer)
    rows = versions(svc, world, "uji_aturan")
    assert rows[-1].version == "2026112302" and rows[-1].rule_settings == rows[0].rule_settings
    bad_rules = ("uji_aturan.toml", RULES.replace('kk = "kk"', 'kk = "tidak_ada"').encode())
    third = RULED_FORM.replace("2026112301", "2026112303")
    refused = upload(client, world, md(tmp_path, "uji_aturan.md", third), rules=bad_rules)
    assert refused.status_code == 422
    assert "tidak_ada" in page_text(refused) and "pengaturan aturan" in page_text(refused)


def test_state_change_is_saved_and_audited(app, svc, world: World) -> None:  # type: ignore[no-untyped-def]
    """The designer closes a form from its page, audited; a made-up state is refused."""
    client = signed_in(app, "desainer")
    page = forms_url(world, "uji_aturan")
    token = csrf_of(client.get(page).get_data(as_text=True))
    done = client.post(page + "/state", data={"csrf_token": token, "state": "closing"})
    assert done.status_code == 302
    assert "Menjelang tutup" in page_text(client.get(page))
    with svc.db.sessions() as session:
        form = session.scalar(select(Form).where(Form.xml_form_id == "uji_aturan"))
        assert form is not None and form.state == "closing"
        audited = session.scalar(
            select(AuditEvent.details).where(
                AuditEvent.action == "form.state", AuditEvent.subject_id == form.id
            )
        )
    assert audited == {"old": "open", "new": "closing"}
    wrong = client.post(page + "/state", data={"csrf_token": token, "state": "archived"})
    assert wrong.status_code == 422


def test_downloads_give_the_xform_and_the_source(app, svc, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A version's XForm XML and its XLSForm come back as published; other forms' IDs are 404."""
    client = signed_in(app, "desainer")
    name, body = xlsx(tmp_path, "warna")
    assert upload(client, world, (name, body)).status_code == 302
    version = versions(svc, world, "warna")[0]
    xml = client.get(forms_url(world, "warna", "versions", str(version.id), "form.xml"))
    assert xml.status_code == 200 and xml.data == version.xml
    assert "warna-2025010101.xml" in xml.headers["Content-Disposition"]
    source = client.get(forms_url(world, "warna", "versions", str(version.id), "source"))
    assert source.status_code == 200 and source.data == body
    source.close()
    assert "warna.xlsx" in source.headers["Content-Disposition"]
    other = versions(svc, world, "uji_aturan")[0].id
    assert (
        client.get(forms_url(world, "warna", "versions", str(other), "form.xml")).status_code == 404
    )
    assert client.get(forms_url(world, "tidak_ada")).status_code == 404


@pytest.mark.parametrize("who", ["koordinator1", "pengamat", "pencacah1"])
def test_other_roles_find_no_form_pages(app, world: World, tmp_path: Path, who: str) -> None:  # type: ignore[no-untyped-def]
    """Supervisors, viewers and enumerators get 404 on the form pages, uploads included."""
    client = signed_in(app, who)
    assert client.get(forms_url(world)).status_code == 404
    assert client.get(forms_url(world, "uji_aturan")).status_code == 404
    token = csrf_of(client.get("/account/password").get_data(as_text=True))
    sent = client.post(
        forms_url(world),
        data={"csrf_token": token, "xlsform": (io.BytesIO(xlsx(tmp_path, "warna")[1]), "w.xlsx")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 404
    assert app.test_client().get(forms_url(world)).status_code == 302


@pytest.mark.parametrize("name", ["../../evil.csv", "..\\evil.csv", "/etc/evil.csv", ".hidden"])
def test_traversal_in_media_name_refused(app, svc, world: World, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """A media file name with a path is refused (400) and nothing is published or written."""
    client = signed_in(app, "desainer")
    answer = upload(client, world, xlsx(tmp_path, "warna"), media=[(name, b"x,y\n")])
    assert answer.status_code == 400, page_text(answer)
    assert "Nama berkas" in page_text(answer)
    assert versions(svc, world, "warna") == []
    assert not (svc.settings.data_dir.parent / "evil.csv").exists()
    assert not any(svc.settings.tmp_dir.glob("upload-*"))


def test_oversized_upload_refused_with_clear_page(app, svc, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A file over the per-file limit, or a body over the upload limit, gets a clear 413 page."""
    client = signed_in(app, "desainer")
    svc.settings = svc.settings.with_overrides(max_form_upload_bytes=20_000)
    big = upload(client, world, xlsx(tmp_path, "warna"), media=[("peta.png", os.urandom(30_000))])
    assert big.status_code == 413
    assert big.headers["X-Verivali-Problem"] == "413.2"
    assert "peta.png terlalu besar (batas 0.02 MB per berkas)" in page_text(big)
    svc.settings = svc.settings.with_overrides(max_submission_bytes=20_000)
    huge = upload(client, world, xlsx(tmp_path, "warna"), media=[("peta.png", bytes(1_100_000))])
    assert huge.status_code == 413
    assert huge.headers["X-Verivali-Problem"] == "413.3"
    assert "Unggahan terlalu besar" in page_text(huge)
    assert versions(svc, world, "warna") == []


def test_garbage_uploads_are_refused_not_a_500(app, svc, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Random bytes, an empty file, a wrong extension, no file or a zip bomb: a clear refusal."""
    client = signed_in(app, "desainer")
    bomb = tmp_path / "bom.xlsx"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w") as entry,
    ):
        for _ in range(201):
            entry.write(bytes(1 << 20))
    cases = {
        ("acak.xlsx", os.urandom(5000)): (422, "rusak atau bukan .xlsx"),
        ("acak.xls", os.urandom(5000)): (422, "tidak dapat dibaca sebagai XLSForm"),
        ("kosong.xlsx", b""): (422, "Berkas kosong.xlsx kosong."),
        ("formulir.pdf", b"%PDF-1.4"): (415, "formulir.pdf tidak didukung"),
        ("bom.xlsx", bomb.read_bytes()): (422, "zip bomb"),
        ("tabel.csv", b"\xff\xfe\x00garbage,\x00\n"): (422, "Formulir tidak dapat dikonversi"),
    }
    for (name, body), (status, text) in cases.items():
        answer = upload(client, world, (name, body))
        assert answer.status_code == status, (name, page_text(answer)[-600:])
        assert text in page_text(answer), name
    nothing = upload(client, world)
    assert nothing.status_code == 422 and "Pilih berkas XLSForm" in page_text(nothing)
    assert versions(svc, world, "acak") == [] and versions(svc, world, "bom") == []
    assert not any(svc.settings.tmp_dir.glob("upload-*"))


@requires_java
def test_javarosa_errors_are_shown_without_java_noise(
    app, svc, world: World, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A form JavaRosa rejects shows its message without the Java stack trace; none is published."""
    client = signed_in(app, "desainer")
    svc.settings = svc.settings.with_overrides(java_validate=True)
    text = (
        "| survey |\n| | type | name | label | calculation |\n| | integer | a | A | |\n"
        "| | calculate | c | | fungsi_tidak_ada(${a}) |\n"
        "| settings |\n| | form_id | version |\n| | salah_fungsi | 1 |\n"
    )
    answer = upload(client, world, md(tmp_path, "salah_fungsi.md", text))
    assert answer.status_code == 422
    html = page_text(answer)
    assert "JavaRosa" in html and "fungsi_tidak_ada" in html
    assert "Something broke" not in html and "Caused by" not in html and "Result:" not in html
    assert versions(svc, world, "salah_fungsi") == []
    good = upload(client, world, xlsx(tmp_path, "warna"))
    assert good.status_code == 302
    assert "tidak ada kesalahan" in page_text(client.get(good.headers["Location"]))


def test_pages_speak_english_on_request(app, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The forms pages and their refusals follow the reader's language."""
    client = signed_in(app, "desainer")
    token = csrf_of(client.get(forms_url(world)).get_data(as_text=True))
    client.post("/language", data={"csrf_token": token, "lang": "en", "next": forms_url(world)})
    assert "Publish a form" in page_text(client.get(forms_url(world)))
    refused = upload(client, world, ("kosong.md", b""))
    assert refused.status_code == 422 and "File kosong.md is empty." in page_text(refused)


def test_written_md_twin_publishes_like_the_workbook(
    app, svc, world: World, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A markdown XLSForm (.md, as the CLI accepts) publishes from the web too."""
    client = signed_in(app, "desainer")
    path = write_md(tmp_path / "warna_md.md", colour_form("warna_md"))
    answer = upload(client, world, (path.name, path.read_bytes()))
    assert answer.status_code == 302
    assert [v.source_name for v in versions(svc, world, "warna_md")] == ["warna_md.md"]
