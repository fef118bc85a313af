"""Labels of a published XForm and a submission rendered with them (server/forms/labels.py).

Forms are XLSForms in markdown converted with pyxform, as when publishing; the real
questionnaire forms/verval_ruta.md is read too, with instances built by the synthesiser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.forms.labels import (
    Answer,
    FormLabels,
    RepeatTable,
    Section,
    language_code,
    read_labels,
    render_instance,
)
from server.forms.xform import XFormError
from server.forms.xlsform import convert_xlsform
from server.validation.synth import instance_xml

ROOT = Path(__file__).resolve().parents[2]

# Two languages, a group with a nested group, a repeat with a group inside, a calculate,
# a note, an image and a select_multiple.
KELUARGA_MD = """
| settings |
| | form_id | version | default_language |
| | keluarga | 1 | Bahasa Indonesia (id) |

| survey |
| | type | name | label::Bahasa Indonesia (id) | label::English (en) | calculation |
| | text | nama | Nama kepala | Head's name | |
| | note | catatan_awal | Baca pelan-pelan | Read slowly | |
| | calculate | dua | | | 1 + 1 |
| | image | foto | Foto rumah | House photo | |
| | begin group | rumah | Rumah | House | |
| | select_multiple aset | aset | Aset | Assets | |
| | begin group | ternak | Ternak | Livestock | |
| | integer | sapi | Sapi | Cattle | |
| | end group | | | | |
| | end group | | | | |
| | begin repeat | art | Anggota | Member | |
| | text | art_nama | Nama anggota | Member's name | |
| | begin group | lahir | Kelahiran | Birth | |
| | date | tgl | Tanggal lahir | Birth date | |
| | end group | | | | |
| | select_one jk | art_jk | Jenis kelamin ${art_nama} | Sex of ${art_nama} | |
| | end repeat | | | | |

| choices |
| | list_name | name | label::Bahasa Indonesia (id) | label::English (en) |
| | aset | tv | Televisi | Television |
| | aset | mobil | Mobil | Car |
| | aset | sepeda | Sepeda | Bicycle |
| | jk | L | Laki-laki | Male |
| | jk | P | Perempuan | Female |
"""

# One language only: plain `label` columns, no itext at all.
TUNGGAL_MD = """
| survey |
| | type | name | label |
| | select_one yt | setuju | Apakah setuju? |
| | integer | umur | Umur |

