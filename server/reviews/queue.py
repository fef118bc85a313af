"""The review queue's filters, sort orders and page cursors, read from and written to the
URL (so a view can be shared as a link). Pure: no database, no Flask.

Pages are keyset-paginated: the cursor is the sort key of the last row shown, so the next
page is an index range whatever the queue's size, and rows arriving meanwhile do not shift
it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date

from server.models import REVIEW_STATES
from server.validation.models import SEVERITIES

SORTS = ("new", "old", "severity")
PAGE_SIZE = 50
# flag_rank of each severity (0: no flags).
SEVERITY_RANK = {name: 4 - index for index, name in enumerate(SEVERITIES)}
_RULE = re.compile(r"^[A-Z]{1,6}[0-9]{0,3}$")
_CURSOR = re.compile(r"^(?:([0-4])\.)?([0-9]{1,10})$")


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row with this sort key."""

    submission_id: int
    rank: int | None = None

    def text(self) -> str:
        return f"{self.rank}.{self.submission_id}" if self.rank is not None else str(self.id)

    @property
    def id(self) -> int:
        return self.submission_id


@dataclass(frozen=True)
class QueueFilter:
    """One view of the queue. Empty strings and None mean 'any'."""

    state: str = ""
    severity: str = ""  # BLOCK/HIGH/MED/LOW, or "none": the worst flag's severity
    rule: str = ""
    kecamatan: str = ""  # 6-digit code
    village: str = ""  # 10-digit code
    enumerator: int | None = None
    received_from: date | None = None
    received_to: date | None = None
    escalated: bool = False
    sort: str = "new"
    after: Cursor | None = None

    def args(self, **changes: object) -> dict[str, str]:
        """The URL query of this view (with `changes`), leaving out what is unset."""
        view = replace(self, **changes)  # type: ignore[arg-type]
        found: dict[str, str] = {}
        for item in fields(view):
            value = getattr(view, item.name)
            if value in ("", None, False) or (item.name == "sort" and value == "new"):
                continue
            if isinstance(value, Cursor):
                found[item.name] = value.text()
            elif value is True:
                found[item.name] = "1"
            else:
                found[item.name] = str(value)
        return found

    @property
    def narrowed(self) -> bool:
        """Whether anything but the sort and page is chosen."""
        return bool(self.args(sort="new", after=None))


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _digits(value: str, length: int) -> str:
    value = value.replace(".", "").strip()
    return value if value.isdigit() and len(value) == length else ""


def parse(args: Mapping[str, str]) -> QueueFilter:
    """The view a URL asks for; anything malformed is read as unset (a link pasted with a
    typo shows the wider queue, never an error)."""
    state = args.get("state", "")
    severity = args.get("severity", "").upper()
    rule = args.get("rule", "").strip().upper()
    sort = args.get("sort", "new")
    sort = sort if sort in SORTS else "new"
    enumerator = args.get("enumerator", "")
    cursor = None
    match = _CURSOR.match(args.get("after", ""))
    if match:
        rank = int(match.group(1)) if match.group(1) is not None else None
        if (rank is not None) == (sort == "severity"):
            cursor = Cursor(int(match.group(2)), rank)
    return QueueFilter(
        state=state if state in REVIEW_STATES else "",
        severity=severity if severity in SEVERITY_RANK or severity == "NONE" else "",
        rule=rule if _RULE.match(rule) else "",
        kecamatan=_digits(args.get("kecamatan", ""), 6),
        village=_digits(args.get("village", ""), 10),
        enumerator=int(enumerator) if enumerator.isdigit() and len(enumerator) < 10 else None,
        received_from=_date(args.get("received_from", "")),
        received_to=_date(args.get("received_to", "")),
        escalated=args.get("escalated", "") == "1",
        sort=sort,
        after=cursor,
    )
