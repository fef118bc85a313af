"""Importing registry extracts: every layout, idempotence, rollback, and each bad input."""

from __future__ import annotations

import csv
import io
import subprocess
import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from server.registry import queries
from server.registry.importer import ExtractImportError, do_import
from server.registry.models import Household, Person, RegistryImport
from server.registry.readers import ExtractError
from server.registry.regions import do_load_regions
from server.registry.synth import write_synthetic

TODAY = date(2026, 11, 23)
DTKS_HEADER = (
    "IDDTKS|PROVINSI|KABUPATEN_KOTA|KECAMATAN|DESA_KELURAHAN|ALAMAT|DUSUN|RT|RW|NOMOR_KK|"
    "NOMOR_NIK|NAMA|TANGGAL_LAHIR|TEMPAT_LAHIR|JENIS_KELAMIN|NAMA_IBU_KANDUNG|HUBUNGAN_KELUARGA|"
    "PADAN_DUKCAPIL|KETERANGAN_MENINGGAL|PKH|BPNT|PBI|BLT"
)
REGION = "JAWA TIMUR|KOTA MALANG|SUKUN|KEBONSARI|JL. KEBONSARI 1|-|001|002"
DTKS_ROWS = [
    f"3573-1|{REGION}|3573040101150001|3573040506800001|SUPARMAN|05-06-1980|MALANG|LAKI-LAKI|"
    "SUMINAH|KEPALA KELUARGA|PADAN||YA|YA|YA|TIDAK",
    f"3573-2|{REGION}|3573040101150001|3573044708820002|Hj. SITI AMINAH|07-08-1982|MALANG|"
    "PEREMPUAN|MARSIAH|ISTRI|PADAN||YA|YA|YA|TIDAK",
    f"3573-3|{REGION}|3573040101150001|3573041203100003|MUHAMMAD RIZKI|12-03-2010|MALANG|"
    "LAKI-LAKI|SITI AMINAH|ANAK|TIDAK PADAN||YA|YA|YA|TIDAK",
    f"3573-4|{REGION}|3573040202160002|3573040101400004|SUKARNI|01-01-1940|BLITAR|LAKI-LAKI|"
    "PAINAH|KEPALA KELUARGA|PADAN|MENINGGAL 2025|YA|YA|YA|TIDAK",
]


@pytest.fixture
def regions(svc):  # type: ignore[no-untyped-def]
    """The region table for Kota Malang (and its province), loaded into the test database."""
    with svc.db.transaction() as session:
        do_load_regions(session, within="3573")
    return svc


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def dtks(tmp_path: Path, rows: list[str] = DTKS_ROWS, name: str = "dtks.csv") -> Path:
    return write(tmp_path / name, "\n".join([DTKS_HEADER, *rows]) + "\n")


def run_import(svc, path: Path, source: str = "dtks", **kwargs):  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        return do_import(session, path, source, today=TODAY, **kwargs)


def persons(svc) -> list[Person]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return list(session.scalars(select(Person).order_by(Person.source_key)))