| choices |
| | list_name | name | label |
| | yt | ya | Ya |
| | yt | tidak | Tidak |
"""

# A plain `label` column beside an English one: pyxform writes a "default" translation.
CAMPURAN_MD = """
| survey |
| | type | name | label | label::English (en) |
| | text | satu | Satu | One |
| | text | dua | Dua | |
"""

# A repeat inside a group, and a repeat inside that repeat.
BERSARANG_MD = """
| survey |
| | type | name | label |
| | begin group | rumah | Rumah |
| | begin repeat | kamar | Kamar |
| | text | nama | Nama kamar |
| | begin repeat | lampu | Lampu |
| | integer | watt | Watt |
| | end repeat | | |
| | end repeat | | |
| | end group | | |
"""


def _form(tmp_path: Path, markdown: str, name: str = "contoh") -> FormLabels:
    source = tmp_path / f"{name}.md"
    source.write_text(markdown, encoding="utf-8")
    return read_labels(convert_xlsform(source).xml.encode("utf-8"))


@pytest.fixture(scope="module")
def verval() -> FormLabels:
    return read_labels(convert_xlsform(ROOT / "forms" / "verval_ruta.md").xml.encode("utf-8"))


def _keluarga_instance(rows: str) -> bytes:
    return (
        '<keluarga id="keluarga" version="1"><nama>Budi</nama><catatan_awal/><dua>2</dua>'
        "<foto>1700000000.jpg</foto>"
        "<rumah><aset>tv sepeda</aset><ternak><sapi>3</sapi></ternak></rumah>"
        f"{rows}<meta><instanceID>uuid:1</instanceID></meta></keluarga>"
    ).encode()


def _section(sections: list[Section], path: str) -> Section:
    return next(s for s in sections if s.path == path)


def _answer(section: Section, path: str) -> Answer:
    return next(a for a in section.answers if a.path == path)


def test_verval_ruta_labels_and_choices_in_both_languages(verval: FormLabels) -> None:
    """The real form yields Indonesian and English labels for questions and choices."""
    assert verval.languages == ("id", "en")
    hasil = verval.questions["hasil"]
    assert hasil.kind == "select_one"
    assert hasil.labels == {"id": "Hasil kunjungan rumah tangga", "en": "Household visit outcome"}
    assert hasil.choices["pindah"] == {"id": "Pindah", "en": "Moved"}
    assert hasil.choices["ganda"] == {"id": "Ganda (data dobel)", "en": "Duplicate record"}
    assert list(hasil.choices)[0] == "ditemukan"
    assert verval.groups["aset/ternak"]["en"] == "504. Livestock owned (head)"
    assert verval.groups["anggota"] == {
        "id": "Anggota rumah tangga terdaftar",
        "en": "Registered household member",
    }
    assert verval.repeats == frozenset({"anggota", "anggota_baru"})


def test_verval_ruta_kinds_and_outputs(verval: FormLabels) -> None:
    """Kinds come from binds and controls; <output> is written back as ${name}."""
    kinds = {path: q.kind for path, q in verval.questions.items()}
    assert kinds["foto_depan"] == "image"
    assert kinds["aset/aset_bergerak"] == "select_multiple"
    assert kinds["aset/ternak/sapi"] == "integer"
    assert kinds["anggota/art_nama_reg"] == "calculate"
    assert kinds["anggota/tanggal_meninggal"] == "date"
    assert kinds["info_sasaran"] == "note"
    assert kinds["lokasi"] == "geopoint"
    assert kinds["start"] == kinds["meta/instanceID"] == "meta"
    status = verval.questions["anggota/status_anggota"].labels
    assert status == {"id": "Keberadaan ${art_nama_reg}", "en": "Status of ${art_nama_reg}"}
    assert verval.questions["info_ulang"].labels["en"].startswith("**Revisit.** Reason")
    assert verval.questions["sasaran"].choices == {}  # choices from sasaran.csv, not the form


def test_verval_ruta_instance_rendered_in_english(verval: FormLabels) -> None:
    """A synthesised submission reads as labelled answers, sections and a member table."""
    answers = {
        "hasil": "ditemukan",
        "persetujuan": "ya",
        "foto_depan": "depan.jpg",
        "kk/kk_sesuai": "tidak",
        "aset/aset_bergerak": "tv mobil",
        "aset/ternak/sapi": "2",
    }
    roster = [
        {"art_nama_reg": "Siti", "status_anggota": "ada", "nik_sesuai": "ya"},
        {"art_nama_reg": "Joko", "status_anggota": "meninggal", "tanggal_meninggal": "2025-01-02"},
    ]
    xml = instance_xml("2026112301", "uuid:abc", "collect:1", answers, roster, [])
    sections = render_instance(verval, xml, language="en")
    assert [s.path for s in sections] == ["", "kk", "aset", "aset/ternak"]
    top = sections[0]
    hasil = _answer(top, "hasil")
    assert (hasil.label, hasil.value, hasil.shown) == (
        "Household visit outcome",
        "ditemukan",
        "Found",
    )
    assert _answer(top, "foto_depan").attachment == "depan.jpg"
    assert _answer(top, "kode_buku").kind == "calculate"
    assert _answer(_section(sections, "kk"), "kk/kk_sesuai").shown == "No"
    assets = _answer(_section(sections, "aset"), "aset/aset_bergerak")
    assert assets.shown == "f. Flat-screen TV (30 inches or more), k. Car"
    assert _section(sections, "aset/ternak").label == "504. Livestock owned (head)"
    (table,) = top.tables
    assert table.path == "anggota" and table.label == "Registered household member"
    columns = [path for path, _ in table.columns]
    assert columns == [
        "anggota/art_nama_reg",
        "anggota/status_anggota",
        "anggota/tanggal_meninggal",
        "anggota/nik_sesuai",
    ]
    first, second = table.rows
    assert first[1] is not None and first[1].shown == "Present (still lives here)"
    assert first[2] is None and second[3] is None
    assert second[2] is not None and second[2].value == "2025-01-02"
    assert not any(a.path.startswith("meta") for s in sections for a in s.answers)


def test_groups_become_sections_in_document_order(tmp_path: Path) -> None:
    """Top-level answers first, then each group and nested group as its own section."""
    labels = _form(tmp_path, KELUARGA_MD)
    sections = render_instance(labels, _keluarga_instance(""))
    assert [(s.path, s.label) for s in sections] == [
        ("", ""),
        ("rumah", "Rumah"),
        ("rumah/ternak", "Ternak"),
    ]
    assert [a.path for a in sections[0].answers] == ["nama", "dua", "foto"]
    assert _answer(sections[2], "rumah/ternak/sapi").label == "Sapi"
    assert labels.groups["rumah/ternak"] == {"id": "Ternak", "en": "Livestock"}


def test_select_multiple_shown_as_joined_labels(tmp_path: Path) -> None:
    """Each selected value is shown by its label, joined with a comma, in either language."""
    labels = _form(tmp_path, KELUARGA_MD)
    assert labels.questions["rumah/aset"].kind == "select_multiple"
    xml = _keluarga_instance("")
    for language, shown in (("id", "Televisi, Sepeda"), ("en", "Television, Bicycle")):
        aset = _answer(_section(render_instance(labels, xml, language), "rumah"), "rumah/aset")
        assert (aset.value, aset.shown) == ("tv sepeda", shown)


def test_unknown_choice_value_shown_raw(tmp_path: Path) -> None:
    """A value that is not one of the choices is shown as it was stored."""
    labels = _form(tmp_path, KELUARGA_MD)
    xml = _keluarga_instance("").replace(b"tv sepeda", b"tv kapal")
    aset = _answer(_section(render_instance(labels, xml), "rumah"), "rumah/aset")
    assert aset.shown == "Televisi, kapal"


def test_repeat_is_one_table_with_aligned_rows(tmp_path: Path) -> None:
    """Repeat instances become rows; a missing answer is None; inner groups are flattened."""
    labels = _form(tmp_path, KELUARGA_MD)
    assert labels.repeats == frozenset({"art"})
    rows = (
        "<art><art_nama>Ani</art_nama><lahir><tgl>1990-01-01</tgl></lahir><art_jk>P</art_jk></art>"
        "<art><art_nama>Budi</art_nama><lahir><tgl/></lahir><art_jk>L</art_jk></art>"
    )
    sections = render_instance(labels, _keluarga_instance(rows), language="en")
    (table,) = sections[0].tables
    assert isinstance(table, RepeatTable)
    assert (table.path, table.label) == ("art", "Member")
    assert table.columns == (
        ("art/art_nama", "Member's name"),
        ("art/lahir/tgl", "Birth date"),
        ("art/art_jk", "Sex of ${art_nama}"),
    )
    assert len(table.rows) == 2
    first, second = table.rows
    assert [c.shown if c else None for c in first] == ["Ani", "1990-01-01", "Female"]
    assert [c.shown if c else None for c in second] == ["Budi", None, "Male"]
    assert all(len(row) == len(table.columns) for row in table.rows)


def test_columns_only_for_answered_children(tmp_path: Path) -> None:
    """A repeat child left empty in every row gets no column; an all-empty repeat no table."""
    labels = _form(tmp_path, KELUARGA_MD)
    rows = "<art><art_nama>Ani</art_nama><lahir><tgl/></lahir><art_jk/></art>"
    (table,) = render_instance(labels, _keluarga_instance(rows))[0].tables
    assert table.columns == (("art/art_nama", "Nama anggota"),)
    empty = "<art><art_nama/><lahir><tgl/></lahir><art_jk/></art>"
    assert render_instance(labels, _keluarga_instance(empty))[0].tables == ()


def test_image_answers_carry_the_attachment_name(tmp_path: Path) -> None:
    """Image answers name their attachment; other answers have none."""
    labels = _form(tmp_path, KELUARGA_MD)
    top = render_instance(labels, _keluarga_instance(""))[0]
    foto = _answer(top, "foto")
    assert (foto.kind, foto.attachment, foto.shown) == ("image", "1700000000.jpg", "1700000000.jpg")
    assert _answer(top, "nama").attachment is None


def test_notes_skipped_and_calculates_kept(tmp_path: Path) -> None:
    """Notes never show; calculations do, with kind "calculate" so a page can hide them."""
    labels = _form(tmp_path, KELUARGA_MD)
    assert labels.questions["catatan_awal"].kind == "note"
    xml = _keluarga_instance("").replace(b"<catatan_awal/>", b"<catatan_awal>x</catatan_awal>")
    top = render_instance(labels, xml)[0]
    assert "catatan_awal" not in {a.path for a in top.answers}
    assert _answer(top, "dua") == Answer("dua", "dua", "2", "2", "calculate", None)


def test_unknown_elements_shown_by_name(tmp_path: Path) -> None:
    """Elements the form does not know are shown with their name as label, kind text."""
    labels = _form(tmp_path, KELUARGA_MD)
    xml = _keluarga_instance("<tambahan>lain</tambahan><ekstra><x>1</x></ekstra>")
    sections = render_instance(labels, xml)
    assert _answer(sections[0], "tambahan") == Answer(
        "tambahan", "tambahan", "lain", "lain", "text", None
    )
    assert _section(sections, "ekstra").label == "ekstra"
    assert _answer(_section(sections, "ekstra"), "ekstra/x").label == "x"


def test_meta_and_skipped_names_left_out(tmp_path: Path) -> None:
    """meta is skipped by default; `skip` leaves out other top-level names too."""
    labels = _form(tmp_path, KELUARGA_MD)
    xml = _keluarga_instance("")
    paths = {a.path for s in render_instance(labels, xml) for a in s.answers}
    assert "meta/instanceID" not in paths and "nama" in paths
    skipped = render_instance(labels, xml, skip=frozenset({"meta", "nama", "rumah"}))
    assert [s.path for s in skipped] == [""]
    assert [a.path for a in skipped[0].answers] == ["dua", "foto"]
    everything = render_instance(labels, xml, skip=frozenset())
    assert _answer(_section(everything, "meta"), "meta/instanceID").kind == "meta"


def test_single_language_form(tmp_path: Path) -> None:
    """A form without itext is "id", and its plain labels answer for any language asked."""
    labels = _form(tmp_path, TUNGGAL_MD)
    assert labels.languages == ("id",)
    setuju = labels.questions["setuju"]
    assert setuju.labels == {"id": "Apakah setuju?"}
    assert setuju.choices == {"ya": {"id": "Ya"}, "tidak": {"id": "Tidak"}}
    xml = b"<contoh><setuju>ya</setuju><umur>40</umur><meta><instanceID/></meta></contoh>"
    (top,) = render_instance(labels, xml, language="en")
    assert [(a.label, a.shown, a.kind) for a in top.answers] == [
        ("Apakah setuju?", "Ya", "select_one"),
        ("Umur", "40", "integer"),
    ]


def test_default_translation_is_indonesian_and_labels_fall_back(tmp_path: Path) -> None:
    """A plain label beside an English column is "id"; a missing translation falls back."""
    labels = _form(tmp_path, CAMPURAN_MD)
    assert labels.languages == ("id", "en")
    assert labels.questions["satu"].labels == {"id": "Satu", "en": "One"}
    xml = b"<contoh><satu>1</satu><dua>2</dua></contoh>"
    (top,) = render_instance(labels, xml, language="en")
    assert [a.label for a in top.answers] == ["One", "Dua"]
    (top,) = render_instance(labels, xml, language="fr")
    assert [a.label for a in top.answers] == ["Satu", "Dua"]


def test_language_codes_from_itext_names() -> None:
    """Names ending in "(xx)" give xx; known names and "default" map to en or id."""
    assert language_code("Bahasa Indonesia (id)") == "id"
    assert language_code("English (en)") == "en"
    assert language_code("Español (es-MX)") == "es-mx"
    assert language_code("English") == "en"
    assert language_code("Indonesian") == language_code("Bahasa Indonesia") == "id"
    assert language_code("default") == "id"
    assert language_code("Jawa") == "jawa"


def test_inline_items_with_itext_labels() -> None:
    """Choices written as inline <item>s with jr:itext labels (older pyxform) are read."""
    xform = b"""<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
      xmlns:jr="http://openrosa.org/javarosa"><h:head><h:title>lama</h:title><model>
      <itext><translation lang="Bahasa Indonesia (id)"><text id="/lama/warna:label">
      <value>Warna</value></text><text id="/lama/warna/merah:label"><value>Merah</value>
      <value form="image">jr://images/merah.png</value></text></translation>
      <translation lang="English (en)"><text id="/lama/warna:label"><value>Colour</value></text>
      <text id="/lama/warna/merah:label"><value>Red</value></text></translation></itext>
      <instance><lama id="lama"><warna/></lama></instance>
      <bind nodeset="/lama/warna" type="select1"/></model></h:head><h:body>
      <select1 ref="/lama/warna"><label ref="jr:itext('/lama/warna:label')"/>
      <item><label ref="jr:itext('/lama/warna/merah:label')"/><value>merah</value></item>
      <item><label>Biru</label><value>biru</value></item></select1></h:body></h:html>"""
    labels = read_labels(xform)
    warna = labels.questions["warna"]
    assert warna.kind == "select_one"
    assert warna.labels == {"id": "Warna", "en": "Colour"}
    assert warna.choices == {
        "merah": {"id": "Merah", "en": "Red"},
        "biru": {"id": "Biru", "en": "Biru"},
    }


def test_malformed_instance_raises_value_error(verval: FormLabels) -> None:
    """A submission that is not XML is refused with a ValueError saying so."""
    for broken in (b"<verval_ruta><hasil>ditemukan</verval_ruta>", b"", b"bukan xml"):
        with pytest.raises(ValueError, match="not well-formed XML"):
            render_instance(verval, broken)


def test_malformed_form_raises_xform_error() -> None:
    """A form definition that is not XML, or has no model, raises XFormError."""
    with pytest.raises(XFormError):
        read_labels(b"<h:html")
    with pytest.raises(XFormError, match="model"):
        read_labels(b'<h:html xmlns:h="http://www.w3.org/1999/xhtml"><h:head/></h:html>')


def test_entities_are_not_expanded(verval: FormLabels) -> None:
    """The instance parser leaves entities unresolved (no XXE, no billion laughs)."""
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<verval_ruta><catatan>&x;</catatan></verval_ruta>"
    )
    for section in render_instance(verval, xml):
        assert all("root:" not in a.value for a in section.answers)


def test_repeat_in_a_group_and_nested_repeat(tmp_path: Path) -> None:
    """A repeat sits in its group's section; a repeat inside it gets its own table after it."""
    labels = _form(tmp_path, BERSARANG_MD, name="nest")
    assert labels.repeats == frozenset({"rumah/kamar", "rumah/kamar/lampu"})
    xml = (
        b"<nest><rumah><kamar><nama>A</nama><lampu><watt>5</watt></lampu>"
        b"<lampu><watt>10</watt></lampu></kamar><kamar><nama>B</nama></kamar></rumah></nest>"
    )
    (section,) = render_instance(labels, xml)
    assert (section.path, section.answers) == ("rumah", ())
    kamar, lampu = section.tables
    assert (kamar.path, kamar.label, kamar.columns) == (
        "rumah/kamar",
        "Kamar",
        (("rumah/kamar/nama", "Nama kamar"),),
    )
    assert [row[0].value if row[0] else None for row in kamar.rows] == ["A", "B"]
    assert lampu.path == "rumah/kamar/lampu"
    assert [row[0].value if row[0] else None for row in lampu.rows] == ["5", "10"]
