"""Indonesian name normalisation and keys: a table of the rules (titles, variants, bin/binti,
old spelling, doubled letters) and properties over generated names. All names are synthetic.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.registry.names import (
    blocking_key,
    compact,
    name_key,
    name_keys,
    normalise,
    spelling_variants,
)

# (rule, written, normalised)
NORMALISE = [
    ("single name", "Sukarni", "sukarni"),
    ("upper case", "SITI AMINAH", "siti aminah"),
    ("extra spaces", "  Siti \t  Aminah \n", "siti aminah"),
    ("accents", "Sérina Wâti", "serina wati"),
    ("apostrophe joins", "Ma'ruf Hidayat", "maruf hidayat"),
    ("curly apostrophe joins", "Ma\u2019ruf Hidayat", "maruf hidayat"),
    ("hyphen splits", "Nur-Aini Putri", "nur aini putri"),
    ("digits and brackets split", "Budi 2 (Santoso)", "budi santoso"),
    ("H.", "H. Slamet Riyadi", "slamet riyadi"),
    ("Hj.", "Hj. Siti Aminah", "siti aminah"),
    ("Haji", "Haji Abdul Rahman", "abdul rahman"),
    ("Hajjah", "HAJJAH FATIMAH", "fatimah"),
    ("Drs.", "Drs. Bambang Sutrisno", "bambang sutrisno"),
    ("Dra.", "Dra. Sri Wahyuni", "sri wahyuni"),
    ("Dr.", "Dr. Agus Setiawan", "agus setiawan"),
    ("Ir.", "Ir. Eko Prasetyo", "eko prasetyo"),
    ("bare Ir", "IR SULISTYO", "sulistyo"),
    ("Prof. and stacked titles", "Prof. Dr. Ir. H. Budi Santoso, M.Si.", "budi santoso"),
    ("S.Pd", "Rina Wati, S.Pd", "rina wati"),
    ("S.Pd.I", "Rina Wati, S.Pd.I", "rina wati"),
    ("S.E.", "Dewi Lestari, S.E.", "dewi lestari"),
    ("S.H.", "Joko Susilo, S.H.", "joko susilo"),
    ("S.Kom without comma", "Andi Pratama S.Kom", "andi pratama"),
    ("S.T.", "Yudi Hartono, S.T.", "yudi hartono"),
    ("S.Sos", "Yuliani S.Sos", "yuliani"),
    ("S.Ag", "Ahmad Fauzi, S.Ag", "ahmad fauzi"),
    ("M.Pd", "Wahyu Hidayat, M.Pd", "wahyu hidayat"),
    ("two degrees", "Hendra Gunawan, S.E., M.M.", "hendra gunawan"),
    ("A.Md", "Lina Marlina, A.Md", "lina marlina"),
    ("Amd undotted", "LINA MARLINA AMD", "lina marlina"),
    ("degree with a space after the dot", "Budi Santoso, S. Pd.", "budi santoso"),
    ("Alm.", "Alm. Sutrisno", "sutrisno"),
    ("Almh.", "Almh. Suparmi", "suparmi"),
    ("Almarhum", "Almarhum Kasimin", "kasimin"),
    ("Almarhumah", "Almarhumah Tukinah", "tukinah"),
    ("Alm in brackets after the name", "Hadi Santoso (Alm)", "hadi santoso"),
    ("Bpk.", "Bpk. Darmanto", "darmanto"),
    ("Bapak", "Bapak Darmanto", "darmanto"),
    ("Ibu", "Ibu Sumarni", "sumarni"),
    ("Bu", "Bu Sumarni", "sumarni"),
    ("Sdr.", "Sdr. Arif Rahman", "arif rahman"),
    ("Sdri.", "Sdri. Ani Suryani", "ani suryani"),
    ("Tn.", "Tn. Hasan Basri", "hasan basri"),
    ("Ny.", "Ny. Kartika Sari", "kartika sari"),
    ("Nn.", "Nn. Putri Ayu", "putri ayu"),
    ("KH.", "KH. Abdul Ghofur", "abdul ghofur"),
    ("R.", "R. Bagus Santoso", "bagus santoso"),
    ("Rr.", "Rr. Endang Sulastri", "endang sulastri"),
    ("Raden", "Raden Bagus Prakoso", "bagus prakoso"),
    ("R.M.", "R.M. Prakoso", "prakoso"),
    ("bare H", "H MANSUR", "mansur"),
    ("bare R, Hadi kept", "R Hadi Susanto", "hadi susanto"),
    ("trailing H", "Budi Santoso H.", "budi santoso"),
    ("names that start like titles", "Hadi Rahmat Haryanto", "hadi rahmat haryanto"),
    ("M.", "M. Yusuf", "muhammad yusuf"),
    ("M. without a space", "M.Yusuf", "muhammad yusuf"),
    ("Muh.", "Muh. Yusuf", "muhammad yusuf"),
    ("Moh.", "Moh. Yusuf", "muhammad yusuf"),
    ("Moch.", "Moch. Yusuf", "muhammad yusuf"),
    ("Mochammad", "Mochammad Yusuf", "muhammad yusuf"),
    ("Mochamad", "Mochamad Yusuf", "muhammad yusuf"),
    ("Mohamad", "Mohamad Yusuf", "muhammad yusuf"),
    ("Mohammad", "Mohammad Yusuf", "muhammad yusuf"),
    ("Muhamad", "Muhamad Yusuf", "muhammad yusuf"),
    ("Mhd.", "Mhd. Yusuf", "muhammad yusuf"),
    ("Md.", "Md. Yusuf", "muhammad yusuf"),
    ("Muhammmad", "Muhammmad Rizki", "muhammad rizki"),
    ("H.M. joined", "H.M. Yusuf", "muhammad yusuf"),
    ("initials before the name are not degrees", "M. H. Sutrisno", "muhammad sutrisno"),
    ("the same letters after the name are", "Sutrisno, M.H.", "sutrisno"),
    ("Achmad", "Achmad Fauzi", "ahmad fauzi"),
    ("Akhmad", "Akhmad Fauzi", "ahmad fauzi"),
    ("Ahmat", "Ahmat Fauzi", "ahmad fauzi"),
    ("Abd.", "Abd. Rahman", "abdul rahman"),
    ("Abd", "Abd Rahman", "abdul rahman"),
    ("Noor", "Noor Aini", "nur aini"),
    ("Noor inside a word", "Noorhayati", "nurhayati"),
    ("St. is Siti", "St. Aminah", "siti aminah"),
    ("undotted ST is kept", "Budi ST", "budi st"),
    ("bin and the father dropped", "Ahmad bin Yusuf", "ahmad"),
    ("binti and the father dropped", "Siti Aminah binti Abdul Karim", "siti aminah"),
    ("BT abbreviation", "SITI AMINAH BT HASAN", "siti aminah"),
    ("bin after a title", "H. Ahmad Bin H. Yusuf", "ahmad"),
    ("leading Bin kept", "Bin Sulaiman", "bin sulaiman"),
    ("doubled letters kept in the normal form", "Siti Aminnah", "siti aminnah"),
    ("only titles", "Ibu", ""),
    ("empty", "", ""),
]


@pytest.mark.parametrize(
    ("written", "expected"), [row[1:] for row in NORMALISE], ids=[row[0] for row in NORMALISE]
)
def test_normalise(written: str, expected: str) -> None:
    """Each written form normalises as the rules say."""
    assert normalise(written) == expected


# Pairs that share a primary key: (rule, a, b)
SAME_KEY = [
    ("doubled letters", "Siti Aminnah", "Siti Aminah"),
    ("Sitti", "Sitti Rahma", "Siti Rahma"),
    ("joined and split", "Nur Hayati", "Nurhayati"),
    ("Noor and Nur joined", "Noor Hayati", "Nurhayati"),
    ("Abdul joined", "Abd. Latif", "Abdullatif"),
    ("titles and degrees", "Hj. Siti Aminah, S.Pd", "SITI AMINAH"),
    ("Muhammad variants", "Moch. Rizki", "Muhammmad Rizki"),
]


@pytest.mark.parametrize(
    ("a", "b"), [row[1:] for row in SAME_KEY], ids=[row[0] for row in SAME_KEY]
)
def test_names_sharing_the_primary_key(a: str, b: str) -> None:
    """Spellings of one name share the primary blocking key."""
    assert name_key(a) == name_key(b) != ""


def test_key_form() -> None:
    """The key drops spaces and collapses doubled letters."""
    assert name_key("Hj. Siti Aminnah, S.Pd") == "sitiaminah"
    assert compact("muhammad ali") == "muhamadali"


def test_key_keeps_token_order() -> None:
    """Keys keep the written order; the scorer, not the key, forgives reordering."""
    assert name_key("Budi Santoso") != name_key("Santoso Budi")


def test_no_name_no_key() -> None:
    """A name made only of titles gives an empty key and no keys to block on."""
    assert name_key("Bapak") == ""
    assert name_keys("Bapak") == frozenset()
    assert spelling_variants("") == ()


# Old spelling pairs that share an alternate key: (rule, old, modern)
OLD_SPELLING = [
    ("oe -> u", "Soekardi", "Sukardi"),
    ("dj -> j", "Djoko Susilo", "Joko Susilo"),
    ("tj -> c, Dutch j -> y", "Tjahjo Wibowo", "Cahyo Wibowo"),
    ("sj -> sy", "Sjamsul Bahri", "Syamsul Bahri"),
    ("nj -> ny", "Njoman Sudarta", "Nyoman Sudarta"),
    ("ch -> kh", "Chairul Huda", "Khairul Huda"),
    ("Dutch j -> y with oe", "Soejono", "Suyono"),
    ("oe inside Abdoel", "Abdoel Jalil", "Abdul Jalil"),
    ("variants after folding", "Moehammad Noer", "Muhammad Nur"),
]


@pytest.mark.parametrize(
    ("old", "modern"), [row[1:] for row in OLD_SPELLING], ids=[row[0] for row in OLD_SPELLING]
)
def test_old_spelling_shares_a_key(old: str, modern: str) -> None:
    """An ejaan lama spelling and its modern form share at least one key."""
    assert name_keys(old) & name_keys(modern)


def test_old_spelling_is_not_the_primary_key() -> None:
    """The primary key keeps the spelling as written; the folded one is an alternate."""
    assert name_key("Soekardi") == "soekardi"
    assert name_keys("Soekardi") == {"soekardi", "sukardi"}
    assert spelling_variants("Soekardi") == ("soekardi", "sukardi")


@pytest.mark.parametrize(
    ("old", "modern"), [row[1:] for row in OLD_SPELLING], ids=[row[0] for row in OLD_SPELLING]
)
def test_stored_key_is_found_from_either_spelling(old: str, modern: str) -> None:
    """A person stored under one spelling is found by the keys of the other."""
    assert blocking_key(old) in name_keys(modern)
    assert blocking_key(modern) in name_keys(old)


def test_modern_j_is_not_read_as_y() -> None:
    """Without evidence of old spelling, "Jaya" and "Yaya" keep apart."""
    assert not name_keys("Jaya") & name_keys("Yaya")


def test_modern_nj_gets_a_harmless_alternate() -> None:
    """nj -> ny also applies to modern names; it only adds an alternate key."""
    assert name_keys("Panji") == {"panji", "panyi"}
    assert name_key("Panji") == "panji"


def test_primary_key_is_among_the_keys() -> None:
    """name_keys always contains name_key."""
    for _, written, _ in NORMALISE:
        if name_key(written):
            assert name_key(written) in name_keys(written)


# Synthetic name tokens for the properties: none becomes a title or a connector when a letter
# is doubled.
TOKENS = [
    "Siti", "Sri", "Dewi", "Budi", "Agus", "Eko", "Joko", "Bambang", "Slamet", "Wahyu", "Rina",
    "Nur", "Ahmad", "Muhammad", "Abdul", "Yusuf", "Aminah", "Rohmah", "Fatimah", "Santoso",
    "Wahyuni", "Rahayu", "Lestari", "Prasetyo", "Hidayat", "Setiawan", "Susilo", "Handayani",
    "Sukarni", "Hadi", "Rahmat", "Soekardi", "Djoko", "Kusuma",
]  # fmt: skip
PREFIXES = ["H.", "Hj.", "Drs.", "Dra.", "Ir.", "Dr.", "Bapak", "Ibu", "Alm.", "R.", "KH.", "Ny."]
SUFFIXES = [", S.Pd", ", S.Pd.I", ", S.E.", " M.M.", ", A.Md", " S.Kom", ", M.Si", " (Alm)"]

names = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=4).map(" ".join)


@settings(max_examples=500)
@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    """Normalising a normalised name changes nothing."""
    once = normalise(text)
    assert normalise(once) == once


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from(list("ahmrsdtbinuoejc .,'-")), max_size=30))
def test_normalise_is_idempotent_on_title_letters(text: str) -> None:
    """Idempotence also holds for text made of the letters titles and variants use."""
    once = normalise(text)
    assert normalise(once) == once


@given(names, st.lists(st.sampled_from(PREFIXES)), st.lists(st.sampled_from(SUFFIXES)))
def test_key_ignores_titles(name: str, prefixes: list[str], suffixes: list[str]) -> None:
    """Adding titles before and degrees after a name keeps its key."""
    assert name_key(" ".join([*prefixes, name]) + "".join(suffixes)) == name_key(name)


@given(names, st.data())
def test_key_ignores_case(name: str, data: st.DataObject) -> None:
    """Upper and lower case do not change the key."""
    upper = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    mixed = "".join(c.upper() if up else c.lower() for c, up in zip(name, upper, strict=True))
    assert name_key(mixed) == name_key(name)


@given(names, st.lists(st.sampled_from([" ", "  ", "\t", " \n "]), min_size=2, max_size=2))
def test_key_ignores_extra_spaces(name: str, edges: list[str]) -> None:
    """Extra, leading and trailing whitespace does not change the key."""
    spaced = edges[0] + name.replace(" ", "   ") + edges[1]
    assert name_key(spaced) == name_key(name)


@given(names, st.data())
def test_key_ignores_doubled_letters(name: str, data: st.DataObject) -> None:
    """Doubling any letter ("Aminah" -> "Aminnah") does not change the key."""
    at = data.draw(st.sampled_from([i for i, c in enumerate(name) if c.isalpha()]))
    assert name_key(name[:at] + name[at] + name[at:]) == name_key(name)
