"""Rules: the same people, families or photos in other submissions of the round (V21-V25).

This module owns duplicates: a NIK (V21), a KK (V22) or a name and birth date in the same
kecamatan (V23) that another submission of the round also carries, a NIK the registry
holds under two IDs (V24), and a house photo seen in another submission (V25).

The peers in `Facts.peers` were picked by the database bridge because they share something
with this submission; these rules decide whether what they share is a duplicate. Each rule
compares this submission with its peers only, so the pair is flagged on both sides when the
peer is checked in turn. A peer with this submission's own ID is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from server.registry.identity import mask
from server.registry.names import name_key
from server.rules.engine import Context, rule
from server.rules.model import Facts, Flag, Peer, Severity

# Photo hashes are 64-bit; the database may hand them back as signed integers.
_HASH_BITS = (1 << 64) - 1


def _digits(value: str | None) -> str:
    return "".join(c for c in value if c.isdigit()) if value else ""


def _others(facts: Facts) -> Iterator[Peer]:
    return (peer for peer in facts.peers if peer.submission_id != facts.visit.submission_id)


def _same_target(facts: Facts, peer: Peer) -> bool:
    return bool(facts.visit.target_key) and peer.target_key == facts.visit.target_key


def kecamatan(village_code: str | None) -> str | None:
    """The 6-digit kecamatan code a village code starts with (None if it is too short)."""
    digits = _digits(village_code)
    return digits[:6] if len(digits) >= 6 else None


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes (signed or unsigned)."""
    return ((a ^ b) & _HASH_BITS).bit_count()


