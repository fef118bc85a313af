"""Rules: photos that must come with a visit, and photos that cannot be right (V26, V27).

House photos are the front, side and back pictures every visit needs, whatever its outcome.
A photo counts as a house photo when the last part of its field path is one of
`HOUSE_PHOTOS` or starts with one of them (`foto_depan_2`, `rumah/foto_samping`), so forms
with extra or grouped house photos still count. Identity-document photos (KTP/KK) are
facts of the members and the visit (`Member.id_photo`, `Visit.kk_photo`).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from server.registry.identity import mask
from server.rules.engine import Context, rule
from server.rules.model import Facts, Flag, Photo, Severity

HOUSE_PHOTOS: tuple[str, ...] = ("foto_depan", "foto_samping", "foto_belakang")
_HOUSE_LABELS = {
    "foto_depan": ("depan", "front"),
    "foto_samping": ("samping", "side"),
    "foto_belakang": ("belakang", "back"),
}
_HASH_BITS = (1 << 64) - 1


def house_kind(photo_field: str) -> str | None:
    """Which house photo (`foto_depan`, ...) a field holds, or None when it is another photo."""
    name = photo_field.rsplit("/", 1)[-1]
    return next((kind for kind in HOUSE_PHOTOS if name.startswith(kind)), None)


def hamming(a: int, b: int) -> int:
    """Differing bits of two 64-bit hashes (signed storage, as in a BIGINT column, is fine)."""
    return ((a ^ b) & _HASH_BITS).bit_count()


@rule(
    "V26",
    Severity.HIGH,
    "Foto rumah depan/samping/belakang identik",
    "Front/side/back house photos identical",
    thresholds={"max_hamming": 6},
)
def house_photos_identical(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Two received photos of one visit whose 64-bit perceptual hashes differ in at most
    `max_hamming` bits (inclusive) fire, once per pair, with both fields and the distance:
    the same picture was sent as front and side, or a house photo as another photo. At
    least one photo of the pair must be a house photo: two identity-document photos may
    rightly be the same KK card photographed for two members. Photos without a hash or
    whose file did not arrive are not compared."""
    limit = ctx.threshold("max_hamming")
    hashed = [p for p in facts.visit.photos if p.received and p.phash is not None]
    for first, second in combinations(hashed, 2):
        if house_kind(first.field) is None and house_kind(second.field) is None:
            continue
        assert first.phash is not None and second.phash is not None
        distance = hamming(first.phash, second.phash)
        if distance > limit:
            continue
        yield ctx.flag(
            f"Foto {first.field} dan {second.field} identik (beda {distance} bit dari 64): "
            "satu gambar dipakai dua kali.",
            f"Photos {first.field} and {second.field} are identical ({distance} of 64 bits "
            "differ): one picture was used twice.",
            [first.field, second.field],
            field_a=first.field,
            field_b=second.field,
            hamming_distance=distance,
            max_hamming=limit,
        )


def _missing_house_photos(photos: tuple[Photo, ...]) -> list[tuple[str, str]]:
    """(field, reason) for every house photo that did not arrive: `empty` (question left
    empty), `not_received` (answered, file missing) or `absent` (no such question)."""
    house = [p for p in photos if house_kind(p.field) is not None]
    missing = [(p.field, "not_received" if p.name else "empty") for p in house if not p.received]
    present_kinds = {house_kind(p.field) for p in house}
    missing += [(kind, "absent") for kind in HOUSE_PHOTOS if kind not in present_kinds]
    return missing


_REASONS = {
    "empty": ("tidak diambil", "was not taken"),
    "not_received": (
        "diisi tetapi berkasnya belum diterima",
        "was answered but its file has not been received",
    ),
    "absent": ("tidak ada dalam kiriman", "is not in the submission"),
}


@rule(
    "V27",
    Severity.BLOCK,
    "Foto bukti kurang",
    "Evidence photos missing",
    thresholds={"min_house_photos": 3},
)
def evidence_photos(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """One flag per missing piece of evidence. House photos: when fewer than
    `min_house_photos` house photos (front, side, back) were received, every house photo
    left empty, answered but whose file did not arrive, or absent from the submission is a
    flag; when none of them can be named, one flag gives the count. Identity documents: a
    member with a corrected NIK needs their own KTP photo; a new member with a NIK needs
    their KTP photo or the household's KK photo (a newborn has no KTP, and the KK lists
    every member); the visit needs a KK photo when the KK was corrected or is new (a new
    household proposal with a KK). Required for every outcome, as the form requires them."""
    visit = facts.visit
    minimum = ctx.threshold("min_house_photos")
    received = sum(1 for p in visit.photos if p.received and house_kind(p.field) is not None)
    if received < minimum:
        missing = _missing_house_photos(visit.photos)
        for photo_field, reason in missing:
            kind = house_kind(photo_field)
            side_id, side_en = _HOUSE_LABELS[kind] if kind else ("rumah", "house")
            why_id, why_en = _REASONS[reason]
            yield ctx.flag(
                f"Foto rumah tampak {side_id} ({photo_field}) {why_id}; baru {received} dari "
                f"minimal {minimum} foto rumah yang diterima.",
                f"The {side_en} house photo ({photo_field}) {why_en}; only {received} of at "
                f"least {minimum} house photos were received.",
                [photo_field],
                photo_field=photo_field,
                reason=reason,
                received=received,
                min_house_photos=minimum,
            )
        if not missing:
            yield ctx.flag(
                f"Baru {received} dari minimal {minimum} foto rumah yang diterima.",
                f"Only {received} of at least {minimum} house photos were received.",
                [p.field for p in visit.photos if house_kind(p.field) is not None],
                reason="too_few",
                received=received,
                min_house_photos=minimum,
            )
    for member in visit.members:
        if member.id_photo:
            continue
        if member.nik_corrected:
            reason, why_id, why_en = "corrected_nik", "dikoreksi", "corrected"
        elif member.new and member.nik and not visit.kk_photo:
            reason, why_id, why_en = "new_nik", "baru", "new"
        else:
            continue
        yield ctx.flag(
            f"NIK {mask(member.nik)} pada {member.path} {why_id} tetapi foto KTP/KK-nya tidak ada.",
            f"The NIK {mask(member.nik)} of {member.path} is {why_en} but has no KTP/KK photo.",
            [f"{member.path}/id_photo"],
            member_path=member.path,
            nik_masked=mask(member.nik),
            reason=reason,
        )
    new_kk = visit.visit_type == "usulan_baru" and bool(visit.kk)
    if (visit.kk_corrected or new_kk) and not visit.kk_photo:
        reason = "corrected_kk" if visit.kk_corrected else "new_kk"
        why_id, why_en = ("dikoreksi", "corrected") if visit.kk_corrected else ("baru", "new")
        yield ctx.flag(
            f"Nomor KK {mask(visit.kk)} {why_id} tetapi foto KK tidak ada.",
            f"The KK number {mask(visit.kk)} is {why_en} but there is no KK photo.",
            ["kk_photo"],
            kk_masked=mask(visit.kk),
            reason=reason,
        )
