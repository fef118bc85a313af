"""Rules: checks against the registry records the members were matched to (V13-V20, V50).

This module owns what the registry says about the visited household and its people: whether
the target was the enumerator's to visit (V13), whether a person is new to the registry
(V14), whether a NIK found in the registry belongs to someone else (V15) or is one typo away
from the right person (V16), deaths the field and the registry disagree on (V17, V18), the
evidence a household that was not found needs (V19), large changes to the roster (V20) and
NIKs the civil registry never confirmed (V50).

A member's NIK is the one the field settled on: the corrected or new NIK when one was
entered, else the registry NIK the list row showed. A registry candidate counts as the
member's match only in the `auto_link` or `review` band (see server/registry/scoring.py);
a candidate below `REVIEW` is not a match.
"""

from __future__ import annotations

from collections.abc import Iterator

from server.registry.identity import mask
from server.registry.scoring import name_similarity, nik_distance
from server.rules.engine import Context, rule
from server.rules.model import Facts, Flag, Match, Member, RegistryPerson, Severity

LINKED_BANDS = frozenset({"auto_link", "review"})
NOT_FOUND_OUTCOMES = frozenset({"tidak_ditemukan", "pindah", "bagian_ruta_lain", "ganda"})
HEAD = "1"
_MISSING_ID = {"location": "lokasi GPS", "photo": "foto rumah", "informant": "nama informan"}
_MISSING_EN = {"location": "a GPS location", "photo": "a house photo", "informant": "an informant"}


def _digits(value: str | None) -> str:
    return "".join(c for c in value if c.isdigit()) if value else ""


def member_nik(member: Member) -> str:
    """The NIK the field settled on for a member ("" when there is none)."""
    return _digits(member.nik) or _digits(member.registry_nik)


def linked(match: Match | None) -> RegistryPerson | None:
    """The registry person a member is linked to, if the match is good enough to count."""
    if match is None or match.person is None or match.band not in LINKED_BANDS:
        return None
    return match.person


def is_proposal(facts: Facts) -> bool:
    """A new household proposed in the field, not a visit to a household on the list."""
    return "usulan_baru" in (facts.visit.visit_type, facts.visit.outcome)


def _holds_nik(member: Member, match: Match, person: RegistryPerson) -> bool:
    nik = member_nik(member)
    if not nik:
        return False
    return person.key in match.same_nik_keys or nik_distance(nik, person.nik or "") == 0


