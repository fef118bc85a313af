"""Who is calling an OpenRosa endpoint: enumerator token, HTTP Digest, or Basic over https.

Collect only sends credentials after a 401 that carries WWW-Authenticate, so every 401 we
answer has a Digest challenge (plus Basic when the request came over https); see
`server.http.challenge_headers`. Unknown tokens answer 403, so Collect does not prompt for
a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import Request
from sqlalchemy.orm import Session

from server import problems
from server.accounts import queries as account_queries
from server.accounts.basic import BasicCache
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
