"""HTTP Basic support: a short memory of checked credentials.

Collect sends Basic (over https only) on every request, and checking a scrypt hash costs
tens of milliseconds of CPU, so a checked header is remembered for a few minutes, keyed by
its SHA-256 and tied to the password hash it was checked against (a password change
invalidates it).
"""

from __future__ import annotations

import threading
import time


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
