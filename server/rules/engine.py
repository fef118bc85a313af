"""Rules as plain functions registered with their metadata, and the loop that runs them.

A rule is a generator `check(facts, ctx)` decorated with `@rule(id, severity, title,
thresholds=...)`; its docstring states the policy in plain words. It yields flags made with
`ctx.flag(...)`, which stamps the rule's ID and its severity (as the form's settings may
have changed it). Thresholds are declared with their defaults next to the rule and read with
`ctx.threshold(name)`, so the settings file can only name thresholds that exist.

`evaluate()` runs every enabled rule. A rule that raises does not take the others down: its
own flags are dropped and an ENGINE flag names it and the error, so a koordinator still
sees that the submission was not fully checked.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from server.rules.model import ENGINE_ERROR, Facts, Flag, Severity

Threshold = float | int
Check = Callable[[Facts, "Context"], Iterable[Flag]]


@dataclass(frozen=True)
class RuleSpec:
    """A registered rule: identity, default severity, thresholds, policy and the check."""

    id: str
    severity: Severity
    title_id: str
    title_en: str
    check: Check
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    policy: str = ""

    @property
    def order(self) -> tuple[int, str]:
        digits = "".join(c for c in self.id if c.isdigit())
        return (int(digits) if digits else 0, self.id)


RULES: dict[str, RuleSpec] = {}


def rule(
    rule_id: str,
    severity: Severity,
    title_id: str,
    title_en: str,
    *,
    thresholds: Mapping[str, Threshold] | None = None,
) -> Callable[
    [Callable[[Facts, Context], Iterable[Flag]]], Callable[[Facts, Context], Iterable[Flag]]
]:
    """Register a check under `rule_id` (V01 ... V50)."""

    def register(
        check: Callable[[Facts, Context], Iterable[Flag]],
    ) -> Callable[[Facts, Context], Iterable[Flag]]:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} is registered twice")
        policy = inspect.getdoc(check) or ""
        if not policy:
            raise ValueError(f"rule {rule_id} has no docstring stating its policy")
        RULES[rule_id] = RuleSpec(
            rule_id, severity, title_id, title_en, check, dict(thresholds or {}), policy
        )
        return check

    return register


@dataclass(frozen=True)
class RuleSettings:
    """A form's rule settings, already validated (see settings.py)."""

    disabled: frozenset[str] = frozenset()
    severities: Mapping[str, Severity] = field(default_factory=dict)
    thresholds: Mapping[str, Mapping[str, Threshold]] = field(default_factory=dict)


DEFAULT_SETTINGS = RuleSettings()


class Context:
    """What a running rule may ask of the engine: its settings, and a way to make flags."""

    def __init__(self, spec: RuleSpec, settings: RuleSettings) -> None:
        self.spec = spec
        self.severity = settings.severities.get(spec.id, spec.severity)
        self._thresholds = {**spec.thresholds, **settings.thresholds.get(spec.id, {})}

    def threshold(self, name: str) -> Threshold:
        return self._thresholds[name]

    def flag(
        self,
        message_id: str,
        message_en: str,
        fields: Iterable[str] = (),
        severity: Severity | None = None,
        **evidence: Any,
    ) -> Flag:
        return Flag(
            self.spec.id,
            severity or self.severity,
            message_id,
            message_en,
            tuple(fields),
            evidence,
        )


@lru_cache(maxsize=4)
def _in_order(_registered: tuple[str, ...]) -> list[RuleSpec]:
    """The registered rules in rule order, sorted once for each set of rules (the
    argument: their IDs as registered)."""
    return sorted(RULES.values(), key=lambda s: s.order)


def evaluate(
    facts: Facts,
    settings: RuleSettings = DEFAULT_SETTINGS,
    only: frozenset[str] | None = None,
) -> list[Flag]:
    """Every enabled rule's flags for one submission (or those of the `only` rules), in rule
    order."""
    flags: list[Flag] = []
    for spec in _in_order(tuple(RULES)):
        if spec.id in settings.disabled or (only is not None and spec.id not in only):
            continue
        try:
            flags.extend(spec.check(facts, Context(spec, settings)))
        except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide the others' flags
            flags.append(
                Flag(
                    ENGINE_ERROR,
                    Severity.HIGH,
                    f"Aturan {spec.id} gagal dijalankan; periksa kiriman ini secara manual.",
                    f"Rule {spec.id} failed to run; check this submission by hand.",
                    (),
                    {"rule": spec.id, "error": type(exc).__name__, "detail": str(exc)[:200]},
                )
            )
    return flags


def worst(flags: Iterable[Flag]) -> Severity | None:
    """The most severe flag's severity (None without flags)."""
    found = [flag.severity for flag in flags]
    return max(found, key=lambda s: s.rank) if found else None
