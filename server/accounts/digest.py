"""HTTP Digest authentication (RFC 7616 / 2617, MD5, qop=auth) as ODK Collect speaks it.

Pure protocol: parsing the Authorization header, making and checking nonces, computing
the expected response. Nonces are stateless (a timestamp signed with the server secret), so
every gunicorn worker accepts every other worker's nonces; an expired one is answered with
`stale=true` and Collect retries without asking the enumerator again. Replays are caught by
a nonce-count store (`NonceCounts`) that remembers which `nc` values each nonce has used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

_PARAM = re.compile(r'\s*([a-zA-Z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def ha1_for(username: str, realm: str, password: str) -> str:
    """HA1 = md5(username:realm:password), what the server keeps to check Digest answers."""
    return md5_hex(f"{username}:{realm}:{password}")


def parse_auth_params(value: str) -> dict[str, str]:
    """Parse `k=v, k2="v 2"` pairs of an Authorization header (after the scheme)."""
    params: dict[str, str] = {}
    position = 0
    while position < len(value):
        match = _PARAM.match(value, position)
        if not match or match.end() == position:
            break
        key, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key] = raw
        position = match.end()
    return params


@dataclass(frozen=True)
class DigestCredentials:
    """The fields of a Digest Authorization header that we check."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    qop: str | None
    nc: str | None
    cnonce: str | None
    algorithm: str

    @classmethod
    def parse(cls, header_value: str) -> DigestCredentials | None:
        params = parse_auth_params(header_value)
        required = ("username", "realm", "nonce", "uri", "response")
        if any(not params.get(key) for key in required):
            return None
        return cls(
            username=params["username"],
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            response=params["response"].lower(),
            qop=params.get("qop"),
            nc=params.get("nc"),
            cnonce=params.get("cnonce"),
            algorithm=params.get("algorithm", "MD5"),
        )


class NonceCounts(Protocol):
    """Remembers the nc values seen per nonce, so a captured request cannot be replayed."""

    def first_use(self, nonce: str, nc: str, ttl: int) -> bool:
        """Record (nonce, nc); False if that pair was already used."""
        ...


class MemoryNonceCounts:
    """Per-process nonce-count memory (bounded LRU); Redis replaces it across machines."""

    def __init__(self, max_nonces: int = 50_000) -> None:
        self._seen: OrderedDict[str, set[str]] = OrderedDict()
        self._max = max_nonces
        self._lock = threading.Lock()

    def first_use(self, nonce: str, nc: str, ttl: int) -> bool:
        with self._lock:
            used = self._seen.get(nonce)
            if used is None:
                used = self._seen[nonce] = set()
                if len(self._seen) > self._max:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(nonce)
            if nc in used:
                return False
            used.add(nc)
            return True


class DigestAuthority:
    """Issues and checks nonces and Digest responses for one realm."""

    def __init__(self, secret: str, realm: str, ttl: int, counts: NonceCounts) -> None:
        self._key = hashlib.sha256(("digest-nonce:" + secret).encode()).digest()
        self.realm = realm
        self.ttl = ttl
        self.counts = counts

    def new_nonce(self, now: float | None = None) -> str:
        issued = struct.pack(">Q", int(now if now is not None else time.time()))
        body = issued + os.urandom(8)
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def nonce_age(self, nonce: str, now: float | None = None) -> float | None:
        """Seconds since we issued `nonce`, or None if we never issued it."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 32:
            return None
        body, mac = raw[:16], raw[16:]
        expected = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            return None
        (issued,) = struct.unpack(">Q", body[:8])
        return (now if now is not None else time.time()) - issued

    def challenge(self, stale: bool = False) -> str:
        """The value of a WWW-Authenticate header asking for Digest."""
        header = (
            f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, '
            f'nonce="{self.new_nonce()}", opaque="{md5_hex(self.realm)}"'
        )
        return header + (", stale=true" if stale else "")

    def verify(self, creds: DigestCredentials, method: str, ha1: str) -> str:
        """Check a Digest answer against the stored HA1.

        Returns "ok", "stale" (right password, expired nonce: challenge again with
        stale=true) or "bad".
        """
        if creds.realm != self.realm or creds.algorithm.upper() != "MD5":
            return "bad"
        age = self.nonce_age(creds.nonce)
        if age is None:
            return "bad"
        ha2 = md5_hex(f"{method}:{creds.uri}")
        if creds.qop:
            if creds.qop != "auth" or not creds.nc or not creds.cnonce:
                return "bad"
            expected = md5_hex(f"{ha1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:auth:{ha2}")
        else:  # RFC 2069 style, still sent by some old clients
            expected = md5_hex(f"{ha1}:{creds.nonce}:{ha2}")
        # Bytes, not str: compare_digest refuses non-ASCII text, which a client can send.
        if not hmac.compare_digest(expected.encode(), creds.response.encode("utf-8", "replace")):
            return "bad"
        if age > self.ttl or age < -60:
            return "stale"
        # Without qop there is no nc, so such a nonce is good for one request only.
        if not self.counts.first_use(creds.nonce, (creds.nc or "") if creds.qop else "", self.ttl):
            return "stale"  # a replayed nc: make the client start over with a new nonce
        return "ok"


class RedisNonceCounts:
    """Nonce-count memory shared by every worker and machine through Redis."""

    def __init__(self, client: object) -> None:
        self._client = client

    def first_use(self, nonce: str, nc: str, ttl: int) -> bool:
        key = f"verivali:digest:{nonce}:{nc}"
        return bool(self._client.set(key, 1, nx=True, ex=ttl + 120))  # type: ignore[attr-defined]
