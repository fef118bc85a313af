"""Login throttling: failed web sign-ins counted per (username, address), per username and
per address in fixed windows; past a limit, sign-in is refused until the window ends.

With Redis the counts are shared by every server process and machine (INCR with an expiry);
without it each process counts its own, which still bounds guessing to a few tries a minute.
A successful sign-in clears the (username, address) count only: a guesser elsewhere still
counts against the username.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

WINDOW_SECONDS = 15 * 60


@dataclass(frozen=True)
class Limit:
    """At most `failures` failed sign-ins per window for one kind of key."""

    kind: str
    failures: int


LIMITS = (Limit("pair", 5), Limit("user", 20), Limit("addr", 50))


class Counts(Protocol):
    """Failure counters that expire at the end of their window."""

    def add(self, key: str, window: int) -> tuple[int, float]:
        """Count one failure; return the count and the seconds left in the window."""
        ...

    def peek(self, key: str) -> tuple[int, float]: ...

    def clear(self, key: str) -> None: ...


class MemoryCounts:
    """Counters in this process."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._max = max_keys

    def add(self, key: str, window: int) -> tuple[int, float]:
        now = time.monotonic()
        with self._lock:
            count, ends = self._counts.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + window
            self._counts[key] = (count + 1, ends)
            if len(self._counts) > self._max:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            return count + 1, ends - now

    def peek(self, key: str) -> tuple[int, float]:
        now = time.monotonic()
        with self._lock:
            count, ends = self._counts.get(key, (0, 0.0))
        return (count, ends - now) if ends > now else (0, 0.0)

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


class RedisCounts:
    """Counters shared through Redis."""

    def __init__(self, client: object, prefix: str = "verivali:login:") -> None:
        self._client = client
        self._prefix = prefix

    def add(self, key: str, window: int) -> tuple[int, float]:
        name = self._prefix + key
        pipe = self._client.pipeline()  # type: ignore[attr-defined]
        pipe.incr(name)
        pipe.expire(name, window, nx=True)
        pipe.ttl(name)
        count, _set, ttl = pipe.execute()
        return int(count), float(max(ttl, 0))

    def peek(self, key: str) -> tuple[int, float]:
        name = self._prefix + key
        pipe = self._client.pipeline()  # type: ignore[attr-defined]
        pipe.get(name)
        pipe.ttl(name)
        count, ttl = pipe.execute()
        return (int(count), float(max(ttl, 0))) if count else (0, 0.0)

    def clear(self, key: str) -> None:
        self._client.delete(self._prefix + key)  # type: ignore[attr-defined]


def _keys(username: str, address: str) -> dict[str, str]:
    user = username.strip().lower()[:64]
    return {"pair": f"p:{user}:{address}", "user": f"u:{user}", "addr": f"a:{address}"}


class LoginThrottle:
    """Decides whether a sign-in may be tried, and counts the failed ones."""

    def __init__(self, counts: Counts, limits: Sequence[Limit] = LIMITS) -> None:
        self._counts = counts
        self._limits = limits

    def wait_seconds(self, username: str, address: str) -> float:
        """0 when a sign-in may be tried now; else how long until it may."""
        keys = _keys(username, address)
        wait = 0.0
        for limit in self._limits:
            count, left = self._counts.peek(keys[limit.kind])
            if count >= limit.failures:
                wait = max(wait, left, 1.0)
        return wait

    def failed(self, username: str, address: str) -> None:
        for key in _keys(username, address).values():
            self._counts.add(key, WINDOW_SECONDS)

    def succeeded(self, username: str, address: str) -> None:
        self._counts.clear(_keys(username, address)["pair"])
