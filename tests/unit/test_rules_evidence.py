"""Evidence rules: identical house photos (V26) and missing house or identity-document
photos (V27). Every number and hash is synthetic."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from rules_cases import run

from server.rules.catalog import evaluate
from server.rules.engine import RuleSettings
from server.rules.model import ENGINE_ERROR, Facts, Member, Photo, Severity, Visit

NEW_NIK = "3573044506850001"
KK = "3573040102100003"
H1 = 0x0F0F_0F0F_0F0F_0F0F
H2 = 0x7A3C_19E4_B2D0_5581  # far from H1


def photo(field: str, phash: int | None = None, **overrides: Any) -> Photo:
    base = Photo(field=field, name=f"{field.rsplit('/', 1)[-1]}.jpg", received=True, phash=phash)
    return replace(base, **overrides)


def flip(value: int, bits: int) -> int:
    """`value` with its lowest `bits` bits inverted."""
    return value ^ ((1 << bits) - 1)


HOUSE = (
    photo("foto_depan", H1),
    photo("foto_samping", H2),
    photo("foto_belakang", 0x1234_5678_9ABC_DEF0),
)


def visit(**overrides: Any) -> Visit:
    base = Visit(submission_id=7, outcome="ditemukan", consent=True, photos=HOUSE)
    return replace(base, **overrides)


# ---- V26 ----------------------------------------------------------------------------------

V26_CASES = [
    ("all different", HOUSE, []),
    ("front equals side", (photo("foto_depan", H1), photo("foto_samping", H1)), [0]),
    ("six bits apart fires", (photo("foto_depan", H1), photo("foto_belakang", flip(H1, 6))), [6]),
    ("seven bits apart passes", (photo("foto_depan", H1), photo("foto_belakang", flip(H1, 7))), []),
    (
        "three copies: every pair",
        (photo("foto_depan", H1), photo("foto_samping", H1), photo("foto_belakang", H1)),
        [0, 0, 0],
    ),
    (
        "signed storage of the same hash",
        (photo("foto_depan", -1), photo("foto_samping", (1 << 64) - 1)),
        [0],
    ),
    (
        "grouped path still a house photo",
        (photo("rumah/foto_depan", H1), photo("rumah/foto_samping", H1)),
        [0],
    ),
    ("house photo reused as evidence", (photo("foto_depan", H1), photo("foto_bukti", H1)), [0]),
    (
        "same KK card for two members",
        (photo("anggota[1]/foto_ktp", H1), photo("anggota[2]/foto_ktp", H1)),
        [],
    ),
    (
        "file not received",
        (photo("foto_depan", H1), photo("foto_samping", H1, received=False)),
        [],
    ),
    ("no hash", (photo("foto_depan", H1), photo("foto_samping", None)), []),
]


@pytest.mark.parametrize(("case", "photos", "distances"), V26_CASES, ids=[c[0] for c in V26_CASES])
def test_v26_identical_house_photos(
    case: str, photos: tuple[Photo, ...], distances: list[int]
) -> None:
    """V26 fires per pair of photos (one a house photo) at most max_hamming bits apart."""
    flags = run("V26", Facts(visit(photos=photos)))
    assert [f.evidence["hamming_distance"] for f in flags] == distances
    assert all(f.rule == "V26" and f.severity is Severity.HIGH for f in flags)


def test_v26_names_both_fields() -> None:
    """V26's flag names both photo fields in its fields and evidence."""
    (flag,) = run("V26", Facts(visit(photos=(photo("foto_depan", H1), photo("foto_samping", H1)))))
    assert flag.fields == ("foto_depan", "foto_samping")
    assert (flag.evidence["field_a"], flag.evidence["field_b"]) == ("foto_depan", "foto_samping")


def test_v26_threshold_from_settings() -> None:
    """A max_hamming of 0 from the settings lets one differing bit pass."""
    photos = (photo("foto_depan", H1), photo("foto_samping", flip(H1, 1)))
    settings = RuleSettings(thresholds={"V26": {"max_hamming": 0}})
    assert run("V26", Facts(visit(photos=photos)), settings) == []
    assert len(run("V26", Facts(visit(photos=photos)))) == 1


# ---- V27: house photos --------------------------------------------------------------------

V27_HOUSE_CASES = [
    ("all three received", HOUSE, []),
    ("grouped paths", tuple(replace(p, field=f"rumah/{p.field}") for p in HOUSE), []),
    (
        "back answered, file missing",
        (HOUSE[0], HOUSE[1], replace(HOUSE[2], received=False)),
        [("foto_belakang", "not_received")],
    ),
    (
        "side left empty",
        (HOUSE[0], replace(HOUSE[1], name=None, received=False), HOUSE[2]),
        [("foto_samping", "empty")],
    ),
    ("back absent", HOUSE[:2], [("foto_belakang", "absent")]),
    (
        "no photos at all",
        (),
        [("foto_depan", "absent"), ("foto_samping", "absent"), ("foto_belakang", "absent")],
    ),
    (
        "an extra front photo makes three",
        (HOUSE[0], photo("foto_depan_2", H2), HOUSE[1]),
        [],
    ),
]


