"""Indonesian personal names: the normalised form and the keys used to block and match (pure).

The same person is written many ways across DTKS, P3KE, DTSEN and a field form: "Hj. SITI
AMINAH, S.Pd", "Siti Aminnah", "ST. AMINAH BINTI YUSUF". This module owns the rules that
bring those spellings together:

- Case, accents and punctuation are folded away ("Ma'ruf" -> "maruf", "José" -> "jose");
  separators (spaces, commas, hyphens, brackets, digits) split tokens.
- Titles and honorifics are dropped wherever they stand as tokens: religious (H., Hj., Haji,
  Hajjah, KH., Ust.), nobility (R., Rr., Raden, R.M.), address (Bpk., Bapak, Ibu, Bu, Sdr.,
  Sdri., Tn., Ny., Nn.), the dead (Alm., Almh., Almarhum, Almarhumah) and academic or
  professional (Drs., Dra., Dr., Ir., Prof., S.Pd, S.Pd.I, S.E., S.H., S.Kom, S.T., S.Sos,
  S.Ag, M.Pd, M.M., M.Si, A.Md, Amd...). A lone letter "H" or "R" is a title (Haji, Raden);
  longer words such as "Hadi" or "Rahmat" are not. Dotted degrees made of single letters
  ("M.H.", "S.T.", "M.A.") are dropped only after a name token, because before the name the
  same letters are initials ("M. H. Sutrisno" keeps Sutrisno, and its "M." is Muhammad).
  Undotted degrees that could be initials or names ("ST", "MA", "MT") are kept.
- Common variants become one token: Muhammad (M., Muh., Moh., Moch., Mochammad, Mochamad,
  Mohamad, Mohammad, Muhamad, Mhd., Md., ...), Ahmad (Achmad, Akhmad, Ahmat), Abdul (Abd.,
  Abd, Abdoel), Nur (Noor, Nor, Noer; a leading "Noor" in a longer word too: "Noorhayati" ->
  "nurhayati") and Siti ("St." with its dot; without the dot "ST" is too often the degree).
- "bin"/"binti" (and "bt", "bte") with everything after them is dropped: it introduces the
  father's name, which some DTKS rows carry ("AHMAD BIN YUSUF") and KTPs and field forms
  usually do not; the father is not part of the person's name. A leading "Bin" is kept.
- A name made only of titles normalises to "" (it names nobody) and has no keys.

The normalised form keeps each token's spelling ("siti aminnah"). Keys go further, for
equality indexes: doubled letters collapse and spaces go ("sitiaminah"), so "Nur Hayati" and
"Nurhayati", "Muhammmad" and "Muhammad", "Sitti" and "Siti" share a key. Token order is kept
in keys (reordered names are rare in these registries and sorting would separate
"Nur Hayati" from "Nurhayati"); the scorer compares token sets instead.

Old spelling (ejaan lama, before 1972) gives alternate keys, never the primary one, because
the folds also change some modern names ("Panji" -> "panyi"):
oe -> u (Soekarno -> sukarno), dj -> j (Djoko -> joko), tj -> c (Tjipto -> cipto),
sj -> sy (Sjahrir -> syahrir), nj -> ny (Njoman -> nyoman), ch -> kh (Chairul -> khairul).
When a name shows unmistakable old spelling (oe, dj or tj), a further key also reads the
remaining Dutch "j" as "y" (Soejono -> suyono, Djojo -> joyo); without that evidence "j" is
left alone so that modern "Jaya" and "Yaya" do not share a key.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_APOSTROPHES = re.compile("['`\u00b4\u2018\u2019\u02bb\u02bc]")
_NOT_NAME = re.compile(r"[^a-z.]+")
_DOUBLED = re.compile(r"(.)\1+")
_FINAL_Y = re.compile(r"y\b")


def _words(text: str) -> list[str]:
    """Split a word list kept as one string (long lists read better that way)."""
    return text.split()


# Titles that may stand anywhere; matched on the token without dots ("Hj." -> "hj").
_TITLES = frozenset(
    _words(
        # religious, nobility, forms of address, the deceased
        "h hj haji hajjah hajah hadji hadjah kh kyai kiai ust ustad ustadz ustadzah ustazah tgk "
        "r rr raden rm ra bpk bp bapak pak ibu bu sdr sdri sdra saudara saudari tn tuan ny nyonya "
        "nn nona alm almh almarhum almarhumah "
        # academic and professional, written before or after the name, dotted or not
        "drs dra dr drg ir prof ns apt spd spdi se sei sh shi skom ssos sag ssi sked skm skep sip "
        "spt sst str sfarm spsi shut sth sthi mpd mpdi mm msi mag mh mkes mkom msc mhum mba amd "
        "amdkeb amdkep amdkes phd lc bsc"
    )
)
# Dotted titles of several short parts that are titles wherever they stand: "R.M.", "R.A.".
_TITLE_PARTS = frozenset({("r", "m"), ("r", "a"), ("r", "ng"), ("k", "h")})
# Dotted degrees, dropped only after a name token (before it the letters are initials).
_DEGREE_PARTS = frozenset(
    tuple(degree.split("."))
    for degree in _words(
        "s.pd s.pd.i s.pd.sd s.e s.e.i s.e.sy s.h s.h.i s.kom s.i.kom s.t s.st s.tr s.sos "
        "s.sos.i s.ag s.si s.s s.ked s.km s.kep s.farm s.gz s.ip s.i.p s.p s.pt s.hut s.psi "
        "s.kes s.ak s.th s.th.i s.sn s.ds s.hum s.stat s.mat s.pi s.ab m.pd m.pd.i m.m m.si "
        "m.ag m.h m.h.i m.e m.e.i m.t m.kom m.kes m.sc m.a m.hum m.sos m.ap m.ak m.eng m.kn "
        "m.p m.psi m.b.a m.farm m.kep m.ked m.sy a.md a.ma a.ma.pd a.md.keb a.md.kep a.md.kes "
        "a.md.t a.md.kom a.md.ak a.md.farm ph.d b.sc b.a sp.a sp.og sp.pd sp.b sp.kk sp.m "
        "sp.tht sp.jp sp.rad sp.an sp.s sp.kj sp.p"
    )
)
_CONNECTORS = frozenset({"bin", "binti", "bt", "bte", "binte"})


def _variants(canonical: str, spellings: str) -> dict[str, str]:
    return {_DOUBLED.sub(r"\1", spelling): canonical for spelling in _words(spellings)}


# Looked up with doubled letters collapsed, so "Muhammmad" and "Mochammad" are found too.
_CANONICAL: dict[str, str] = {
    **_variants(
        "muhammad",
        "m muh moh moch mochammad mochamad mochamat mohamad mohammad mohamat mohamed mohammed "
        "muhamad muhammad muhamat muhamed muhammed muchammad muchamad mukhammad mukhamad "
        "mokhammad mokhamad moehammad moehamad mhd md mohd muhd mochd",
    ),
    **_variants("ahmad", "ahmad achmad akhmad ahmat achmat akhmat ahmed achmed"),
    **_variants("abdul", "abd abdul abdoel"),
    **_variants("nur", "nur nuur noor nor noer"),
}

_OLD_SPELLING = (("oe", "u"), ("dj", "\0"), ("tj", "c"), ("sj", "sy"), ("nj", "ny"), ("ch", "kh"))
_OLD_SPELLING_EVIDENCE = ("oe", "dj", "tj")


@lru_cache(maxsize=1 << 14)
def _collapse(text: str) -> str:
    return _DOUBLED.sub(r"\1", text)


@lru_cache(maxsize=1 << 14)
def _canonical(part: str, dotted: bool = False) -> str:
    """One name token in its canonical spelling ("moch" -> "muhammad", "st." -> "siti")."""
    if dotted and part == "st":
        return "siti"
    if part.startswith("noor"):
        part = "nur" + part[4:]
    return _CANONICAL.get(_collapse(part), part)


def _fold(name: str) -> str:
    """Lower case ASCII letters and dots, everything else a space; apostrophes join."""
    if name.isascii():
        return _NOT_NAME.sub(" ", _APOSTROPHES.sub("", name).lower())
    text = unicodedata.normalize("NFKD", _APOSTROPHES.sub("", name or "")).casefold()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    return _NOT_NAME.sub(" ", text)


@lru_cache(maxsize=1 << 14)
def normalise(name: str) -> str:
    """The name as lower-case tokens without titles, variants unified: "siti aminah"."""
    folded = _fold(name)
    if "." not in folded:
        # No dots: no dotted titles or initials to join, so each token stands alone.
        plain = [_canonical(part) for part in folded.split() if part not in _TITLES]
        return " ".join(_cut_at_connector(plain))
    items = []
    for raw in folded.split():
        parts = tuple(part for part in raw.split(".") if part)
        if parts:
            items.append((parts, raw.endswith(".")))
    tokens: list[str] = []
    i = 0
    while i < len(items):
        # A dotted title may be spread over tokens ("S. Pd"): join while each ends in a dot.
        for j in range(min(len(items), i + 3), i, -1):
            if any(not items[k][1] for k in range(i, j - 1)):
                continue
            joined = tuple(part for k in range(i, j) for part in items[k][0])
            if len(joined) > 1 and (joined in _TITLE_PARTS or (tokens and joined in _DEGREE_PARTS)):
                i = j
                break
        else:
            parts, ends_with_dot = items[i]
            for index, part in enumerate(parts):
                if part not in _TITLES:
                    tokens.append(_canonical(part, index < len(parts) - 1 or ends_with_dot))
            i += 1
    return " ".join(_cut_at_connector(tokens))


def _cut_at_connector(tokens: list[str]) -> list[str]:
    """Drop "bin Ahmad" / "binti Ahmad": the father's name is not the person's."""
    for index, token in enumerate(tokens):
        if index > 0 and _collapse(token) in _CONNECTORS:
            return tokens[:index]
    return tokens


def _old_spelling(normalised: str, dutch_j: bool) -> str:
    text = normalised
    for old, new in _OLD_SPELLING:
        text = text.replace(old, new)
    if dutch_j:
        text = text.replace("j", "y")
    return " ".join(_canonical(token) for token in text.replace("\0", "j").split())


def spelling_variants(name: str) -> tuple[str, ...]:
    """The normalised name first, then its distinct old-spelling readings (may be none)."""
    primary = normalise(name)
    if not primary:
        return ()
    variants = [primary, _old_spelling(primary, dutch_j=False)]
    if any(mark in primary for mark in _OLD_SPELLING_EVIDENCE):
        variants.append(_old_spelling(primary, dutch_j=True))
    return tuple(dict.fromkeys(variants))


def compact(normalised: str) -> str:
    """The key form of a normalised name: spaces removed, doubled letters collapsed, a
    word-final y read as i ("Rizky" and "Rizki", "Hendry" and "Hendri" are one name)."""
    return _collapse(_FINAL_Y.sub("i", normalised).replace(" ", ""))


@lru_cache(maxsize=1 << 14)
def name_key(name: str) -> str:
    """The primary blocking key: "Hj. Siti Aminnah, S.Pd" -> "sitiaminah" ("" if no name)."""
    return compact(normalise(name))


def name_keys(name: str) -> frozenset[str]:
    """The primary key plus the old-spelling keys ("Soekarno" and "Sukarno" share one)."""
    return frozenset(compact(variant) for variant in spelling_variants(name))


@lru_cache(maxsize=1 << 15)
def blocking_key(name: str) -> str:
    """The one key a registry person is stored under: the most modern reading of the name,
    so that `name_keys` of an old or a modern spelling finds it: "Soekardi" -> "sukardi",
    "Tjahjo" -> "cahyo" ("" if no name)."""
    variants = spelling_variants(name)
    return compact(variants[-1]) if variants else ""
