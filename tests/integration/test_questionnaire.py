"""The household verification questionnaire (forms/verval_ruta.xlsx) as Collect runs it.

It converts with pyxform and passes JavaRosa; for every household outcome JavaRosa fills it
from a synthetic assignment list and the Collect-faithful client submits the instance with
its photos; and the form refuses obvious errors at entry, as Collect would on the phone.
"""

from __future__ import annotations

import csv
import io
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from collect import CollectClient, LocalForm, photo
from conftest import IN_CI, ROOT, Seed, publish
from lxml import etree
from sqlalchemy import select

from server.forms.javarosa import validate_xform
from server.forms.xform import read_facts
from server.forms.xlsform import convert_xlsform
from server.models import SubmissionAttachment, SubmissionVersion

sys.path.insert(0, str(ROOT / "tests" / "javarosa"))
from filler import FormFillerError, fill_form, java_available  # noqa: E402

pytestmark = pytest.mark.java
if not java_available() and not IN_CI:
    pytest.skip("java/javac not installed (CI installs them)", allow_module_level=True)

FORM = ROOT / "forms" / "verval_ruta.xlsx"
MEDIA = sorted((ROOT / "forms" / "media" / "verval_ruta").iterdir())
HOUSEHOLD_HEADER = (
    "name,label,__version,kk,nama_krt,alamat,rt,rw,dusun,kode_desa,desa,kecamatan,desil,"
    "jumlah_art,kunjungan_ulang,alasan"
)
MEMBER_HEADER = (
    "name,label,__version,sasaran,urut,nik,nama,jenis_kelamin,tanggal_lahir,hubungan,meninggal"
)

# Synthetic assignment list: three households of Kota Malang (Sukun), invented people.
HOUSEHOLDS = [
    [
        "1042",
        "Suparman — Jl. Teratai No. 3, Gadang",
        "1",
        "3573041708150007",
        "Suparman",
        "Jl. Teratai No. 3",
        "02",
        "04",
        "",
        "3573041002",
        "Gadang",
        "Sukun",
        "2",
        "4",
        "0",
        "",
    ],
    [
        "1043",
        "Bambang Wijaya — Jl. Anggrek Gg. 1 No. 9, Kebonsari",
        "1",
        "3573040306190002",
        "Bambang Wijaya",
        "Jl. Anggrek Gg. 1 No. 9",
        "01",
        "03",
        "",
        "3573041003",
        "Kebonsari",
        "Sukun",
        "1",
        "2",
        "0",
        "",
    ],
    [
        "1044",
        "[ULANG] Yuliani — Jl. Cempaka No. 5, Ciptomulyo",
        "2",
        "",
        "Yuliani",
        "Jl. Cempaka No. 5",
        "05",
        "02",
        "",
        "3573041001",
        "Ciptomulyo",
        "Sukun",
        "",
        "1",
        "1",
        "Foto belakang tidak ada",
    ],
]
MEMBERS = [
    [
        "7001",
        "Suparman",
        "1",
        "1042",
        "1",
        "3573041704700001",
        "Suparman",
        "L",
        "1970-04-17",
        "Kepala Keluarga",
        "0",
    ],
    [
        "7002",
        "Siti Aminah",
        "1",
        "1042",
        "2",
        "3573044506850001",
        "Siti Aminah",
        "P",
        "1985-06-05",
        "Istri",
        "0",
    ],
    [
        "7003",
        "Rudi Hartono",
        "1",
        "1042",
        "3",
        "3573040109080003",
        "Rudi Hartono",
        "L",
        "2008-09-01",
        "Anak",
        "0",
    ],
    [
        "7004",
        "Sarinah",
        "1",
        "1042",
        "4",
        "3573045002400001",
        "Sarinah",
        "P",
        "1940-02-10",
        "Orang Tua",
        "1",
    ],
    [
        "7005",
        "Bambang Wijaya",
        "1",
        "1043",
        "1",
        "3573042212750004",
        "Bambang Wijaya",
        "L",
        "1975-12-22",
        "Kepala Keluarga",
        "0",
    ],
    [
        "7006",
        "Wulan Sari",
        "1",
        "1043",
        "2",
        "3573046803790002",
        "Wulan Sari",
        "P",
        "1979-03-28",
        "Istri",
        "0",
    ],
    ["7007", "Yuliani", "2", "1044", "1", "", "Yuliani", "P", "1966-07-30", "Kepala Keluarga", "0"],
]


