"""HTTP Digest as the server checks it: RFC 2617's worked example, header parsing, signed
nonces (issue, tamper, expiry), nonce counts against replay, and the bounded nc memory."""

from __future__ import annotations

import hashlib

import pytest

from server.accounts.digest import (
    DigestAuthority,
    DigestCredentials,
    MemoryNonceCounts,
    ha1_for,
    md5_hex,
    parse_auth_params,
)

# RFC 2617, section 3.5.
RFC_REALM = "testrealm@host.com"
RFC_NONCE = "dcd98b7102dd2f0e8b11d0f600bfb0c093"
RFC_HEADER = """username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41\""""
RFC_RESPONSE = "6629fae49393a05397450978507c4ef1"

REALM = "Verivali"
PASSWORD = "rahasia-123"
NOW = 1_800_000_000.0


def authority(ttl: int = 300, counts: MemoryNonceCounts | None = None) -> DigestAuthority:
    return DigestAuthority("test-secret", REALM, ttl, counts or MemoryNonceCounts())


def answer(
    nonce: str,
    *,
    nc: str = "00000001",
    password: str = PASSWORD,
    username: str = "pencacah1",
    realm: str = REALM,
    method: str = "GET",
    uri: str = "/v1/projects/1/formList",
    cnonce: str = "0a4f113b",
    algorithm: str = "MD5",
    qop: str | None = "auth",
) -> DigestCredentials:
    """The credentials a client holding `password` would send for this request."""
    ha1 = ha1_for(username, realm, password)
    ha2 = md5_hex(f"{method}:{uri}")
    if qop:
        response = md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    else:
        response = md5_hex(f"{ha1}:{nonce}:{ha2}")
    return DigestCredentials(
        username=username,
        realm=realm,
        nonce=nonce,
        uri=uri,
        response=response,
        qop=qop,
        nc=nc if qop else None,
        cnonce=cnonce if qop else None,
        algorithm=algorithm,
    )


def stored_ha1(username: str = "pencacah1") -> str:
    return ha1_for(username, REALM, PASSWORD)


def test_rfc2617_ha1_and_response_composition() -> None:
    """ha1_for and md5_hex compose RFC 2617's worked example to its published response."""
    ha1 = ha1_for("Mufasa", RFC_REALM, "Circle Of Life")
    assert ha1 == hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    ha2 = md5_hex("GET:/dir/index.html")
    assert md5_hex(f"{ha1}:{RFC_NONCE}:00000001:0a4f113b:auth:{ha2}") == RFC_RESPONSE


def test_rfc2617_header_parses() -> None:
    """parse_auth_params reads RFC 2617's multi-line header, quoted and bare values alike."""
    params = parse_auth_params(RFC_HEADER)
    assert params == {
        "username": "Mufasa",
        "realm": RFC_REALM,
        "nonce": RFC_NONCE,
        "uri": "/dir/index.html",
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "0a4f113b",
        "response": RFC_RESPONSE,
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
    }
    creds = DigestCredentials.parse(RFC_HEADER)
    assert creds is not None
    assert (creds.username, creds.qop, creds.nc, creds.algorithm) == (
        "Mufasa",
        "auth",
        "00000001",
        "MD5",
    )


def test_rfc2617_example_verifies() -> None:
    """verify accepts RFC 2617's example once its foreign nonce is taken as freshly issued."""
    rfc = DigestAuthority("any", RFC_REALM, 300, MemoryNonceCounts())
    rfc.nonce_age = lambda nonce, now=None: 0.0  # type: ignore[method-assign]
    creds = DigestCredentials.parse(RFC_HEADER)
    assert creds is not None
    assert rfc.verify(creds, "GET", ha1_for("Mufasa", RFC_REALM, "Circle Of Life")) == "ok"
    assert rfc.verify(creds, "POST", ha1_for("Mufasa", RFC_REALM, "Circle Of Life")) == "bad"


