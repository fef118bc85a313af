"""Checking submissions: load their facts, run the rules, store the flags, set the review
state, and leave the keys by which later submissions find each one as a peer and count it
in their enumerator statistics (stats.py).

`evaluate_many` checks a batch together: each kind of fact (stored rows, attachments, photo
hashes, targets, NIK holders, peers' keys, flags) is read or written with one statement
for the whole batch, not one per submission; only the pure work (parsing, matching, the
rules) is done submission by submission. A batch's keys are all written before its peers
are looked up, so two duplicates checked in one batch find each other.
`do_evaluate` is a batch of one. Both are idempotent: running again replaces the
submissions' flags and keys, so a job may run twice (a worker restarted half-way) without
leaving doubles.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from server import audit
from server.registry.identity import check_nik
from server.registry.matching import Match as RankedMatch
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
from server.rules.paradata import minutes_between
from server.rules.settings import FormSettings, parse_settings
from server.storage import BlobStore
from server.validation import hashing, queries, stats, stats_queries
from server.validation.facts import Received, visit_from_instance
from server.validation.photos import INDEX_BITS, chunk_entries, chunk_keys, signed, unsigned

PEER_LIMIT = 200
# The same enumerator's visits this close are peers (V34 compares them at `same_spot_m`,
# 15 m by default; settings above NEAR_M see only peers within it).
NEAR_M = 100.0
CELL_DEGREES = 0.001  # 111 m of latitude: the 3 x 3 cells around a point cover NEAR_M
# The keys a peer is described by (_peer): its photo hashes are read from their chunks
# ("ph"); not the statistics' keys.
PEER_KINDS = ("nik", "name_birth", "kk", "target", "village", "ph", "point")
# Review states the rules may set or change (while `review_by_rules`): a person's approval
# or rejection is never undone by a later check.
MACHINE_STATES = ("received", "hasIssues", "edited", "approved")
LONGEST_INTERVIEW_MINUTES = 24 * 60
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


@dataclass(frozen=True)
class _Hashing:
    """Photo hashes under way: the stored ones, and the others being computed."""

    known: dict[str, int | None]
    computing: hashing.Pending


def _start_hashing(session: Session, store: BlobStore, blobs: Iterable[str]) -> _Hashing:
    """Read the stored hashes of these blobs and start computing the others in the hashing
    processes (hashing.py), so the photos are decoded while the check reads and matches
    the rest; decoding a camera photo costs more than the rest of it."""
    wanted = sorted(set(blobs))
    known = queries.photo_hashes(session, wanted)
    return _Hashing(
        known, hashing.start({blob: store.path(blob) for blob in wanted if blob not in known})
    )


def _photo_hashes(session: Session, pending: _Hashing) -> dict[str, int]:
    """The hashes (unsigned; absent when not a readable image, or not hashed this time);
    those computed are stored."""
    known = dict(pending.known)
    computed = hashing.collect(pending.computing)
    if computed:
        stored = {blob: signed(h) if h is not None else None for blob, h in computed.items()}
        queries.add_photo_hashes(session, stored)
        known.update(stored)
    return {blob: unsigned(value) for blob, value in known.items() if value is not None}


def _with_hashes(visit: Visit, blobs: Mapping[str, str | None], hashes: Mapping[str, int]) -> Visit:
    """The visit's house photos with their hashes (the only photos a rule compares)."""
    photos = tuple(
        replace(photo, phash=hashes.get(blobs.get(photo.name) or ""))
        if photo.name and photo.received
        else photo
        for photo in visit.photos
    )
    return replace(visit, photos=photos)


@dataclass(frozen=True)
class _Check:
    """One submission of a batch, with the facts gathered so far."""

    found: queries.Stored
    settings: FormSettings
    visit: Visit
    target: queries.TargetFacts | None
    village: str | None
    keys: list[tuple[str, str]]  # empty until its photos are hashed (_with_keys)
    day: date | None
    today: date

    @property
    def id(self) -> int:
        return self.found.submission_id


