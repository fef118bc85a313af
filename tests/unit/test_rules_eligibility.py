"""Eligibility rules (V46, V47, V49) and the sign functions they share, on synthetic answers
coded in the Regsosek 2022 codebook."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from rules_cases import check_case

from server.rules.catalog import evaluate
from server.rules.eligibility import poor_signs, well_off_signs
from server.rules.model import Facts, Severity, Visit

# A modest house: ceramic floor, brick wall, PLN 900 VA, own toilet, no car, no cattle.
MODEST = {
    "kode_buku": "regsosek2022",
    "perumahan/lantai": "2",
    "perumahan/dinding": "1",
    "perumahan/penerangan": "1",
    "perumahan/daya": "2",
    "perumahan/fasilitas_bab": "1",
    "pekerjaan/ada_art_asn": "tidak",
    "pekerjaan/status_pekerjaan_krt": "4",
    "aset/ternak/sapi": "0",
}
# A poor house: earth floor, bamboo wall, no electricity, no toilet.
POOR = {
    **MODEST,
    "perumahan/lantai": "8",
    "perumahan/dinding": "6",
    "perumahan/penerangan": "4",
    "perumahan/fasilitas_bab": "6",
}
POOR.pop("perumahan/daya")
PKH = frozenset({"PKH"})


def visit(answers: dict[str, str] | None = None, **overrides: Any) -> Visit:
    base = Visit(
        submission_id=1,
        target_key="1001",
        visit_type="daftar",
        outcome="ditemukan",
        verdict="layak",
        assets=frozenset({"tv", "sepeda_motor"}),
        answers=MODEST if answers is None else answers,
    )
    return replace(base, **overrides)


def with_answers(**answers: str) -> dict[str, str]:
    return {**MODEST, **{path.replace("__", "/"): value for path, value in answers.items()}}


# ---------------------------------------------------------------- shared signs

WELL_OFF_CASES = [
    pytest.param(visit(), [], id="modest"),
    pytest.param(visit(assets=frozenset({"mobil"})), ["mobil"], id="car"),
    pytest.param(visit(assets=frozenset({"ac", "kulkas"})), ["ac"], id="air-conditioner"),
    pytest.param(visit(with_answers(perumahan__daya="4")), ["daya_2200_va"], id="2200-va"),
    pytest.param(visit(with_answers(perumahan__daya="5")), ["daya_2200_va"], id="over-2200-va"),
    pytest.param(visit(with_answers(perumahan__daya="3")), [], id="1300-va"),
    pytest.param(visit(with_answers(pekerjaan__ada_art_asn="ya")), ["asn"], id="asn-member"),
    pytest.param(visit(with_answers(pekerjaan__status_pekerjaan_krt="5")), ["asn"], id="asn-head"),
    pytest.param(visit(with_answers(aset__ternak__sapi="2")), ["sapi"], id="cattle"),
    pytest.param(visit(with_answers(aset__ternak__sapi="dua")), [], id="cattle-unreadable"),
    pytest.param(
        visit(with_answers(perumahan__daya="5", kode_buku="susenas2023")), [], id="other-codebook"
    ),
    pytest.param(visit({"perumahan/daya": "5"}), ["daya_2200_va"], id="no-codebook-named"),
]


@pytest.mark.parametrize(("v", "signs"), WELL_OFF_CASES)
def test_well_off_signs(v: Visit, signs: list[str]) -> None:
    """Affluence signs: car, AC, 2,200 VA or more, civil servant, a herd; none elsewhere."""
    assert well_off_signs(v, min_cattle=1) == signs


POOR_CASES = [
    pytest.param(visit(), [], id="modest"),
    pytest.param(
        visit(POOR),
        ["lantai_bambu_tanah", "dinding_bambu", "tanpa_listrik", "tanpa_jamban_sendiri"],
        id="poor",
    ),
    pytest.param(visit(with_answers(perumahan__lantai="7")), ["lantai_bambu_tanah"], id="bamboo"),
    pytest.param(visit(with_answers(perumahan__lantai="5")), [], id="wooden-floor"),
    pytest.param(visit(with_answers(perumahan__dinding="4")), ["dinding_bambu"], id="woven"),
    pytest.param(visit(with_answers(perumahan__dinding="2")), [], id="plastered-bamboo"),
    pytest.param(
        visit(with_answers(perumahan__fasilitas_bab="2")), ["tanpa_jamban_sendiri"], id="shared"
    ),
    pytest.param(visit(with_answers(perumahan__penerangan="3")), [], id="non-pln-electricity"),
    pytest.param(visit({**POOR, "kode_buku": "susenas2023"}), [], id="other-codebook"),
]


@pytest.mark.parametrize(("v", "signs"), POOR_CASES)
def test_poor_signs(v: Visit, signs: list[str]) -> None:
    """Poverty signs: bamboo/earth floor, bamboo wall, no electricity, no toilet of one's own."""
    assert poor_signs(v) == signs