def test_parse_unescapes_quoted_pairs_and_keeps_commas() -> None:
    """Backslash escapes are undone and commas inside quotes stay part of the value."""
    params = parse_auth_params(r'username="a\"b", uri="/x?a=1,2", Realm=R')
    assert params == {"username": 'a"b', "uri": "/x?a=1,2", "realm": "R"}


def test_parse_rejects_incomplete_header() -> None:
    """A header lacking username, realm, nonce, uri or response is not Digest credentials."""
    assert DigestCredentials.parse('username="u", realm="r", nonce="n", uri="/"') is None
    assert DigestCredentials.parse("") is None
    assert DigestCredentials.parse("garbage without pairs") is None


def test_nonce_round_trip() -> None:
    """A nonce we issued verifies with its age, and a good answer to it is ok."""
    auth = authority()
    nonce = auth.new_nonce(now=NOW)
    assert auth.nonce_age(nonce, now=NOW + 12) == pytest.approx(12)
    assert auth.verify(answer(auth.new_nonce()), "GET", stored_ha1()) == "ok"


def test_nonces_are_unique() -> None:
    """Two nonces issued in the same second still differ."""
    auth = authority()
    assert auth.new_nonce(now=NOW) != auth.new_nonce(now=NOW)


def test_tampered_nonce_rejected() -> None:
    """Changing one character of a nonce, or signing it with another secret, makes it unknown."""
    auth = authority()
    nonce = auth.new_nonce()
    flipped = nonce[:5] + ("A" if nonce[5] != "A" else "B") + nonce[6:]
    assert auth.nonce_age(flipped) is None
    assert auth.verify(answer(flipped), "GET", stored_ha1()) == "bad"
    foreign = DigestAuthority("other-secret", REALM, 300, MemoryNonceCounts()).new_nonce()
    assert auth.verify(answer(foreign), "GET", stored_ha1()) == "bad"
    for junk in ("", "not base64 !", "é" * 43, RFC_NONCE):
        assert auth.nonce_age(junk) is None


def test_expired_nonce_stale_with_right_password() -> None:
    """An expired nonce answered with the right password is "stale" (Collect retries silently)."""
    auth = authority(ttl=300)
    old = auth.new_nonce(now=NOW - 10_000)
    assert auth.verify(answer(old), "GET", stored_ha1()) == "stale"


def test_expired_nonce_bad_with_wrong_password() -> None:
    """An expired nonce answered with a wrong password is "bad", never "stale"."""
    auth = authority(ttl=300)
    old = auth.new_nonce(now=NOW - 10_000)
    assert auth.verify(answer(old, password="salah-salah"), "GET", stored_ha1()) == "bad"


def test_nonce_from_the_future_is_stale() -> None:
    """A nonce dated well after now (clock skew between workers) is treated as stale."""
    auth = authority()
    future = auth.new_nonce(now=10**10)
    assert auth.verify(answer(future), "GET", stored_ha1()) == "stale"


def test_replayed_nc_is_stale() -> None:
    """The same nonce and nc sent twice is accepted once, then "stale"."""
    auth = authority()
    nonce = auth.new_nonce()
    assert auth.verify(answer(nonce, nc="00000001"), "GET", stored_ha1()) == "ok"
    assert auth.verify(answer(nonce, nc="00000001", cnonce="ffff"), "GET", stored_ha1()) == "stale"


def test_rising_nc_same_nonce_ok() -> None:
    """Pre-emptive reuse of one nonce with a rising nc is accepted every time."""
    auth = authority()
    nonce = auth.new_nonce()
    for count in range(1, 20):
        creds = answer(nonce, nc=f"{count:08x}", cnonce=f"c{count}")
        assert auth.verify(creds, "GET", stored_ha1()) == "ok"


def test_wrong_password_bad() -> None:
    """A fresh nonce answered with the wrong password is "bad"."""
    auth = authority()
    assert auth.verify(answer(auth.new_nonce(), password="salah"), "GET", stored_ha1()) == "bad"


