"""Publishing forms: XLSForm formats, conversion errors in designer words, unsafe workbooks,
versions and what Collect sees of them, media and manifests, form states, JavaRosa checks.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
import xlwt
from collect import CollectClient, CollectError, instance_xml
from conftest import IN_CI, ROOT, Seed, publish
from sqlalchemy import select

from server import problems
from server.accounts import service as accounts
from server.forms import queries
from server.forms.service import PublishResult, check_media_name, do_publish_form, do_set_form_state
from server.forms.xlsform import SUFFIXES, convert_xlsform
from server.models import AuditEvent, Form, FormVersion
from server.problems import Problem, ProblemError
from server.services import Services

SHIPPED = ROOT / "forms"
SHIPPED_MEDIA = SHIPPED / "media" / "kunjungan_rumah"
# For checks that happen before any SQL (file safety, JavaRosa): one backend is enough.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


def requires_java(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a JavaRosa test; skip it without Java, except in CI where Java must be present."""
    test = pytest.mark.java(test)
    return pytest.mark.skipif(
        shutil.which("java") is None and not IN_CI, reason="Java is not installed"
    )(test)


Sheets = dict[str, list[list[str]]]


def colour_form(form_id: str, version: str = "2025010101") -> Sheets:
    """A two-question XLSForm as sheets of rows (header first)."""
    return {
        "survey": [
            ["type", "name", "label"],
            ["text", "nama", "Nama"],
            ["select_one warna", "warna", "Warna favorit"],
        ],
        "choices": [
            ["list_name", "name", "label"],
            ["warna", "merah", "Merah"],
            ["warna", "biru", "Biru"],
        ],
        "settings": [["form_title", "form_id", "version"], [f"Warna {form_id}", form_id, version]],
    }


@pytest.fixture
def project(svc: Services) -> int:
    """An empty project, for tests that need no users (password hashing is slow)."""
    with svc.db.transaction() as session:
        return accounts.do_create_project(session, "Kota Batu").id


def write_xlsx(path: Path, sheets: Sheets) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    workbook.close()
    return path


def write_xls(path: Path, sheets: Sheets) -> Path:
    workbook = xlwt.Workbook()
    for name, rows in sheets.items():
        sheet = workbook.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
    workbook.save(str(path))
    return path


def write_csv(path: Path, sheets: Sheets) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for name, rows in sheets.items():
            writer.writerow([name] + [""] * len(rows[0]))
            for row in rows:
                writer.writerow(["", *row])
    return path


def write_md(path: Path, sheets: Sheets) -> Path:
    lines = []
    for name, rows in sheets.items():
        lines.append(f"| {name} |")
        lines.extend("| | " + " | ".join(row) + " |" for row in rows)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


WRITERS = {"xlsx": write_xlsx, "xls": write_xls, "csv": write_csv, "md": write_md}


def md_form(tmp_path: Path, text: str, name: str = "formulir.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def publish_full(
    svc: Services,
    project_id: int,
    path: Path,
    media: list[Path] | None = None,
    **overrides: object,
) -> PublishResult:
    """Publish and return the whole PublishResult (settings may be overridden)."""
    settings = svc.settings.with_overrides(**overrides) if overrides else svc.settings
    with svc.db.transaction() as session:
        return do_publish_form(session, settings, svc.store, project_id, path, media or [])


def refused(
    problem: Problem,
    svc: Services,
    project_id: int,
    path: Path,
    media: list[Path] | None = None,
    **overrides: object,
) -> ProblemError:
    """Publishing fails with `problem`; the error is returned for a closer look."""
    with pytest.raises(ProblemError) as caught:
        publish_full(svc, project_id, path, media, **overrides)
    assert caught.value.problem is problem, caught.value.message("en")
    return caught.value


def set_state(svc: Services, project_id: int, form_id: str, state: str) -> None:
    with svc.db.transaction() as session:
        form = queries.form_by_xml_id(session, project_id, form_id)
        assert form is not None
        do_set_form_state(session, form, state)


def form_count(svc: Services) -> int:
    with svc.db.sessions() as session:
        return len(session.scalars(select(Form)).all())


