"""Target lists, per-enumerator assignment lists in the manifest, visits, revisits, teams,
progress and the QR team sheet, through HTTP as Collect and a browser see them."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from collect import CollectClient, WsgiTransport
from conftest import PASSWORD, Seed, publish, sign_in
from lxml import etree
from test_registry_import import TODAY

from server.accounts import queries as account_queries
from server.accounts import service as accounts
from server.assignments import service
from server.assignments.lists import HOUSEHOLD_COLUMNS, MEMBER_COLUMNS
from server.assignments.provisioning import collect_settings, pack, qr_svg, unpack
from server.problems import ProblemError
from server.registry.importer import do_import
from server.registry.regions import do_load_regions
from server.registry.synth import write_synthetic

SUKUN = "357304"
FORM_MD = """
| settings |
| | form_title | form_id | version |
| | Uji sasaran | uji_sasaran | 2026112301 |

| survey |
| | type | name | label | appearance |
| | select_one_from_file sasaran.csv | sasaran | Rumah tangga | autocomplete |
| | csv-external | sasaran_anggota | | |
| | select_one hasil | hasil | Hasil | |
| | text | catatan | Catatan | |

| choices |
| | list_name | name | label |
| | hasil | ditemukan | Ditemukan |
| | hasil | pindah | Pindah |
"""


def set_up_field(svc, seed: Seed, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Kota Malang's regions and a small synthetic DTKS, two enumerators in one team led by
    koordinator1, a third in another team, and a form that reads the assignment lists."""
    write_synthetic("3573", 400, 11, tmp_path / "synth", today=TODAY)
    with svc.db.transaction() as session:
        do_load_regions(session, within="3573")
        do_import(session, tmp_path / "synth" / "dtks.csv", "dtks", today=TODAY)
        realm = svc.settings.realm
        pid = seed.project_id
        for name in ("pencacah2", "pencacah3"):
            user = accounts.do_create_user(
                session, name, "enumerator", realm, password=PASSWORD, project_id=pid
            )
            accounts.do_issue_token(session, user)
        accounts.do_create_user(
            session, "koordinator1", "supervisor", realm, password=PASSWORD, project_id=pid
        )
        team = service.do_create_team(session, pid, "Tim Sukun 1", "koordinator1")
        service.do_add_to_team(session, team, ["pencacah1", "pencacah2"])
        other = service.do_create_team(session, pid, "Tim Sukun 2", None)
        service.do_add_to_team(session, other, ["pencacah3"])
    form = tmp_path / "uji_sasaran.md"
    form.write_text(FORM_MD)
    publish(svc, seed.project_id, form)
    return svc


