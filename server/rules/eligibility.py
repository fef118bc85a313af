"""Rules: whether the household looks eligible for the aid it gets (V46, V47, V49).

This module owns the signs of affluence and of poverty read from the housing, asset and
work answers, and the rules that set them against the aid the household receives (V46,
V47) and against its registry desil (V49). Each sign is defined once, in `well_off_signs`
and `poor_signs`, and every rule uses those.

The codes are those of the Regsosek 2022 codebook the questionnaire uses (docs/
questionnaire.md, `kode_buku` = `regsosek2022`):

- `perumahan/daya` (307b, asked only with PLN electricity with a meter): `4` = 2,200 VA,
  `5` = more than 2,200 VA;
- `pekerjaan/ada_art_asn` = `ya` (a member is a civil servant, soldier, police officer,
  state-enterprise employee or legislator), or `pekerjaan/status_pekerjaan_krt` = `5`
  (the head's main job has that status);
- `aset/ternak/sapi` (504a): head count of cattle (a herd of `min_cattle` or more: one to
  a few cattle are a poor farmer's savings, and livestock aid itself goes to poor
  households); asset `mobil` (502k): a car; asset `ac` (502c): an air conditioner, which
  registry updates treat as a sign of a household able to pay its own bills;
- `perumahan/lantai` (303) `7` bamboo or `8` earth; `perumahan/dinding` (304) `4` woven
  bamboo or `6` bamboo; `perumahan/penerangan` (307a) `4` no electricity;
  `perumahan/fasilitas_bab` (309a) `2`-`6`, no toilet of the family's own (shared with
  other families, communal, public, not used, or none): the BPS poverty criteria of
  earth/bamboo floors, bamboo walls, no electricity and no own toilet.

Code orders differ between codebooks, so a submission whose `kode_buku` names another
codebook is not read at all (no signs); one without `kode_buku` is read as Regsosek 2022.
"""

from __future__ import annotations

from collections.abc import Iterator

from server.rules.engine import Context, rule
from server.rules.model import Facts, Flag, Severity, Visit

CODEBOOK = "regsosek2022"
HIGH_POWER = frozenset({"4", "5"})  # 2,200 VA and more than 2,200 VA
CIVIL_SERVANT_JOB = "5"  # PNS/TNI/Polri/BUMN/BUMD/legislator
POOR_FLOORS = frozenset({"7", "8"})  # bamboo, earth
POOR_WALLS = frozenset({"4", "6"})  # woven bamboo, bamboo
NO_ELECTRICITY = "4"
NO_OWN_TOILET = frozenset({"2", "3", "4", "5", "6"})
NOT_ELIGIBLE_WELL_OFF = frozenset({"tidak_layak_mampu", "tidak_layak_asn"})

# Where each sign was read (the flag's fields).
SIGN_FIELDS: dict[str, tuple[str, ...]] = {
    "mobil": ("assets",),
    "ac": ("assets",),
    "daya_2200_va": ("perumahan/daya",),
    "asn": ("pekerjaan/ada_art_asn", "pekerjaan/status_pekerjaan_krt"),
    "sapi": ("aset/ternak/sapi",),
    "lantai_bambu_tanah": ("perumahan/lantai",),
    "dinding_bambu": ("perumahan/dinding",),
    "tanpa_listrik": ("perumahan/penerangan",),
    "tanpa_jamban_sendiri": ("perumahan/fasilitas_bab",),
    "penilaian": ("verdict",),
}


def _codebook_known(visit: Visit) -> bool:
    return visit.answers.get("kode_buku", CODEBOOK) == CODEBOOK