def test_dtks_pipe_export_is_imported_with_regions_from_names(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A SIKS-NG export (pipes, region names) becomes households and persons with codes."""
    summary = run_import(regions, dtks(tmp_path))
    assert (summary.rows, summary.persons, summary.households, summary.rejected) == (4, 4, 2, 0)
    people = persons(regions)
    head = people[0]
    assert head.village_code == "3573041003" and head.nik_valid and head.sex == "L"
    assert head.birth_date == date(1980, 6, 5) and head.programmes["PKH"] is True
    with regions.db.sessions() as session:
        header = session.scalars(select(RegistryImport.header)).one()
    assert head.raw is not None and dict(zip(header, head.raw, strict=True))["NAMA"] == "SUPARMAN"
    assert people[3].dead and people[3].death_note == "MENINGGAL 2025"
    assert people[2].padan is False


def test_reimport_of_the_same_extract_updates_in_place(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Importing the same file twice leaves one row per person, updated."""
    path = dtks(tmp_path)
    run_import(regions, path)
    changed = [DTKS_ROWS[0].replace("SUPARMAN", "SUPARMAN S"), *DTKS_ROWS[1:]]
    run_import(regions, dtks(tmp_path, changed))
    people = persons(regions)
    assert len(people) == 4 and people[0].name == "SUPARMAN S"
    with regions.db.sessions() as session:
        assert len(session.scalars(select(Household)).all()) == 2
        assert len(session.scalars(select(RegistryImport)).all()) == 2


def test_failed_import_leaves_previous_data(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A file that breaks half-way (bytes in another encoding) changes nothing."""
    run_import(regions, dtks(tmp_path))
    rows = [DTKS_ROWS[0].replace("SUPARMAN", "GANTI"), *DTKS_ROWS[1:]] * 3000
    text = "\n".join([DTKS_HEADER, *rows]).encode("utf-8") + b"\n3573-9|\xff\xfe broken\n"
    path = tmp_path / "broken.csv"
    path.write_bytes(text)
    with pytest.raises(ExtractError, match="line"):
        run_import(regions, path)
    assert [p.name for p in persons(regions)][0] == "SUPARMAN"


def _snapshot(svc) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        rows = session.execute(
            select(Person, Household.source_key)
            .join(Household, Household.id == Person.household_id)
            .order_by(Person.source_key)
        )
        return [
            (
                p.source_key,
                key,
                p.nik,
                p.nik_valid,
                p.kk,
                p.name,
                p.name_key,
                p.birth_date,
                p.sex,
                p.village_code,
                p.dead,
                p.padan,
                p.programmes,
                p.issues,
                p.raw,
            )
            for p, key in rows
        ]


def test_reading_process_stores_the_same_rows(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Reading in a second process (large files) stores exactly what reading in-process does."""
    write_synthetic("3573", 1500, seed=3, out_dir=tmp_path)
    path = tmp_path / "dtks.csv"
    inline = run_import(regions, path, parallel=False, rejected_path=tmp_path / "a.csv")
    first = _snapshot(regions)
    forked = run_import(regions, path, parallel=True, rejected_path=tmp_path / "b.csv")
    assert _snapshot(regions) == first and len(first) == inline.rows > 1000
    assert forked.as_dict() | {"seconds": 0} == inline.as_dict() | {"seconds": 0}
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


@pytest.fixture
def children(monkeypatch) -> list[subprocess.Popen[bytes]]:  # type: ignore[no-untyped-def]
    """The processes the importer starts, to check that none outlives its import."""
    started: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def record(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", record)
    return started


def test_reading_process_errors_roll_back(regions, tmp_path, children) -> None:  # type: ignore[no-untyped-def]
    """A file that breaks half-way in the reading process fails the same way, changing nothing."""
    run_import(regions, dtks(tmp_path))
    rows = [DTKS_ROWS[0].replace("SUPARMAN", "GANTI"), *DTKS_ROWS[1:]] * 3000
    path = tmp_path / "broken.csv"
    path.write_bytes("\n".join([DTKS_HEADER, *rows]).encode() + b"\n3573-9|\xff\xfe broken\n")
    with pytest.raises(ExtractError, match="line 12002"):
        run_import(regions, path, parallel=True)
    assert [p.name for p in persons(regions)][0] == "SUPARMAN"
    assert len(children) == 1 and children[0].returncode == 0


def test_write_failure_stops_the_reading_process(regions, tmp_path, monkeypatch, children) -> None:  # type: ignore[no-untyped-def]
    """When writing fails, the reading process is stopped and nothing is kept."""
    calls = []

    def fail(session, params) -> None:  # type: ignore[no-untyped-def]
        calls.append(len(params))
        raise RuntimeError("disk full")

    monkeypatch.setattr(queries, "write_persons", fail)
    path = dtks(tmp_path, DTKS_ROWS * 3000)
    with pytest.raises(RuntimeError, match="disk full"):
        run_import(regions, path, parallel=True)
    assert calls and persons(regions) == []
    assert len(children) == 1 and children[0].returncode is not None


def test_invalid_identities_are_kept_with_their_issues(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A bad NIK does not reject the row: it is stored with the reasons."""
    bad = DTKS_ROWS[0].replace("3573040506800001", "3573040506800000")
    swapped = DTKS_ROWS[1].replace("07-08-1982", "08-07-1982")
    run_import(regions, dtks(tmp_path, [bad, swapped]))
    first, second = persons(regions)
    assert not first.nik_valid and "nik_serial_zero" in first.issues
    assert second.nik_valid and "nik_birth_date_mismatch" in second.issues


def test_rows_without_key_or_name_are_rejected_with_line_and_reason(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Unstorable rows go to the rejected CSV with their line; formulas are neutralised."""
    no_name = DTKS_ROWS[1].replace("Hj. SITI AMINAH", "")
    no_kk = DTKS_ROWS[2].replace("3573040101150001", "", 1)
    formula = no_name.replace("3573-2", '=HYPERLINK("http://x")')
    rejected = tmp_path / "rejected.csv"
    summary = run_import(
        regions, dtks(tmp_path, [DTKS_ROWS[0], no_name, no_kk, formula]), rejected_path=rejected
    )
    assert summary.rejected == 3 and summary.persons == 1
    rows = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8"))))
    assert rows[1][:2] == ["3", "no name"]
    assert rows[2][:2] == ["4", "no household key (KK / ID Keluarga)"]
    assert rows[3][2].startswith("'=HYPERLINK")


def test_missing_required_columns_are_named(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A header without NOMOR_NIK and NAMA fails with a message naming them."""
    header = DTKS_HEADER.replace("|NOMOR_NIK|NAMA|", "|NIK_X|NAMA_X|")
    path = write(tmp_path / "x.csv", header + "\n" + DTKS_ROWS[0] + "\n")
    with pytest.raises(ExtractImportError, match="NOMOR_NIK, NAMA"):
        run_import(regions, path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_encodings_are_detected(regions, tmp_path, encoding: str) -> None:  # type: ignore[no-untyped-def]
    """UTF-8 with a BOM and Windows-1252 files read the same names."""
    rows = [DTKS_ROWS[0].replace("SUPARMAN", "SUPARMAN É")]
    run_import(regions, write(tmp_path / "e.csv", "\n".join([DTKS_HEADER, *rows]), encoding))
    assert persons(regions)[0].name == "SUPARMAN É"


def test_dtsen_comma_file_with_codes_and_attributes(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """DTSEN rows carry codes, desil, attributes and status_dtsen MENINGGAL as a death."""
    header = (
        "idsemesta,no_kk,nik,nama,tempat_lahir,tanggal_lahir,jenis_kelamin,hubungan_keluarga,"
        "kode_kabupaten_kota,kode_kecamatan,kode_kelurahan_desa,alamat,jumlah_anggota_keluarga,"
        "desil_nasional_keluarga,desil_nasional_anggota,status_dtsen,pbi,lantai,daya_listrik"
    )
    row = (
        "S-1,3573040101150001,3573040506800001,Suparman,Malang,1980-06-05,1,Kepala Keluarga,"
        "3573,357304,3573041003,Jl. Kebonsari,3,2,2,aktif,1,3,900"
    )
    dead = (
        "S-2,3573040101150001,3573044107820001,Sumiati,Malang,1982-07-01,2,Istri,"
        "3573,357304,3573041003,Jl. Kebonsari,3,2,2,MENINGGAL,1,3,900"
    )
    summary = run_import(
        regions, write(tmp_path / "dtsen.csv", f"{header}\n{row}\n{dead}\n"), "dtsen"
    )
    assert summary.persons == 2
    with regions.db.sessions() as session:
        household = session.scalars(select(Household)).one()
        assert household.desil == 2 and household.attributes == {"lantai": 3, "daya_listrik": 900}
        person, wife = session.scalars(select(Person).order_by(Person.id)).all()
        assert person.programmes == {"PBI": True} and person.desil == 2
        assert not person.dead
        assert wife.dead and wife.death_note == "MENINGGAL"  # status_dtsen records the death


def test_p3ke_family_and_individual_files(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """P3KE families and individuals join on ID Keluarga, in either order."""
    individuals = write(
        tmp_path / "ind.csv",
        '"ID Keluarga P3KE","ID Individu","Nama","NIK","Jenis Kelamin",'
        '"Hubungan Dengan Kepala Keluarga","Tanggal Lahir","Status Pekerjaan"\n'
        "P3KE-1,I-1,Suparman,3573040506800001,Laki-laki,Kepala Keluarga,05/06/1980,Buruh\n",
    )
    families = write(
        tmp_path / "fam.csv",
        '"ID Keluarga P3KE","Kode Wilayah","Provinsi","Kabupaten/Kota","Kecamatan",'
        '"Desa/Kelurahan","Desil Kesejahteraan","Alamat","NIK Kepala Keluarga",'
        '"Nama Kepala Keluarga","No KK","Jenis Lantai","Penerima BPNT","Penerima PKH",'
        '"Penerima BST"\n'
        "P3KE-1,3573041003,Jawa Timur,Kota Malang,Sukun,Kebonsari,1,Jl. Kebonsari,"
        "3573040506800001,Suparman,3573040101150001,4,Ya,Ya,Tidak\n",
    )
    run_import(regions, individuals, "p3ke")
    run_import(regions, families, "p3ke")
    with regions.db.sessions() as session:
        household = session.scalars(select(Household)).one()
        assert household.desil == 1 and household.village_code == "3573041003"
        assert household.programmes == {"BPNT": True, "PKH": True, "BST": False}
        person = session.scalars(select(Person)).one()
        assert person.household_id == household.id and person.birth_date == date(1980, 6, 5)


def test_xlsx_extract_is_streamed(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An XLSX workbook is read like the CSV, numbers typed as numbers included."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(DTKS_HEADER.split("|"))
    for line in DTKS_ROWS:
        cells: list[object] = line.split("|")
        cells[10] = int(str(cells[10]))  # NIK typed as a number
        sheet.append(cells)
    path = tmp_path / "dtks.xlsx"
    workbook.save(path)
    assert run_import(regions, path).persons == 4
    assert persons(regions)[0].nik == "3573040506800001"


def test_zip_bomb_workbook_is_refused(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A workbook whose sheet inflates thousands of times is refused before parsing."""
    path = tmp_path / "bomb.xlsx"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w") as sheet,
    ):
        chunk = b"\0" * (1 << 20)
        for _ in range(60):
            sheet.write(chunk)
    with pytest.raises(ExtractError, match="zip bomb"):
        run_import(regions, path)


@pytest.mark.parametrize(
    "content", [b"", b"\n\n", b"not,a,registry\n1,2,3\n", b"\x00\x01\x02garbage"]
)
def test_unreadable_files_fail_clearly(regions, tmp_path, content: bytes) -> None:  # type: ignore[no-untyped-def]
    """Empty files, unknown layouts and garbage fail with a message and import nothing."""
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises((ExtractError, ExtractImportError)):
        run_import(regions, path)
    assert persons(regions) == []


def test_custom_mapping_profile(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A user's TOML profile maps an unknown layout."""
    from server.registry.mapping import load_profile

    profile_path = write(
        tmp_path / "mine.toml",
        'name = "mine"\nsource = "dtks"\nlevel = "person"\nregion = "codes"\n'
        '[columns]\nhousehold_key = "KK"\nname = "Nama Lengkap"\nnik = "NIK"\n'
        'village_code = "Desa"\nsource_id = "ID"\n',
    )
    data = write(
        tmp_path / "mine.csv",
        "ID;KK;NIK;Nama Lengkap;Desa\nA1;3573040101150001;3573040506800001;Suparman;3573041003\n",
    )
    summary = run_import(regions, data, profile=load_profile(profile_path))
    assert summary.persons == 1 and persons(regions)[0].village_code == "3573041003"


def test_legacy_bps_file_by_kabupaten_code_and_names(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A BPS-coded legacy file is placed by its kabupaten code and the normalised names."""
    from server.registry.mapping import load_profile

    profile_path = write(
        tmp_path / "bps.toml",
        'name = "bps-lama"\nsource = "dtks"\nlevel = "person"\nregion = "names"\n'
        '[columns]\nhousehold_key = "NO_KK"\nname = "NAMA"\nnik = "NIK"\nsource_id = "ID"\n'
        'kabupaten_code = "KDKAB"\nkecamatan_name = "NMKEC"\nvillage_name = "NMDESA"\n'
        '[optional]\nvillage_code = "KDDESA_BPS"\n',
    )
    data = write(
        tmp_path / "bps.csv",
        "ID,KDKAB,NMKEC,NMDESA,KDDESA_BPS,NO_KK,NIK,NAMA\n"
        "B1,35.73,Kec. Sukun,Kebon Sari,3573010003,3573040101150001,3573040506800001,Suparman\n"
        "B2,3573,SUKUN,DESA ENTAH,3573010099,3573040101150001,3573044708820002,Siti\n",
    )
    summary = run_import(regions, data, profile=load_profile(profile_path))
    placed = {p.source_key: p.village_code for p in persons(regions)}
    assert placed == {"B1": "3573041003", "B2": None}
    assert summary.issues["village_unresolved"] == 1


def test_profile_must_map_what_its_region_mode_reads(tmp_path) -> None:
    """A profile reading regions by names without the names fails with a clear message."""
    from server.registry.mapping import ProfileError, load_profile

    path = write(
        tmp_path / "x.toml",
        'name = "x"\nsource = "dtks"\nlevel = "person"\nregion = "names"\n'
        '[columns]\nhousehold_key = "KK"\nname = "NAMA"\nkecamatan_name = "KEC"\n',
    )
    with pytest.raises(ProfileError, match="village_name"):
        load_profile(path)


def test_rejected_csv_is_valid_for_spreadsheets(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The rejected-rows file starts with line and reason, then the original header."""
    rejected = tmp_path / "r.csv"
    run_import(regions, dtks(tmp_path), rejected_path=rejected)
    header = next(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8"))))
    assert header[:3] == ["line", "reason", "IDDTKS"]


def test_bulk_transaction_skips_foreign_key_checks_only_inside(svc) -> None:  # type: ignore[no-untyped-def]
    """A bulk unit of work on SQLite runs without foreign-key checks, and only it does."""

    def checked(bulk: bool) -> int:
        with svc.db.transaction(bulk=bulk) as session:
            if not svc.settings.is_sqlite:  # PostgreSQL: the same checks in every transaction
                return int(session.connection().exec_driver_sql("SELECT 1").scalar())
            return int(session.connection().exec_driver_sql("PRAGMA foreign_keys").scalar())

    expected = (0, 1, 0, 1) if svc.settings.is_sqlite else (1, 1, 1, 1)
    assert (checked(True), checked(False), checked(True), checked(False)) == expected


def test_p3ke_workbooks_import_like_their_csv(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """P3KE's family and individual files as XLSX store the same households and people."""
    write_synthetic("3573", 400, seed=5, out_dir=tmp_path, xlsx=True)
    counts = []
    for suffix in (".csv", ".xlsx"):
        people = run_import(regions, tmp_path / f"p3ke_individu{suffix}", "p3ke")
        families = run_import(regions, tmp_path / f"p3ke_keluarga{suffix}", "p3ke")
        counts.append((people.persons, people.rejected, families.households, families.rejected))
    assert counts[0] == counts[1] and counts[0][0] > 100 and counts[0][1] == 0
    with regions.db.sessions() as session:
        placed = session.scalars(select(Household).where(Household.village_code.is_(None)))
        assert placed.all() == []