def csv_bytes(header: str, rows: list[list[str]]) -> bytes:
    """A CSV file as the server serves it (UTF-8, header first)."""
    out = io.StringIO()
    out.write(header + "\n")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


LIST_MEDIA = {
    "sasaran.csv": csv_bytes(HOUSEHOLD_HEADER, HOUSEHOLDS),
    "sasaran_anggota.csv": csv_bytes(MEMBER_HEADER, MEMBERS),
}

HOUSE = {
    "foto_depan": "depan.jpg",
    "foto_samping": "samping.jpg",
    "foto_belakang": "belakang.jpg",
    "lokasi": "-7.9797 112.6304 450 4.5",
}
INTERVIEW = {
    "perumahan/status_bangunan": "1",
    "perumahan/lantai": "6",
    "perumahan/dinding": "2",
    "perumahan/atap": "2",
    "perumahan/air_minum": "4",
    "perumahan/penerangan": "1",
    "perumahan/daya": "1",
    "perumahan/bahan_bakar": "4",
    "perumahan/fasilitas_bab": "1",
    "aset/aset_bergerak": "gas sepeda_motor smartphone",
    "aset/lahan_lain": "tidak",
    "aset/rumah_lain": "tidak",
    "aset/ternak/sapi": "0",
    "aset/ternak/kerbau": "0",
    "aset/ternak/kuda": "0",
    "aset/ternak/babi": "0",
    "aset/ternak/kambing_domba": "3",
    "pekerjaan/krt_bekerja": "ya",
    "pekerjaan/status_pekerjaan_krt": "6",
    "pekerjaan/ada_art_asn": "tidak",
    "penilaian/kelayakan": "layak",
}
# A baby born since the registry was made: the household's one new member.
NEW_BABY = {
    "jumlah_anggota_baru": "1",
    "anggota_baru/nik_baru": "3573044302250001",
    "anggota_baru/nama_baru": "Aulia Putri",
    "anggota_baru/tanggal_lahir_baru": "2025-02-03",
    "anggota_baru/jenis_kelamin_baru": "P",
    "anggota_baru/hubungan_baru": "5",
}
FOUND = {
    "jenis_kunjungan": "daftar",
    "sasaran": "1042",
    "hasil": "ditemukan",
    "persetujuan": "ya",
    **HOUSE,
    "anggota/status_anggota#1": "ada",
    "anggota/nik_sesuai#1": "ya",
    "anggota/status_anggota#2": "ada",
    "anggota/nik_sesuai#2": "tidak",
    "anggota/nik_benar#2": "3573044506850002",
    "anggota/foto_ktp#2": "ktp_siti.jpg",
    "anggota/status_anggota#3": "pindah_dalam_negeri",
    "anggota/tujuan_pindah_art#3": "Kota Surabaya",
    "anggota/status_anggota#4": "meninggal",
    "anggota/tanggal_meninggal#4": "2025-08-17",
    "anggota/foto_dokumen_kematian#4": "akta_kematian.jpg",
    **NEW_BABY,
    "kk/kk_sesuai": "ya",
    "jumlah_art": "3",
    **INTERVIEW,
}
INFORMANT = {
    "jenis_kunjungan": "daftar",
    "sasaran": "1043",
    **HOUSE,
    "keterangan/nama_informan": "Slamet",
    "keterangan/hubungan_informan": "ketua_rt_rw",
    "keterangan/penjelasan": "Keterangan dari ketua RT setempat",
}
NEW_HOUSEHOLD = {
    "jenis_kunjungan": "usulan_baru",
    "hasil": "usulan_baru",
    "persetujuan": "ya",
    **HOUSE,
    "ruta_baru/alamat_baru": "Jl. Kamboja No. 11",
    "ruta_baru/rt_baru": "6",
    "ruta_baru/rw_baru": "2",
    "ruta_baru/kode_desa_baru": "3573041002",
    "jumlah_anggota_baru": "2",
    "anggota_baru/nik_baru#1": "3573041506900002",
    "anggota_baru/nama_baru#1": "Joko Susilo",
    "anggota_baru/tanggal_lahir_baru#1": "1990-06-15",
    "anggota_baru/jenis_kelamin_baru#1": "L",
    "anggota_baru/hubungan_baru#1": "1",
    "anggota_baru/foto_ktp_baru#1": "ktp_joko.jpg",
    "anggota_baru/nik_baru#2": "3573045203920001",
    "anggota_baru/nama_baru#2": "Sri Rahayu",
    "anggota_baru/tanggal_lahir_baru#2": "1992-03-12",
    "anggota_baru/jenis_kelamin_baru#2": "P",
    "anggota_baru/hubungan_baru#2": "2",
    "kk/kk_baru": "3573042001200005",
    "kk/foto_kk": "kk_baru.jpg",
    "jumlah_art": "2",
    **INTERVIEW,
    "aset/aset_bergerak": "tidak_ada",
    "perumahan/penerangan": "2",
    "perumahan/daya": None,
}

