"""The synthetic fieldwork generator: typos the form accepts, instances the bridge reads as
the phone meant them, and a plan that is deterministic and labels what it injects."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date
from pathlib import Path

from server.forms.rule_settings import read_rule_settings
from server.registry.scoring import nik_distance
from server.rules.settings import parse_settings
from server.validation.facts import Received, visit_from_instance
from server.validation.synth import (
    FieldRates,
    Household,
    RegistryTruth,
    form_accepts_nik,
    list_members,
    plan_fieldwork,
    typo,
)
from server.validation.synth_queries import AssignedTarget

ROOT = Path(__file__).resolve().parents[2]
FIELDS = parse_settings(read_rule_settings(ROOT / "forms" / "verval_ruta.toml")).fields
MEMBERS = (
    "501,SUPARMAN,1,9,1,3573040506800001,SUPARMAN,L,1980-06-05,KEPALA KELUARGA,0\n"
    "502,SUMIATI,1,9,2,3573044107820001,SUMIATI,P,1982-07-01,ISTRI,0\n"
    "503,SITI,1,9,3,3573045203100001,SITI,P,2010-03-12,ANAK,0\n"
)
TARGET = AssignedTarget(9, 77, 3, "3573041003", "3573040101150001,SUPARMAN,JL. A", MEMBERS)
CENTROIDS = {"3573041003": (-7.98, 112.62), "3573011001": (-7.90, 112.66)}
KEYS = {501: "3573-000000001", 502: "3573-000000002", 503: "3573-000000003"}
CONDITION = Household({"sumber_penerangan": "1", "daya_terpasang": "2"}, "4", False)


def truth(**changes: object) -> RegistryTruth:
    base = RegistryTruth(households={"3573040101150001": CONDITION})
    return replace(base, **changes)  # type: ignore[arg-type]


def plan(rates: FieldRates, registry: RegistryTruth, seed: int = 7) -> list:  # type: ignore[type-arg]
    return list(
        plan_fieldwork(
            [TARGET], registry, CENTROIDS, "2026112301", KEYS, date(2026, 11, 10), rates, seed
        )
    )


def read(xml: bytes):  # type: ignore[no-untyped-def]
    return visit_from_instance(xml, FIELDS, Received(submission_id=1))


def test_typos_differ_by_one_and_pass_the_form() -> None:
    """A synthetic typo is one substitution or swap away, and Collect would accept it."""
    rng = random.Random(3)
    for _ in range(200):
        mistyped = typo("3573044506850001", rng)
        assert nik_distance(mistyped, "3573044506850001") == 1
        assert form_accepts_nik(mistyped)
    assert not form_accepts_nik("3500044506850001")  # kabupaten 00


def test_list_members_reads_rendered_rows() -> None:
    """The rendered member rows give id, position, NIK, name, sex, birth date, death flag."""
    members = list_members(MEMBERS)
    assert [(m.person_id, m.position, m.sex, m.dead) for m in members] == [
        (501, 1, "L", False),
        (502, 2, "P", False),
        (503, 3, "P", False),
    ]


def test_clean_visit_reads_back_as_the_phone_meant_it() -> None:
    """A clean visit: every member present, GPS near the village, honest timing."""
    (visit,) = plan(FieldRates(duplicate=0, mistyped_nik=0, wrong_village=0, gps_cluster=0,
                               too_short=0, not_found=0, new_baby=0), truth())  # fmt: skip
    assert visit.truth == set()
    assert len(visit.photos) == 3
    seen = read(visit.xml)
    assert seen.target_key == "9" and seen.outcome == "ditemukan" and seen.consent is True
    assert [m.status for m in seen.members] == ["ada", "ada", "ada"]
    assert seen.household_size == 3
    assert seen.location is not None and abs(seen.location.lat + 7.98) < 0.01
    assert seen.started is not None and seen.ended is not None
    assert (seen.ended - seen.started).total_seconds() / 60 >= 1.3 * (5 + 2 * 3)
    assert seen.answers["perumahan/daya"] == "2"


def test_injected_errors_are_labelled() -> None:
    """A hidden death, a field typo, a short interview and a duplicate carry their classes."""
    rates = FieldRates(duplicate=1, mistyped_nik=1, wrong_village=0, gps_cluster=0,
                       too_short=1, not_found=0, new_baby=0, hidden_death=1)  # fmt: skip
    first, again = plan(rates, truth(dead={"3573-000000002"}))
    assert {"dead_recipient", "mistyped_nik", "too_short", "duplicate"} <= first.truth
    assert "duplicate" in again.truth
    seen = read(first.xml)
    assert seen.members[1].status == "ada"  # the dead recipient listed as living
    corrected = [m for m in seen.members if m.nik_corrected]
    assert len(corrected) == 1 and nik_distance(corrected[0].nik, corrected[0].registry_nik) == 1


def test_plan_is_deterministic() -> None:
    """The same inputs and seed give byte-identical instances."""
    rates = FieldRates(duplicate=0.5, mistyped_nik=0.5)
    assert [v.xml for v in plan(rates, truth())] == [v.xml for v in plan(rates, truth())]


def test_a_well_off_recipient_is_labelled_and_shows_its_signs() -> None:
    """A household the registry truth calls a well-off recipient carries the class and its car."""
    rich = Household({"sumber_penerangan": "1", "daya_terpasang": "4", "aset_mobil": "1"}, "4",
                     False)  # fmt: skip
    rates = FieldRates(duplicate=0, mistyped_nik=0, wrong_village=0, gps_cluster=0,
                       too_short=0, not_found=1, new_baby=0)  # fmt: skip
    registry = truth(households={"3573040101150001": rich}, well_off_kk={"3573040101150001"})
    (visit,) = plan(rates, registry)
    assert visit.truth == {"well_off_recipient"}
    seen = read(visit.xml)
    assert seen.outcome == "ditemukan"
    assert "mobil" in seen.answers["aset/aset_bergerak"]
