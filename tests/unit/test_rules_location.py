"""Location rules: the haversine distance, GPS present and accurate (V31), inside the village
(V32) and one enumerator's different households at the same spot (V34). Coordinates are
synthetic points around Kota Malang."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from rules_cases import run

from server.rules.catalog import evaluate
from server.rules.engine import RuleSettings
from server.rules.location import EARTH_RADIUS_M, distance_m
from server.rules.model import ENGINE_ERROR, Facts, Peer, Point, Severity, Visit

HOME = Point(-7.9839, 112.6214, accuracy=8.0)
METRES_PER_DEGREE = math.pi / 180 * EARTH_RADIUS_M


def north(point: Point, metres: float) -> Point:
    """A point `metres` due north of `point` (same accuracy)."""
    return replace(point, lat=point.lat + metres / METRES_PER_DEGREE)


def east(point: Point, metres: float) -> Point:
    """A point `metres` due east of `point` (same accuracy)."""
    scale = METRES_PER_DEGREE * math.cos(math.radians(point.lat))
    return replace(point, lon=point.lon + metres / scale)


def visit(**overrides: Any) -> Visit:
    base = Visit(
        submission_id=10,
        enumerator_id=3,
        target_key="1001",
        assigned_village="3573041001",
        outcome="ditemukan",
        location=HOME,
    )
    return replace(base, **overrides)


def peer(**overrides: Any) -> Peer:
    base = Peer(submission_id=11, enumerator_id=3, target_key="1002", location=east(HOME, 10))
    return replace(base, **overrides)


# ---- distance_m ---------------------------------------------------------------------------


def test_distance_of_one_degree_of_latitude() -> None:
    """One degree along a meridian is about 111.195 km on the mean-radius sphere."""
    assert distance_m(Point(0.0, 110.0), Point(1.0, 110.0)) == pytest.approx(111_195, abs=1)


def test_distance_is_zero_and_symmetric() -> None:
    """A point is 0 m from itself, and a to b equals b to a."""
    other = Point(-7.95, 112.60)
    assert distance_m(HOME, HOME) == 0
    assert distance_m(HOME, other) == pytest.approx(distance_m(other, HOME))


def test_distance_across_the_antimeridian() -> None:
    """Points either side of longitude 180 are close, not half the world apart."""
    assert distance_m(Point(0.0, 179.9995), Point(0.0, -179.9995)) == pytest.approx(111, abs=1)


@pytest.mark.parametrize("metres", [15, 3000, 50_000])
def test_distance_matches_the_offset(metres: float) -> None:
    """Points built a known distance apart measure that distance."""
    assert distance_m(HOME, north(HOME, metres)) == pytest.approx(metres, rel=1e-6)
    assert distance_m(HOME, east(HOME, metres)) == pytest.approx(metres, rel=1e-3)


# ---- V31 ----------------------------------------------------------------------------------

V31_CASES = [
    ("no location", None, "missing"),
    ("accurate", replace(HOME, accuracy=8.0), None),
    ("exactly 30 m passes", replace(HOME, accuracy=30.0), None),
    ("30.5 m fires", replace(HOME, accuracy=30.5), "inaccurate"),
    ("very poor fix", replace(HOME, accuracy=250.0), "inaccurate"),
    ("accuracy unknown", replace(HOME, accuracy=None), None),
]


@pytest.mark.parametrize(("case", "location", "reason"), V31_CASES, ids=[c[0] for c in V31_CASES])
def test_v31_gps_present_and_accurate(
    case: str, location: Point | None, reason: str | None
) -> None:
    """V31 fires on a missing location and on accuracy worse than 30 m."""
    flags = run("V31", Facts(visit(location=location)))
    assert [f.evidence["reason"] for f in flags] == ([reason] if reason else [])
    assert all(f.rule == "V31" and f.severity is Severity.HIGH for f in flags)
    assert all(f.fields == ("location",) for f in flags)


# ---- V32 ----------------------------------------------------------------------------------

CENTROID = north(HOME, 500)

V32_CASES: list[tuple[str, dict[str, Any], Point | None, bool]] = [
    ("near the centroid", {}, CENTROID, False),
    ("2.9 km away", {"location": east(CENTROID, 2900)}, CENTROID, False),
    ("exactly 3 km passes", {"location": north(CENTROID, 3000)}, CENTROID, False),
    ("3.1 km away", {"location": east(CENTROID, 3100)}, CENTROID, True),
    ("another kecamatan", {"location": north(CENTROID, 12_000)}, CENTROID, True),
    ("no centroid", {"location": east(CENTROID, 9000)}, None, False),
    ("no location", {"location": None}, CENTROID, False),
]


@pytest.mark.parametrize(
    ("case", "overrides", "centroid", "fires"), V32_CASES, ids=[c[0] for c in V32_CASES]
)
def test_v32_gps_inside_village(
    case: str, overrides: dict[str, Any], centroid: Point | None, fires: bool
) -> None:
    """V32 fires beyond 3 km from the village centroid, and needs both points."""
    flags = run("V32", Facts(visit(**overrides), village_centroid=centroid))
    assert len(flags) == (1 if fires else 0)
    assert all(f.rule == "V32" and f.severity is Severity.HIGH for f in flags)


def test_v32_evidence_names_village_and_distance() -> None:
    """V32's evidence gives the distance, the target's village and the centroid."""
    facts = Facts(visit(location=east(CENTROID, 4000)), village_centroid=CENTROID)
    (flag,) = run("V32", facts)
    assert flag.evidence["distance_m"] == pytest.approx(4000, abs=5)
    assert flag.evidence["village_code"] == "3573041001"
    assert flag.evidence["centroid"] == {"lat": CENTROID.lat, "lon": CENTROID.lon}


def test_v32_new_household_uses_the_entered_village() -> None:
    """Without an assigned village, the village entered for a new household is named."""
    facts = Facts(
        visit(assigned_village=None, village_code="3573042005", location=east(CENTROID, 4000)),
        village_centroid=CENTROID,
    )
    (flag,) = run("V32", facts)
    assert flag.evidence["village_code"] == "3573042005"


def test_v32_threshold_from_settings() -> None:
    """A 5 km limit from the settings lets a house 4 km out pass."""
    facts = Facts(visit(location=east(CENTROID, 4000)), village_centroid=CENTROID)
    settings = RuleSettings(thresholds={"V32": {"max_km_from_centroid": 5}})
    assert run("V32", facts, settings) == []


# ---- V34 ----------------------------------------------------------------------------------

# A second other household 5 m north: with the peer of each case, a spot of three.
SECOND = Peer(submission_id=12, enumerator_id=3, target_key="1003", location=north(HOME, 5))

V34_CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("other household 10 m away", {}, {}, True),
    ("other household 15 m away (within)", {}, {"location": north(HOME, 15)}, True),
    ("other household 16 m away", {}, {"location": north(HOME, 16)}, False),
    ("same household revisited", {}, {"target_key": "1001"}, False),
    ("another enumerator", {}, {"enumerator_id": 4}, False),
    ("peer is a new household", {}, {"target_key": None}, True),
    ("this is a new household", {"target_key": None}, {"target_key": None}, True),
    ("peer without location", {}, {"location": None}, False),
    ("visit without location", {"location": None}, {}, False),
    ("enumerator unknown", {"enumerator_id": None}, {"enumerator_id": None}, False),
    ("itself among the peers", {}, {"submission_id": 10}, False),
]


@pytest.mark.parametrize(
    ("case", "visit_overrides", "peer_overrides", "fires"), V34_CASES, ids=[c[0] for c in V34_CASES]
)
def test_v34_same_spot_other_household(
    case: str, visit_overrides: dict[str, Any], peer_overrides: dict[str, Any], fires: bool
) -> None:
    """V34 fires when two other households of the enumerator are within 15 m (with SECOND)."""
    facts = Facts(visit(**visit_overrides), peers=(peer(**peer_overrides), SECOND))
    flags = run("V34", facts)
    assert len(flags) == (1 if fires else 0)
    assert all(f.rule == "V34" and f.severity is Severity.HIGH for f in flags)


def test_v34_one_flag_listing_the_others_nearest_first() -> None:
    """One flag names every nearby submission, nearest first, and the households counted."""
    flags = run("V34", Facts(visit(), peers=(peer(), SECOND)))
    assert len(flags) == 1
    evidence = flags[0].evidence
    assert evidence["other_submission_id"] == 12
    assert [o["submission_id"] for o in evidence["others"]] == [12, 11]
    assert evidence["others"][0]["distance_m"] == pytest.approx(5, abs=0.2)
    assert evidence["households"] == 3


def test_v34_two_neighbours_are_no_cluster() -> None:
    """One other household nearby (two neighbours) does not fire."""
    assert run("V34", Facts(visit(), peers=(peer(),))) == []


def test_location_rules_survive_a_bare_visit() -> None:
    """A visit with nothing but an ID only gets V31's missing-location flag."""
    flags = evaluate(Facts(Visit(submission_id=1)))
    mine = [f for f in flags if f.rule in {"V31", "V32", "V34"}]
    assert [(f.rule, f.evidence["reason"]) for f in mine] == [("V31", "missing")]
    crashed = {f.evidence["rule"] for f in flags if f.rule == ENGINE_ERROR}
    assert not crashed & {"V31", "V32", "V34"}


