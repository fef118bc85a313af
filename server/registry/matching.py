"""Finding a person in the registry: blocking in the database, then scoring and ranking.

`match(session, person)` is what the rule engine and `verivali registry match` call. It
asks the database for candidates that share at least one blocking key with the person:

- the NIK itself, and every NIK one substituted digit or one swap of neighbouring digits
  away (159 look-ups on the NIK index: typing errors in NIKs are mostly these);
- the KK number (the family);
- the village and the birth date (the birth date from the NIK when none is given);
- the village and any of the name's keys (old spellings included: "Soekarno", "Sukarno");
- the birth date and the first letters of the name's keys, anywhere (people move, and a
  moved person's record may also carry a typo or a dropped word in the name).

Each candidate is then scored by `scoring.score` (names with rapidfuzz, birth date, sex,
village, mother's name, KK) and the best come back with their reasons and which keys found
them. Blocking is what keeps a look-up in a million people to a few index probes; the
figures are in bench/README.md (bench/registry_match.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from server.registry import queries
from server.registry.identity import check_nik
from server.registry.mapping import digits_only
from server.registry.names import blocking_key, name_keys
from server.registry.scoring import (
    Band,
    PersonFacts,
    Reason,
    Scored,
    band,
    ceiling,
    score,
    total_points,
)

# More candidates than this from one look-up means the keys are too common to tell people
# apart (a placeholder birth date in a big village); the best-blocked ones are kept.
MAX_CANDIDATES = 200
# Born the same day anywhere, with a name starting with the same letters: finds people who
# moved and whose name was written with a typo or a word dropped ("Sumarny", "Siti Fatimah").
NAME_PREFIX = 4
_DIGITS = frozenset("0123456789")
# Points a ceiling and a score may differ by when they are the same sum added up in
# another order: a candidate that could tie is scored.
_SLACK = 1e-9


@dataclass(frozen=True)
class Candidate:
    """A registry person as the matcher sees them."""

    person_id: int
    source: str
    source_key: str
    household_id: int | None
    dead: bool
    facts: PersonFacts


@dataclass
class Match:
    """A ranked candidate: score in [0, 1], its band, the reasons, the keys that found it."""

    candidate: Candidate
    score: float
    band: Band
    reasons: list[Reason]
    found_by: list[str] = field(default_factory=list)


def nik_neighbours(nik: str) -> list[str]:
    """Every NIK one substituted digit or one swap of neighbouring digits away (not `nik`)."""
    if len(nik) != 16 or not set(nik) <= _DIGITS:
        return []
    out: list[str] = []
    for i, digit in enumerate(nik):
        head, tail = nik[:i], nik[i + 1 :]
        out.extend(head + other + tail for other in "0123456789" if other != digit)
    for i in range(15):
        if nik[i] != nik[i + 1]:
            out.append(nik[:i] + nik[i + 1] + nik[i] + nik[i + 2 :])
    return out


def one_typo(a: str, b: str) -> bool:
    """Whether two different NIKs are one substituted digit or one swap of neighbouring
    digits apart (b is among a's `nik_neighbours`)."""
    if len(a) != 16 or len(b) != 16 or a == b or not set(a) <= _DIGITS:
        return False
    differ = [i for i in range(16) if a[i] != b[i]]
    if len(differ) == 1:
        return True
    i = differ[0]
    return len(differ) == 2 and differ[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]


def blocking_keys(
    person: PersonFacts, today: date | None = None, neighbours: bool = True
) -> queries.BlockingKeys:
    """The keys to look candidates up by (pure); without the NIK's 159 neighbours when
    nothing is looked up (`neighbours` False: `_found_by` tests a typo directly)."""
    nik = digits_only(person.nik or "")
    birth_date = person.birth_date
    if birth_date is None and nik:
        birth_date = check_nik(nik, today=today).birth_date
    village = digits_only(person.village_code or "") or None
    keys = sorted(k for k in name_keys(person.name) if k)
    return queries.BlockingKeys(
        nik=nik or None,
        nik_neighbours=nik_neighbours(nik) if nik and neighbours else [],
        kk=digits_only(person.kk or "") or None,
        village=village,
        birth_date=birth_date,
        name_keys=keys,
        name_prefixes=sorted({key[:NAME_PREFIX] for key in keys}),
    )


def match(
    session: Session,
    person: PersonFacts,
    *,
    sources: Sequence[str] | None = None,
    limit: int = 5,
    today: date | None = None,
) -> list[Match]:
    """Ranked registry candidates for `person`, best first, at most `limit`."""
    keys = blocking_keys(person, today)
    if keys.empty():
        return []
    rows = queries.candidates(session, keys, sources, MAX_CANDIDATES)
    return rank(person, (_candidate(row) for row in rows), keys, limit)


def score_known(person: PersonFacts, row: queries.CandidateRow, today: date | None = None) -> Match:
    """Score one registry person already known to be the candidate (the person a list row
    names), without searching: the same score, band and reasons `match` would give it."""
    keys = blocking_keys(person, today, neighbours=False)
    return rank(person, [_candidate(row)], keys, 1)[0]


def rank(
    person: PersonFacts,
    candidates: Iterable[Candidate],
    keys: queries.BlockingKeys,
    limit: int = 5,
) -> list[Match]:
    """The `limit` best candidates, best first (pure); ties keep the order they came in.

    Candidates are scored from the highest `ceiling` down, and scoring stops once no
    candidate left can reach the `limit`-th best score: the same answer as scoring them
    all. A search for one person brings about a hundred candidates, and the names are the
    dear part of a score; most candidates are settled by their NIK and birth date alone."""
    if limit <= 0:
        return []
    pending = sorted(
        ((ceiling(person, c.facts), index, c) for index, c in enumerate(candidates)),
        key=lambda item: (-item[0], item[1]),
    )
    best: list[tuple[float, int, Scored, Candidate]] = []  # by score, then arrival
    for top, index, candidate in pending:
        if len(best) == limit and top < total_points(best[-1][2]) - _SLACK:
            break
        scored = score(person, candidate.facts)
        best.append((-scored.score, index, scored, candidate))
        best.sort(key=lambda item: (item[0], item[1]))
        del best[limit:]
    return [
        Match(
            candidate=candidate,
            score=scored.score,
            band=band(scored.score),
            reasons=scored.reasons,
            found_by=_found_by(candidate.facts, keys),
        )
        for _, _, scored, candidate in best
    ]


def _found_by(facts: PersonFacts, keys: queries.BlockingKeys) -> list[str]:
    found = []
    nik = facts.nik or ""
    if keys.nik and nik == keys.nik:
        found.append("nik")
    elif nik and keys.nik and one_typo(nik, keys.nik):
        found.append("nik_one_typo")
    if keys.kk and facts.kk == keys.kk:
        found.append("kk")
    same_birth = keys.birth_date is not None and facts.birth_date == keys.birth_date
    key = blocking_key(facts.name) if facts.name else ""
    if keys.village and facts.village_code == keys.village:
        if same_birth:
            found.append("village_birth_date")
        if key in keys.name_keys:
            found.append("village_name")
    if same_birth and key and key[:NAME_PREFIX] in keys.name_prefixes:
        found.append("birth_date_name_start")
    return found


def _candidate(row: queries.CandidateRow) -> Candidate:
    return Candidate(
        person_id=row.id,
        source=row.source,
        source_key=row.source_key,
        household_id=row.household_id,
        dead=bool(row.dead),
        facts=PersonFacts(
            nik=row.nik,
            name=row.name,
            birth_date=row.birth_date,
            sex=row.sex if row.sex in ("L", "P") else None,  # type: ignore[arg-type]
            village_code=row.village_code,
            mother_name=row.mother_name,
            kk=row.kk,
        ),
    )
