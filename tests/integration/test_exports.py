"""The exports (server/reviews/export.py), called directly: approved results one row per
member for the registry update, within a koordinator's scope, and raw submissions with a
sheet per repeat; as CSV (with BOM) and XLSX (openpyxl write-only, streamed from a file
that is deleted); read in batches and safe against formula injection."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from collect import CollectClient, WsgiTransport
from conftest import ROOT, Seed, publish
from openpyxl import load_workbook
from review_world import KK, World, build
from sqlalchemy import select
from test_assignments import phone

from server.assignments.models import Target
from server.demo import load_demo
from server.models import AuditEvent, Submission, User
from server.registry.models import Household, Person
from server.registry.regions import do_load_regions
from server.reviews import export
from server.reviews import export_formats as fmt
from server.reviews.access import access_review
from server.reviews.queries import set_decision
from server.validation import jobs
from server.web.session import Viewer

APPROVE = "submission.approve"
NIKS = ("3573041203850001", "3573045506870002", "3573040101100003")


@pytest.fixture
def world(svc, seed: Seed, tmp_path: Path, transport: WsgiTransport) -> World:  # type: ignore[no-untyped-def]
    """Two teams' checked submissions (see review_world), none approved: the rules'
    automatic approvals are undone, so each test approves what it exports."""
    built = build(svc, seed, tmp_path, transport)
    with svc.db.transaction() as session:
        set_decision(session, built.team1 + built.team2, "received")
    return built


def send(svc, transport, seed: Seed, name: str, target: int, kk: str, niks, spot: str = "") -> int:  # type: ignore[no-untyped-def]
    """One uji_aturan submission from an enumerator's phone, checked; its ID."""
    members = "".join(f"<anggota><nik>{nik}</nik></anggota>" for nik in niks)
    xml = (
        f'<data id="uji_aturan" version="2026112301"><sasaran>{target}</sasaran>'
        f"<hasil>ditemukan</hasil><kk>{kk}</kk><lokasi>{spot}</lokasi>{members}"
        f"<meta><instanceID>uuid:{uuid.uuid4()}</instanceID></meta></data>"
    )
    client: CollectClient = phone(transport, svc, seed, name)
    assert client.submit(xml.encode()).status == 201
    jobs.drain(svc)
    with svc.db.sessions() as session:
        return int(session.scalar(select(Submission.id).order_by(Submission.id.desc())))


def approve(svc, ids) -> None:  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        set_decision(session, list(ids), "approved")


def approved(svc, project_id: int, submitters=None, batch: int = 500) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        return list(export.approved_rows(session, project_id, submitters, batch=batch))


def read_csv(chunks) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    data = b"".join(chunks)
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def test_approved_results_have_one_row_per_member_of_approved_submissions_only(  # type: ignore[no-untyped-def]
    svc, seed: Seed, transport: WsgiTransport, world: World
) -> None:
    """One row per member with the registry household; only approved submissions count."""
    first, second = world.by_enumerator["pencacah1"][1:]
    target = world.targets[first]
    family = send(svc, transport, seed, "pencacah1", target, KK[:-1] + "9", NIKS)
    approve(svc, [second, family])
    with svc.db.transaction() as session:
        for day in (3, 2):  # the latest approval counts, whatever the order of the rows
            at = datetime(2026, 11, day, 4, 5, 6, tzinfo=UTC)
            session.add(
                AuditEvent(action=APPROVE, subject_type="submission", subject_id=family, at=at)
            )
    rows = approved(svc, world.project_id)
    assert Counter(r["submission_id"] for r in rows) == {str(second): 1, str(family): 3}
    mine = [r for r in rows if r["submission_id"] == str(family)]
    assert [r["member_path"] for r in mine] == ["anggota[1]", "anggota[2]", "anggota[3]"]
    assert [r["nik_field"] for r in mine] == list(NIKS)  # in full
    with svc.db.sessions() as session:
        household = session.scalar(
            select(Household).where(Household.id == _household_of(session, target))
        )
        assert household is not None
        row = mine[0]
        assert row["enumerator"] == "pencacah1" and row["target_id"] == str(target)
        assert (row["household_source"], row["household_source_key"]) == (
            "dtks",
            household.source_key,
        )
        assert row["kk_registry"] == household.kk and row["kk_field"] == KK[:-1] + "9"
        assert row["changed_fields"] == "kk"
        assert row["village_code"] == household.village_code
        assert row["kecamatan_code"] == "357304" and row["outcome"] == "ditemukan"
        assert row["approved_at"] == "2026-11-03T04:05:06+00:00"
        assert rows[0]["approved_at"] > row["approved_at"]  # no audit row: its last change
    assert list(row) == list(export.APPROVED_COLUMNS)


