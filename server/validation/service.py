"""Checking one submission: load its facts, run the rules, store the flags, set the review
state, and leave the keys by which later submissions find it as a peer and count it in
their enumerator statistics (stats.py).

`do_evaluate` is idempotent: running it again replaces the submission's flags and keys, so
a job may run twice (a worker restarted half-way) without leaving doubles.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from server import audit
from server.registry.identity import check_nik
from server.registry.matching import match, score_known
from server.registry.names import name_key
from server.registry.queries import candidates_by_id
from server.registry.scoring import PersonFacts
from server.rules.catalog import evaluate
from server.rules.duplicates import hamming
from server.rules.engine import worst
from server.rules.location import distance_m
from server.rules.model import (
    Facts,
    Flag,
    Match,
    Member,
    Peer,
    Point,
    RegistryPerson,
    Severity,
    Visit,
)
from server.rules.settings import parse_settings
from server.storage import BlobStore
from server.validation import queries, stats
from server.validation.facts import Files, Received, visit_from_instance
from server.validation.photos import INDEX_BITS, chunk_keys, dhash, signed, unsigned

PEER_LIMIT = 200
# The same enumerator's visits this close are peers (V34 compares them at `same_spot_m`,
# 15 m by default; settings above NEAR_M see only peers within it).
NEAR_M = 100.0
CELL_DEGREES = 0.001  # 111 m of latitude: the 3 x 3 cells around a point cover NEAR_M
# The keys a peer is described by (_peer); not the photo-hash chunks or the statistics' keys.
PEER_KINDS = ("nik", "name_birth", "kk", "target", "village", "phash", "point")
# Review states the rules may set or change (while `review_by_rules`): a person's approval
# or rejection is never undone by a later check.
MACHINE_STATES = ("received", "hasIssues", "edited", "approved")
PROGRAMME_FALSE = {"", "0", "tidak", "no", "false", "n", "t"}


@dataclass(frozen=True)
class Evaluation:
    """What one run found. `named`: the other submissions its flags name now or named
    before this run; their own flags about this one may have changed with it."""

    submission_id: int
    flags: list[Flag]
    review_state: str
    peers: list[int]
    named: list[int]


def _files(session: Session, store: BlobStore, version_id: int) -> Files:
    """Each expected attachment: received or not, and its photo hash (computed once)."""
    attached = queries.attachments(session, version_id)
    blobs = [blob for _name, blob in attached if blob]
    known = queries.photo_hashes(session, blobs)
    computed = {blob: _hash(store.path(blob)) for blob in blobs if blob not in known}
    if computed:
        stored = {blob: signed(h) if h is not None else None for blob, h in computed.items()}
        queries.add_photo_hashes(session, stored)
        known.update(stored)
    files: dict[str, tuple[bool, int | None]] = {}
    for name, blob in attached:
        value = known.get(blob) if blob else None
        files[name] = (blob is not None, unsigned(value) if value is not None else None)
    return files


def _hash(path: Path) -> int | None:
    return dhash(path) if path.exists() else None


def _matches(session: Session, visit: Visit, village: str | None, today: date) -> list[Match]:
    """Each person's best registry candidate, with every registry holder of their NIK.

    The candidate counts as dead when its own record says so or when another source holds
    the same NIK and birth date as dead: DTKS and DTSEN record deaths separately, and one
    of them is often behind."""
    people = [m for m in visit.members if m.nik or m.name]
    holders = queries.persons_by_nik(session, [m.nik for m in people if m.nik])
    listed = {
        m.path: int(m.registry_key)
        for m in people
        if m.registry_key and m.registry_key.isdigit() and not m.nik_corrected
    }
    rows = {row.id: row for row in candidates_by_id(session, list(listed.values()))}
    best = {}
    for member in people:
        facts = PersonFacts(
            nik=member.nik,
            name=member.name or "",
            birth_date=member.birth_date,
            sex=member.sex if member.sex in ("L", "P") else None,  # type: ignore[arg-type]
            village_code=village,
            kk=visit.kk or visit.registry_kk,
        )
        row = rows.get(listed.get(member.path, -1))
        if row is not None and (row.nik or "") == (member.nik or ""):
            # A list row names its registry person, and the field kept its NIK: that
            # person is the candidate, scored without a search.
            best[member.path] = score_known(facts, row, today)
            continue
        ranked = match(session, facts, limit=1, today=today)
        if ranked:
            best[member.path] = ranked[0]
    padan = queries.padan(session, [b.candidate.person_id for b in best.values()])
    found = []
    for member in people:
        top = best.get(member.path)
        holding = holders.get(member.nik or "", [])
        keys = tuple(h.key for h in holding)
        sources = tuple(h.source for h in holding)
        if top is None:
            found.append(Match(member.path, None, same_nik_keys=keys, same_nik_sources=sources))
            continue
        candidate = top.candidate
        born = candidate.facts.birth_date
        dead_elsewhere = any(
            h.dead and h.key != str(candidate.person_id) and born and h.birth_date == born
            for h in holding
        )
        person = RegistryPerson(
            key=str(candidate.person_id),
            source=candidate.source,
            nik=candidate.facts.nik,
            name=candidate.facts.name,
            birth_date=candidate.facts.birth_date,
            sex=candidate.facts.sex,
            dead=candidate.dead or dead_elsewhere,
            padan=padan.get(candidate.person_id),
            household_key=str(candidate.household_id) if candidate.household_id else None,
        )
        found.append(
            Match(
                member.path,
                person,
                top.score,
                str(top.band),
                tuple(r.code for r in top.reasons),
                tuple(top.found_by),
                keys,
                sources,
            )
        )
    return found


def _keys(visit: Visit, village: str | None) -> list[tuple[str, str]]:
    """The values by which other submissions find this one."""
    keys: list[tuple[str, str]] = []
    for member in visit.people():
        if member.nik:
            keys.append(("nik", member.nik))
        if member.name and member.birth_date:
            keys.append(("name_birth", f"{name_key(member.name)}|{member.birth_date.isoformat()}"))
    kk = visit.kk or visit.registry_kk
    if kk:
        keys.append(("kk", kk))
    if visit.target_key:
        keys.append(("target", visit.target_key))
    if village:
        keys.append(("village", village))
    for photo in visit.photos:
        if photo.phash is not None:
            keys.append(("phash", str(photo.phash)))
            keys.extend(("ph", chunk) for chunk in chunk_keys(photo.phash))
    if visit.location is not None:
        keys.append(("point", f"{visit.location.lat:.6f},{visit.location.lon:.6f}"))
        if visit.enumerator_id is not None:
            keys.append(("cell", _cell(visit.enumerator_id, visit.location)))
    return keys


def _cell(enumerator_id: int, point: Point, rows: int = 0, cols: int = 0) -> str:
    """The enumerator's cell of a grid of CELL_DEGREES (about 110 m) holding the point (or
    the one `rows` and `cols` away), by which their own nearby visits are found. The
    enumerator is part of the key: in a village everyone's visits share the same few
    cells, and looking them all up to keep one person's grew with the round."""
    row, col = math.floor(point.lat / CELL_DEGREES), math.floor(point.lon / CELL_DEGREES)
    return f"{enumerator_id}/{row + rows}:{col + cols}"