def test_wrong_method_or_uri_bad() -> None:
    """The response binds the method and uri: the same answer for another request is "bad"."""
    auth = authority()
    creds = answer(auth.new_nonce(), method="GET", uri="/a")
    assert auth.verify(creds, "POST", stored_ha1()) == "bad"


def test_wrong_realm_bad() -> None:
    """An answer computed for another realm is "bad", even if internally consistent."""
    auth = authority()
    creds = answer(auth.new_nonce(), realm="Elsewhere")
    assert auth.verify(creds, "GET", ha1_for("pencacah1", "Elsewhere", PASSWORD)) == "bad"


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256", "SHA-256-sess"])
def test_other_algorithm_bad(algorithm: str) -> None:
    """Only MD5 (what Collect uses) is accepted; other algorithms are "bad"."""
    auth = authority()
    assert auth.verify(answer(auth.new_nonce(), algorithm=algorithm), "GET", stored_ha1()) == "bad"


def test_algorithm_is_case_insensitive() -> None:
    """algorithm=md5 in lower case is the same MD5."""
    auth = authority()
    assert auth.verify(answer(auth.new_nonce(), algorithm="md5"), "GET", stored_ha1()) == "ok"


def test_qop_without_nc_or_cnonce_bad() -> None:
    """qop=auth without nc or cnonce is malformed and "bad"."""
    auth = authority()
    good = answer(auth.new_nonce())
    for broken in (
        DigestCredentials(**{**good.__dict__, "nc": None}),
        DigestCredentials(**{**good.__dict__, "cnonce": None}),
        DigestCredentials(**{**good.__dict__, "qop": "auth-int"}),
    ):
        assert auth.verify(broken, "GET", stored_ha1()) == "bad"


def test_qopless_answer_is_single_use() -> None:
    """An RFC 2069 answer (no qop, no nc) is accepted once per nonce, then "stale"."""
    auth = authority()
    nonce = auth.new_nonce()
    assert auth.verify(answer(nonce, qop=None), "GET", stored_ha1()) == "ok"
    assert auth.verify(answer(nonce, qop=None), "GET", stored_ha1()) == "stale"


def test_non_ascii_response_is_bad_not_an_error() -> None:
    """A response with non-ASCII characters is simply "bad" (no exception)."""
    auth = authority()
    good = answer(auth.new_nonce())
    creds = DigestCredentials(**{**good.__dict__, "response": "é" * 32})
    assert auth.verify(creds, "GET", stored_ha1()) == "bad"


def test_challenge_fields() -> None:
    """The challenge names the realm, qop="auth", MD5 and a nonce we can verify."""
    auth = authority()
    params = parse_auth_params(auth.challenge().removeprefix("Digest "))
    assert params["realm"] == REALM
    assert params["qop"] == "auth"
    assert params["algorithm"] == "MD5"
    assert auth.nonce_age(params["nonce"]) is not None
    assert "stale" not in params
    assert parse_auth_params(auth.challenge(stale=True).removeprefix("Digest "))["stale"] == "true"


def test_memory_counts_remember_per_nonce() -> None:
    """Each (nonce, nc) pair is a first use exactly once; other nonces are independent."""
    counts = MemoryNonceCounts()
    assert counts.first_use("n1", "00000001", 300)
    assert counts.first_use("n1", "00000002", 300)
    assert counts.first_use("n2", "00000001", 300)
    assert not counts.first_use("n1", "00000001", 300)


def test_memory_counts_bounded() -> None:
    """The nc memory keeps at most max_nonces nonces, forgetting the least recently used."""
    counts = MemoryNonceCounts(max_nonces=3)
    for name in ("a", "b", "c"):
        assert counts.first_use(name, "1", 300)
    assert not counts.first_use("a", "1", 300)  # touches "a": "b" is now the oldest
    assert counts.first_use("d", "1", 300)
    assert len(counts._seen) == 3
    assert not counts.first_use("a", "1", 300)
    assert counts.first_use("b", "1", 300)  # forgotten, so new again
    for index in range(1000):
        counts.first_use(f"n{index}", "1", 300)
    assert len(counts._seen) == 3
