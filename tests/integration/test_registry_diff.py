"""Comparing two imported registry sources (`registry diff`): correspondence by KK then NIK,
statuses and differences, the kecamatan filter, the CSV target list and its audit row."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from contextlib import redirect_stderr, redirect_stdout
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from server.cli import main
from server.models import AuditEvent
from server.registry import diff_queries
from server.registry.diff import DiffError, do_diff
from server.registry.importer import do_import
from server.registry.models import Household, Person
from server.registry.regions import do_load_regions
from server.registry.synth import write_synthetic

TODAY = date(2026, 11, 23)
PERSONS = 3000
SEED = 5
SUKUN = "357304"
SIXTEEN_DIGITS = re.compile(r"\d{16}")


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic extracts of Kota Malang with injected errors, made once for the module."""
    out = tmp_path_factory.mktemp("synth")
    write_synthetic("3573", PERSONS, SEED, out)
    return out


@pytest.fixture
def regions(svc):  # type: ignore[no-untyped-def]
    """The region table for Kota Malang (and its province), loaded into the test database."""
    with svc.db.transaction() as session:
        do_load_regions(session, within="3573")
    return svc


@pytest.fixture
def imported(regions, extracts: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The synthetic P3KE family and individual files (p3ke) and DTKS (dtks), imported."""
    for source, name in (
        ("p3ke", "p3ke_keluarga.csv"),
        ("p3ke", "p3ke_individu.csv"),
        ("dtks", "dtks.csv"),
    ):
        with regions.db.transaction() as session:
            do_import(
                session, extracts / name, source, rejected_path=tmp_path / "rej.csv", today=TODAY
            )
    return regions


def diff(svc, out: Path, a: str = "p3ke", b: str = "dtks", kecamatan: str | None = None):  # type: ignore[no-untyped-def]
    """Run the comparison in its own unit of work; the summary and the CSV's rows."""
    with svc.db.transaction() as session:
        summary = do_diff(session, a, b, out, kecamatan)
    with out.open(newline="", encoding="utf-8") as handle:
        return summary, list(csv.DictReader(handle))


def truth(extracts: Path, kind: str) -> list[dict[str, str]]:
    with (extracts / "truth.csv").open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["kind"] == kind]


def column(extracts: Path, name: str, header: str) -> set[str]:
    delimiter = "|" if name == "dtks.csv" else ","
    with (extracts / name).open(newline="", encoding="utf-8") as handle:
        return {row[header] for row in csv.DictReader(handle, delimiter=delimiter)}


