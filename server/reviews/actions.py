"""People's decisions on submissions: the review state machine, each change audited.

States are ODK Central's (received, hasIssues, edited, approved, rejected); `KOBO_STATUS`
says how each reads as a KoboToolbox validation status. A person's decision takes the
state from the rules for good (`review_by_rules` off): a later check never undoes it.

- approve: not with a BLOCK flag (the rules' word for "cannot be approved as it is").
- reject: with a reason.
- return for revisit: with a reason, which the enumerator reads on the phone; the
  household goes back on their list (assignments) and the submission waits (hasIssues).
- escalate: a koordinator sends it up to an admin, with a note; an admin's decision ends it.
- two-level approval (a project's choice): a koordinator's approval leaves the state as it
  is and sends the submission up to an admin, whose approval approves it; any other
  decision or a correction ends the wait.
- comment: a note for the others, without a change of state.
- correct: one answer's value, with a reason: a new version (edited), the old and new
  value in the audit log, and the rules check the corrected answers again.

Each decision names the state the person saw (`seen`): if someone changed it meanwhile,
the decision is refused rather than silently overwriting theirs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from server import audit, problems
from server.assignments.service import do_return_for_revisit
from server.problems import ProblemError
from server.reviews import correction, detail, queries
from server.reviews.access import Scope, check_decide
from server.reviews.queue import SEVERITY_RANK
from server.validation.jobs import enqueue as enqueue_check
from server.validation.queries import forget_finding_keys

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


def do_approve(
    session: Session, scope: Scope, head: queries.Head, seen: str | None = None
) -> int | None:
    """Approve; a rejected submission approved after all is checked again, so later
    submissions find it as a peer once more (the check job's ID)."""
    check_decide(scope)
    check_seen(head, seen)
    if head.flag_rank >= SEVERITY_RANK["BLOCK"]:
        raise ProblemError(problems.BLOCKED_APPROVAL, submission_id=head.id)
    if scope.awaits_admin:
        if head.first_approved_by is None:
            queries.set_first_approval(session, [head.id], scope.viewer.user_id)
            audit.record(
                session,
                scope.viewer.user_id,
                "submission.approve_first",
                "submission",
                head.id,
                **{"from": head.review_state, "to": head.review_state},
            )
        return None
    _decide(session, scope, head, "approved", "submission.approve")
    return enqueue_check(session, head.id, "review") if head.review_state == "rejected" else None


def do_reject(
    session: Session, scope: Scope, head: queries.Head, reason: str, seen: str | None = None
) -> None:
    check_decide(scope)
    check_seen(head, seen)
    _decide(session, scope, head, "rejected", "submission.reject", check_note(reason))
    forget_finding_keys(session, [head.id])


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


def do_correct(
    session: Session,
    scope: Scope,
    head: queries.Head,
    locator: str,
    value: str,
    reason: str,
    seen: str | None = None,
) -> int | None:
    """Correct one answer: a new version (state edited) with the old and new value and the
    reason in the audit log; the rules check the corrected answers again (the job's ID)."""
    check_decide(scope)
    check_seen(head, seen)
    reason = check_note(reason)
    current = next(
        (v for v in queries.versions(session, head.id) if v.id == head.current_version_id), None
    )
    if current is None:
        raise ProblemError(problems.INVALID_INPUT, field="field", reason="kiriman tanpa isi")
    labels = detail.labels_of(session, current.form_version_id)
    question = labels.questions.get(re.sub(r"\[\d+\]", "", locator))
    new_id = f"uuid:{uuid.uuid4()}"
    try:
        if question is not None and question.kind in correction.FIXED_KINDS:
            raise correction.CorrectionError("jawaban ini tidak dapat diperbaiki")
        value = correction.check_value(question, value)
        xml, old, _old_id = correction.corrected(
            queries.version_xml(session, current.id), locator, value, new_id
        )
    except correction.CorrectionError as error:
        raise ProblemError(problems.INVALID_INPUT, field="value", reason=str(error)) from None
    if old.strip() == value:
        raise ProblemError(
            problems.INVALID_INPUT, field="value", reason="nilai baru sama dengan yang lama"
        )
    version_id = queries.add_corrected_version(
        session, head, current, xml, new_id, scope.viewer.user_id
    )
    audit.record(
        session,
        scope.viewer.user_id,
        "submission.correct",
        "submission",
        head.id,
        reason,
        field=locator,
        old=old,
        new=value,
        version=version_id,
        **{"from": head.review_state, "to": "edited"},
    )
    return enqueue_check(session, head.id, "correction")


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
    awaits = scope.awaits_admin
    clean = queries.clean_ids(
        session, scope.project_id, scope.submitters, submission_ids, awaiting_too=not awaits
    )
    before = {h.id: h.review_state for h in queries.heads(session, scope.project_id, clean)}
    if awaits:
        queries.set_first_approval(session, clean, scope.viewer.user_id)
    else:
        queries.set_decision(session, clean, "approved")
    audit.record_many(
        session,
        scope.viewer.user_id,
        "submission.approve_first" if awaits else "submission.approve",
        "submission",
        {
            sid: {"from": before.get(sid), "to": before.get(sid) if awaits else "approved"}
            | {"bulk": True}
            for sid in clean
        },
    )
    return clean