def _household_of(session, target_id: int) -> int:  # type: ignore[no-untyped-def]
    return int(session.scalar(select(Target.household_id).where(Target.id == target_id)))


def test_a_koordinators_scope_limits_the_approved_rows(svc, world: World) -> None:  # type: ignore[no-untyped-def]
    """koordinator1's scope exports their team's approved submissions, not the other's."""
    approve(svc, world.team1 + world.team2)
    with svc.db.sessions() as session:
        user = session.scalar(select(User).where(User.username == "koordinator1"))
        assert user is not None
        viewer = Viewer(user.id, user.username, "", user.role)
        scope = access_review(session, viewer, world.project_id)
    everyone = {r["submission_id"] for r in approved(svc, world.project_id)}
    team = {r["submission_id"] for r in approved(svc, world.project_id, scope.submitters)}
    assert everyone == {str(i) for i in world.team1 + world.team2}
    assert team == {str(i) for i in world.team1}
    assert approved(svc, world.project_id, frozenset()) == []


def test_batches_smaller_than_the_rows_give_the_same_rows(svc, world: World) -> None:  # type: ignore[no-untyped-def]
    """Keyset batches of two read every approved submission once, in ID order."""
    approve(svc, world.team1 + world.team2)
    whole = approved(svc, world.project_id)
    assert approved(svc, world.project_id, batch=2) == whole
    assert [int(r["submission_id"]) for r in whole] == sorted(world.team1 + world.team2)
    with svc.db.sessions() as session:
        layout = export.raw_layout(session, world.project_id, "uji_aturan")
        assert layout is not None
        small = list(export.raw_rows(session, layout, batch=2))
        big = list(export.raw_rows(session, layout))
    assert small == big and len([s for s, _ in big if s == "submissions"]) == 9


def test_approved_csv_opens_with_dictreader_after_the_bom(svc, world: World) -> None:  # type: ignore[no-untyped-def]
    """The CSV starts with a BOM and reads back as the rows, NIKs and KK numbers whole."""
    approve(svc, world.team1)
    rows = approved(svc, world.project_id)
    read = read_csv(fmt.csv_stream(export.APPROVED_COLUMNS, iter(rows)))
    assert read == rows and len(read) == 6
    assert all(len(r["kk_field"]) == 16 for r in read)


def test_raw_xlsx_has_a_sheet_per_repeat_linked_by_submission(  # type: ignore[no-untyped-def]
    svc, seed: Seed, transport: WsgiTransport, world: World
) -> None:
    """A sheet per repeat, rows linked by submission; no temporary file left once sent."""
    target = world.targets[world.team1[0]]
    family = send(svc, transport, seed, "pencacah1", target, KK, NIKS, "-7.98 112.63 450 5")
    tmp = svc.settings.tmp_dir
    with svc.db.sessions() as session:
        layout = export.raw_layout(session, world.project_id, "uji_aturan")
        assert layout is not None
        path = fmt.xlsx_file(layout.sheets, export.raw_rows(session, layout), tmp)
    assert [p.name for p in tmp.iterdir() if p.name.startswith("export-")] == [path.name]
    data = b"".join(fmt.file_stream(path, chunk=4096))
    assert not path.exists() and not [p for p in tmp.iterdir() if p.name.startswith("export-")]
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == ["submissions", "anggota"]
    main = [list(r) for r in book["submissions"].iter_rows(values_only=True)]
    roster = [list(r) for r in book["anggota"].iter_rows(values_only=True)]
    assert main[0][:6] == list(export.MAIN_COLUMNS) and "sasaran" in main[0]
    assert "anggota/nik" not in main[0]
    assert roster[0] == [*export.REPEAT_COLUMNS, "anggota/nik"]
    ids = {row[0] for row in main[1:]}
    assert len(main) - 1 == 10 and all(row[0] in ids for row in roster[1:])
    family_rows = [row for row in roster[1:] if row[0] == str(family)]
    assert [(r[1], r[2], r[4]) for r in family_rows] == [
        (str(i), f"anggota[{i}]", nik) for i, nik in enumerate(NIKS, start=1)
    ]
    spot = main[0].index("lokasi")
    assert next(r for r in main if r[0] == str(family))[spot] == "-7.98 112.63 450 5"