@pytest.fixture
def field(svc, seed: Seed, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The fieldwork set-up of `set_up_field`."""
    return set_up_field(svc, seed, tmp_path)


def phone(transport: WsgiTransport, svc, seed: Seed, username: str) -> CollectClient:  # type: ignore[no-untyped-def]
    """A Collect client set up from the enumerator's QR code."""
    with svc.db.sessions() as session:
        user = account_queries.user_by_username(session, username)
        token = user.token if user else None
    return CollectClient(transport, f"http://localhost/v1/key/{token}/projects/{seed.project_id}")


def make_list(svc, seed: Seed, name: str = "Sukun", **criteria) -> int:  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        _list, added = service.do_create_target_list(
            session, seed.project_id, name, service.ListCriteria("dtks", **criteria)
        )
    return added


def give(svc, seed: Seed, username: str, count: int | None, name: str = "Sukun") -> int:  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        target_list = service.target_list_or_404(session, seed.project_id, name)
        user = service.check_enumerator(session, username, seed.project_id)
        return service.do_assign(session, target_list, user, count)


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def households(client: CollectClient) -> list[dict[str, str]]:
    local = client.download_all()
    form = next(f for f in local if f.form_id == "uji_sasaran")
    return rows(form.media_bytes["sasaran.csv"])


def visit(client: CollectClient, target: str, outcome: str = "ditemukan") -> int:
    xml = (
        f'<data id="uji_sasaran" version="2026112301"><sasaran>{target}</sasaran>'
        f"<hasil>{outcome}</hasil><catatan/><meta><instanceID>uuid:{uuid.uuid4()}"
        "</instanceID></meta></data>"
    ).encode()
    return client.submit(xml).status


def test_each_phone_gets_only_its_own_households(field, transport, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """Two enumerators download disjoint lists with the entity-list columns; a third, none."""
    added = make_list(field, seed, kecamatan=(SUKUN,))
    assert added > 12
    assert give(field, seed, "pencacah1", 6) == 6
    assert give(field, seed, "pencacah2", None) == added - 6
    first = households(phone(transport, field, seed, "pencacah1"))
    second = households(phone(transport, field, seed, "pencacah2"))
    third = households(phone(transport, field, seed, "pencacah3"))
    assert len(first) == 6 and len(second) == added - 6 and third == []
    assert not {r["name"] for r in first} & {r["name"] for r in second}
    assert list(first[0]) == HOUSEHOLD_COLUMNS
    assert all(r["kode_desa"].startswith(SUKUN) and r["kecamatan"] for r in first)
    assert all(r["nama_krt"] and int(r["jumlah_art"]) >= 1 for r in first)


def test_members_file_lists_each_households_registry_members(field, transport, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """The members CSV names the target of each member, numbered from 1 within it."""
    make_list(field, seed, kecamatan=(SUKUN,))
    give(field, seed, "pencacah1", 5)
    local = phone(transport, field, seed, "pencacah1").download_all()
    form = next(f for f in local if f.form_id == "uji_sasaran")
    members = rows(form.media_bytes["sasaran_anggota.csv"])
    assert list(members[0]) == MEMBER_COLUMNS
    houses = {r["name"]: int(r["jumlah_art"]) for r in rows(form.media_bytes["sasaran.csv"])}
    per_house: dict[str, list[int]] = {}
    for member in members:
        per_house.setdefault(member["sasaran"], []).append(int(member["urut"]))
    assert {k: len(v) for k, v in per_house.items()} == houses
    assert all(v == list(range(1, len(v) + 1)) for v in per_house.values())


def test_manifest_hash_follows_each_enumerators_changes(field, transport, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """Lists are entity lists whose hash changes when that enumerator's list does, only then."""
    make_list(field, seed, kecamatan=(SUKUN,))
    give(field, seed, "pencacah1", 5)
    give(field, seed, "pencacah2", 5)
    one, two = (phone(transport, field, seed, u) for u in ("pencacah1", "pencacah2"))
    one.download_all()
    two.download_all()
    url = next(f.manifest_url for f in one.form_list() if f.form_id == "uji_sasaran")
    answer = one.send("GET", url or "")
    root = etree.fromstring(answer.body)
    kinds = {m.findtext("{*}filename"): m.get("type") for m in root.iter("{*}mediaFile")}
    assert kinds == {"sasaran.csv": "entityList", "sasaran_anggota.csv": "entityList"}
    assert one.updates()["uji_sasaran"] == "up to date"
    give(field, seed, "pencacah1", 3)
    assert one.updates()["uji_sasaran"] == "updated media"
    assert two.updates()["uji_sasaran"] == "up to date"


def test_visit_takes_household_off_and_revisit_returns_it(
    field, transport, seed: Seed, svc
) -> None:  # type: ignore[no-untyped-def]
    """A submission takes its household off the list; a revisit returns it with the reason."""
    make_list(field, seed, kecamatan=(SUKUN,))
    give(field, seed, "pencacah1", 4)
    client = phone(transport, field, seed, "pencacah1")
    before = households(client)
    target = before[0]["name"]
    assert visit(client, target) == 201
    after = households(client)
    assert [r["name"] for r in after] == [r["name"] for r in before[1:]]
    from sqlalchemy import select

    from server.assignments.models import Target

    with svc.db.sessions() as session:
        visited = session.get(Target, int(target))
        assert visited is not None and visited.state == "visited"
        assert visited.outcome == "ditemukan" and visited.submission_id
        submission_id = visited.submission_id
    with svc.db.transaction() as session:
        service.do_return_for_revisit(session, seed.project_id, submission_id, "Foto buram")
    again = {r["name"]: r for r in households(client)}
    assert again[target]["kunjungan_ulang"] == "1" and again[target]["alasan"] == "Foto buram"
    assert again[target]["label"].startswith("[ULANG] ")
    assert visit(client, target, "pindah") == 201
    assert target not in {r["name"] for r in households(client)}
    with svc.db.sessions() as session:
        query = select(Target.state, Target.outcome).where(Target.id == int(target))
        assert session.execute(query).one() == ("visited", "pindah")


def test_visit_outside_ones_list_is_accepted(field, transport, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """Unknown or foreign target keys never refuse a submission (the rules flag them)."""
    make_list(field, seed, kecamatan=(SUKUN,))
    give(field, seed, "pencacah1", 3)
    client = phone(transport, field, seed, "pencacah2")
    for key in ("999999", "bukan-angka", ""):
        assert visit(client, key) == 201
    assert len(households(phone(transport, field, seed, "pencacah1"))) == 3


def test_list_by_desil_and_from_a_diff(field, seed: Seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Lists take desil 1..N, or exactly the households a registry diff names."""
    low = make_list(field, seed, "Desil 1-2", desil_max=2)
    with field.db.sessions() as session:
        from sqlalchemy import func, select

        from server.registry.models import Household

        expected = session.scalar(
            select(func.count()).where(Household.source == "dtks", Household.desil <= 2)
        )
        keys = list(session.scalars(select(Household.source_key).limit(7)))
    assert low == expected
    diff = tmp_path / "diff.csv"
    diff.write_text("status,dtks_key\n" + "".join(f"only_dtks,{k}\n" for k in keys) + "matched,x\n")
    # Households already on an open list are not targeted twice.
    already = make_list(field, seed, "Beda", diff_file=diff, diff_status="only_dtks")
    assert already <= 7
    with pytest.raises(ProblemError, match="no p3ke_key column"), field.db.transaction() as s:
        service.do_create_target_list(
            s, seed.project_id, "Salah", service.ListCriteria("p3ke", diff_file=diff)
        )


def test_koordinator_moves_only_within_own_team(field, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """koordinator1 moves households between pencacah1 and 2, never to pencacah3."""
    make_list(field, seed, kecamatan=(SUKUN,))
    give(field, seed, "pencacah1", 6)
    with field.db.transaction() as session:
        lead = account_queries.user_by_username(session, "koordinator1")
        one, two, three = (
            service.check_enumerator(session, f"pencacah{i}", seed.project_id) for i in (1, 2, 3)
        )
        assert service.do_move(session, seed.project_id, one, two, count=2, actor=lead) == 2
        with pytest.raises(ProblemError, match="own team"):
            service.do_move(session, seed.project_id, one, three, count=1, actor=lead)


def test_progress_json_counts_visits_per_level(field, transport, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """Progress per kecamatan, village, team and enumerator; koordinators see their teams."""
    added = make_list(field, seed, kecamatan=(SUKUN,))
    give(field, seed, "pencacah1", 4)
    give(field, seed, "pencacah3", 3)
    client = phone(transport, field, seed, "pencacah1")
    for row in households(client)[:2]:
        assert visit(client, row["name"]) == 201
    admin = CollectClient(
        transport, f"http://localhost/v1/projects/{seed.project_id}", "admin", PASSWORD
    )
    answer = admin.send("GET", f"{admin.server_url}/progress")
    assert answer.status == 200
    import json

    data = json.loads(answer.body)
    assert data["total"]["targets"] == added and data["total"]["visited"] == 2
    assert data["total"]["outcomes"] == {"ditemukan": 2}
    teams = {row["key"]: row for row in data["team"]}
    assert teams["Tim Sukun 1"]["visited"] == 2 and teams["Tim Sukun 2"]["targets"] == 3
    assert {row["key"][:6] for row in data["kecamatan"]} == {SUKUN}
    lead = CollectClient(
        transport, f"http://localhost/v1/projects/{seed.project_id}", "koordinator1", PASSWORD
    )
    mine = json.loads(lead.send("GET", f"{lead.server_url}/progress").body)
    assert [row["key"] for row in mine["team"]] == ["Tim Sukun 1"]
    assert mine["total"]["targets"] == 4
    enumerator = phone(transport, field, seed, "pencacah1")
    assert enumerator.send("GET", f"{enumerator.server_url}/progress").status in (401, 403, 404)


def test_team_sheet_has_a_qr_per_team_member(field, app, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """The koordinator's sheet has one code per team member; codes hold the token URL."""
    lead = app.test_client()
    assert sign_in(lead, "koordinator1").status_code == 302
    answer = lead.get(f"/projects/{seed.project_id}/teams/sheet")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert page.count("<svg") == 2 and "pencacah3" not in page
    assert PASSWORD not in page and answer.headers["Cache-Control"] == "no-store"
    enumerator = app.test_client()
    assert sign_in(enumerator, "pencacah1").status_code == 302
    assert enumerator.get(f"/projects/{seed.project_id}/teams/sheet").status_code == 404
    # The code on pencacah1's card is exactly the payload of their token URL.
    with field.db.sessions() as session:
        user = account_queries.user_by_username(session, "pencacah1")
        token = user.token if user else ""
    url = f"http://localhost/v1/key/{token}/projects/{seed.project_id}"
    assert qr_svg(pack(collect_settings(url, "Kota Malang", "pencacah1"))) in page


def test_qr_payload_decodes_to_collect_settings() -> None:
    """base64 + zlib + JSON with general/admin/project, the token URL and no password."""
    url = "https://verivali.example.go.id/v1/key/abc/projects/1"
    payload = pack(collect_settings(url, "Kota Malang", "pencacah1"))
    assert "\n" not in payload and len(payload) <= 4000
    settings = unpack(payload)
    assert set(settings) == {"general", "admin", "project"}
    assert settings["general"]["server_url"] == url
    assert settings["general"]["form_update_mode"] == "match_exactly"
    assert "password" not in settings["general"] and "username" not in settings["general"]
    assert settings["project"]["name"] == "Kota Malang"


def test_joining_a_team_gives_an_enumerator_a_token(field, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """An enumerator added to a team without a token gets one, so their QR code can be printed."""
    with field.db.transaction() as session:
        user = accounts.do_create_user(
            session, "pencacah4", "enumerator", field.settings.realm, project_id=seed.project_id
        )
        assert user.token is None
        team = service.team_or_404(session, seed.project_id, "Tim Sukun 2")
        service.do_add_to_team(session, team, ["pencacah4"])
        assert user.token and len(user.token) == 64