@rule(
    "V21",
    Severity.BLOCK,
    "NIK yang sama di kiriman lain",
    "Same NIK in another submission",
)
def same_nik_elsewhere(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A person present must not also be recorded in another submission of the round.

    Fires for each person present now (status `ada` or a new member) whose NIK is among the
    NIKs of another submission: another household (one person counted twice, or an
    identity used twice) or the same target visited again (a duplicate visit, still to be
    resolved before approval). One flag per person and other submission."""
    for member in facts.visit.people():
        nik = _digits(member.nik) or _digits(member.registry_nik)
        if not nik:
            continue
        for peer in _others(facts):
            if nik not in peer.niks:
                continue
            same = _same_target(facts, peer)
            where_id = "kunjungan lain ke sasaran yang sama" if same else "kiriman lain"
            where_en = "another visit to the same target" if same else "another submission"
            yield ctx.flag(
                f"{member.path}: NIK {mask(nik)} juga tercatat di {where_id} "
                f"(#{peer.submission_id}).",
                f"{member.path}: NIK {mask(nik)} is also recorded in {where_en} "
                f"(#{peer.submission_id}).",
                fields=[f"{member.path}/nik"],
                nik_masked=mask(nik),
                other_submission_id=peer.submission_id,
                other_target_key=peer.target_key,
                same_target=same,
            )


@rule(
    "V22",
    Severity.HIGH,
    "KK yang sama dikirim dua kali",
    "Same KK submitted twice",
)
def same_kk_elsewhere(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A family card must be submitted once per round.

    The household's KK is the corrected or new one when entered, else the registry's. Fires
    once for each other submission carrying the same KK number. A household without a KK
    does not fire."""
    kk = _digits(facts.visit.kk) or _digits(facts.visit.registry_kk)
    if not kk:
        return
    for peer in _others(facts):
        if _digits(peer.kk) != kk:
            continue
        yield ctx.flag(
            f"KK {mask(kk)} juga dikirim di kiriman lain (#{peer.submission_id}).",
            f"KK {mask(kk)} was also submitted in another submission (#{peer.submission_id}).",
            fields=["kk"],
            kk_masked=mask(kk),
            other_submission_id=peer.submission_id,
            same_target=_same_target(facts, peer),
        )


@rule(
    "V23",
    Severity.HIGH,
    "Nama dan tanggal lahir sama di kecamatan yang sama dengan NIK lain",
    "Same name and birth date in the kecamatan with another NIK",
)
def same_person_other_nik(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """The same person recorded twice in one kecamatan under different NIKs (or none).

    The visit's kecamatan is the first six digits of the household's village code (the one
    entered, else the target's). Fires for each person present now whose normalised name key
    and birth date are among those of another submission in the same kecamatan, while the
    person's NIK is not among that submission's NIKs (the same NIK is V21's business). A
    person without a name or a birth date, or a visit without a village code, does not fire;
    peers in other kecamatan do not count (common names share birth dates across a city)."""
    here = kecamatan(facts.visit.village_code) or kecamatan(facts.visit.assigned_village)
    if here is None:
        return
    peers = [peer for peer in _others(facts) if kecamatan(peer.kecamatan) == here]
    for member in facts.visit.people():
        if not member.name or not member.birth_date:
            continue
        key = name_key(member.name)
        if not key:
            continue
        nik = _digits(member.nik) or _digits(member.registry_nik)
        for peer in peers:
            if (key, member.birth_date) not in peer.name_birth or (nik and nik in peer.niks):
                continue
            yield ctx.flag(
                f"{member.path}: nama dan tanggal lahir yang sama tercatat di kiriman lain "
                f"(#{peer.submission_id}) di kecamatan ini dengan NIK lain.",
                f"{member.path}: the same name and birth date are recorded in another "
                f"submission (#{peer.submission_id}) in this kecamatan with another NIK.",
                fields=[f"{member.path}/name", f"{member.path}/birth_date", f"{member.path}/nik"],
                nik_masked=mask(nik) if nik else None,
                other_submission_id=peer.submission_id,
                kecamatan=here,
            )


@rule(
    "V24",
    Severity.MED,
    "Satu NIK dengan dua ID di data terpadu",
    "Registry has two IDs for one NIK",
)
def registry_two_ids(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """The registry must hold a NIK under one person ID only, within each source.

    Fires for each member whose NIK at least two registry persons of one source carry
    (`same_nik_keys`, with `same_nik_sources`): a duplicate record in that extract to
    merge, whatever the field found. The same person in DTKS and in DTSEN is one record in
    each extract, not a duplicate; when the sources are unknown every holder counts."""
    for member in facts.visit.members:
        match = facts.match_for(member.path)
        if match is None or len(match.same_nik_keys) < 2:
            continue
        sources = match.same_nik_sources
        if len(sources) == len(match.same_nik_keys):
            keys = [
                key
                for key, source in zip(match.same_nik_keys, sources, strict=True)
                if sources.count(source) >= 2
            ]
        else:
            keys = list(match.same_nik_keys)
        if len(keys) < 2:
            continue
        nik = _digits(member.nik) or _digits(member.registry_nik)
        yield ctx.flag(
            f"{member.path}: NIK {mask(nik)} tercatat pada {len(keys)} ID di data terpadu.",
            f"{member.path}: NIK {mask(nik)} is held by {len(keys)} registry IDs.",
            fields=[f"{member.path}/nik"],
            nik_masked=mask(nik),
            registry_keys=sorted(keys),
        )


@rule(
    "V25",
    Severity.HIGH,
    "Foto dipakai ulang di kiriman lain",
    "Photo reused across submissions",
    thresholds={"max_hamming": 3},
)
def photo_reused(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A photo must not appear (nearly) identical in another submission.

    Fires for each received photo whose perceptual hash (64-bit dHash) is within
    `max_hamming` differing bits of a hash of another submission, once per photo and other
    submission, with the smallest distance (the bridge finds other submissions' hashes
    within 3 bits, so a higher setting finds no more). A hash within `max_hamming` bits of
    zero is
    what a flat image (blank, dark, overexposed) gives; such photos all look alike to the
    hash, so they are left to V29 instead of being reported as reused."""
    limit = int(ctx.threshold("max_hamming"))
    for photo in facts.visit.photos:
        if not photo.received or photo.phash is None or hamming(photo.phash, 0) <= limit:
            continue
        for peer in _others(facts):
            distances = [hamming(photo.phash, other) for other in peer.phashes]
            if not distances or min(distances) > limit:
                continue
            distance = min(distances)
            yield ctx.flag(
                f"{photo.field}: foto sama atau hampir sama dengan foto di kiriman lain "
                f"(#{peer.submission_id}, beda {distance} bit).",
                f"{photo.field}: the photo is the same as or nearly the same as one in another "
                f"submission (#{peer.submission_id}, {distance} bits apart).",
                fields=[photo.field],
                field=photo.field,
                other_submission_id=peer.submission_id,
                distance=distance,
            )