# ---- V12: village in the assigned area ----------------------------------------------------

V12_CASES: list[tuple[str, Facts, bool]] = [
    (
        "proposal outside the area",
        Facts(
            Visit(1, visit_type="usulan_baru", village_code="3573051001"),
            enumerator_villages=frozenset({"3573041002", "3573041003"}),
        ),
        True,
    ),
    (
        "proposal inside the area",
        Facts(
            Visit(1, visit_type="usulan_baru", village_code="3573041002"),
            enumerator_villages=frozenset({"3573041002"}),
        ),
        False,
    ),
    (
        "list visit to another area's household",
        Facts(
            Visit(1, visit_type="daftar", assigned_village="3573051001"),
            enumerator_villages=frozenset({"3573041002"}),
        ),
        True,
    ),
    (
        "list visit in the area",
        Facts(
            Visit(1, visit_type="daftar", assigned_village="3573041002"),
            enumerator_villages=frozenset({"3573041002"}),
        ),
        False,
    ),
    (
        "enumerator without a list",
        Facts(Visit(1, visit_type="usulan_baru", village_code="x")),
        False,
    ),
]


@pytest.mark.parametrize(("case", "facts", "fires"), V12_CASES, ids=[c[0] for c in V12_CASES])
def test_v12_village_in_assigned_area(case: str, facts: Facts, fires: bool) -> None:
    """V12 fires for a village outside the villages of the enumerator's own list."""
    flags = [f for f in evaluate(facts) if f.rule == "V12"]
    assert bool(flags) == fires
    assert all(f.severity is Severity.HIGH for f in flags)
