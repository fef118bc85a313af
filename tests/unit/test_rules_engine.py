"""The rule engine: registration, isolation of a failing rule, settings that switch rules off,
change severities and thresholds, and the validation of a form's settings file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.rules import engine
from server.rules.engine import Context, RuleSettings, evaluate, rule, worst
from server.rules.model import ENGINE_ERROR, Facts, Flag, Severity, Visit
from server.rules.settings import SettingsError, parse_settings

FACTS = Facts(Visit(submission_id=1, outcome="ditemukan"))


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> dict[str, engine.RuleSpec]:
    """An empty rule registry with two rules: one that fires, one that crashes."""
    registry: dict[str, engine.RuleSpec] = {}
    monkeypatch.setattr(engine, "RULES", registry)

    @rule("V90", Severity.MED, "Selalu", "Always", thresholds={"limit": 3})
    def always(facts: Facts, ctx: Context) -> Iterator[Flag]:
        """Fires once for every submission, with its threshold as evidence."""
        yield ctx.flag("pesan", "message", ["outcome"], limit=ctx.threshold("limit"))

    @rule("V91", Severity.HIGH, "Rusak", "Broken")
    def broken(facts: Facts, ctx: Context) -> Iterator[Flag]:
        """Raises, as a rule with a bug would."""
        raise ZeroDivisionError("division by zero")
        yield  # pragma: no cover

    return registry


def test_flags_carry_rule_severity_fields_and_evidence(rules) -> None:  # type: ignore[no-untyped-def]
    """A flag names its rule, severity, fields and evidence."""
    flags = evaluate(FACTS, RuleSettings(disabled=frozenset({"V91"})))
    assert [f.as_json() for f in flags] == [
        {
            "rule": "V90",
            "severity": "MED",
            "message_id": "pesan",
            "message_en": "message",
            "fields": ["outcome"],
            "evidence": {"limit": 3},
        }
    ]


def test_a_failing_rule_leaves_an_engine_flag_and_the_others_run(rules) -> None:  # type: ignore[no-untyped-def]
    """The crash of V91 becomes an ENGINE flag naming it; V90 still fires."""
    flags = evaluate(FACTS)
    assert [f.rule for f in flags] == ["V90", ENGINE_ERROR]
    assert flags[1].severity is Severity.HIGH
    assert flags[1].evidence == {
        "rule": "V91",
        "error": "ZeroDivisionError",
        "detail": "division by zero",
    }


def test_settings_change_severity_and_threshold(rules) -> None:  # type: ignore[no-untyped-def]
    """The form's settings override a rule's severity and thresholds."""
    settings = RuleSettings(
        disabled=frozenset({"V91"}),
        severities={"V90": Severity.LOW},
        thresholds={"V90": {"limit": 7}},
    )
    (flag,) = evaluate(FACTS, settings)
    assert flag.severity is Severity.LOW and flag.evidence == {"limit": 7}
    assert worst(evaluate(FACTS)) is Severity.HIGH and worst([]) is None


def test_a_rule_without_a_policy_is_refused(rules) -> None:  # type: ignore[no-untyped-def]
    """Every rule states its policy in its docstring; a bare function is not registered."""
    with pytest.raises(ValueError, match="docstring"):

        @rule("V92", Severity.LOW, "x", "x")
        def bare(facts: Facts, ctx: Context) -> Iterator[Flag]:
            yield from ()


def test_parse_settings_reads_a_valid_file(rules) -> None:  # type: ignore[no-untyped-def]
    """Fields, rule options and review sampling come through validated."""
    settings = parse_settings(
        {
            "fields": {
                "target": "sasaran",
                "house_photos": ["foto_depan", "/foto_samping"],
                "roster": {"repeat": "anggota", "status": "status_anggota"},
            },
            "rules": {"disabled": ["V91"], "V90": {"severity": "high", "limit": 5}},
            "review": {"auto_approve": False, "sample_rate": 0.25},
        }
    )
    assert settings.fields.visit == {"target": "sasaran"}
    assert settings.fields.house_photos == ("foto_depan", "foto_samping")
    assert settings.fields.roster["repeat"] == "anggota"
    assert settings.rules.disabled == {"V91"}
    assert settings.rules.severities == {"V90": Severity.HIGH}
    assert settings.rules.thresholds == {"V90": {"limit": 5}}
    assert settings.sample_rate == 0.25


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"rulez": {}}, "rulez: unknown section"),
        ({"rules": {"V99": {}}}, "rules.V99: unknown rule"),
        ({"rules": {"disabled": ["V98"]}}, "rules.disabled: unknown rule V98"),
        ({"rules": {"V90": {"severity": "URGENT"}}}, "rules.V90.severity: one of"),
        ({"rules": {"V90": {"limt": 3}}}, "rules.V90.limt: unknown; V90 has severity and limit"),
        ({"rules": {"V90": {"limit": "tiga"}}}, "rules.V90.limit: expected a number"),
        ({"rules": {"V90": {"limit": -1}}}, "rules.V90.limit: must not be negative"),
        ({"fields": {"nik": "x"}}, "fields.nik: unknown"),
        ({"fields": {"roster": {"repeat": 3}}}, "fields.roster.repeat: expected a field path"),
        ({"review": {"sample_rate": 1.5}}, "review.sample_rate: expected a number between 0 and 1"),
        ({"review": {"auto_approve": "yes"}}, "review.auto_approve: expected true or false"),
    ],
)
def test_parse_settings_names_each_mistake(rules, data, problem: str) -> None:  # type: ignore[no-untyped-def]
    """A wrong settings file is refused with a message naming the key and what is expected."""
    with pytest.raises(SettingsError) as caught:
        parse_settings(data)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
