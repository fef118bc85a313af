"""Checks cheap enough to answer at submit time: the structure of each entered NIK (V01-V04)
needs neither the registry nor other submissions, so its messages can go back to the phone
in the OpenRosaResponse, while the enumerator may still be at the house. The full check
still runs afterwards in a worker; these notes only tell the enumerator early.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from server.rules.catalog import evaluate
from server.rules.model import Facts
from server.rules.settings import parse_settings
from server.validation.facts import Received, visit_from_instance

log = logging.getLogger(__name__)

INSTANT_RULES = frozenset({"V01", "V02", "V03", "V04"})
# Collect shows the message in one line of its sent-forms list: the first few are enough.
MAX_NOTES = 3


def instant_notes(xml: bytes, rule_settings: dict[str, Any] | None, today: date) -> list[str]:
    """The Indonesian messages of the submit-time rules for this instance (none when the form
    has no rule settings). Never raises: the submission is already kept, and an answer
    without notes is better than none."""
    if rule_settings is None:
        return []
    try:
        settings = parse_settings(rule_settings)
        visit = visit_from_instance(xml, settings.fields, Received(submission_id=0))
        flags = evaluate(Facts(visit=visit, today=today), settings.rules, only=INSTANT_RULES)
    except Exception as exc:  # noqa: BLE001 - the worker's full check will report it
        log.warning("submit-time checks skipped: %s", type(exc).__name__)
        return []
    return [flag.message_id for flag in flags if flag.rule in INSTANT_RULES][:MAX_NOTES]
