"""Field progress: targets, visits, outcomes and review results per kecamatan, village, team
and enumerator, from one grouped query over the targets.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from server.assignments import queries

LEVELS = ("kecamatan", "village", "team", "enumerator")
UNASSIGNED = "(belum dibagi)"


@dataclass
class Tally:
    """Counts for one row of the progress table."""

    targets: int = 0
    assigned: int = 0
    visited: int = 0
    revisit: int = 0
    flagged: int = 0
    approved: int = 0
    rejected: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, row: queries.ProgressRow) -> None:
        n = row.count
        self.targets += n
        if row.assignee_id is not None:
            self.assigned += n
        if row.state == "visited":
            self.visited += n
            self.outcomes[row.outcome or "(kosong)"] += n
        elif row.state == "revisit":
            self.revisit += n
        if row.review_state == "hasIssues":
            self.flagged += n
        elif row.review_state == "approved":
            self.approved += n
        elif row.review_state == "rejected":
            self.rejected += n

    def as_json(self) -> dict[str, Any]:
        done = self.visited / self.targets if self.targets else 0.0
        return {
            "targets": self.targets,
            "assigned": self.assigned,
            "visited": self.visited,
            "revisit": self.revisit,
            "percent_visited": round(100 * done, 1),
            "outcomes": dict(sorted(self.outcomes.items())),
            "flagged": self.flagged,
            "approved": self.approved,
            "rejected": self.rejected,
        }


@dataclass
class Progress:
    """Tallies per level, keyed by a label people read (names, usernames)."""

    total: Tally
    levels: dict[str, dict[str, Tally]]

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total.as_json(),
            **{
                level: [{"key": key, **tally.as_json()} for key, tally in sorted(rows.items())]
                for level, rows in self.levels.items()
            },
        }


def progress(session: Session, project_id: int, team_ids: set[int] | None = None) -> Progress:
    """Progress of the project; with `team_ids`, only targets held by those teams' members."""
    rows = queries.progress_rows(session, project_id)
    teams = queries.team_names_by_user(session, project_id)
    if team_ids is not None:
        members = set(queries.member_ids_of_teams(session, sorted(team_ids)))
        rows = [row for row in rows if row.assignee_id in members]
    villages = {row.village_code for row in rows if row.village_code}
    names = queries.region_names(session, villages | {code[:6] for code in villages})
    users = queries.usernames(session, (r.assignee_id for r in rows if r.assignee_id))
    total = Tally()
    levels: dict[str, dict[str, Tally]] = {level: {} for level in LEVELS}
    for row in rows:
        code = row.village_code or ""
        keys = {
            "kecamatan": f"{code[:6]} {names.get(code[:6], '?')}" if code else "?",
            "village": f"{code} {names.get(code, '?')}" if code else "?",
            "team": teams.get(row.assignee_id or 0, UNASSIGNED),
            "enumerator": users.get(row.assignee_id or 0, UNASSIGNED),
        }
        total.add(row)
        for level, key in keys.items():
            levels[level].setdefault(key, Tally()).add(row)
    return Progress(total, levels)
