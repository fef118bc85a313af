"""Self-test for the JavaRosa form filler (FormFiller.java + filler.py).

Builds an XLSForm (markdown) covering the common question types, converts it
with pyxform, fills it through JavaRosa and checks the serialised instance;
then checks that a constraint violation, a missing required answer, a bad
choice and an unused answer key are refused with the documented exit codes.
A second form checks form media: select_one_from_file with a CSV
(jr://file-csv/) and an XML file (jr://file/), pulldata() calculations from
the CSV, an instance('...') lookup, a missing media file, and the Collect-only
search() appearance.

Run:  .venv/bin/python tests/javarosa/selftest.py   (prints OK, exits 0)
"""

from __future__ import annotations

import pathlib
import re
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from filler import EXIT_REJECTED, EXIT_UNUSED_KEYS, FormFillerError, fill_form, java_available  # noqa: E402

FORM_MD = """
| survey   |                      |              |               |                    |                    |          |
|          | type                 | name         | label         | constraint         | constraint_message | required |
|          | start                | start        |               |                    |                    |          |
|          | end                  | end          |               |                    |                    |          |
|          | deviceid             | deviceid     |               |                    |                    |          |
|          | text                 | nama         | Nama          |                    |                    | yes      |
|          | integer              | umur         | Umur          | . >= 0 and . < 120 | Umur tidak valid   |          |
|          | select_one jk        | jk           | Jenis kelamin |                    |                    |          |
|          | select_multiple hobi | hobi         | Hobi          |                    |                    |          |
|          | date                 | tgl          | Tanggal       |                    |                    |          |
|          | geopoint             | lokasi       | Lokasi        |                    |                    |          |
|          | image                | foto         | Foto          |                    |                    |          |
|          | begin group          | grp          | Grup          |                    |                    |          |
|          | decimal              | berat        | Berat         |                    |                    |          |
|          | end group            |              |               |                    |                    |          |
|          | begin repeat         | anggota      | Anggota       |                    |                    |          |
|          | text                 | nama_anggota | Nama anggota  |                    |                    |          |
|          | end repeat           |              |               |                    |                    |          |
| choices  |                      |              |               |
|          | list_name            | name         | label         |
|          | jk                   | l            | Laki-laki     |
|          | jk                   | p            | Perempuan     |
|          | hobi                 | baca         | Baca          |
|          | hobi                 | lari         | Lari          |
|          | hobi                 | masak        | Masak         |
| settings |                      |              |
|          | form_id              | version      |
|          | selftest_filler      | 2024031501   |
"""

GOOD_ANSWERS = {
    "nama": "Budi Santoso",
    "umur": "42",
    "jk": "l",
    "hobi": "baca masak",
    "tgl": "2024-03-15",
    "lokasi": "-6.2 106.8 10 5",
    "foto": "depan.jpg",
    "grp/berat": "65.5",
    "anggota@count": "2",
    "anggota/nama_anggota#1": "Ani",
    "anggota/nama_anggota#2": "Bima",
}

# Form media: choices from a CSV and an XML file, pulldata() from the CSV (the
# second pulldata spells the data set / columns the way Collect normalises
# them: case-insensitive, ".csv" suffix, surrounding blanks), a plain
# JavaRosa instance() lookup, and a search() question (Collect-only).
MEDIA_FORM_MD = """
| survey   |                                   |              |           |                                                        |                 |          |
|          | type                              | name         | label     | calculation                                            | appearance      | required |
|          | select_one_from_file desa.csv     | desa         | Desa      |                                                        | minimal         | yes      |
|          | calculate                         | nama_desa    |           | pulldata('desa', 'label', 'name', ${desa})             |                 |          |
|          | calculate                         | kec_desa     |           | pulldata('DESA.csv', ' Kecamatan ', 'NAME', ${desa})   |                 |          |
|          | calculate                         | tidak_ada    |           | pulldata('desa', 'label', 'name', 'zzz')               |                 |          |
|          | calculate                         | via_instance |           | instance('desa')/root/item[name=${desa}]/label         |                 |          |
|          | select_one_from_file kecamatan.xml | kec         | Kecamatan |                                                        |                 |          |
|          | select_one cari                   | cari         | Cari      |                                                        | search('desa')  |          |
| choices  |                                   |              |           |
|          | list_name                         | name         | label     |
|          | cari                              | name         | label     |
| settings |                                   |              |
|          | form_id                           | version      |
|          | selftest_media                    | 2024031501   |
"""