def _cells_around(enumerator_id: int, point: Point) -> list[str]:
    """The point's cell and its eight neighbours: every place within one cell of it."""
    return [_cell(enumerator_id, point, dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]


def _peer(submission_id: int, submitter: int | None, keys: list[tuple[str, str]]) -> Peer:
    values: dict[str, list[str]] = {}
    for kind, value in keys:
        values.setdefault(kind, []).append(value)
    name_birth = set()
    for item in values.get("name_birth", []):
        name, _, born = item.partition("|")
        try:
            name_birth.add((name, date.fromisoformat(born)))
        except ValueError:
            continue
    point = None
    if values.get("point"):
        lat, _, lon = values["point"][0].partition(",")
        point = Point(float(lat), float(lon))
    village = _first(values, "village")
    return Peer(
        submission_id=submission_id,
        enumerator_id=submitter,
        target_key=_first(values, "target"),
        niks=frozenset(values.get("nik", [])),
        kk=_first(values, "kk"),
        name_birth=frozenset(name_birth),
        kecamatan=village[:6] if village else None,
        phashes=frozenset(int(v) for v in values.get("phash", [])),
        location=point,
        household_keys=frozenset(values.get("target", [])),
    )


def _peers(
    session: Session,
    submission_id: int,
    form_id: int,
    submitter_id: int | None,
    visit: Visit,
    keys: list[tuple[str, str]],
) -> list[int]:
    """Other submissions that may be duplicates of this one: sharing a NIK, KK or name and
    birth date; with a photo hash within `INDEX_BITS` (found through its chunks, then
    checked); or the same enumerator's within `NEAR_M` of this location."""
    sharing = [k for k in keys if k[0] in ("nik", "kk", "name_birth")]
    found = set(queries.peer_ids(session, submission_id, form_id, sharing, PEER_LIMIT))
    chunks = [k for k in keys if k[0] == "ph"]
    if chunks:
        candidates = queries.peer_ids(session, submission_id, form_id, chunks, PEER_LIMIT)
        mine = [p.phash for p in visit.photos if p.phash is not None]
        for other, hashes in queries.keys_of(session, candidates, ("phash",)).items():
            if any(hamming(a, int(b)) <= INDEX_BITS for a in mine for _, b in hashes):
                found.add(other)
    here = visit.location
    if submitter_id is not None and here is not None:
        for other, value in queries.submitter_points(
            session, form_id, submitter_id, submission_id, _cells_around(submitter_id, here)
        ):
            lat, _, lon = value.partition(",")
            if distance_m(here, Point(float(lat), float(lon))) <= NEAR_M:
                found.add(other)
    return sorted(found)[:PEER_LIMIT]


def _first(values: dict[str, list[str]], kind: str) -> str | None:
    found = values.get(kind)
    return found[0] if found else None


def _target_key(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) <= 12 else None


def do_evaluate(
    session: Session,
    store: BlobStore,
    submission_id: int,
    today: date | None = None,
    zone: str = stats.DEFAULT_ZONE,
) -> Evaluation | None:
    """Check one submission; None when it is gone or its form has no rule settings. `zone`
    is the server's timezone: the day of a visit without a start time (stats.py)."""
    found = queries.stored(session, submission_id)
    if found is None or found.rule_settings is None:
        return None
    settings = parse_settings(found.rule_settings)
    files = _files(session, store, found.version_id)
    visit = visit_from_instance(
        found.xml,
        settings.fields,
        Received(
            submission_id=found.submission_id,
            instance_id=found.instance_id,
            enumerator_id=found.submitter_id,
            form_version=found.form_version,
            current_form_version=found.current_form_version,
            received=found.received,
            files=files,
        ),
    )
    today = today or found.received.date()
    key = _target_key(visit.target_key)
    target = queries.target(session, found.project_id, key) if key is not None else None
    household_kk = target.kk if target else None
    members = tuple(_with_birth_date(m) for m in visit.members)
    visit = replace(
        visit,
        members=members,
        target_known=target is not None,
        target_on_own_list=target is not None
        and target.assignee_id is not None
        and target.assignee_id == found.submitter_id,
        assigned_village=target.village_code if target else None,
        registry_kk=household_kk,
    )
    village = visit.village_code if visit.visit_type == "usulan_baru" else visit.assigned_village
    keys = _keys(visit, village)
    day = stats.interview_day(visit, zone)
    paths = stats.numeric_paths(session, found.form_version_id, found.form_version_md5)
    counted = stats.stat_keys(visit, day, paths, found.submitter_id)
    queries.replace_keys(session, submission_id, found.form_id, keys + counted)
    peers = _peers(session, submission_id, found.form_id, found.submitter_id, visit, keys)
    peer_keys = queries.keys_of(session, peers, PEER_KINDS)
    owners = queries.submitters(session, peers)
    facts = Facts(
        visit=visit,
        matches=tuple(_matches(session, visit, village, today)),
        household_desil=target.desil if target else None,
        household_programmes=frozenset(
            name
            for name, value in (target.programmes if target else {}).items()
            if str(value).strip().lower() not in PROGRAMME_FALSE
        ),
        peers=tuple(_peer(p, owners.get(p), peer_keys.get(p, [])) for p in peers),
        # After replace_keys: this visit counts in its own statistics.
        stats=stats.enumerator_stats(
            session, found.project_id, found.form_id, found.submitter_id, day
        )
        if found.submitter_id is not None
        else None,
        village_centroid=_centroid(session, village) if village else None,
        enumerator_villages=_assigned_villages(session, found.project_id, found.submitter_id)
        if found.submitter_id is not None
        else frozenset(),
        today=today,
    )
    flags = evaluate(facts, settings.rules)
    replaced = queries.replace_flags(
        session, submission_id, found.version_id, [f.as_json() for f in flags]
    )
    named = named_submissions([*replaced, *(f.evidence for f in flags)]) - {submission_id}
    state = found.review_state
    if found.review_by_rules and state in MACHINE_STATES:
        state = review_state(flags, settings.auto_approve, settings.sample_rate, found.instance_id)
        if state != found.review_state:
            queries.set_review_state(session, submission_id, state)
            audit.record(
                session, None, "submission.review", "submission", submission_id, state=state
            )
    return Evaluation(submission_id, flags, state, peers, sorted(named))


def named_submissions(evidence: Iterable[Mapping[str, Any]]) -> set[int]:
    """The submissions a flag's evidence names: the other of a pair (`other_submission_id`)
    and every member of a group (`others[].submission_id`)."""
    found: set[int] = set()
    for item in evidence:
        other = item.get("other_submission_id")
        if isinstance(other, int):
            found.add(other)
        for entry in item.get("others") or ():
            if isinstance(entry, Mapping) and isinstance(entry.get("submission_id"), int):
                found.add(entry["submission_id"])
    return found


def _assigned_villages(session: Session, project_id: int, user_id: int) -> frozenset[str]:
    """The enumerator's assigned area, kept per process like the team figures (a list
    change reaches the check within stats.CACHE_SECONDS)."""
    return stats.CACHE.get(
        (stats.database(session), "villages", project_id, user_id),
        lambda: queries.assigned_villages(session, project_id, user_id),
    )


def _centroid(session: Session, village: str) -> Point | None:
    """The village's centroid, kept per process like the team figures (a centroid loaded
    while workers run reaches them within stats.CACHE_SECONDS)."""
    return stats.CACHE.get(
        (stats.database(session), "centroid", village),
        lambda: queries.village_centroid(session, village),
    )


def sampled(instance_id: str, rate: float) -> bool:
    """Whether a clean submission is held for review: a stable draw from its instanceID, so
    checking it again never changes the answer."""
    draw = int(hashlib.sha256(instance_id.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return draw < rate


def review_state(flags: list[Flag], auto_approve: bool, rate: float, instance_id: str) -> str:
    """BLOCK or HIGH: the koordinator's queue (hasIssues). Otherwise (MED, LOW or none):
    approved automatically when the form allows it, except a random share held for review."""
    severity = worst(flags)
    if severity is not None and severity.rank >= Severity.HIGH.rank:
        return "hasIssues"
    if auto_approve and not sampled(instance_id, rate):
        return "approved"
    return "received"


def _with_birth_date(member: Member) -> Member:
    """A member's birth date from the NIK when neither the list nor the form gave one (for
    the age checks; V07 compares only dates the field reported)."""
    if member.birth_date is not None or not member.nik:
        return member
    born = check_nik(member.nik).birth_date
    return replace(member, birth_date=born) if born else member
