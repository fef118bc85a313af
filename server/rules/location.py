"""Rules: where the visit happened (V12, V31, V32, V34).

Distances are great-circle distances on a spherical Earth (haversine, mean radius), which
is far more precise than a phone's GPS at the few kilometres these rules look at. No
village boundary polygons reach the facts, so "inside the village" is judged by the
distance from the village centroid.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from server.rules.engine import Context, rule
from server.rules.model import Facts, Flag, Point, Severity

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius


def distance_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres between two points (haversine formula)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def _point(p: Point) -> dict[str, float]:
    return {"lat": p.lat, "lon": p.lon}


@rule(
    "V12",
    Severity.HIGH,
    "Desa di luar wilayah tugas",
    "Village outside the assigned area",
)
def village_in_assigned_area(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """The household's village must be in the enumerator's assigned area (the villages of the
    households on their own list) and, for a household from the list, be the village the
    registry gives it. Fires for a new-household proposal whose village is outside that
    area, and for a list visit whose target lies outside it (a household of another
    enumerator's area). Nothing is judged when the enumerator holds no list (an admin's test
    visit, or a round without assignments) or the village is unknown."""
    visit = facts.visit
    area = facts.enumerator_villages
    village = visit.village_code if visit.visit_type == "usulan_baru" else visit.assigned_village
    if not area or not village or village in area:
        return
    where = "village" if visit.visit_type == "usulan_baru" else "target"
    yield ctx.flag(
        f"Desa {village} berada di luar wilayah tugas pencacah ini "
        f"({len(area)} desa dalam daftarnya).",
        f"Village {village} is outside this enumerator's assigned area "
        f"({len(area)} villages on their list).",
        [where],
        village_code=village,
        assigned_villages=sorted(area)[:20],
        registry_village=visit.assigned_village,
    )


@rule(
    "V31",
    Severity.HIGH,
    "GPS tidak ada atau tidak akurat",
    "GPS missing or inaccurate",
    thresholds={"max_accuracy_m": 30},
)
def gps_present_and_accurate(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Fires when the visit has no location (the form asks for it for every outcome), or
    when its reported accuracy is worse than `max_accuracy_m`; an accuracy of exactly
    `max_accuracy_m` passes (the catalog allows <= 30 m). A location without an accuracy
    is not judged on accuracy."""
    location = facts.visit.location
    limit = ctx.threshold("max_accuracy_m")
    if location is None:
        yield ctx.flag(
            "Lokasi GPS rumah tidak direkam.",
            "The house's GPS location was not recorded.",
            ["location"],
            reason="missing",
        )
    elif location.accuracy is not None and location.accuracy > limit:
        yield ctx.flag(
            f"Akurasi GPS {location.accuracy:.0f} m, lebih buruk dari batas {limit} m.",
            f"GPS accuracy {location.accuracy:.0f} m is worse than the {limit} m limit.",
            ["location"],
            reason="inaccurate",
            accuracy_m=location.accuracy,
            max_accuracy_m=limit,
        )


@rule(
    "V32",
    Severity.HIGH,
    "Lokasi GPS di luar desa",
    "GPS location outside the village",
    thresholds={"max_km_from_centroid": 3.0},
)
def gps_inside_village(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Fires when the visit's location is farther than `max_km_from_centroid` from the
    village centroid (exactly at the limit passes). Indonesian desa/kelurahan are mostly a
    few kilometres across, so 3 km by default; raise it for large rural desa. The village is
    the target's (`assigned_village`), else the one entered for a new household. Centroids
    are those an operator loaded with `verivali regions centroids`. Without a centroid or a
    location nothing is judged (V31 reports a missing location)."""
    visit = facts.visit
    centroid = facts.village_centroid
    if visit.location is None or centroid is None:
        return
    limit_km = ctx.threshold("max_km_from_centroid")
    # Centimetres are far below GPS precision; rounding makes the limit itself well defined.
    distance = round(distance_m(visit.location, centroid), 2)
    if not math.isfinite(distance) or distance <= limit_km * 1000:
        return
    village = visit.assigned_village or visit.village_code
    yield ctx.flag(
        f"Lokasi GPS {distance / 1000:.1f} km dari titik tengah desa {village or '?'} "
        f"(batas {limit_km} km).",
        f"The GPS location is {distance / 1000:.1f} km from the centre of village "
        f"{village or '?'} (limit {limit_km} km).",
        ["location"],
        distance_m=round(distance),
        village_code=village,
        centroid=_point(centroid),
        location=_point(visit.location),
        max_km_from_centroid=limit_km,
    )


@rule(
    "V34",
    Severity.HIGH,
    "Rumah tangga berbeda di titik yang sama",
    "Different households at the same spot",
    thresholds={"same_spot_m": 15, "min_households": 3},
)
def same_spot_other_household(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Fires once when this visit and the same enumerator's visits to other households
    within `same_spot_m` of it (inclusive: "within") make at least `min_households`
    households at one spot: interviews filled in from one place, rather than at each house.
    Two neighbours a few metres apart are common in a dense kampung, so a pair alone does
    not fire; three households at one spot rarely happen but in one building, which the
    reviewer can tell from the photos. Another household: the target keys differ, or a
    visit has none (a new household proposal, each counted on its own). The evidence lists
    the other submissions, nearest first. Peers or visits without a location, or without a
    known enumerator, are skipped."""
    visit = facts.visit
    if visit.location is None or visit.enumerator_id is None:
        return
    limit = ctx.threshold("same_spot_m")
    near: list[tuple[float, int, str | None]] = []
    for peer in facts.peers:
        if (
            peer.location is None
            or peer.submission_id == visit.submission_id
            or peer.enumerator_id != visit.enumerator_id
        ):
            continue
        if visit.target_key is not None and peer.target_key == visit.target_key:
            continue
        distance = round(distance_m(visit.location, peer.location), 2)
        if math.isfinite(distance) and distance <= limit:
            near.append((distance, peer.submission_id, peer.target_key))
    households = {key if key is not None else f"#{sid}" for _, sid, key in near}
    if len(households) + 1 < int(ctx.threshold("min_households")):
        return
    near.sort()
    distance, nearest, _ = near[0]
    yield ctx.flag(
        f"{len(households)} rumah tangga lain dari pencacah yang sama berjarak paling jauh "
        f"{limit:g} m dari lokasi ini (terdekat: kiriman {nearest}, {distance:.0f} m).",
        f"{len(households)} other households by the same enumerator are within {limit:g} m "
        f"of this location (nearest: submission {nearest}, {distance:.0f} m).",
        ["location"],
        other_submission_id=nearest,
        others=[
            {"submission_id": sid, "target_key": key, "distance_m": round(d, 1)}
            for d, sid, key in near[:20]
        ],
        households=len(households) + 1,
        same_spot_m=limit,
    )
