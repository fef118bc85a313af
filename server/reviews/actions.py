"""People's decisions on submissions: the review state machine, each change audited.

States are ODK Central's (received, hasIssues, edited, approved, rejected); `KOBO_STATUS`
says how each reads as a KoboToolbox validation status. A person's decision takes the
state from the rules for good (`review_by_rules` off): a later check never undoes it.

- approve: not with a BLOCK flag (the rules' word for "cannot be approved as it is").
- reject: with a reason.
- return for revisit: with a reason, which the enumerator reads on the phone; the
  household goes back on their list (assignments) and the submission waits (hasIssues).
- escalate: a koordinator sends it up to an admin, with a note; an admin's decision ends it.
- comment: a note for the others, without a change of state.

Each decision names the state the person saw (`seen`): if someone changed it meanwhile,
the decision is refused rather than silently overwriting theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from server import audit, problems
from server.assignments.service import do_return_for_revisit
from server.problems import ProblemError
from server.reviews import queries
from server.reviews.access import Scope, check_decide
from server.reviews.queue import SEVERITY_RANK

KOBO_STATUS = {
    "received": None,
    "hasIssues": "validation_status_on_hold",
    "edited": "validation_status_on_hold",
    "approved": "validation_status_approved",
    "rejected": "validation_status_not_approved",
}
MAX_NOTE = 2000


def check_note(note: str, field: str = "reason") -> str:
    """A reason or comment: 1-2000 characters once spaces are tidied."""
    note = " ".join(note.split())
    if not note or len(note) > MAX_NOTE:
        raise ProblemError(problems.INVALID_INPUT, field=field, reason=f"1-{MAX_NOTE} karakter")
    return note


def check_seen(head: queries.Head, seen: str | None) -> None:
    """Refuse a decision taken on a state that has changed since the page was shown."""
    if seen and seen != head.review_state:
        raise ProblemError(
            problems.REVIEW_STATE_CHANGED, submission_id=head.id, state=head.review_state
        )


def _decide(
    session: Session,
    scope: Scope,
    head: queries.Head,
    state: str,
    action: str,
    note: str | None = None,
    escalated: bool = False,
) -> None:
    queries.set_decision(session, [head.id], state, escalated=escalated)
    audit.record(
        session,
        scope.viewer.user_id,
        action,
        "submission",
        head.id,
        note=note,
        **{"from": head.review_state, "to": state},
    )


def do_approve(session: Session, scope: Scope, head: queries.Head, seen: str | None = None) -> None:
    check_decide(scope)
    check_seen(head, seen)
    if head.flag_rank >= SEVERITY_RANK["BLOCK"]:
        raise ProblemError(problems.BLOCKED_APPROVAL, submission_id=head.id)
    _decide(session, scope, head, "approved", "submission.approve")


def do_reject(
    session: Session, scope: Scope, head: queries.Head, reason: str, seen: str | None = None
) -> None:
    check_decide(scope)
    check_seen(head, seen)
    _decide(session, scope, head, "rejected", "submission.reject", check_note(reason))


def do_return(
    session: Session, scope: Scope, head: queries.Head, reason: str, seen: str | None = None
) -> int:
    """Return for revisit; the target's ID, now back on the enumerator's list."""
    check_decide(scope)
    check_seen(head, seen)
    reason = check_note(reason)
    target_id = do_return_for_revisit(
        session, scope.project_id, head.id, reason[:500], scope.viewer.user_id
    )
    _decide(session, scope, head, "hasIssues", "submission.revisit", reason)
    return target_id


def do_escalate(session: Session, scope: Scope, head: queries.Head, note: str) -> None:
    check_decide(scope)
    note = check_note(note, "note")
    queries.set_escalated(session, head.id, True)
    audit.record(session, scope.viewer.user_id, "submission.escalate", "submission", head.id, note)


def do_comment(session: Session, scope: Scope, head: queries.Head, body: str) -> None:
    check_decide(scope)
    body = check_note(body, "comment")
    queries.add_comment(session, head.id, scope.viewer.user_id, body)
    audit.record(session, scope.viewer.user_id, "submission.comment", "submission", head.id)


def do_bulk_approve(session: Session, scope: Scope, submission_ids: Sequence[int]) -> list[int]:
    """Approve those of the submissions that are clean (no BLOCK or HIGH flag, not decided
    by a person); the others are left as they are. The approved IDs."""
    check_decide(scope)
    clean = queries.clean_ids(session, scope.project_id, scope.submitters, submission_ids)
    before = {h.id: h.review_state for h in queries.heads(session, scope.project_id, clean)}
    queries.set_decision(session, clean, "approved")
    audit.record_many(
        session,
        scope.viewer.user_id,
        "submission.approve",
        "submission",
        {sid: {"from": before.get(sid), "to": "approved", "bulk": True} for sid in clean},
    )
    return clean
