"""Correcting one answer (server/reviews/correction.py): which answers may be corrected,
checks of the new value, and the new version's XML."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from test_form_labels import KELUARGA_MD, _form, _keluarga_instance

from server.forms.labels import FormLabels
from server.reviews.correction import CorrectionError, check_value, corrected, fields

ROWS = (
    "<art><art_nama>Ani</art_nama><lahir><tgl>1990-01-02</tgl></lahir><art_jk>P</art_jk></art>"
    "<art><art_nama>Budi</art_nama><lahir><tgl>1988-03-04</tgl></lahir><art_jk>L</art_jk></art>"
)


@pytest.fixture
def keluarga(tmp_path: Path) -> FormLabels:
    return _form(tmp_path, KELUARGA_MD, "keluarga")


def test_fields_name_each_answer_by_position_and_skip_what_is_fixed(keluarga) -> None:  # type: ignore[no-untyped-def]
    """Repeat rows get their own locator; notes, calculates, photos and meta are left out."""
    found = {f.locator: f for f in fields(keluarga, _keluarga_instance(ROWS))}
    assert found["nama[1]"].label == "Nama kepala" and found["nama[1]"].row is None
    assert found["art[2]/art_nama[1]"].value == "Budi" and found["art[2]/art_nama[1]"].row == 2
    assert found["art[1]/lahir[1]/tgl[1]"].path == "art/lahir/tgl"
    assert found["rumah[1]/ternak[1]/sapi[1]"].value == "3"
    assert not {"dua[1]", "foto[1]", "catatan_awal[1]"} & set(found)
    assert not [locator for locator in found if locator.startswith("meta")]
    english = {f.locator: f.label for f in fields(keluarga, _keluarga_instance(ROWS), "en")}
    assert english["nama[1]"] == "Head's name"


def test_a_correction_replaces_one_value_and_chains_the_instance_ids() -> None:
    """Only the chosen element changes; instanceID is new and deprecatedID the old one."""
    xml, old, old_id = corrected(
        _keluarga_instance(ROWS), "art[2]/art_nama[1]", "Budiman", "uuid:2"
    )
    root = etree.fromstring(xml)
    assert old == "Budi" and old_id == "uuid:1"
    assert [e.text for e in root.iter("art_nama")] == ["Ani", "Budiman"]
    assert root.findtext("meta/instanceID") == "uuid:2"
    assert root.findtext("meta/deprecatedID") == "uuid:1"
    again, _old, second = corrected(xml, "nama[1]", "Budi S", "uuid:3")
    assert second == "uuid:2" and len(etree.fromstring(again).findall("meta/deprecatedID")) == 1


@pytest.mark.parametrize(
    "locator",
    ["art[3]/art_nama[1]", "art[1]", "meta[1]/instanceID[1]", "../x[1]", "nama", "nama[0]", ""],
)
def test_a_locator_that_names_no_single_answer_is_refused(locator: str) -> None:
    """Out of range, a group, metadata, traversal, no position: CorrectionError."""
    with pytest.raises(CorrectionError):
        corrected(_keluarga_instance(ROWS), locator, "x", "uuid:2")


def test_values_must_fit_the_question(keluarga) -> None:  # type: ignore[no-untyped-def]
    """Integers, dates and choices are checked and tidied; free text is kept."""
    questions = keluarga.questions
    assert check_value(questions["rumah/ternak/sapi"], " 04 ") == "4"
    assert check_value(questions["art/lahir/tgl"], "1990-01-02") == "1990-01-02"
    assert check_value(questions["art/art_jk"], "L") == "L"
    assert check_value(questions["rumah/aset"], "tv mobil") == "tv mobil"
    assert check_value(questions["nama"], "  Siti ") == "Siti"
    for path, value in [
        ("rumah/ternak/sapi", "tiga"),
        ("art/lahir/tgl", "02-01-1990"),
        ("art/art_jk", "X"),
        ("rumah/aset", "tv kapal"),
        ("nama", "x" * 2001),
    ]:
        with pytest.raises(CorrectionError):
            check_value(questions[path], value)


def test_malformed_xml_is_a_correction_error() -> None:
    """A stored instance that is not XML cannot be corrected (no crash)."""
    with pytest.raises(CorrectionError):
        corrected(b"<a><b>", "b[1]", "x", "uuid:2")
