"""Queries of the synthetic fieldwork generator: the assigned targets with their rendered
list rows, the registry records behind the members, the published questionnaire version
and the village centroids."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.assignments.models import ON_LIST, Target
from server.models import Form, FormVersion, User
from server.registry.models import Person, Region

CHUNK = 2_000


@dataclass(frozen=True)
class AssignedTarget:
    """A household on an enumerator's list, as the phone received it."""

    target_id: int
    household_id: int
    assignee_id: int
    village_code: str | None
    snapshot: str
    members: str


def assigned_targets(session: Session, project_id: int) -> Iterator[AssignedTarget]:
    """The project's open targets that have an enumerator, by enumerator then target."""
    rows = session.execute(
        select(
            Target.id,
            Target.household_id,
            Target.assignee_id,
            Target.village_code,
            Target.snapshot,
            Target.members,
        )
        .where(
            Target.project_id == project_id,
            Target.assignee_id.is_not(None),
            Target.state.in_(ON_LIST),
        )
        .order_by(Target.assignee_id, Target.id)
        .execution_options(yield_per=CHUNK)
    )
    for row in rows:
        yield AssignedTarget(*row)  # type: ignore[arg-type]


def source_keys(session: Session, person_ids: Sequence[int]) -> dict[int, str]:
    """Registry person id -> the record's key in its source (IDDTKS, idsemesta...)."""
    found: dict[int, str] = {}
    for start in range(0, len(person_ids), CHUNK):
        chunk = person_ids[start : start + CHUNK]
        for person_id, key in session.execute(
            select(Person.id, Person.source_key).where(Person.id.in_(chunk))
        ):
            found[person_id] = key
    return found


def usernames(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(select(User.id, User.username).where(User.id.in_(list(user_ids))))
    return {row[0]: row[1] for row in rows}


def current_version(session: Session, project_id: int, xml_form_id: str) -> str | None:
    return session.scalar(
        select(FormVersion.version)
        .join(Form, Form.current_version_id == FormVersion.id)
        .where(Form.project_id == project_id, Form.xml_form_id == xml_form_id)
    )


def centroids(session: Session, prefix: str) -> dict[str, tuple[float, float]]:
    """Village centroids loaded for the villages whose code starts with `prefix`."""
    rows = session.execute(
        select(Region.code, Region.lat, Region.lon).where(
            Region.level == 4,
            Region.code.startswith(prefix),
            Region.lat.is_not(None),
            Region.lon.is_not(None),
        )
    )
    return {code: (lat, lon) for code, lat, lon in rows if lat is not None and lon is not None}
