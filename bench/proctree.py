"""Reading a process tree from /proc for the benchmarks: children and resident memory."""

from __future__ import annotations

import contextlib
from pathlib import Path


def children(pid: int) -> list[int]:
    """The direct children of `pid` (every thread's), [] once it has gone."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # gone while listed
        for task in list(Path(f"/proc/{pid}/task").glob("*")):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _status(pid: int, field: str) -> int:
    """A memory figure of `pid`'s /proc status in bytes, 0 once it has gone."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return 0


def rss(pid: int) -> int:
    """Resident memory of `pid` in bytes (VmRSS), 0 once it has gone."""
    return _status(pid, "VmRSS")


def peak_rss(pid: int) -> int:
    """Peak resident memory of `pid` in bytes (VmHWM), 0 once it has gone."""
    return _status(pid, "VmHWM")
