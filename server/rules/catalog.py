"""Every rule module, imported once so that each rule is registered with the engine."""

from __future__ import annotations

from server.rules import (  # noqa: F401 - imported for their @rule registrations
    duplicates,
    eligibility,
    evidence,
    identity,
    location,
    paradata,
    registry,
)
from server.rules.engine import RULES, RuleSettings, evaluate

__all__ = ["RULES", "RuleSettings", "evaluate"]