def test_raw_csv_is_the_main_sheet(svc, world: World) -> None:  # type: ignore[no-untyped-def]
    """The raw CSV has a row per submission, its answers by path and no repeat column."""
    with svc.db.sessions() as session:
        layout = export.raw_layout(session, world.project_id, "uji_aturan")
        assert layout is not None and export.raw_layout(session, world.project_id, "x") is None
        rows = (row for _sheet, row in export.raw_rows(session, layout, repeats=False))
        read = read_csv(fmt.csv_stream(layout.main.header, rows))
    assert len(read) == 9 and list(read[0]) == list(layout.main.header)
    assert {r["hasil"] for r in read} == {"ditemukan"} and "anggota/nik" not in read[0]
    assert {r["submitter"] for r in read} == {"pencacah1", "pencacah2", "pencacah3"}


def test_formula_injection_is_neutralised_but_numbers_are_not(  # type: ignore[no-untyped-def]
    svc, seed: Seed, transport: WsgiTransport, world: World
) -> None:
    """Cells starting with = + - @ get an apostrophe; numbers and geopoints stay as they are."""
    assert fmt.neutralise("=1+1") == "'=1+1" and fmt.neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert fmt.neutralise("+62 812") == "+62 812" and fmt.neutralise("-7.98") == "-7.98"
    assert fmt.neutralise("-2+3+cmd|' /C calc'!A0") == "'-2+3+cmd|' /C calc'!A0"
    assert fmt.neutralise("-7.98 112.63 450 5;-7.99 112.64 0 0") == (
        "-7.98 112.63 450 5;-7.99 112.64 0 0"
    )
    evil = '=HYPERLINK("http://x","klik")'
    target = world.targets[world.team1[1]]
    sid = send(svc, transport, seed, "pencacah1", target, evil, ("@SUM(1+1)",))
    approve(svc, [sid])
    read = read_csv(fmt.csv_stream(export.APPROVED_COLUMNS, approved(svc, world.project_id)))
    assert read[0]["kk_field"] == "'" + evil and read[0]["nik_field"] == "'@SUM(1+1)"
    with svc.db.sessions() as session:
        path = fmt.xlsx_file(
            [fmt.Sheet("approved", export.APPROVED_COLUMNS)],
            (("approved", r) for r in export.approved_rows(session, world.project_id)),
            svc.settings.tmp_dir,
        )
    book = load_workbook(io.BytesIO(b"".join(fmt.file_stream(path))))
    cells = {c.value: c.data_type for row in book["approved"].iter_rows(min_row=2) for c in row}
    assert cells["'" + evil] == "s" and not any(t == "f" for t in cells.values())


