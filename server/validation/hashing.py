"""Photo hashes computed beside the checks, in processes of their own.

A first check hashes its submission's new photos (`photos.dhash`) while it reads and
matches the rest. Pillow decodes without holding the GIL, but opening the file, setting up
the decoder and reducing the picture are Python: for a small photo that is most of the
cost, and on threads it took turns with the check itself. `HASH_PROCESSES` processes
(spawned, so they inherit none of the worker's threads, locks or connections) hash a
group's photos in as many parts.

A process that dies (a file that crashes the decoder, the kernel's OOM killer) breaks the
pool: the photos it had are left out of the answer, so they are not stored as unreadable
and a later check hashes them again, and the next group starts a new pool. Where processes
cannot be started, threads do the work.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from server.validation.photos import dhash_files

log = logging.getLogger(__name__)

HASH_PROCESSES = min(4, os.cpu_count() or 1)
# Pools broken in a row (no part hashed since) before threads take over.
GIVE_UP_AFTER = 3
_POOL: Executor | None = None
_BROKEN = 0
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Pending:
    """Photos being hashed: each part's blob keys and the future of their hashes."""

    parts: list[tuple[list[str], Future[list[int | None]]]]


def start(files: Mapping[str, Path]) -> Pending:
    """Start hashing these files (blob key: path), in up to HASH_PROCESSES parts."""
    items = sorted(files.items())
    parts = [items[i::HASH_PROCESSES] for i in range(HASH_PROCESSES)]
    return Pending(
        [
            ([key for key, _ in part], _submit([str(path) for _, path in part]))
            for part in parts
            if part
        ]
    )


def collect(pending: Pending) -> dict[str, int | None]:
    """The hashes (None: not a readable image); a part whose process died is left out."""
    global _BROKEN
    found: dict[str, int | None] = {}
    for keys, future in pending.parts:
        try:
            values = future.result()
        except BrokenProcessPool:
            log.warning("a photo-hashing process ended; %d photos are left for later", len(keys))
            _discard()
            continue
        _BROKEN = 0
        found.update(zip(keys, values, strict=True))
    return found


def pool() -> Executor:
    """The hashing processes, started on first use; threads where processes keep failing."""
    global _POOL
    with _LOCK:
        if _POOL is None:
            if _BROKEN >= GIVE_UP_AFTER:
                log.warning("photo hashes on threads: %d process pools in a row broke", _BROKEN)
                _POOL = ThreadPoolExecutor(HASH_PROCESSES, thread_name_prefix="verivali-hash")
            else:
                context = multiprocessing.get_context("spawn")
                _POOL = ProcessPoolExecutor(HASH_PROCESSES, mp_context=context)
        return _POOL


def _submit(paths: list[str]) -> Future[list[int | None]]:
    while True:
        try:
            return pool().submit(dhash_files, paths)
        except BrokenProcessPool:  # broken under an earlier part: a new pool
            _discard()
        except (OSError, RuntimeError) as exc:  # no processes here: threads from now on
            log.warning("photo hashes on threads, not processes: %s", exc)
            _discard(give_up=True)


def _discard(give_up: bool = False) -> None:
    """Forget a broken pool (its processes are gone); the next use starts another, or
    threads once GIVE_UP_AFTER pools in a row have broken (at once with `give_up`)."""
    global _POOL, _BROKEN
    with _LOCK:
        broken, _POOL = _POOL, None
        if give_up:
            _BROKEN = GIVE_UP_AFTER
        elif broken is not None:
            _BROKEN += 1
    if broken is not None:
        broken.shutdown(wait=False, cancel_futures=True)