@rule(
    "V13",
    Severity.BLOCK,
    "Sasaran tidak ada dalam daftar tugas",
    "Target not in the assignment list",
)
def target_in_assignment_list(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A list visit must name a household of this project that is on the enumerator's own list.

    Fires for every visit that is not a new-household proposal (`usulan_baru`, as the visit
    type or the outcome): with the rule's severity (BLOCK) when the target is missing or is
    not a household of the project at all, because the result cannot be attached to anyone;
    graded down to HIGH when the target exists but is on another enumerator's list (a
    colleague's household visited by mistake or by arrangement: a koordinator decides). If
    the settings lower V13 below HIGH, the graded case follows them down. Proposals name no
    target and never fire."""
    visit = facts.visit
    if is_proposal(facts):
        return
    if not visit.target_key or not visit.target_known:
        missing = not visit.target_key
        yield ctx.flag(
            "Kunjungan daftar tanpa sasaran."
            if missing
            else "Sasaran yang dipilih tidak dikenal dalam proyek ini.",
            "A list visit without a target."
            if missing
            else "The chosen target is not known in this project.",
            fields=["target_key"],
            target_key=visit.target_key,
            reason="missing" if missing else "unknown",
        )
        return
    if not visit.target_on_own_list:
        graded = min(ctx.severity, Severity.HIGH, key=lambda s: s.rank)
        yield ctx.flag(
            "Sasaran ada di daftar pencacah lain, bukan daftar pencacah ini.",
            "The target is on another enumerator's list, not this enumerator's.",
            fields=["target_key"],
            severity=graded,
            target_key=visit.target_key,
            reason="other_list",
        )


@rule(
    "V14",
    Severity.HIGH,
    "Orang baru tanpa foto KTP/KK",
    "New person without a KTP/KK photo",
)
def new_person_needs_id_photo(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A person present whose NIK is nowhere in the registry needs a KTP/KK photo.

    Fires for each person present now (status `ada` or a new member) who has a NIK, is not
    a registry row of the list (no `registry_key`: a listed person is in the registry by
    definition), whose NIK no registry person carries, and whose best candidate is not in
    the `auto_link` or `review` band, when no KTP/KK photo came with them. A new member whose
    NIK or person is found in the registry elsewhere does not fire here (V15, V16, V21
    look at those); a person without a NIK is left to V01 and V27."""
    for member in facts.visit.people():
        nik = member_nik(member)
        if not nik or member.registry_key or member.id_photo:
            continue
        match = facts.match_for(member.path)
        if match is not None and (match.same_nik_keys or linked(match) is not None):
            continue
        yield ctx.flag(
            f"{member.path}: NIK {mask(nik)} tidak ada di data terpadu dan tidak ada orang yang "
            "mirip; orang baru memerlukan foto KTP/KK.",
            f"{member.path}: NIK {mask(nik)} is not in the registry and nobody similar is; a new "
            "person needs a KTP/KK photo.",
            fields=[f"{member.path}/nik", f"{member.path}/id_photo"],
            nik_masked=mask(nik),
            best_score=round(match.score, 3) if match is not None and match.person else None,
        )


@rule(
    "V15",
    Severity.HIGH,
    "NIK ditemukan, tetapi nama dan tanggal lahir berbeda",
    "NIK found but name and birth date disagree",
    thresholds={"min_name_similarity": 0.80},
)
def nik_of_another_person(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A NIK found in the registry must belong to the person the field recorded.

    Fires when a member's NIK is carried by the registry person they were compared with
    (equal NIK, or that person among the registry holders of the NIK) while both the name
    (`name_similarity` below `min_name_similarity`) and the birth date (both known) differ:
    the NIK is probably someone else's. A different name with the same birth date (a
    nickname, a spelling) or a different birth date with a similar name (a typo, V07) does
    not fire; nor does a candidate that does not carry the member's NIK."""
    minimum = float(ctx.threshold("min_name_similarity"))
    for member in facts.visit.members:
        match = facts.match_for(member.path)
        if match is None or match.person is None or not member.name or not member.birth_date:
            continue
        person = match.person
        if not person.birth_date or not _holds_nik(member, match, person):
            continue
        similarity = name_similarity(member.name, person.name)
        if similarity >= minimum or member.birth_date == person.birth_date:
            continue
        nik = member_nik(member)
        yield ctx.flag(
            f"{member.path}: NIK {mask(nik)} ada di data terpadu atas orang dengan nama dan "
            "tanggal lahir lain.",
            f"{member.path}: NIK {mask(nik)} is in the registry for a person with another name "
            "and birth date.",
            fields=[f"{member.path}/nik", f"{member.path}/name", f"{member.path}/birth_date"],
            nik_masked=mask(nik),
            registry_key=person.key,
            name_similarity=round(similarity, 3),
            birth_date=member.birth_date.isoformat(),
            registry_birth_date=person.birth_date.isoformat(),
        )


@rule(
    "V16",
    Severity.MED,
    "NIK salah ketik satu angka: usulan koreksi",
    "NIK one typo away: correction proposed",
    thresholds={"min_name_similarity": 0.80},
)
def nik_one_typo(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A NIK one typo away from a registry person with the same name and birth date.

    Fires when the member's NIK differs from the candidate's by one digit or by two swapped
    neighbouring digits (what the scorer calls `nik_one_typo`), the names are similar
    (`name_similarity` at least `min_name_similarity`) and the birth dates are equal (both
    known): the registry NIK is proposed as the correction, with the registry key. Also
    fires when the enumerator corrected a listed member's NIK to one a single typo away from
    the NIK the list showed for that same person: one of the two was mistyped, in the
    registry or in the field, and the KTP photo decides which. A NIK one digit away with
    another name or birth date does not fire: people born the same day in the same
    kecamatan often have NIKs one digit apart."""
    minimum = float(ctx.threshold("min_name_similarity"))
    for member in facts.visit.members:
        nik = member_nik(member)
        if not nik or not member.name:
            continue
        match = facts.match_for(member.path)
        person = match.person if match is not None else None
        if (
            person is not None
            and person.nik
            and member.birth_date is not None
            and member.birth_date == person.birth_date
            # The scorer's `nik_one_typo` reason is this same distance (with similar names);
            # recomputing it from the digits keeps the rule right if the reasons are stale.
            and nik_distance(nik, person.nik) == 1
        ):
            similarity = name_similarity(member.name, person.name)
            if similarity >= minimum:
                yield ctx.flag(
                    f"{member.path}: NIK {mask(nik)} berbeda satu angka dari NIK orang di data "
                    f"terpadu dengan nama dan tanggal lahir yang sama; usulan koreksi ke "
                    f"{mask(person.nik)}.",
                    f"{member.path}: NIK {mask(nik)} is one digit off the NIK of a registry "
                    f"person with the same name and birth date; proposed correction "
                    f"{mask(person.nik)}.",
                    fields=[f"{member.path}/nik"],
                    nik_masked=mask(nik),
                    proposed_nik_masked=mask(person.nik),
                    registry_key=person.key,
                    name_similarity=round(similarity, 3),
                    source="registry_match",
                )
                continue
        listed = _digits(member.registry_nik)
        if member.nik_corrected and listed and nik_distance(nik, listed) == 1:
            yield ctx.flag(
                f"{member.path}: NIK koreksi {mask(nik)} berbeda satu angka dari NIK terdaftar "
                f"{mask(listed)} untuk orang yang sama; periksa foto KTP untuk menentukan yang "
                "benar.",
                f"{member.path}: the corrected NIK {mask(nik)} is one digit off the listed NIK "
                f"{mask(listed)} of the same person; the ID card photo tells which is right.",
                fields=[f"{member.path}/nik"],
                nik_masked=mask(nik),
                listed_nik_masked=mask(listed),
                registry_key=member.registry_key,
                source="list_row",
            )


@rule(
    "V17",
    Severity.HIGH,
    "Meninggal tanpa dokumen kematian",
    "Dead without a death document",
)
def death_without_document(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A member the registry has alive, reported dead in the field, needs a death document.

    Fires for each member with status `meninggal` and no photo of a death certificate or
    statement, unless the registry already records the death (the list row's flag, or the
    linked registry person is dead): then the field only confirms it."""
    for member in facts.visit.members:
        if member.status != "meninggal" or member.death_document or member.registry_dead:
            continue
        person = linked(facts.match_for(member.path))
        if person is not None and person.dead:
            continue
        yield ctx.flag(
            f"{member.path}: dilaporkan meninggal tanpa foto dokumen kematian, padahal data "
            "terpadu mencatatnya masih hidup.",
            f"{member.path}: reported dead without a photo of a death document, while the "
            "registry has them alive.",
            fields=[f"{member.path}/status", f"{member.path}/death_document"],
            registry_key=member.registry_key or (person.key if person else None),
            death_date=member.death_date.isoformat() if member.death_date else None,
        )


@rule(
    "V18",
    Severity.HIGH,
    "Tercatat meninggal, tetapi dilaporkan masih ada",
    "Registry says dead, field lists as living",
)
def registry_dead_but_present(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A person the registry records as dead must not be listed as a living member.

    Fires for each person present now (status `ada`, or a new member) whose list row says
    the registry records a death, or whose linked registry person (`auto_link` or `review`)
    is dead: either the registry is wrong and must be corrected, or someone is using a dead
    person's identity (aid to the dead). The household's current programmes are in the
    evidence. Members reported dead, moved or not found do not fire."""
    programmes = sorted(facts.household_programmes)
    for member in facts.visit.people():
        person = linked(facts.match_for(member.path))
        person_dead = person is not None and person.dead
        if not member.registry_dead and not person_dead:
            continue
        yield ctx.flag(
            f"{member.path}: data terpadu mencatatnya meninggal, tetapi di lapangan dicatat "
            "sebagai anggota yang masih ada.",
            f"{member.path}: the registry records them as dead, but the field lists them as a "
            "living member.",
            fields=[f"{member.path}/status"],
            registry_key=member.registry_key or (person.key if person else None),
            source="list_row" if member.registry_dead else "registry_match",
            programmes=programmes,
        )


@rule(
    "V19",
    Severity.HIGH,
    "Bukti kurang untuk ruta tidak ditemukan/pindah",
    "Missing evidence for a household not found or moved",
)
def not_found_needs_evidence(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A household not found, moved, part of another household or a duplicate needs evidence.

    For those outcomes the visit must carry a location, at least one received house photo
    and the informant's name; one flag lists whatever is missing. Whether the location lies
    inside the village is V32's business; here only its presence counts. Other outcomes
    never fire."""
    visit = facts.visit
    if visit.outcome not in NOT_FOUND_OUTCOMES:
        return
    missing: list[str] = []
    fields: list[str] = []
    if visit.location is None:
        missing.append("location")
        fields.append("location")
    if not any(photo.received for photo in visit.photos):
        missing.append("photo")
        fields.extend([photo.field for photo in visit.photos] or ["photos"])
    if not (visit.informant or "").strip():
        missing.append("informant")
        fields.append("informant")
    if not missing:
        return
    yield ctx.flag(
        f"Hasil '{visit.outcome}' tanpa {', '.join(_MISSING_ID[m] for m in missing)}.",
        f"Outcome '{visit.outcome}' without {', '.join(_MISSING_EN[m] for m in missing)}.",
        fields=fields,
        outcome=visit.outcome,
        missing=missing,
    )


@rule(
    "V20",
    Severity.MED,
    "Perubahan susunan anggota yang besar",
    "Big change in household composition",
    thresholds={"min_changes": 3},
)
def big_composition_change(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A household whose head was replaced, or with many members added and removed.

    Fires once for a visit to a listed household when the registry head (relationship `1`)
    is no longer present (a known status other than `ada`) while another person present is
    head, or when new members plus registry members no longer present (dead, moved, not
    found) reach `min_changes`. Members whose status was not recorded do not count. New
    households (`usulan_baru`) have no registry roster and never fire."""
    visit = facts.visit
    listed = [m for m in visit.members if not m.new]
    if is_proposal(facts) or not listed:
        return
    gone = [m for m in listed if m.status is not None and m.status != "ada"]
    added = [m for m in visit.members if m.new]
    old_heads = [m for m in gone if m.relationship == HEAD]
    new_heads = [m for m in visit.people() if m.relationship == HEAD]
    head_replaced = bool(old_heads and new_heads)
    changes = len(gone) + len(added)
    if not head_replaced and changes < int(ctx.threshold("min_changes")):
        return
    why_id, why_en = [], []
    if head_replaced:
        why_id.append("kepala keluarga berganti")
        why_en.append("the head was replaced")
    if changes:
        why_id.append(f"{len(added)} anggota baru dan {len(gone)} anggota keluar")
        why_en.append(f"{len(added)} members added and {len(gone)} removed")
    yield ctx.flag(
        f"Susunan anggota berubah besar: {'; '.join(why_id)}.",
        f"Big change in household composition: {'; '.join(why_en)}.",
        fields=[f"{m.path}/status" for m in gone] + [f"{m.path}/relationship" for m in new_heads],
        head_replaced=head_replaced,
        added=len(added),
        removed=len(gone),
    )


@rule(
    "V50",
    Severity.HIGH,
    "NIK tidak padan Dukcapil dan tidak dikoreksi",
    "NIK not matched with Dukcapil and not corrected",
)
def nik_not_padan(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A registry NIK the civil registry did not confirm must be checked on the KTP/KK.

    Fires for each person present (status `ada` or new) linked to a registry person whose
    NIK is not matched with Dukcapil (`padan` false) when the field kept that same NIK
    without correcting it. Unknown `padan` does not fire, nor does a corrected NIK, nor a
    member no longer present (the form asks for the NIK only of people still there)."""
    for member in facts.visit.people():
        match = facts.match_for(member.path)
        person = linked(match)
        if match is None or person is None or person.padan is not False:
            continue
        nik = member_nik(member)
        if member.nik_corrected or not nik or nik_distance(nik, person.nik or "") != 0:
            continue
        yield ctx.flag(
            f"{member.path}: NIK {mask(nik)} tidak padan dengan Dukcapil dan tidak dikoreksi di "
            "lapangan; periksa KTP/KK.",
            f"{member.path}: NIK {mask(nik)} does not match Dukcapil and was not corrected in "
            "the field; check the KTP/KK.",
            fields=[f"{member.path}/nik"],
            nik_masked=mask(nik),
            registry_key=person.key,
        )