@pytest.mark.parametrize(
    ("case", "photos", "missing"), V27_HOUSE_CASES, ids=[c[0] for c in V27_HOUSE_CASES]
)
def test_v27_house_photos(
    case: str, photos: tuple[Photo, ...], missing: list[tuple[str, str]]
) -> None:
    """V27 fires once per missing house photo when fewer than three were received."""
    flags = run("V27", Facts(visit(photos=photos)))
    assert [(f.evidence["photo_field"], f.evidence["reason"]) for f in flags] == missing
    assert all(f.rule == "V27" and f.severity is Severity.BLOCK for f in flags)


def test_v27_too_few_when_no_missing_photo_can_be_named() -> None:
    """With min_house_photos 4 and three present, one flag gives the count."""
    settings = RuleSettings(thresholds={"V27": {"min_house_photos": 4}})
    (flag,) = run("V27", Facts(visit()), settings)
    assert flag.evidence["reason"] == "too_few" and flag.evidence["received"] == 3


# ---- V27: identity documents --------------------------------------------------------------

V27_ID_CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "new member with NIK, no photo",
        {"members": (Member("anggota_baru[1]", nik=NEW_NIK, new=True),)},
        [("anggota_baru[1]/id_photo", "new_nik")],
    ),
    (
        "new member with NIK and photo",
        {"members": (Member("anggota_baru[1]", nik=NEW_NIK, new=True, id_photo=True),)},
        [],
    ),
    (
        "new member with NIK, the household's KK photo",
        {"members": (Member("anggota_baru[1]", nik=NEW_NIK, new=True),), "kk_photo": True},
        [],
    ),
    (
        "corrected NIK, only a KK photo",
        {
            "members": (Member("anggota[2]", nik=NEW_NIK, status="ada", nik_corrected=True),),
            "kk_photo": True,
        },
        [("anggota[2]/id_photo", "corrected_nik")],
    ),
    ("new member without NIK", {"members": (Member("anggota_baru[1]", new=True),)}, []),
    (
        "corrected NIK, no photo",
        {"members": (Member("anggota[2]", nik=NEW_NIK, status="ada", nik_corrected=True),)},
        [("anggota[2]/id_photo", "corrected_nik")],
    ),
    (
        "registry NIK kept",
        {"members": (Member("anggota[1]", nik=NEW_NIK, status="ada"),)},
        [],
    ),
    ("corrected KK, no photo", {"kk": KK, "kk_corrected": True}, [("kk_photo", "corrected_kk")]),
    ("corrected KK with photo", {"kk": KK, "kk_corrected": True, "kk_photo": True}, []),
    (
        "new household's KK, no photo",
        {"visit_type": "usulan_baru", "outcome": "usulan_baru", "kk": KK},
        [("kk_photo", "new_kk")],
    ),
    ("new household without KK", {"visit_type": "usulan_baru", "outcome": "usulan_baru"}, []),
    ("list visit, KK unchanged", {"visit_type": "daftar", "kk": KK}, []),
]


@pytest.mark.parametrize(
    ("case", "overrides", "missing"), V27_ID_CASES, ids=[c[0] for c in V27_ID_CASES]
)
def test_v27_identity_photos(
    case: str, overrides: dict[str, Any], missing: list[tuple[str, str]]
) -> None:
    """V27 wants a KTP/KK photo for each new or corrected NIK and for a new or corrected KK."""
    flags = run("V27", Facts(visit(**overrides)))
    assert [(f.fields[0], f.evidence["reason"]) for f in flags] == missing


def test_v27_masks_numbers() -> None:
    """V27's messages and evidence show NIK and KK masked, never in full."""
    facts = Facts(
        visit(
            kk=KK,
            kk_corrected=True,
            members=(Member("anggota_baru[1]", nik=NEW_NIK, new=True),),
        )
    )
    flags = run("V27", facts)
    text = " ".join(f"{f.message_id} {f.message_en} {f.evidence}" for f in flags)
    assert len(flags) == 2 and NEW_NIK not in text and KK not in text
    assert "3573************" in text


def test_evidence_rules_survive_a_bare_visit() -> None:
    """With no photos, members or hashes the rules neither crash nor flag identity photos."""
    flags = [f for f in evaluate(Facts(Visit(submission_id=1))) if f.rule in {"V26", "V27"}]
    assert {f.evidence["reason"] for f in flags} == {"absent"}
    assert not [
        f
        for f in evaluate(Facts(Visit(submission_id=1)))
        if f.rule == ENGINE_ERROR and f.evidence["rule"] in {"V26", "V27"}
    ]