def test_only_in_p3ke_is_exactly_missing_from_dtks(imported, extracts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The P3KE households reported only in P3KE are exactly those injected as missing from DTKS."""
    summary, rows = diff(imported, tmp_path / "diff.csv")
    only_p3ke = {row["p3ke_key"] for row in rows if row["status"] == "only_p3ke"}
    missing = {row["record_ids"] for row in truth(extracts, "missing_from_dtks")}
    assert missing and only_p3ke == missing
    assert summary.statuses["only_p3ke"] == len(missing)


def test_every_household_of_both_sources_is_reported_once(imported, extracts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each P3KE and DTKS household is in exactly one row (none here matches several)."""
    summary, rows = diff(imported, tmp_path / "diff.csv")
    p3ke = [row["p3ke_key"] for row in rows if row["p3ke_key"]]
    dtks = [row["dtks_key"] for row in rows if row["dtks_key"]]
    assert sorted(p3ke) == sorted(column(extracts, "p3ke_keluarga.csv", "ID Keluarga P3KE"))
    assert sorted(dtks) == sorted(column(extracts, "dtks.csv", "NOMOR_KK"))
    assert (summary.households_a, summary.households_b) == (len(p3ke), len(dtks))
    paired = [row for row in rows if row["status"] in ("both", "conflict")]
    assert paired and all(row["match"] == "kk" for row in paired)
    assert all(row["p3ke_kk"] == row["dtks_kk"] for row in paired)


def test_moved_households_are_conflicts_on_village(imported, extracts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Households P3KE or DTKS list at an older address, and only those, differ in village."""
    _summary, rows = diff(imported, tmp_path / "diff.csv")
    in_p3ke = column(extracts, "p3ke_keluarga.csv", "No KK")
    moved = {
        row["no_kk"]
        for row in truth(extracts, "moved_household")
        if row["source"] in ("dtks.csv", "p3ke_keluarga.csv") and row["no_kk"] in in_p3ke
    }
    village = [row for row in rows if "village" in row["differences"]]
    assert moved and {row["p3ke_kk"] for row in village} == moved
    for row in village:
        assert row["status"] == "conflict" and row["p3ke_village"] != row["dtks_village"]
        assert f"p3ke {row['p3ke_village']}, dtks {row['dtks_village']}" in row["differences"]


def test_kecamatan_keeps_rows_with_a_village_in_it(imported, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--kecamatan (dotted or not) keeps exactly the rows where either side lies in it."""
    _summary, everything = diff(imported, tmp_path / "all.csv")
    summary, sukun = diff(imported, tmp_path / "sukun.csv", kecamatan="35.73.04")
    expected = [
        row for row in everything if SUKUN in (row["p3ke_kecamatan"], row["dtks_kecamatan"])
    ]
    assert sukun and len(sukun) < len(everything)
    assert sorted(map(str, sukun)) == sorted(map(str, expected))
    assert summary.kecamatan == SUKUN


def test_households_sharing_a_nik_correspond_when_no_kk_links_them(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without a common KK a shared NIK pairs households; several partners make conflicts."""
    with regions.db.transaction() as session:
        add_household(session, "p3ke", "P1", None, "3573041003", [("3573040506800001", "A")])
        add_household(
            session,
            "dtks",
            "3573040101150001",
            "3573040101150001",
            "3573041003",
            [("3573040506800001", "A")],
        )
        add_household(
            session,
            "p3ke",
            "P2",
            "3573040202160002",
            "3573041003",
            [
                ("3573044708820002", "B"),
                ("3573041203100003", "C"),
            ],
        )
        add_household(
            session,
            "dtks",
            "3573040303170003",
            "3573040303170003",
            "3573041003",
            [("3573044708820002", "B")],
        )
        add_household(
            session,
            "dtks",
            "3573040404180004",
            "3573040404180004",
            "3573041003",
            [("3573041203100003", "C")],
        )
        # Paired by KK, so its member's NIK in another DTKS household links nothing.
        add_household(
            session, "p3ke", "P3", "3573040505190005", "3573041003", [("3573040101400004", "D")]
        )
        add_household(
            session,
            "dtks",
            "3573040505190005",
            "3573040505190005",
            "3573041003",
            [("3573040101400004", "D")],
        )
        add_household(
            session,
            "dtks",
            "3573040606190006",
            "3573040606190006",
            "3573041003",
            [("3573040101400004", "D")],
        )
    summary, rows = diff(regions, tmp_path / "diff.csv")
    got = {(row["status"], row["match"], row["p3ke_key"], row["dtks_key"]) for row in rows}
    assert got == {
        ("both", "nik", "P1", "3573040101150001"),
        ("conflict", "nik", "P2", "3573040303170003"),
        ("conflict", "nik", "P2", "3573040404180004"),
        ("both", "kk", "P3", "3573040505190005"),
        ("only_dtks", "", "", "3573040606190006"),
    }
    several = [row for row in rows if row["p3ke_key"] == "P2"]
    assert all("p3ke household matches 2 dtks households" in r["differences"] for r in several)
    assert all("KK differs" in r["differences"] for r in several)
    assert summary.statuses == {"both": 2, "conflict": 2, "only_dtks": 1}


def test_a_nik_under_another_name_links_nothing(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A mistyped NIK that is another person's NIK (another name) does not pair households."""
    with regions.db.transaction() as session:
        add_household(
            session, "p3ke", "P1", "3573040202160002", "3573041003", [("3573040506800001", "A")]
        )
        add_household(
            session,
            "dtks",
            "3573040101150001",
            "3573040101150001",
            "3573041003",
            [("3573040506800001", "Z")],
        )
    _summary, rows = diff(regions, tmp_path / "diff.csv")
    assert sorted(row["status"] for row in rows) == ["only_dtks", "only_p3ke"]


def test_conflicts_name_members_head_and_desil(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Member count, head NIK, head name and desil differences are named, without NIKs."""
    kk = "3573040101150001"
    with regions.db.transaction() as session:
        add_household(
            session, "dtsen", kk, kk, "3573041003", [("3573040506800001", "SUPARMAN")], desil=2
        )
        add_household(
            session,
            "dtks",
            kk,
            kk,
            "3573041003",
            [("3573040506800002", "SUKIMAN"), ("3573044708820002", "SITI")],
            desil=3,
        )
    _summary, rows = diff(regions, tmp_path / "diff.csv", a="dtsen", b="dtks")
    assert [row["status"] for row in rows] == ["conflict"]
    assert rows[0]["differences"] == (
        "members dtsen 1, dtks 2; head NIK differs; head name differs; desil dtsen 2, dtks 3"
    )


def test_csv_cells_cannot_run_as_formulas(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A key that a spreadsheet would run as a formula is written with a leading apostrophe."""
    with regions.db.transaction() as session:
        add_household(session, "p3ke", '=HYPERLINK("http://x","y")', None, "3573041003", [])
    _summary, rows = diff(regions, tmp_path / "diff.csv")
    assert [row["p3ke_key"] for row in rows] == ['\'=HYPERLINK("http://x","y")']
    text = (tmp_path / "diff.csv").read_text(encoding="utf-8")
    assert next(csv.reader(io.StringIO(text)))[:3] == ["status", "match", "p3ke_key"]


def test_export_is_audited_with_counts_only(imported, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The export writes one audit row with its counts and no NIK or KK."""
    summary, _rows = diff(imported, tmp_path / "diff.csv", kecamatan=SUKUN)
    with imported.db.sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "registry.diff.export")
        ).all()
    assert len(events) == 1
    event = events[0]
    assert (event.subject_type, event.subject_id, event.actor_id) == ("registry", None, None)
    details = event.details
    assert details["a"] == "p3ke" and details["b"] == "dtks" and details["kecamatan"] == SUKUN
    assert details["rows"] == summary.rows and details["statuses"] == dict(summary.statuses)
    assert not SIXTEEN_DIGITS.search(json.dumps(details))


def test_rolled_back_export_leaves_no_file(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The CSV appears only when the unit of work (and its audit row) commits."""
    out = tmp_path / "diff.csv"
    with pytest.raises(RuntimeError), regions.db.transaction() as session:
        do_diff(session, "p3ke", "dtks", out)
        raise RuntimeError("stop")
    assert not out.exists() and not (tmp_path / "diff.csv.part").exists()


def test_reads_leave_the_write_session_idle(regions, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Given a reader, the comparison starts the write transaction only for its audit row."""
    seen: list[bool] = []
    streamed = diff_queries.stream
    with regions.db.transaction() as session, regions.db.transaction(write=False) as reader:

        def watched(on, statement):  # type: ignore[no-untyped-def]
            seen.append(session.in_transaction())
            yield from streamed(on, statement)

        monkeypatch.setattr(diff_queries, "stream", watched)
        do_diff(session, "p3ke", "dtks", tmp_path / "diff.csv", reader=reader)
        assert session.in_transaction()  # the audit row
    assert seen == [False, False, False]


def test_same_source_twice_and_bad_kecamatan_are_refused(regions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Comparing a source with itself, or a kecamatan that is not 6 digits, fails clearly."""
    with regions.db.transaction() as session:
        with pytest.raises(DiffError, match="itself"):
            do_diff(session, "dtks", "dtks", tmp_path / "x.csv")
        with pytest.raises(DiffError, match="kecamatan code"):
            do_diff(session, "p3ke", "dtks", tmp_path / "x.csv", kecamatan="3573")


def test_cli_prints_counts_and_writes_the_default_file(imported, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`verivali registry diff` writes diff-p3ke-dtks.csv here and prints counts, no NIK."""
    code, out, err = verivali(imported, monkeypatch, tmp_path, "--a", "p3ke", "--b", "dtks")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert re.fullmatch(r"compared [\d,]+ p3ke and [\d,]+ dtks households in [\d.]+ s", lines[0])
    assert any(re.fullmatch(r"  only in p3ke: +\d+", line) for line in lines)
    wrote = re.fullmatch(r"wrote ([\d,]+) rows to diff-p3ke-dtks.csv", lines[-1])
    assert wrote, lines[-1]
    assert not SIXTEEN_DIGITS.search(out)
    with (tmp_path / "diff-p3ke-dtks.csv").open(newline="", encoding="utf-8") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == int(wrote.group(1).replace(",", ""))


def test_cli_errors_are_one_line(imported, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A bad kecamatan or the same source twice is one error line and exit code 1."""
    for args in (
        ("--a", "dtks", "--b", "dtks"),
        ("--a", "p3ke", "--b", "dtks", "--kecamatan", "x"),
    ):
        code, out, err = verivali(imported, monkeypatch, tmp_path, *args)
        assert code == 1 and out == ""
        assert len(err.splitlines()) == 1 and err.startswith("verivali: error: ")


def verivali(svc, monkeypatch, cwd: Path, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """Run `verivali registry diff ARGS` in this process against the test's database."""
    for key in [k for k in os.environ if k.startswith("VERIVALI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("VERIVALI_DATA_DIR", str(svc.settings.data_dir))
    monkeypatch.setenv("VERIVALI_DATABASE_URL", svc.settings.database_url)
    monkeypatch.setenv("VERIVALI_SECRET_KEY", "test-secret")
    monkeypatch.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(["registry", "diff", *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def add_household(  # type: ignore[no-untyped-def]
    session,
    source: str,
    key: str,
    kk: str | None,
    village: str,
    members: list[tuple[str, str]],
    desil: int | None = None,
) -> None:
    """A household and its members (NIK, name), the first one its head, written directly."""
    household = Household(source=source, source_key=key, kk=kk, village_code=village, desil=desil)
    session.add(household)
    session.flush()
    for i, (nik, name) in enumerate(members):
        session.add(
            Person(
                household_id=household.id,
                source=source,
                source_key=f"{key}-{i}",
                nik=nik,
                nik_valid=True,
                kk=kk,
                name=name,
                name_key=name.lower(),
                relationship="KEPALA KELUARGA" if i == 0 else "ANAK",
                village_code=village,
            )
        )
    session.flush()