def _matches(session: Session, checks: Mapping[int, _Check]) -> dict[int, list[Match]]:
    """Each person's best registry candidate, with every registry holder of their NIK.

    The candidate counts as dead when its own record says so or when another source holds
    the same NIK and birth date as dead: DTKS and DTSEN record deaths separately, and one
    of them is often behind."""
    people = {
        sid: [m for m in check.visit.members if m.nik or m.name] for sid, check in checks.items()
    }
    everyone = [(sid, m) for sid, members in people.items() for m in members]
    holders = queries.persons_by_nik(session, [m.nik for _sid, m in everyone if m.nik])
    listed = {
        (sid, m.path): int(m.registry_key)
        for sid, m in everyone
        if m.registry_key and m.registry_key.isdigit() and not m.nik_corrected
    }
    rows = {row.id: row for row in candidates_by_id(session, list(listed.values()))}
    best = {}
    for sid, member in everyone:
        check = checks[sid]
        facts = PersonFacts(
            nik=member.nik,
            name=member.name or "",
            birth_date=member.birth_date,
            sex=member.sex if member.sex in ("L", "P") else None,  # type: ignore[arg-type]
            village_code=check.village,
            kk=check.visit.kk or check.visit.registry_kk,
        )
        row = rows.get(listed.get((sid, member.path), -1))
        if row is not None and (row.nik or "") == (member.nik or ""):
            # A list row names its registry person, and the field kept its NIK: that
            # person is the candidate, scored without a search.
            best[(sid, member.path)] = score_known(facts, row, check.today)
            continue
        ranked = match(session, facts, limit=1, today=check.today)
        if ranked:
            best[(sid, member.path)] = ranked[0]
    padan = queries.padan(session, [b.candidate.person_id for b in best.values()])
    return {
        sid: [
            _match(m, best.get((sid, m.path)), holders.get(m.nik or "", []), padan) for m in members
        ]
        for sid, members in people.items()
    }


def _match(
    member: Member,
    top: RankedMatch | None,
    holding: list[queries.Holder],
    padan: Mapping[int, bool | None],
) -> Match:
    keys = tuple(h.key for h in holding)
    sources = tuple(h.source for h in holding)
    if top is None:
        return Match(member.path, None, same_nik_keys=keys, same_nik_sources=sources)
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
    return Match(
        member.path,
        person,
        top.score,
        str(top.band),
        tuple(r.code for r in top.reasons),
        tuple(top.found_by),
        keys,
        sources,
    )


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
            # Its chunks, each with the whole hash (a peer's hashes are read from them).
            keys.extend(("ph", entry) for entry in chunk_entries(photo.phash))
    if visit.location is not None:
        keys.append(("point", f"{visit.location.lat:.6f},{visit.location.lon:.6f}"))
        if visit.enumerator_id is not None:
            keys.append(("cell", _cell(visit.enumerator_id, visit.location)))
    return keys


def _interview_minutes(visit: Visit) -> float | None:
    """Minutes from the form's start to its end, to a tenth; None beyond a day or backwards."""
    minutes = minutes_between(visit.started, visit.ended)
    if minutes is None or not 0 <= minutes <= LONGEST_INTERVIEW_MINUTES:
        return None
    return round(minutes, 1)


def _kept_keys(check: _Check) -> list[tuple[str, str]]:
    """The keys a submission leaves behind: a rejected one is found by nobody."""
    if check.found.review_state != "rejected":
        return check.keys
    return [key for key in check.keys if key[0] not in queries.FINDING_KINDS]


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
        phashes=frozenset(int(v.rpartition(":")[2]) for v in values.get("ph", [])),
        location=point,
        household_keys=frozenset(values.get("target", [])),
    )