# ---------------------------------------------------------------- V46

V46_CASES = [
    pytest.param(visit(assets=frozenset({"mobil"})), PKH, ["mobil"], id="car"),
    pytest.param(visit(verdict="tidak_layak_asn"), PKH, ["penilaian"], id="verdict"),
    pytest.param(
        visit(with_answers(perumahan__daya="5", aset__ternak__sapi="6")),
        frozenset({"BPNT", "PBI"}),
        ["daya_2200_va", "sapi"],
        id="power-and-a-herd",
    ),
    pytest.param(visit(assets=frozenset({"ac"})), PKH, ["ac"], id="air-conditioner"),
    pytest.param(
        visit(with_answers(aset__ternak__sapi="3")), PKH, None, id="three-cattle-are-savings"
    ),
    pytest.param(visit(), PKH, None, id="modest-recipient"),
    pytest.param(visit(verdict="tidak_layak_lain"), PKH, None, id="other-verdict"),
    pytest.param(visit(assets=frozenset({"mobil"})), frozenset(), None, id="no-aid"),
]


@pytest.mark.parametrize(("v", "programmes", "signs"), V46_CASES)
def test_v46_well_off_recipient(
    v: Visit, programmes: frozenset[str], signs: list[str] | None
) -> None:
    """V46 fires for a current recipient with at least one sign of affluence."""
    f = Facts(visit=v, household_programmes=programmes)
    flags = check_case("V46", f, None if signs is None else Severity.HIGH)
    if flags:
        assert flags[0].evidence["signs"] == signs
        assert flags[0].evidence["programmes"] == sorted(programmes)


# ---------------------------------------------------------------- V47

PROPOSAL = visit(POOR, visit_type="usulan_baru", outcome="usulan_baru", target_key=None)

V47_CASES = [
    pytest.param(visit(POOR), frozenset(), False, id="listed-receiving-nothing"),
    pytest.param(PROPOSAL, frozenset(), True, id="proposal"),
    pytest.param(
        visit(with_answers(perumahan__lantai="8", perumahan__penerangan="4")),
        frozenset(),
        False,
        id="two-signs",
    ),
    pytest.param(visit(POOR), PKH, None, id="receives-aid"),
    pytest.param(visit(with_answers(perumahan__lantai="8")), frozenset(), None, id="one-sign"),
    pytest.param(visit(), frozenset(), None, id="modest"),
]


@pytest.mark.parametrize(("v", "programmes", "proposal"), V47_CASES)
def test_v47_poor_without_aid(v: Visit, programmes: frozenset[str], proposal: bool | None) -> None:
    """V47 fires for two or more poverty signs in a new or unassisted household."""
    f = Facts(visit=v, household_programmes=programmes)
    flags = check_case("V47", f, None if proposal is None else Severity.MED)
    if flags:
        assert flags[0].evidence["proposal"] is proposal
        assert "perumahan/lantai" in flags[0].fields


# ---------------------------------------------------------------- V49

RICH = visit(with_answers(perumahan__daya="5"), assets=frozenset({"mobil"}))

V49_CASES = [
    pytest.param(RICH, 1, "low_desil_affluent", id="desil-1-car-and-power"),
    pytest.param(visit(POOR), 6, "high_desil_poor", id="desil-6-poor"),
    pytest.param(RICH, 3, None, id="desil-3"),
    pytest.param(visit(assets=frozenset({"mobil"}), verdict="tidak_layak_mampu"), 1, None, id="v"),
    pytest.param(visit(POOR), 4, None, id="desil-4-poor"),
    pytest.param(visit(with_answers(perumahan__lantai="8")), 8, None, id="desil-8-one-sign"),
    pytest.param(RICH, None, None, id="no-desil"),
]


@pytest.mark.parametrize(("v", "desil", "direction"), V49_CASES)
def test_v49_desil_disagrees(v: Visit, desil: int | None, direction: str | None) -> None:
    """V49 fires for desil <= 2 with two affluence signs, or desil >= 5 with two poverty signs."""
    f = Facts(visit=v, household_desil=desil, household_programmes=PKH)
    flags = check_case("V49", f, None if direction is None else Severity.MED)
    if flags:
        assert flags[0].evidence["direction"] == direction
        assert flags[0].evidence["desil"] == desil


def test_eligibility_rules_are_silent_without_answers() -> None:
    """A visit without housing or asset answers raises nothing in the eligibility rules."""
    f = Facts(visit=Visit(submission_id=1), household_desil=1, household_programmes=PKH)
    flags = evaluate(f)
    ids = {"V46", "V47", "V49"}
    assert [f for f in flags if f.rule in ids or f.evidence.get("rule") in ids] == []