# outcome case -> (answers, target household or None for a new household)
CASES: dict[str, tuple[dict[str, str | None], str | None]] = {
    "ditemukan": (FOUND, "1042"),
    "ditemukan_tanpa_persetujuan": (
        {
            "jenis_kunjungan": "daftar",
            "sasaran": "1044",
            "hasil": "ditemukan",
            "persetujuan": "tidak",
            **HOUSE,
            "keterangan/penjelasan": "Kepala rumah tangga tidak bersedia diwawancarai",
        },
        "1044",
    ),
    "tidak_ditemukan": ({**INFORMANT, "hasil": "tidak_ditemukan"}, "1043"),
    "pindah": (
        {**INFORMANT, "hasil": "pindah", "keterangan/tujuan_pindah": "Kec. Wlingi, Kab. Blitar"},
        "1043",
    ),
    "bagian_ruta_lain": (
        {**INFORMANT, "hasil": "bagian_ruta_lain", "keterangan/nama_krt_lain": "Hadi Prasetyo"},
        "1043",
    ),
    "menolak": (
        {
            "jenis_kunjungan": "daftar",
            "sasaran": "1043",
            "hasil": "menolak",
            **HOUSE,
            "keterangan/penjelasan": "Menolak didata, merasa sudah tidak menerima bantuan",
        },
        "1043",
    ),
    "ganda": (
        {**INFORMANT, "hasil": "ganda", "keterangan/sasaran_ganda": "1042"},
        "1043",
    ),
    "usulan_baru": (NEW_HOUSEHOLD, None),
}


def attachment_names(answers: dict[str, str | None]) -> list[str]:
    """The file names the answers put into image questions (all named foto_*)."""
    return sorted({v for k, v in answers.items() if v and k.split("/")[-1].startswith("foto")})


def verval_form(svc, seed: Seed, client: CollectClient) -> LocalForm:  # type: ignore[no-untyped-def]
    """Publish the questionnaire with its placeholder lists and download it as Collect does."""
    publish(svc, seed.project_id, FORM, MEDIA)
    local = next(f for f in client.download_all() if f.form_id == "verval_ruta")
    assert set(local.media_bytes) == {"sasaran.csv", "sasaran_anggota.csv"}
    return local