def _peers(session: Session, checks: Mapping[int, _Check]) -> dict[int, list[int]]:
    """Other submissions that may be duplicates of each: sharing a NIK, KK or name and
    birth date; with a photo hash within `INDEX_BITS` (found through its chunks, then
    checked); or the same enumerator's within `NEAR_M` of its location. One look-up of each
    kind per form for the whole batch."""
    found: dict[int, set[int]] = {sid: set() for sid in checks}
    forms: dict[int, list[_Check]] = {}
    for check in checks.values():
        forms.setdefault(check.found.form_id, []).append(check)
    for form_id, group in forms.items():
        limit = PEER_LIMIT + len(group)
        sharing = {k for c in group for k in c.keys if k[0] in ("nik", "kk", "name_birth")}
        held = queries.holders(session, form_id, sharing, limit)
        hashes = {c.id: [p.phash for p in c.visit.photos if p.phash is not None] for c in group}
        chunks = {chunk for own in hashes.values() for h in own for chunk in chunk_keys(h)}
        by_chunk = queries.chunk_holders(session, form_id, chunks, limit)
        cells = {
            c.id: _cells_around(c.found.submitter_id, c.visit.location)
            for c in group
            if c.found.submitter_id is not None and c.visit.location is not None
        }
        points = queries.cell_points(session, form_id, {x for ids in cells.values() for x in ids})
        for check in group:
            mine = found[check.id]
            for key in check.keys:
                if key in held:
                    mine.update(held[key])
            for phash in hashes[check.id]:
                for chunk in chunk_keys(phash):
                    for other, theirs in by_chunk.get(chunk, ()):
                        if other not in mine and hamming(phash, theirs) <= INDEX_BITS:
                            mine.add(other)
            here = check.visit.location
            for cell in cells.get(check.id, ()):
                for other, value in points.get(cell, ()):
                    lat, _, lon = value.partition(",")
                    if here and distance_m(here, Point(float(lat), float(lon))) <= NEAR_M:
                        mine.add(other)
            mine.discard(check.id)
    return {sid: sorted(ids)[:PEER_LIMIT] for sid, ids in found.items()}


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
    """Check one submission (a batch of one, see evaluate_many)."""
    return evaluate_many(session, store, [submission_id], today, zone)[submission_id]


def evaluate_many(
    session: Session,
    store: BlobStore,
    submission_ids: Sequence[int],
    today: date | None = None,
    zone: str = stats.DEFAULT_ZONE,
) -> dict[int, Evaluation | None]:
    """Check these submissions together; each one's evaluation, None when it is gone or its
    form has no rule settings. `zone` is the server's timezone, for projects without their
    own: the day of a visit without a start time (stats.py). `today` defaults to each
    submission's day of receipt."""
    results: dict[int, Evaluation | None] = dict.fromkeys(submission_ids)
    stored = {
        sid: found
        for sid, found in queries.stored(session, list(results)).items()
        if found.rule_settings is not None
    }
    if not stored:
        return results
    attached = queries.attachments(session, [found.version_id for found in stored.values()])
    settings: dict[int, FormSettings] = {}
    visits: dict[int, Visit] = {}
    for sid, found in stored.items():
        if found.form_id not in settings:
            settings[found.form_id] = parse_settings(found.rule_settings or {})
        visits[sid] = visit_from_instance(
            found.xml,
            settings[found.form_id].fields,
            Received(
                submission_id=found.submission_id,
                instance_id=found.instance_id,
                enumerator_id=found.submitter_id,
                form_version=found.form_version,
                current_form_version=found.current_form_version,
                received=found.received,
                files={
                    name: (blob is not None, None)
                    for name, blob in attached.get(found.version_id, [])
                },
            ),
        )
    blobs = {sid: dict(attached.get(found.version_id, [])) for sid, found in stored.items()}
    hashing = _start_hashing(
        session,
        store,
        (
            blob
            for sid, visit in visits.items()
            for photo in visit.photos
            if photo.name and (blob := blobs[sid].get(photo.name))
        ),
    )
    targets = queries.targets(
        session,
        {
            (found.project_id, key)
            for sid, found in stored.items()
            if (key := _target_key(visits[sid].target_key)) is not None
        },
    )
    checks = {
        sid: _prepare(found, settings[found.form_id], visits[sid], targets, today, zone)
        for sid, found in stored.items()
    }
    matches = _matches(session, checks)  # while the photos are hashed
    hashes = _photo_hashes(session, hashing)
    checks = {sid: _with_keys(check, blobs[sid], hashes) for sid, check in checks.items()}
    counted = {
        sid: stats.stat_keys(
            check.visit,
            check.day,
            stats.numeric_paths(session, check.found.form_version_id, check.found.form_version_md5),
            check.found.submitter_id,
        )
        for sid, check in checks.items()
    }
    queries.replace_keys(
        session,
        {
            sid: (check.found.form_id, _kept_keys(check) + counted[sid])
            for sid, check in checks.items()
        },
    )
    # From here on the batch's own keys are in: each check sees the others, and counts
    # in its own statistics.
    peers = _peers(session, checks)
    everyone = {p for found in peers.values() for p in found}
    peer_keys = queries.keys_of(session, everyone, PEER_KINDS)
    owners = queries.submitters(session, everyone)
    visits_today = _visits_today(session, checks)
    flags: dict[int, list[Flag]] = {}
    for sid, check in checks.items():
        found, target, submitter = check.found, check.target, check.found.submitter_id
        facts = Facts(
            visit=check.visit,
            matches=tuple(matches[sid]),
            household_desil=target.desil if target else None,
            household_programmes=frozenset(
                name
                for name, value in (target.programmes if target else {}).items()
                if str(value).strip().lower() not in PROGRAMME_FALSE
            ),
            peers=tuple(_peer(p, owners.get(p), peer_keys.get(p, [])) for p in peers[sid]),
            stats=stats.enumerator_stats(
                session, found.project_id, found.form_id, submitter, visits_today.get(sid, 0)
            )
            if submitter is not None
            else None,
            village_centroid=_centroid(session, check.village) if check.village else None,
            enumerator_villages=_assigned_villages(session, found.project_id, submitter)
            if submitter is not None
            else frozenset(),
            today=check.today,
        )
        flags[sid] = evaluate(facts, check.settings.rules)
    replaced = queries.replace_flags(
        session,
        {
            sid: (checks[sid].found.version_id, [flag.as_json() for flag in found])
            for sid, found in flags.items()
        },
    )
    changed: dict[int, str] = {}
    queue_facts: dict[int, queries.QueueFacts] = {}
    for sid, check in checks.items():
        found = check.found
        worst_flag = worst(flags[sid])
        rank = worst_flag.rank + 1 if worst_flag else 0
        queue = (check.village, rank, len(flags[sid]), _interview_minutes(check.visit))
        was = (found.village_code, found.flag_rank, found.flag_count, found.interview_minutes)
        if queue != was:
            queue_facts[sid] = queue
        named = named_submissions([*replaced[sid], *(f.evidence for f in flags[sid])]) - {sid}
        state = found.review_state
        if found.review_by_rules and state in MACHINE_STATES:
            rules = check.settings
            state = review_state(
                flags[sid], rules.auto_approve, rules.sample_rate, found.instance_id
            )
            if state != found.review_state:
                changed[sid] = state
        results[sid] = Evaluation(sid, flags[sid], state, peers[sid], sorted(named))
    queries.set_review_states(session, changed)
    queries.set_queue_facts(session, queue_facts)
    audit.record_many(
        session,
        None,
        "submission.review",
        "submission",
        {sid: {"state": state} for sid, state in changed.items()},
    )
    return results