# UTF-8 with a BOM (as Excel writes it), a quoted comma, a blank row and a
# non-ASCII label: all must survive JavaRosa's CSV reader and pulldata().
DESA_CSV = (
    "\ufeffname,label,kecamatan\r\n"
    '3573011001,"Kebonsari, Sukun",Sukun\r\n'
    ",,\r\n"
    "3573021001,Bareng \u2014 Klojen,Klojen\r\n"
).encode("utf-8")

KECAMATAN_XML = (
    b"<root><item><name>sukun</name><label>Sukun</label></item>"
    b"<item><name>klojen</name><label>Klojen</label></item></root>"
)

MEDIA = {"desa.csv": DESA_CSV, "kecamatan.xml": KECAMATAN_XML}

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")
UUID = re.compile(r"^uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def convert_form(md: str = FORM_MD) -> bytes:
    from pyxform.xls2xform import convert

    return convert(xlsform=md, file_type=".md", form_name="data").xform.encode("utf-8")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def check_good(form: bytes, workdir: pathlib.Path) -> bytes:
    xml = fill_form(form, GOOD_ANSWERS, workdir)
    expect(xml.startswith(b"<?xml"), "output starts with an XML declaration")
    root = ET.fromstring(xml)
    expect(root.tag == "data", f"root element is <data>, got {root.tag}")
    expect(root.get("id") == "selftest_filler", f"root id attribute: {root.get('id')}")
    expect(root.get("version") == "2024031501", f"root version attribute: {root.get('version')}")

    def text(path: str) -> str | None:
        node = root.find(path)
        expect(node is not None, f"element {path} present")
        return node.text

    expect(
        UUID.match(text("meta/instanceID") or "") is not None,
        f"instanceID: {text('meta/instanceID')}",
    )
    expect(DATETIME.match(text("start") or "") is not None, f"start: {text('start')}")
    expect(DATETIME.match(text("end") or "") is not None, f"end: {text('end')}")
    expect((text("end") or "") >= (text("start") or ""), "end is not before start")
    expect((text("deviceid") or "").startswith("collect:"), f"deviceid: {text('deviceid')}")
    expect(text("nama") == "Budi Santoso", "nama")
    expect(text("umur") == "42", "umur")
    expect(text("jk") == "l", "jk")
    expect(text("hobi") == "baca masak", "hobi")
    expect(text("tgl") == "2024-03-15", "tgl")
    expect(text("lokasi") == "-6.2 106.8 10.0 5.0", f"lokasi: {text('lokasi')}")
    expect(text("foto") == "depan.jpg", "foto holds the file name")
    expect(text("grp/berat") == "65.5", "grp/berat")
    members = root.findall("anggota")
    expect(len(members) == 2, f"two repeat instances, got {len(members)}")
    expect(
        [m.findtext("nama_anggota") for m in members] == ["Ani", "Bima"], "repeat answers in order"
    )
    return xml


def check_media(form: bytes, workdir: pathlib.Path) -> bytes:
    expect(
        b'src="jr://file-csv/desa.csv"' in form,
        "pyxform declares the CSV as jr://file-csv/desa.csv",
    )
    expect(
        b'src="jr://file/kecamatan.xml"' in form,
        "pyxform declares the XML as jr://file/kecamatan.xml",
    )
    for desa, nama, kec in [
        ("3573011001", "Kebonsari, Sukun", "Sukun"),
        ("3573021001", "Bareng \u2014 Klojen", "Klojen"),
    ]:
        xml = fill_form(form, {"desa": desa, "kec": "klojen"}, workdir, media=MEDIA)
        root = ET.fromstring(xml)
        expect(root.get("id") == "selftest_media", f"root id attribute: {root.get('id')}")
        expect(root.findtext("desa") == desa, f"desa from the CSV choices: {root.findtext('desa')}")
        expect(
            root.findtext("nama_desa") == nama, f"pulldata label: {root.findtext('nama_desa')!r}"
        )
        expect(
            root.findtext("kec_desa") == kec,
            f"pulldata, Collect-normalised names: {root.findtext('kec_desa')!r}",
        )
        expect(
            root.findtext("tidak_ada") in ("", None),
            f"pulldata without a match: {root.findtext('tidak_ada')!r}",
        )
        expect(
            root.findtext("via_instance") == nama,
            f"instance() lookup: {root.findtext('via_instance')!r}",
        )
        expect(
            root.findtext("kec") == "klojen", f"kec from the XML choices: {root.findtext('kec')}"
        )
    return xml


def check_fails(
    form: bytes,
    answers: dict[str, str],
    workdir: pathlib.Path,
    code: int,
    *needles: str,
    media: dict[str, bytes] | None = None,
) -> str:
    try:
        fill_form(form, answers, workdir, media=media)
    except FormFillerError as e:
        expect(e.returncode == code, f"exit {code} expected, got {e.returncode}: {e.stderr}")
        for needle in needles:
            expect(needle in e.stderr, f"{needle!r} in stderr: {e.stderr}")
        return e.stderr.strip()
    raise AssertionError(f"filling with {answers} should have failed")


def main() -> int:
    if not java_available():
        print("SKIP: java/javac or pyxform's ODK_Validate.jar not available")
        return 0
    form = convert_form()
    with tempfile.TemporaryDirectory(prefix="formfiller-selftest-") as tmp:
        workdir = pathlib.Path(tmp)
        xml = check_good(form, workdir)
        print(xml.decode("utf-8"))

        # Explicit deviceid, like a Collect install with a known id.
        xml = fill_form(
            form, {"nama": "x", "@property.deviceid": "collect:TESTDEVICE000001"}, workdir
        )
        expect(
            b"<deviceid>collect:TESTDEVICE000001</deviceid>" in xml,
            "deviceid from @property.deviceid",
        )

        # A repeat count of 0 removes the instance the form starts with.
        xml = fill_form(form, {"nama": "x", "anggota@count": "0"}, workdir)
        expect(ET.fromstring(xml).find("anggota") is None, "anggota@count=0 leaves no instance")

        messages = [
            check_fails(
                form,
                {**GOOD_ANSWERS, "umur": "150"},
                workdir,
                EXIT_REJECTED,
                "'umur'",
                "violates constraint",
                ". >= 0 and . < 120",
                "Umur tidak valid",
            ),
            check_fails(
                form,
                {k: v for k, v in GOOD_ANSWERS.items() if k != "nama"},
                workdir,
                EXIT_REJECTED,
                "'nama'",
                "required",
            ),
            check_fails(
                form, {**GOOD_ANSWERS, "jk": "x"}, workdir, EXIT_REJECTED, "'jk'", "no choice 'x'"
            ),
            check_fails(
                form, {**GOOD_ANSWERS, "umur": "abc"}, workdir, EXIT_REJECTED, "'umur'", "not valid"
            ),
            check_fails(form, {**GOOD_ANSWERS, "nmaa": "typo"}, workdir, EXIT_UNUSED_KEYS, "nmaa"),
        ]
        for message in messages:
            print(message)

        media_form = convert_form(MEDIA_FORM_MD)
        print(check_media(media_form, workdir).decode("utf-8"))
        media_messages = [
            # CSV not passed: the choices list is empty, and the message says why.
            check_fails(
                media_form,
                {"desa": "3573011001"},
                workdir,
                EXIT_REJECTED,
                "'desa'",
                "no choice '3573011001'",
                "external instance 'desa'",
                "no media directory",
            ),
            check_fails(
                media_form,
                {"desa": "3573011001"},
                workdir,
                EXIT_REJECTED,
                "'desa'",
                "media file 'desa.csv' not found",
                "external instance 'desa'",
                media={"kecamatan.xml": KECAMATAN_XML},
            ),
            check_fails(
                media_form,
                {"desa": "9999999999"},
                workdir,
                EXIT_REJECTED,
                "'desa'",
                "no choice '9999999999'",
                "3573011001",
                media=MEDIA,
            ),
            # search() is Collect code: the CSV rows are not choices here.
            check_fails(
                media_form,
                {"desa": "3573011001", "cari": "3573011001"},
                workdir,
                EXIT_REJECTED,
                "'cari'",
                "search()",
                media=MEDIA,
            ),
        ]
        for message in media_messages:
            print(message)
        for bad_name in ("../x.csv", "/tmp/x.csv", "a/../../x.csv"):
            try:
                fill_form(media_form, {}, workdir, media={bad_name: b""})
            except ValueError:
                pass
            else:
                raise AssertionError(f"media name {bad_name!r} should be refused")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