def _count(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def well_off_signs(visit: Visit, min_cattle: int) -> list[str]:
    """Signs of affluence in the answers (the verdict is not one of them)."""
    if not _codebook_known(visit):
        return []
    answers = visit.answers
    signs = []
    if "mobil" in visit.assets:
        signs.append("mobil")
    if "ac" in visit.assets:
        signs.append("ac")
    if answers.get("perumahan/daya") in HIGH_POWER:
        signs.append("daya_2200_va")
    if (
        answers.get("pekerjaan/ada_art_asn") == "ya"
        or answers.get("pekerjaan/status_pekerjaan_krt") == CIVIL_SERVANT_JOB
    ):
        signs.append("asn")
    cattle = _count(answers.get("aset/ternak/sapi"))
    if cattle is not None and cattle >= max(min_cattle, 1):
        signs.append("sapi")
    return signs


def poor_signs(visit: Visit) -> list[str]:
    """Signs of poverty in the answers (see the module docstring for the codes)."""
    if not _codebook_known(visit):
        return []
    answers = visit.answers
    signs = []
    if answers.get("perumahan/lantai") in POOR_FLOORS:
        signs.append("lantai_bambu_tanah")
    if answers.get("perumahan/dinding") in POOR_WALLS:
        signs.append("dinding_bambu")
    if answers.get("perumahan/penerangan") == NO_ELECTRICITY:
        signs.append("tanpa_listrik")
    if answers.get("perumahan/fasilitas_bab") in NO_OWN_TOILET:
        signs.append("tanpa_jamban_sendiri")
    return signs


def _fields(signs: list[str]) -> list[str]:
    return [path for sign in signs for path in SIGN_FIELDS[sign]]


@rule(
    "V46",
    Severity.HIGH,
    "Tanda mampu pada penerima bantuan",
    "Well-off signs for a current recipient",
    thresholds={"min_signs": 1, "min_cattle": 5},
)
def well_off_recipient(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A household that receives aid now should not show signs of being well off.

    Fires when the household has at least one current programme and at least `min_signs`
    of: a car, an air conditioner, installed power of 2,200 VA or more, a civil-servant
    member (or a head whose main job is civil service), a herd of at least `min_cattle`
    cattle, or the enumerator's verdict
    `tidak_layak_mampu` / `tidak_layak_asn`. The evidence lists the signs and programmes.
    A household receiving nothing does not fire."""
    if not facts.household_programmes:
        return
    visit = facts.visit
    signs = well_off_signs(visit, int(ctx.threshold("min_cattle")))
    if visit.verdict in NOT_ELIGIBLE_WELL_OFF:
        signs.append("penilaian")
    if not signs or len(signs) < int(ctx.threshold("min_signs")):
        return
    programmes = sorted(facts.household_programmes)
    yield ctx.flag(
        f"Penerima {', '.join(programmes)} dengan tanda mampu: {', '.join(signs)}.",
        f"Recipient of {', '.join(programmes)} with well-off signs: {', '.join(signs)}.",
        fields=_fields(signs),
        signs=signs,
        programmes=programmes,
        verdict=visit.verdict,
    )


@rule(
    "V47",
    Severity.MED,
    "Tanda miskin, tetapi tidak menerima bantuan",
    "Poor signs but not in the registry or receiving nothing",
    thresholds={"min_signs": 2},
)
def poor_without_aid(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A household with several signs of poverty that gets no aid may have been missed.

    Fires when the household is a new proposal (not in the registry) or receives no current
    programme, and shows at least `min_signs` of: a bamboo or earth floor, bamboo walls, no
    electricity, no toilet of its own. A household receiving aid does not fire; nor does
    one with fewer signs (a single sign is common among households that are not poor)."""
    visit = facts.visit
    proposal = "usulan_baru" in (visit.visit_type, visit.outcome)
    if facts.household_programmes and not proposal:
        return
    signs = poor_signs(visit)
    if not signs or len(signs) < int(ctx.threshold("min_signs")):
        return
    where_id = "Usulan ruta baru" if proposal else "Ruta yang tidak menerima bantuan"
    where_en = "A new household proposal" if proposal else "A household receiving no aid"
    yield ctx.flag(
        f"{where_id} dengan tanda miskin: {', '.join(signs)}.",
        f"{where_en} with poor signs: {', '.join(signs)}.",
        fields=_fields(signs),
        signs=signs,
        proposal=proposal,
    )


@rule(
    "V49",
    Severity.MED,
    "Desil tidak sesuai kondisi ruta",
    "Desil disagrees with the household's condition",
    thresholds={
        "max_low_desil": 2,
        "min_well_off_signs": 2,
        "min_high_desil": 5,
        "min_poor_signs": 2,
        "min_cattle": 5,
    },
)
def desil_disagrees(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """A registry desil should agree with what the enumerator saw.

    Fires "desil low but affluent" when the household's desil is at most `max_low_desil` and
    it shows at least `min_well_off_signs` signs of affluence (as in V46, the verdict not
    counted: it is the enumerator's conclusion, not an observation); fires "desil high but
    very poor" when the desil is at least `min_high_desil` and it shows at least
    `min_poor_signs` signs of poverty (as in V47). A household without a desil does not
    fire."""
    desil = facts.household_desil
    if desil is None:
        return
    visit = facts.visit
    if desil <= int(ctx.threshold("max_low_desil")):
        signs = well_off_signs(visit, int(ctx.threshold("min_cattle")))
        if signs and len(signs) >= int(ctx.threshold("min_well_off_signs")):
            yield ctx.flag(
                f"Desil {desil} (rendah), tetapi ada tanda mampu: {', '.join(signs)}.",
                f"Desil {desil} (low), but well-off signs: {', '.join(signs)}.",
                fields=_fields(signs),
                desil=desil,
                direction="low_desil_affluent",
                signs=signs,
            )
    if desil >= int(ctx.threshold("min_high_desil")):
        signs = poor_signs(visit)
        if signs and len(signs) >= int(ctx.threshold("min_poor_signs")):
            yield ctx.flag(
                f"Desil {desil} (tinggi), tetapi ada tanda sangat miskin: {', '.join(signs)}.",
                f"Desil {desil} (high), but very poor signs: {', '.join(signs)}.",
                fields=_fields(signs),
                desil=desil,
                direction="high_desil_poor",
                signs=signs,
            )
