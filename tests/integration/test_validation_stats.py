"""Village centroids and enumerator statistics reach the rules through the bridge: V32 from a
loaded centroid, V38 and V39 from a small team's submissions, V41 from team quartiles."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from collect import CollectClient, WsgiTransport
from conftest import PASSWORD, Seed, publish
from sqlalchemy import select

from server.accounts import queries as account_queries
from server.accounts import service as accounts
from server.assignments import service as assignments
from server.models import Submission
from server.registry.centroids import CentroidRow, do_load_centroids
from server.registry.regions import do_load_regions
from server.rules.location import distance_m
from server.rules.model import Point
from server.validation import stats
from server.validation.models import SubmissionKey
from server.validation.service import do_evaluate

FORM = """
| settings |
| | form_title | form_id | version |
| | Uji statistik | uji_statistik | 2026112301 |

| survey |
| | type | name | label |
| | start | start | |
| | select_one jenis | jenis_kunjungan | Jenis |
| | select_one hasil | hasil | Hasil |
| | text | kode_desa | Desa |
| | geopoint | lokasi | Lokasi |
| | integer | jumlah_art | Jumlah ART |

| choices |
| | list_name | name | label |
| | jenis | usulan_baru | Usulan baru |
| | hasil | usulan_baru | Usulan baru |
| | hasil | tidak_ditemukan | Tidak ditemukan |
"""
RULES = """
[fields]
visit_type = "jenis_kunjungan"
outcome = "hasil"
village = "kode_desa"
location = "lokasi"
started = "start"
household_size = "jumlah_art"

[rules.V38]
min_visits = 5

[rules.V39]
min_visits = 6
"""
KEBONSARI = "3573041003"
CENTRE = Point(-7.98, 112.62)
# 0.045 degrees of latitude: 5.0 km south of the centre.
FAR = "-8.025 112.62 450 5"
NEAR = "-7.981 112.621 450 5"


@pytest.fixture
def team(svc, seed: Seed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The test form, Kebonsari's centroid, a team of pencacah1-3 with their tokens; nothing
    cached, so every check sees the submissions before it."""
    monkeypatch.setattr(stats, "CACHE_SECONDS", 0.0)
    form = tmp_path / "uji_statistik.md"
    form.write_text(FORM)
    form.with_suffix(".toml").write_text(RULES)
    publish(svc, seed.project_id, form)
    realm = svc.settings.realm
    phones = {}
    with svc.db.transaction() as session:
        do_load_regions(session, within="3573")
        summary = do_load_centroids(session, [CentroidRow(2, KEBONSARI, CENTRE.lat, CENTRE.lon)])
        assert summary.updated == 1
        for name in ("pencacah2", "pencacah3"):
            accounts.do_create_user(session, name, "enumerator", realm, PASSWORD, seed.project_id)
        made = assignments.do_create_team(session, seed.project_id, "Tim Uji", None)
        assignments.do_add_to_team(session, made, ["pencacah1", "pencacah2", "pencacah3"])
        for name in ("pencacah1", "pencacah2", "pencacah3"):
            user = account_queries.user_by_username(session, name)
            assert user is not None and user.token
            phones[name] = user.token
    return phones


def instance(
    day: int, hour: int, hasil: str = "usulan_baru", where: str = NEAR, people: int = 4
) -> bytes:
    return (
        f'<data id="uji_statistik" version="2026112301">'
        f"<start>2026-11-{day:02d}T{hour:02d}:00:00.000+07:00</start>"
        f"<jenis_kunjungan>usulan_baru</jenis_kunjungan><hasil>{hasil}</hasil>"
        f"<kode_desa>{KEBONSARI}</kode_desa><lokasi>{where}</lokasi><jumlah_art>{people}</jumlah_art>"
        f"<meta><instanceID>uuid:{uuid.uuid4()}</instanceID></meta></data>"
    ).encode()