@pytest.fixture(scope="module")
def java_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One working directory per module, so FormFiller.java is compiled once."""
    return tmp_path_factory.mktemp("javarosa")


@pytest.fixture(scope="module")
def xform() -> bytes:
    """The XForm pyxform makes of the committed workbook (as the server would serve it)."""
    converted = convert_xlsform(FORM)
    return converted.render(converted.designer_version)


def test_questionnaire_converts_and_passes_javarosa(xform: bytes, tmp_path: Path) -> None:
    """pyxform converts the workbook without warnings and JavaRosa (Collect's engine) accepts it."""
    assert convert_xlsform(FORM).warnings == []
    result = validate_xform(xform, tmp_path)
    assert result.ran and result.ok, result.errors
    facts = read_facts(xform)
    assert (facts.form_id, facts.title) == (
        "verval_ruta",
        "Verifikasi dan Validasi Rumah Tangga (DTSEN)",
    )
    assert facts.media_names == ["sasaran.csv", "sasaran_anggota.csv"]
    assert {
        "/verval_ruta/foto_depan",
        "/verval_ruta/foto_samping",
        "/verval_ruta/foto_belakang",
    } <= set(facts.binary_fields)


@pytest.mark.parametrize("case", list(CASES))
def test_every_outcome_is_filled_and_stored(
    case: str, svc, seed: Seed, collect_token: CollectClient, java_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    """JavaRosa fills each household outcome; the upload is stored byte for byte with its photos."""
    answers, target = CASES[case]
    local = verval_form(svc, seed, collect_token)
    filled = {k: v for k, v in answers.items() if v is not None}
    filled["@property.deviceid"] = collect_token.device_id
    xml = fill_form(local.xml, filled, java_dir, media=LIST_MEDIA, timezone="Asia/Jakarta")
    photos = {name: photo(5000) for name in attachment_names(answers)}
    upload = collect_token.submit(xml, photos)
    assert upload.status == 201, upload.message()
    with svc.db.sessions() as session:
        assert session.scalar(select(SubmissionVersion.xml)) == xml
        assert sorted(session.scalars(select(SubmissionAttachment.name))) == sorted(photos)
    root = etree.fromstring(xml)
    assert root.get("id") == "verval_ruta"
    assert root.findtext("hasil") == answers["hasil"]
    if target is None:
        # A new household is not on the list: `sasaran` is not relevant, so JavaRosa (like
        # Collect) leaves it out of the instance.
        assert root.find("sasaran") is None
    else:
        assert root.findtext("sasaran") == target
    interviewed = root.findtext("wawancara") == "1"
    assert interviewed == (case in {"ditemukan", "usulan_baru"})
    assert (root.find("perumahan") is not None) == interviewed  # no consent, no interview (V43)
    if case == "ditemukan":
        check_found_household(root)


def check_found_household(root: etree._Element) -> None:
    """The registry snapshot, a death with its document, a NIK correction and a new baby."""
    members = root.findall("anggota")
    assert [m.findtext("art_id") for m in members] == ["7001", "7002", "7003", "7004"]
    assert [m.findtext("status_anggota") for m in members] == [
        "ada",
        "ada",
        "pindah_dalam_negeri",
        "meninggal",
    ]
    wife, mother = members[1], members[3]
    assert (wife.findtext("art_nik_reg"), wife.findtext("nik_benar")) == (
        "3573044506850001",
        "3573044506850002",
    )
    assert wife.findtext("foto_ktp") == "ktp_siti.jpg"
    assert mother.findtext("art_meninggal_reg") == "1"
    assert mother.findtext("tanggal_meninggal") == "2025-08-17"
    assert mother.findtext("foto_dokumen_kematian") == "akta_kematian.jpg"
    assert root.findtext("anggota_baru/nik_baru") == "3573044302250001"
    assert root.findtext("kk/kk_sesuai") == "ya"
    assert root.findtext("reg_kk") == "3573041708150007"
    assert root.findtext("kode_buku") == "regsosek2022"
    assert root.findtext("meta/instanceName") == "Suparman - Gadang"


REFUSED = {
    "nik_15_digits": ({"anggota/nik_benar#2": "357304450685000"}, "anggota/nik_benar"),
    "death_in_future": (
        {"anggota/tanggal_meninggal#4": (date.today() + timedelta(days=30)).isoformat()},
        "anggota/tanggal_meninggal",
    ),
    "household_size_0": ({"jumlah_art": "0"}, "jumlah_art"),
    "livestock_over_999": ({"aset/ternak/sapi": "1000"}, "aset/ternak/sapi"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_form_refuses_obvious_errors_at_entry(case: str, xform: bytes, java_dir: Path) -> None:
    """A 15-digit NIK, a future death, an empty household or 1000 cattle are refused on entry."""
    change, question = REFUSED[case]
    answers = {k: v for k, v in {**FOUND, **change}.items() if v}
    with pytest.raises(FormFillerError) as caught:
        fill_form(xform, answers, java_dir, media=LIST_MEDIA, timezone="Asia/Jakarta")
    assert caught.value.returncode == 2, caught.value.stderr
    assert f"question '{question}'" in str(caught.value.stderr)
    assert "violates constraint" in str(caught.value.stderr)