def _prepare(
    found: queries.Stored,
    settings: FormSettings,
    visit: Visit,
    targets: Mapping[tuple[int, int], queries.TargetFacts],
    today: date | None,
    zone: str,
) -> _Check:
    """The visit completed with its listed household, its village and its keys."""
    key = _target_key(visit.target_key)
    target = targets.get((found.project_id, key)) if key is not None else None
    visit = replace(
        visit,
        members=tuple(_with_birth_date(m) for m in visit.members),
        target_known=target is not None,
        target_on_own_list=target is not None
        and target.assignee_id is not None
        and target.assignee_id == found.submitter_id,
        assigned_village=target.village_code if target else None,
        registry_kk=target.kk if target else None,
    )
    village = visit.village_code if visit.visit_type == "usulan_baru" else visit.assigned_village
    return _Check(
        found=found,
        settings=settings,
        visit=visit,
        target=target,
        village=village,
        keys=[],
        day=stats.interview_day(visit, found.project_zone or zone),
        today=today or found.received.date(),
    )


def _with_keys(check: _Check, blobs: Mapping[str, str | None], hashes: Mapping[str, int]) -> _Check:
    """The check with its house photos' hashes, and its keys (which hold them)."""
    visit = _with_hashes(check.visit, blobs, hashes)
    return replace(check, visit=visit, keys=_keys(visit, check.village))


def _visits_today(session: Session, checks: Mapping[int, _Check]) -> dict[int, int]:
    """Each check's count of its enumerator's visits on its interview day (its own included),
    one count per form for the batch."""
    wanted: dict[int, dict[int, str]] = {}
    for sid, check in checks.items():
        if check.found.submitter_id is not None and check.day is not None:
            key = stats.day_key(check.found.submitter_id, check.day)
            wanted.setdefault(check.found.form_id, {})[sid] = key
    counts: dict[int, int] = {}
    for form_id, keys in wanted.items():
        found = stats_queries.count_keys(session, form_id, "day", list(keys.values()))
        counts.update((sid, found.get(key, 0)) for sid, key in keys.items())
    return counts


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
