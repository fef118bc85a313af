"""What the rule tests share: run one rule on facts, and check a table case's outcome."""

from __future__ import annotations

from collections.abc import Iterable

from server.rules.catalog import RULES
from server.rules.engine import DEFAULT_SETTINGS, Context, RuleSettings
from server.rules.model import Facts, Flag, Severity


def run(rule_id: str, facts: Facts, settings: RuleSettings | None = None) -> list[Flag]:
    """The flags one rule yields for the facts (default settings unless given)."""
    spec = RULES[rule_id]
    return list(spec.check(facts, Context(spec, settings or DEFAULT_SETTINGS)))


def check_case(
    rule_id: str, facts: Facts, expected: Severity | None, hidden: Iterable[str] = ()
) -> list[Flag]:
    """The rule fires once with `expected` severity (or not at all for None), and its
    message shows none of the `hidden` personal values."""
    flags = run(rule_id, facts)
    if expected is None:
        assert flags == []
    else:
        assert [flag.rule for flag in flags] == [rule_id]
        assert flags[0].severity == expected
        text = flags[0].message_id + flags[0].message_en
        assert not [value for value in hidden if value in text]
    return flags