def versions_of(svc: Services, project_id: int, form_id: str) -> list[FormVersion]:
    """Every version of a form, oldest first, with its XML loaded."""
    with svc.db.sessions() as session:
        form = queries.form_by_xml_id(session, project_id, form_id)
        assert form is not None
        rows = session.scalars(
            select(FormVersion).where(FormVersion.form_id == form.id).order_by(FormVersion.id)
        ).all()
        for row in rows:
            _ = row.xml  # load the deferred column before the session closes
        return list(rows)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


HOUSE_VISIT = (SHIPPED / "kunjungan_rumah.md").read_text(encoding="utf-8")


def house_visit(tmp_path: Path, version: str = "2026112301", label: str | None = None) -> Path:
    """The shipped house-visit form, optionally with another version or a changed label."""
    text = HOUSE_VISIT.replace(
        "| kunjungan_rumah | 2026112301 |", f"| kunjungan_rumah | {version} |"
    )
    if label is not None:
        text = text.replace("| Catatan |", f"| {label} |")
    return md_form(tmp_path, text, "kunjungan_rumah.md")


# ---- formats -------------------------------------------------------------------------------


def test_each_xlsform_format_publishes_and_is_listed(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:
    """An XLSForm saved as .xlsx, .xls, .csv or .md converts and Collect downloads it."""
    published = {}
    for suffix, write in WRITERS.items():
        form_id = f"warna_{suffix}"
        path = write(tmp_path / f"{form_id}.{suffix}", colour_form(form_id))
        version, digest, created = publish(svc, seed.project_id, path)
        assert (version, created) == ("2025010101", True), suffix
        published[form_id] = digest
    listed = {f.form_id: f for f in collect.form_list()}
    assert set(listed) == {"kunjungan_rumah", *published}
    for form_id, digest in published.items():
        entry = listed[form_id]
        assert (entry.name, entry.version) == (f"Warna {form_id}", "2025010101")
        assert entry.hash == f"md5:{digest}" and entry.manifest_url is None
        assert b"<label>Warna favorit</label>" in collect.download(entry).xml
    # The same questionnaire gives the same XForm whatever the file format.
    assert len({collect.forms[f].xml.replace(f.encode(), b"") for f in published}) == 1


def test_shipped_suffixes_are_the_ones_tested() -> None:
    """The formats the publisher accepts are exactly the four covered here."""
    assert set(SUFFIXES) == {f".{s}" for s in WRITERS}


# ---- conversion errors and warnings --------------------------------------------------------

BROKEN = {
    "unknown type": (
        "| | text | a | A | |\n| | txet | b | B | |\n",
        "Tipe pertanyaan tidak dikenal",
    ),
    "list missing from choices": (
        "| | text | a | A | |\n| | select_one warna | b | B | |\n",
        "Nama daftar pilihan tidak ada di lembar 'choices'",
    ),
    "duplicate names": (
        "| | text | a | A | |\n| | integer | a | B | |\n",
        "Nama harus unik",
    ),
    "bad reference": (
        "| | text | a | A | |\n| | text | b | B | ${tidak_ada} = 'x' |\n",
        "Rujukan ${...}",
    ),
    "missing label": (
        "| | text | a | A | |\n| | text | b | | |\n",
        "Pertanyaan tanpa label",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_conversion_error_names_sheet_and_row(case: str, svc, project: int, tmp_path: Path) -> None:
    """A broken XLSForm is refused with the sheet, the row and a hint in the designer's words."""
    rows, hint = BROKEN[case]
    text = (
        "| survey |\n| | type | name | label | relevant |\n"
        + rows
        + "| choices |\n| | list_name | name | label |\n| | lain | x | X |\n"
    )
    error = refused(problems.XLSFORM_INVALID, svc, project, md_form(tmp_path, text))
    message = error.message()
    assert error.status == 422
    assert "Lembar 'survey'" in message
    assert "baris 3" in message
    assert hint in message
    assert form_count(svc) == 0


def test_warnings_carry_sheet_and_row(svc, project: int, tmp_path: Path) -> None:
    """pyxform's warnings are kept on the version with their sheet and row."""
    text = (
        "| survey |\n| | type | name | label |\n| | text | a | A |\n"
        "| | image | foto | Foto |\n"
        "| settings |\n| | form_id | version |\n| | berfoto | 1 |\n"
    )
    result = publish_full(svc, project, md_form(tmp_path, text))
    assert any(
        w.startswith("Lembar 'survey', baris 3") and "max-pixels" in w for w in result.warnings
    ), result.warnings
    assert versions_of(svc, project, "berfoto")[0].warnings == result.warnings


@pytest.mark.parametrize("name", ["formulir.ods", "formulir.txt", "formulir"])
@sqlite_only
def test_unsupported_extension_refused(name: str, svc, project: int, tmp_path: Path) -> None:
    """Only .xlsx, .xls, .csv and .md are accepted as form files (415)."""
    path = tmp_path / name
    path.write_text(HOUSE_VISIT, encoding="utf-8")
    error = refused(problems.UNSUPPORTED_FORM_FILE, svc, project, path)
    assert error.status == 415
    assert name in error.message()


@sqlite_only
def test_corrupt_xlsx_refused(svc, project: int, tmp_path: Path) -> None:
    """An .xlsx that is not a zip, or a zip that is not a workbook, is refused cleanly."""
    not_zip = tmp_path / "rusak.xlsx"
    not_zip.write_bytes(b"PK\x03\x04 this is not really a workbook")
    assert ".xlsx rusak" in refused(problems.XLSFORM_INVALID, svc, project, not_zip).message()
    other_zip = tmp_path / "bukan.xlsx"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("catatan.txt", "halo")
    assert (
        "tidak dapat dibaca sebagai XLSForm"
        in refused(problems.XLSFORM_INVALID, svc, project, other_zip).message()
    )
    assert form_count(svc) == 0


@sqlite_only
def test_xlsx_zip_bomb_refused(svc, project: int, tmp_path: Path) -> None:
    """An .xlsx whose sheet inflates to over 200 MB is refused before anything opens it."""
    bomb = tmp_path / "bom.xlsx"
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as entry:
            for _ in range(201):
                entry.write(chunk)
    assert bomb.stat().st_size < 2_000_000
    error = refused(problems.UNSAFE_ARCHIVE, svc, project, bomb)
    assert "zip bomb" in error.message() or "terlalu besar" in error.message()
    assert "bom.xlsx" in error.message()
    assert form_count(svc) == 0


@sqlite_only
def test_xlsx_with_too_many_parts_refused(svc, project: int, tmp_path: Path) -> None:
    """An .xlsx with thousands of zip entries is refused as unsafe."""
    path = tmp_path / "banyak.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(2001):
            archive.writestr(f"x/{index}", "")
    assert "terlalu banyak" in refused(problems.UNSAFE_ARCHIVE, svc, project, path).message()


# ---- versions ------------------------------------------------------------------------------


def test_republishing_identical_content_is_a_no_op(svc, project: int) -> None:
    """Publishing the same form and media again changes nothing: same version and md5."""
    publish(svc, project, SHIPPED / "kunjungan_rumah.md", sorted(SHIPPED_MEDIA.iterdir()))
    first = versions_of(svc, project, "kunjungan_rumah")
    again = publish(svc, project, SHIPPED / "kunjungan_rumah.md", sorted(SHIPPED_MEDIA.iterdir()))
    assert again == (first[0].version, first[0].md5, False)
    assert len(versions_of(svc, project, "kunjungan_rumah")) == 1


def test_changed_form_without_version_gets_increasing_auto_versions(
    svc, project: int, tmp_path: Path
) -> None:
    """Without a version in settings, each change gets YYYYMMDDNN, rising; no change, none."""
    base = "| survey |\n| | type | name | label |\n| | text | a | {label} |\n"
    today = datetime.now(UTC).strftime("%Y%m%d")
    first = publish(svc, project, md_form(tmp_path, base.format(label="A"), "otomatis.md"))
    same = publish(svc, project, md_form(tmp_path, base.format(label="A"), "otomatis.md"))
    second = publish(svc, project, md_form(tmp_path, base.format(label="B"), "otomatis.md"))
    assert first[0] == f"{today}01" and first[2]
    assert same == (first[0], first[1], False)
    assert second[0] == f"{today}02" and second[2]
    assert int(second[0]) > int(first[0]) and second[1] != first[1]
    assert all(re.fullmatch(r"\d{10}", v) for v in (first[0], second[0]))


def test_changed_content_under_the_same_version_conflicts(
    svc, project: int, tmp_path: Path
) -> None:
    """Changing a form but keeping its explicit version is refused with 409."""
    publish(svc, project, SHIPPED / "kunjungan_rumah.md", sorted(SHIPPED_MEDIA.iterdir()))
    error = refused(
        problems.FORM_VERSION_EXISTS,
        svc,
        project,
        house_visit(tmp_path, label="Catatan lain"),
        sorted(SHIPPED_MEDIA.iterdir()),
    )
    assert error.status == 409
    assert "2026112301" in error.message()
    assert len(versions_of(svc, project, "kunjungan_rumah")) == 1


def test_served_xml_of_a_version_never_changes(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:
    """A version's XML is served byte-identical, matches formList, and outlives new versions."""
    entry = collect.form_list()[0]
    one = collect.send("GET", entry.download_url)
    two = collect.send("GET", entry.download_url)
    assert one.status == two.status == 200
    assert one.body == two.body and md5(one.body) == entry.hash[4:]
    publish(
        svc,
        seed.project_id,
        house_visit(tmp_path, "2026112302", "Catatan baru"),
        sorted(SHIPPED_MEDIA.iterdir()),
    )
    old, new = versions_of(svc, seed.project_id, "kunjungan_rumah")
    assert (old.version, new.version) == ("2026112301", "2026112302")
    assert old.xml == one.body and old.md5 == md5(one.body)
    served = collect.send("GET", entry.download_url)
    assert served.body == new.xml and md5(served.body) == new.md5 != old.md5


def test_collect_sees_updated_version(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:
    """After a new version is published, Collect reports 'updated version'."""
    collect.download_all()
    publish(
        svc,
        seed.project_id,
        house_visit(tmp_path, "2026112302", "Catatan baru"),
        sorted(SHIPPED_MEDIA.iterdir()),
    )
    assert collect.updates() == {"kunjungan_rumah": "updated version"}
    collect.download_all()
    assert collect.updates() == {"kunjungan_rumah": "up to date"}


def test_media_only_change_keeps_the_version_and_collect_sees_updated_media(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:
    """New media with the same form keeps version and XML; Collect reports 'updated media'."""
    local = collect.download_all()[0]
    villages = tmp_path / "desa.csv"
    villages.write_bytes(
        (SHIPPED_MEDIA / "desa.csv").read_bytes() + b"3573041099,Kelurahan Baru (Sukun)\n"
    )
    before = versions_of(svc, seed.project_id, "kunjungan_rumah")[0]
    result = publish_full(svc, seed.project_id, SHIPPED / "kunjungan_rumah.md", [villages])
    assert (result.created, result.media_updated) == (False, True)
    assert (result.version.version, result.version.md5) == (before.version, before.md5)
    assert collect.updates() == {"kunjungan_rumah": "updated media"}
    entry = collect.form_list()[0]
    assert entry.hash == f"md5:{local.md5}"
    ((name, digest, _url),) = collect.manifest(entry.manifest_url or "")
    assert (name, digest) == ("desa.csv", md5(villages.read_bytes()))
    assert collect.download(entry).media_bytes["desa.csv"] == villages.read_bytes()
    assert collect.updates() == {"kunjungan_rumah": "up to date"}
    assert len(versions_of(svc, seed.project_id, "kunjungan_rumah")) == 1
    with svc.db.sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "form.media")).one()
        assert event.details["new"] == {"desa.csv": digest}
        assert event.details["old"] == {"desa.csv": local.media["desa.csv"]}
    again = publish_full(svc, seed.project_id, SHIPPED / "kunjungan_rumah.md", [villages])
    assert (again.created, again.media_updated) == (False, False)


# ---- media ---------------------------------------------------------------------------------

PICTURE_FORM = """
| survey |
| | type | name | label | media::image |
| | note | logo_dinas | Dinas Sosial | logo.png |
| | select_one_from_file desa.csv | desa | Desa | |
| settings |
| | form_id | version |
| | bergambar | 1 |
"""
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def picture_files(tmp_path: Path) -> list[Path]:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    return [SHIPPED_MEDIA / "desa.csv", logo]


def test_manifest_lists_csv_and_image_with_md5(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:
    """A form's CSV and image are in its manifest with md5 hashes of their bytes."""
    files = picture_files(tmp_path)
    result = publish_full(svc, seed.project_id, md_form(tmp_path, PICTURE_FORM), files)
    assert result.missing_media == []
    entry = next(f for f in collect.form_list() if f.form_id == "bergambar")
    assert entry.manifest_url
    listed = {name: digest for name, digest, _ in collect.manifest(entry.manifest_url)}
    assert listed == {p.name: md5(p.read_bytes()) for p in files}
    assert collect.download(entry).media_bytes["logo.png"] == PNG


def test_attachment_has_etag_and_answers_304(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:
    """A media download carries an ETag; If-None-Match with it answers 304 without a body."""
    publish_full(svc, seed.project_id, md_form(tmp_path, PICTURE_FORM), picture_files(tmp_path))
    entry = next(f for f in collect.form_list() if f.form_id == "bergambar")
    url = next(u for n, _, u in collect.manifest(entry.manifest_url or "") if n == "logo.png")
    first = collect.send("GET", url)
    etag = first.header("ETag")
    assert first.status == 200 and first.body == PNG
    assert etag is not None and md5(PNG) in etag
    assert first.header("Content-Type") == "image/png"
    again = collect.send("GET", url, extra_headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    other = collect.send("GET", url, extra_headers={"If-None-Match": '"lain"'})
    assert other.status == 200 and other.body == PNG


def test_missing_media_reported_and_not_listed(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:
    """A referenced file that was not uploaded is reported and left out of the manifest."""
    result = publish_full(
        svc, seed.project_id, md_form(tmp_path, PICTURE_FORM), [SHIPPED_MEDIA / "desa.csv"]
    )
    assert result.missing_media == ["logo.png"]
    entry = next(f for f in collect.form_list() if f.form_id == "bergambar")
    assert [n for n, _, _ in collect.manifest(entry.manifest_url or "")] == ["desa.csv"]
    missing = f"{entry.download_url[:-4]}/attachments/logo.png"
    assert collect.send("GET", missing).status == 404


@pytest.mark.parametrize(
    "name",
    ["../desa.csv", "a/desa.csv", "a\\desa.csv", ".desa.csv", "..", "", "desa\n.csv", "x" * 256],
)
def test_bad_media_names_refused(name: str) -> None:
    """Media names are plain file names: no separators, no hidden or control characters."""
    with pytest.raises(ProblemError) as caught:
        check_media_name(name)
    assert caught.value.problem is problems.INVALID_INPUT


def test_media_file_with_backslash_in_its_name_refused(svc, project: int, tmp_path: Path) -> None:
    """A media file whose name holds a Windows path separator is refused at publish."""
    sneaky = tmp_path / "..\\desa.csv"
    sneaky.write_bytes((SHIPPED_MEDIA / "desa.csv").read_bytes())
    error = refused(problems.INVALID_INPUT, svc, project, md_form(tmp_path, PICTURE_FORM), [sneaky])
    assert "media" in error.message()
    assert form_count(svc) == 0


EXTERNAL_FORM = """
| survey |
| | type | name | label | choice_filter |
| | select_one prov | prov | Provinsi | |
| | select_one_external kab | kab | Kabupaten | prov=${prov} |
| choices |
| | list_name | name | label |
| | prov | jatim | Jawa Timur |
| | prov | jabar | Jawa Barat |
| external_choices |
| | list_name | name | label | prov |
| | kab | malang | Malang | jatim |
| | kab | bogor | Bogor | jabar |
| settings |
| | form_id | version |
| | wilayah | 1 |
"""


def test_itemsets_csv_attached_for_external_selects(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:
    """A form with select_one_external gets the itemsets.csv pyxform generates as media."""
    path = md_form(tmp_path, EXTERNAL_FORM)
    expected = convert_xlsform(path).itemsets
    assert expected is not None and "malang" in expected
    publish(svc, seed.project_id, path)
    entry = next(f for f in collect.form_list() if f.form_id == "wilayah")
    local = collect.download(entry)
    assert list(local.media) == ["itemsets.csv"]
    assert local.media_bytes["itemsets.csv"] == expected.encode("utf-8")


# ---- form states ---------------------------------------------------------------------------


def test_closing_hides_from_form_list_but_still_downloads(
    svc, seed: Seed, collect: CollectClient
) -> None:
    """A closing form leaves formList, yet phones that have it can still fetch it."""
    entry = collect.form_list()[0]
    set_state(svc, seed.project_id, "kunjungan_rumah", "closing")
    assert collect.form_list() == []
    download = collect.send("GET", entry.download_url)
    assert download.status == 200 and md5(download.body) == entry.hash[4:]
    assert [n for n, _, _ in collect.manifest(entry.manifest_url or "")] == ["desa.csv"]
    assert collect.submit(instance_xml(photos=())).status == 201


def test_closed_form_refuses_submissions_until_reopened(
    svc, seed: Seed, collect: CollectClient
) -> None:
    """A closed form answers 409 to submissions; reopening lists it and accepts them again."""
    set_state(svc, seed.project_id, "kunjungan_rumah", "closed")
    assert collect.form_list() == []
    with pytest.raises(CollectError, match="409"):
        collect.submit(instance_xml(photos=()))
    set_state(svc, seed.project_id, "kunjungan_rumah", "open")
    assert [f.form_id for f in collect.form_list()] == ["kunjungan_rumah"]
    assert collect.submit(instance_xml(photos=())).status == 201


def test_unknown_form_state_refused(svc, project: int) -> None:
    """Only open, closing and closed are form states."""
    publish(svc, project, SHIPPED / "kunjungan_rumah.md")
    with pytest.raises(ProblemError) as caught:
        set_state(svc, project, "kunjungan_rumah", "archived")
    assert caught.value.problem is problems.INVALID_INPUT


# ---- JavaRosa ------------------------------------------------------------------------------


@requires_java
@pytest.mark.parametrize(
    "path", sorted(p for p in SHIPPED.iterdir() if p.suffix in SUFFIXES), ids=lambda p: p.name
)
@sqlite_only
def test_shipped_forms_pass_javarosa(path: Path, svc, project: int) -> None:
    """Every form shipped in forms/ passes JavaRosa (the engine inside Collect) when published."""
    media_dir = SHIPPED / "media" / path.stem
    media = sorted(media_dir.iterdir()) if media_dir.is_dir() else []
    result = publish_full(svc, project, path, media, java_validate=True)
    assert result.created and result.javarosa is not None
    assert result.javarosa.ran, "JavaRosa needs Java"
    assert result.javarosa.ok and result.missing_media == []


@requires_java
@sqlite_only
def test_form_javarosa_rejects_is_refused(svc, project: int, tmp_path: Path) -> None:
    """A form pyxform accepts but JavaRosa rejects (unknown XPath function) is not published."""
    text = (
        "| survey |\n| | type | name | label | calculation |\n| | integer | a | A | |\n"
        "| | calculate | c | | fungsi_tidak_ada(${a}) |\n"
        "| settings |\n| | form_id | version |\n| | salah_fungsi | 1 |\n"
    )
    path = md_form(tmp_path, text)
    convert_xlsform(path)  # pyxform is fine with it
    error = refused(problems.XFORM_INVALID, svc, project, path, java_validate=True)
    assert error.status == 422
    assert "fungsi_tidak_ada" in error.message()
    assert form_count(svc) == 0