def send(app, seed: Seed, token: str, xml: bytes) -> None:  # type: ignore[no-untyped-def]
    phone = CollectClient(
        WsgiTransport(app), f"http://localhost/v1/key/{token}/projects/{seed.project_id}"
    )
    assert phone.submit(xml).status == 201


def check_all(svc) -> dict[int, set[str]]:  # type: ignore[no-untyped-def]
    """Run the bridge over every submission, oldest first; the rules that fired on each."""
    with svc.db.transaction() as session:
        ids = list(session.scalars(select(Submission.id).order_by(Submission.id)))
        fired = {}
        for submission_id in ids:
            result = do_evaluate(session, svc.store, submission_id)
            assert result is not None
            fired[submission_id] = {f.rule for f in result.flags}
    return fired


def test_gps_far_from_the_village_centroid_fires_v32(app, svc, seed: Seed, team) -> None:  # type: ignore[no-untyped-def]
    """A location 5 km from the loaded centroid of the household's village fires V32."""
    phones = team
    assert round(distance_m(CENTRE, Point(-8.025, 112.62))) == 5004
    send(app, seed, phones["pencacah1"], instance(2, 9, where=FAR))
    send(app, seed, phones["pencacah1"], instance(2, 10, where=NEAR))
    far, near = check_all(svc).values()
    assert "V32" in far and "V32" not in near
    with svc.db.transaction() as session:
        result = do_evaluate(session, svc.store, 1)
        assert result is not None
        flag = next(f for f in result.flags if f.rule == "V32")
        assert flag.evidence["village_code"] == KEBONSARI
        assert flag.evidence["centroid"] == {"lat": CENTRE.lat, "lon": CENTRE.lon}


def test_team_statistics_fire_v38_and_v39(app, svc, seed: Seed, team) -> None:  # type: ignore[no-untyped-def]
    """A 12-visit day (team median 2), an outsized not-found rate, a household of 40: V38-V41."""
    phones = team
    sizes = iter([2, 3, 4, 5, 6] * 4)
    for name in ("pencacah2", "pencacah3"):
        for day in (2, 3):
            for hour in (9, 10):
                send(app, seed, phones[name], instance(day, hour, people=next(sizes)))
    # pencacah1: twelve visits on 4 November, eight "not found", the last of 40 people.
    for hour in range(8, 20):
        hasil = "tidak_ditemukan" if hour < 16 else "usulan_baru"
        people = next(sizes) if hour < 19 else 40
        send(app, seed, phones["pencacah1"], instance(4, hour, hasil, people=people))
    check_all(svc)
    fired = check_all(svc)  # again: every visit now sees the whole day
    ids = sorted(fired)
    team_ids, own_ids = ids[:8], ids[8:]
    assert all("V38" not in fired[i] and "V39" not in fired[i] for i in team_ids)
    assert all("V38" in fired[i] for i in own_ids)
    assert {i for i in own_ids if "V39" in fired[i]} == set(own_ids[:8])
    assert {i for i in ids if "V41" in fired[i]} == {own_ids[-1]}
    with svc.db.transaction() as session:
        result = do_evaluate(session, svc.store, own_ids[1])
        assert result is not None
        v38 = next(f for f in result.flags if f.rule == "V38")
        assert v38.evidence["visits_today"] == 12
        assert v38.evidence["team_median_visits_per_day"] == 2
        v39 = next(f for f in result.flags if f.rule == "V39")
        # 8 of pencacah1's 12 visits; 8 of the team's 20.
        assert v39.evidence["rate"] == pytest.approx(8 / 12)
        assert v39.evidence["team_rate"] == pytest.approx(0.4)
        keys = sorted(
            (k.kind, k.value)
            for k in session.scalars(
                select(SubmissionKey).where(SubmissionKey.submission_id == own_ids[1])
            )
        )
    assert ("outcome", "tidak_ditemukan") in keys
    assert any(kind == "day" and value.endswith("/2026-11-04") for kind, value in keys)
    assert ("num", "jumlah_art=6") in keys  # sizes 2-6 in turn: the 10th visit