def test_nested_repeats_name_their_parent(
    svc, seed: Seed, collect: CollectClient, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A repeat inside a repeat gets its own sheet, each row keyed under its parent row."""
    form = tmp_path / "uji_bersarang.md"
    form.write_text(NESTED)
    publish(svc, seed.project_id, form)
    xml = (
        '<data id="uji_bersarang" version="1"><desa>=cmd</desa><grup><orang><nama>A</nama>'
        "<usaha><jenis>warung</jenis></usaha><usaha><jenis>ojek</jenis></usaha></orang>"
        "<orang><nama>B</nama></orang></grup>"
        f"<meta><instanceID>uuid:{uuid.uuid4()}</instanceID></meta></data>"
    )
    assert collect.submit(xml.encode()).status == 201
    with svc.db.sessions() as session:
        layout = export.raw_layout(session, seed.project_id, "uji_bersarang")
        assert layout is not None
        rows = list(export.raw_rows(session, layout))
    assert [s.name for s in layout.sheets] == ["submissions", "orang", "usaha"]
    assert layout.sheets[2].header[-1] == "grup/orang/usaha/jenis"
    keyed = [(s, r["repeat_key"], r["parent_key"]) for s, r in rows if s != "submissions"]
    assert keyed == [
        ("orang", "grup/orang[1]", ""),
        ("usaha", "grup/orang[1]/usaha[1]", "grup/orang[1]"),
        ("usaha", "grup/orang[1]/usaha[2]", "grup/orang[1]"),
        ("orang", "grup/orang[2]", ""),
    ]
    assert rows[0][1]["desa"] == "=cmd"  # neutralised when written, not when read


NESTED = """
| settings |
| | form_title | form_id | version |
| | Uji bersarang | uji_bersarang | 1 |

| survey |
| | type | name | label |
| | text | desa | Desa |
| | begin_group | grup | Grup |
| | begin_repeat | orang | Orang |
| | text | nama | Nama |
| | begin_repeat | usaha | Usaha |
| | text | jenis | Jenis |
| | end_repeat | | |
| | end_repeat | | |
| | end_group | | |
"""


def test_verval_ruta_approved_rows_carry_registry_ids_and_corrections(svc) -> None:  # type: ignore[no-untyped-def]
    """Demo verval_ruta visits: a row per member, registry keys, corrections named as changes."""
    with svc.db.transaction() as session:
        do_load_regions(session, within="3573")
        project_id = load_demo(svc, session, ROOT / "forms").project_id
    with svc.db.transaction() as session:
        form_ids = select(Submission.id).where(Submission.deleted_at.is_(None))
        set_decision(session, list(session.scalars(form_ids)), "approved")
    rows = approved(svc, project_id, batch=7)
    assert len({r["submission_id"] for r in rows}) > 30
    listed = [r for r in rows if r["person_source_key"]]
    with svc.db.sessions() as session:
        keys = {key: nik for key, nik in session.execute(select(Person.source_key, Person.nik))}
    assert listed and all(r["person_source"] == "dtks" for r in listed)
    assert all(keys[r["person_source_key"]] == r["nik_registry"] for r in listed)
    corrected = [r for r in listed if r["nik_field"] != r["nik_registry"]]
    assert corrected and all("nik" in r["changed_fields"].split() for r in corrected)
    gone = [r for r in listed if r["member_status"] not in ("ada", "")]
    assert gone and all("status" in r["changed_fields"].split() for r in gone)
    assert all(r["death_date"] for r in gone if r["member_status"] == "meninggal")
    unchanged = [r for r in listed if r not in corrected and r not in gone]
    assert unchanged and not any(r["changed_fields"] for r in unchanged)
    empty = [r for r in rows if not r["member_path"]]  # no member recorded: still one row
    assert empty and {r["outcome"] for r in empty} <= {"tidak_ditemukan", "pindah", "menolak"}
    new = [r for r in rows if r["member_status"] == "baru"]
    assert all(not r["person_source_key"] and not r["nik_registry"] for r in new)
    assert {r["household_source"] for r in rows if r["visit_type"] == "daftar"} == {"dtks"}
    with svc.db.sessions() as session:
        layout = export.raw_layout(session, project_id, "verval_ruta")
        assert layout is not None
        raw = Counter(sheet for sheet, _row in export.raw_rows(session, layout))
    assert [s.name for s in layout.sheets] == ["submissions", "anggota", "anggota_baru"]
    members = Counter(r["member_path"].split("[")[0] for r in rows if r["member_path"])
    assert raw["anggota"] == members["anggota"] and raw["anggota_baru"] == members["anggota_baru"]
