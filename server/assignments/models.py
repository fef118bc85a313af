"""Tables for teams, target lists and the targets (households to visit) in them.

A target is one registry household on one target list. It is given to one enumerator at a
time, leaves that enumerator's list when a submission names it, and comes back when a
supervisor returns it for a revisit. `enumerator_lists.version` counts every change to an
enumerator's list, so the CSV served to the phone is rebuilt (and its hash changes) exactly
when that enumerator's list changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, UTCDateTime, check_in, utcnow

# open: on the enumerator's list · visited: a submission names it · revisit: returned by a
# supervisor, back on the list with the reason · cancelled: taken off the list by an admin.
TARGET_STATES = ("open", "visited", "revisit", "cancelled")
ON_LIST = ("open", "revisit")


class Team(Base):
    """A koordinator's team of enumerators within a project."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_teams_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(100))
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMember(Base):
    """An enumerator in a team; one team per enumerator and project."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id", name="uq_team_members_one_team"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))


class TargetList(Base):
    """A named set of households to visit, made from the registry by some criteria."""

    __tablename__ = "target_lists"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_target_lists_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(100))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Target(Base):
    """One household to visit, on one list, given to at most one enumerator."""

    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("list_id", "household_id", name="uq_targets_household"),
        check_in("state", TARGET_STATES, "ck_targets_state"),
        # Entries sort by (assignee, id): a phone's list is read in order without a sort.
        Index("ix_targets_assignee", "assignee_id"),
        Index("ix_targets_project_village", "project_id", "village_code"),
        Index("ix_targets_household", "household_id"),
        # The household a submission visited (the review queue shows its label).
        Index("ix_targets_submission", "submission_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("target_lists.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("registry_households.id"))
    # Copied from the household when the list is made: progress and assignment by village
    # must not depend on a later re-import moving the household.
    village_code: Mapped[str | None] = mapped_column(String(10))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(12), default="open")
    revisit_reason: Mapped[str | None] = mapped_column(Text)
    # Bumped on every change that the phone should see (entity lists' __version).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The registry data the phone shows, rendered once when the list is made (a list is a
    # snapshot: a later re-import changes it only through `assign refresh`). `snapshot` is the
    # household's CSV cells from kk to jumlah_art, `members` its members' CSV lines, and `line`
    # the household's whole CSV line, rewritten by every change of version or state.
    label: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[str] = mapped_column(Text, default="")
    line: Mapped[str] = mapped_column(Text, default="")
    # The visit: the submission that named this target, and the outcome (hasil) it recorded.
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    outcome: Mapped[str | None] = mapped_column(String(32))
    visited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    visited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnumeratorList(Base):
    """How many times an enumerator's assignment list has changed in a project."""

    __tablename__ = "enumerator_lists"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
