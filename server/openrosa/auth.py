"""Who is calling an OpenRosa endpoint: enumerator token, HTTP Digest, or Basic over https.

Collect only sends credentials after a 401 that carries WWW-Authenticate, so every 401 we
answer has a Digest challenge (plus Basic when the request came over https); see
`challenge_headers`. Unknown tokens answer 403, so Collect does not prompt for a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import Request
from sqlalchemy.orm import Session

from server import problems
from server.accounts import queries as account_queries
from server.accounts.digest import DigestAuthority, DigestCredentials
from server.accounts.queries import Credentials
from server.accounts.service import password_matches
from server.problems import ProblemError


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, detached from any database session."""

    user_id: int
    username: str
    role: str
    credentials: Credentials
    via_token: bool = False

    @classmethod
    def of(cls, user: Credentials, via_token: bool = False) -> Actor:
        return cls(user.user_id, user.username, user.role, user, via_token)


class BasicCache:
    """Remembers checked Basic credentials briefly: a strong hash per request is too slow."""

    def __init__(self, ttl: float = 300.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, int, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, password_hash: str) -> bool:
        with self._lock:
            entry = self._entries.get(key)
        return bool(entry and entry[0] > time.monotonic() and entry[2] == password_hash)

    def put(self, key: str, user_id: int, password_hash: str) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, user_id, password_hash)


def _active(user: Credentials | None) -> Credentials | None:
    return user if user is not None and not user.disabled else None


def by_token(session: Session, token: str, project_id: int | None = None) -> Actor:
    user = _active(account_queries.credentials_by_token(session, token, project_id))
    if user is None:
        raise ProblemError(problems.UNKNOWN_TOKEN)
    return Actor.of(user, via_token=True)


def _uri_matches(creds_uri: str, request: Request) -> bool:
    """The Digest `uri` must name the request's own path (query ignored: proxies reorder it)."""
    path = urlsplit(creds_uri).path or creds_uri.split("?")[0]
    return unquote(path) == unquote(request.path)


def by_header(
    session: Session,
    request: Request,
    authority: DigestAuthority,
    basic_cache: BasicCache,
    project_id: int | None = None,
) -> Actor:
    """Authenticate from the Authorization header, or raise a 401 problem."""
    header = request.headers.get("Authorization", "")
    scheme, _, rest = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "digest":
        creds = DigestCredentials.parse(rest)
        if creds is None:
            raise ProblemError(problems.AUTH_REQUIRED)
        user = _active(account_queries.credentials_by_username(session, creds.username, project_id))
        if user is None or not user.digest_ha1 or not _uri_matches(creds.uri, request):
            raise ProblemError(problems.AUTH_FAILED)
        verdict = authority.verify(creds, request.method, user.digest_ha1)
        if verdict == "stale":
            raise ProblemError(problems.AUTH_REQUIRED, stale=True)
        if verdict != "ok":
            raise ProblemError(problems.AUTH_FAILED)
        return Actor.of(user)
    if scheme == "basic":
        if not request.is_secure:
            raise ProblemError(problems.BASIC_NEEDS_HTTPS)
        try:
            decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ProblemError(problems.AUTH_FAILED) from None
        username, sep, password = decoded.partition(":")
        user = _active(account_queries.credentials_by_username(session, username, project_id))
        if not sep or user is None or not user.password_hash:
            raise ProblemError(problems.AUTH_FAILED)
        key = hashlib.sha256(header.encode("utf-8")).hexdigest()
        if not basic_cache.get(key, user.password_hash):
            if not password_matches(user.password_hash, password):
                raise ProblemError(problems.AUTH_FAILED)
            basic_cache.put(key, user.user_id, user.password_hash)
        return Actor.of(user)
    raise ProblemError(problems.AUTH_REQUIRED)


def challenge_headers(
    request: Request, authority: DigestAuthority, stale: bool = False
) -> list[tuple[str, str]]:
    """WWW-Authenticate headers for a 401: Digest always, Basic too over https."""
    headers = [("WWW-Authenticate", authority.challenge(stale=stale))]
    if request.is_secure:
        headers.append(("WWW-Authenticate", f'Basic realm="{authority.realm}", charset="UTF-8"'))
    return headers
