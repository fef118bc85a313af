"""A project ready for review, shared by the review tests: two teams (koordinator1 leads
pencacah1 and pencacah2, koordinator2 leads pencacah3), a viewer and a designer, a form with
rule settings, and checked submissions of each enumerator, some of them flagged."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from collect import CollectClient, WsgiTransport
from conftest import PASSWORD, Seed, csrf_of, sign_in  # noqa: F401 (the review tests import them here)
from sqlalchemy import select
from test_assignments import give, make_list, phone, set_up_field
from test_validation_pipeline import publish_form

from server.accounts import service as accounts
from server.assignments import service as assignments
from server.assignments.models import Target
from server.models import Submission, User
from server.validation import jobs

GOOD_NIK = "3573041203850001"
KK = "3573042001200005"
ROLES = {
    "admin": "admin",
    "koordinator1": "supervisor",
    "koordinator2": "supervisor",
    "pengamat": "viewer",
    "desainer": "designer",
    "pencacah1": "enumerator",
}


def instance(target: str, kk: str, niks: tuple[str, ...], location: str) -> bytes:
    members = "".join(f"<anggota><nik>{nik}</nik></anggota>" for nik in niks)
    return (
        f'<data id="uji_aturan" version="2026112301"><sasaran>{target}</sasaran>'
        f"<hasil>ditemukan</hasil><kk>{kk}</kk><lokasi>{location}</lokasi>{members}"
        f"<meta><instanceID>uuid:{uuid.uuid4()}</instanceID></meta></data>"
    ).encode()


@dataclass
class World:
    """IDs of what the review tests act on."""

    project_id: int
    other_project_id: int
    by_enumerator: dict[str, list[int]] = field(default_factory=dict)
    targets: dict[int, int] = field(default_factory=dict)  # submission: target

    @property
    def team1(self) -> list[int]:
        return self.by_enumerator["pencacah1"] + self.by_enumerator["pencacah2"]

    @property
    def team2(self) -> list[int]:
        return self.by_enumerator["pencacah3"]


def build(svc, seed: Seed, tmp_path: Path, transport: WsgiTransport) -> World:  # type: ignore[no-untyped-def]
    """Set up the project and send and check 3 submissions per enumerator: the first with
    a NIK too short (flagged), the others clean but for the missing location of one."""
    set_up_field(svc, seed, tmp_path)
    publish_form(svc, seed.project_id, tmp_path)
    realm = svc.settings.realm
    with svc.db.transaction() as session:
        for name in ("koordinator2", "pengamat", "desainer"):
            accounts.do_create_user(
                session, name, ROLES[name], realm, password=PASSWORD, project_id=seed.project_id
            )
        team2 = assignments.queries.team_by_name(session, seed.project_id, "Tim Sukun 2")
        lead = session.scalar(select(User).where(User.username == "koordinator2"))
        assert team2 is not None and lead is not None
        team2.supervisor_id = lead.id
    make_list(svc, seed, kecamatan=("357304",))
    world = World(seed.project_id, seed.other_project_id)
    for name in ("pencacah1", "pencacah2", "pencacah3"):
        give(svc, seed, name, 3)
        client: CollectClient = phone(transport, svc, seed, name)
        with svc.db.sessions() as session:
            user_id = session.scalar(select(User.id).where(User.username == name))
            targets = list(
                session.scalars(
                    select(Target.id).where(Target.assignee_id == user_id).order_by(Target.id)
                )
            )
        sent = []
        for index, target in enumerate(targets):
            niks = ("357304120385",) if index == 0 else (GOOD_NIK[:-1] + str(len(sent)),)
            spot = "" if index == 2 else f"-7.98{index}{len(world.by_enumerator)} 112.63 450 5"
            kk = KK[:-2] + f"{len(world.by_enumerator)}{index}"
            upload = client.submit(instance(str(target), kk, niks, spot))
            assert upload.status == 201, upload.message()
            with svc.db.sessions() as session:
                sid = session.scalar(select(Submission.id).order_by(Submission.id.desc()))
            sent.append(sid)
            world.targets[sid] = target
        world.by_enumerator[name] = sent
    jobs.drain(svc)
    return world
