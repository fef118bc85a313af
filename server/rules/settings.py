"""A form's rule settings: which answers hold what, which rules run, how severe they are and
their thresholds, and how clean submissions are reviewed. Validated from the parsed TOML
file beside the form (forms/<form>.toml), with every mistake reported in one go.

Pure: the caller reads and parses the file; this module only checks the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.rules import engine
from server.rules.engine import RuleSettings, Threshold
from server.rules.model import Severity

# Paths into the instance (below the root) that the bridge reads to build a Visit.
VISIT_FIELDS = {
    "target": "the chosen household (select_one_from_file of the assignment list)",
    "visit_type": "list visit or new-household proposal",
    "outcome": "household outcome (hasil)",
    "consent": "consent (ya/tidak)",
    "kk_same": "KK on the card equals the registry's (ya/tidak)",
    "kk": "corrected or new KK number",
    "kk_photo": "photo of the KK",
    "household_size": "household size",
    "village": "village code of a new household",
    "location": "geopoint of the house",
    "started": "start time",
    "ended": "end time",
    "informant": "informant's name",
    "verdict": "eligibility verdict",
    "verdict_reason": "reason for the verdict",
    "assets": "assets (select_multiple)",
}
LIST_FIELDS = {"house_photos": "the house photo questions (front, side, back)"}
ROSTER_FIELDS = {
    "repeat": "the repeat of registry members",
    "key": "registry person key of the row",
    "registry_nik": "registry NIK shown",
    "name": "name",
    "sex": "sex",
    "birth_date": "birth date",
    "relationship": "relationship code",
    "registry_dead": "registry says dead (0/1)",
    "status": "member status",
    "death_date": "date of death",
    "death_document": "photo of the death document",
    "nik_same": "NIK on the card equals the registry's (ya/tidak)",
    "nik": "corrected NIK",
    "id_photo": "KTP/KK photo",
}
NEW_MEMBER_FIELDS = {
    "repeat": "the repeat of new members",
    "nik": "NIK",
    "name": "name",
    "sex": "sex",
    "birth_date": "birth date",
    "relationship": "relationship code",
    "id_photo": "KTP/KK photo",
}


class SettingsError(ValueError):
    """The settings file is wrong; `problems` lists every mistake, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class FieldMap:
    """Where the bridge finds each fact in a submission of this form."""

    visit: Mapping[str, str] = field(default_factory=dict)
    house_photos: tuple[str, ...] = ()
    roster: Mapping[str, str] = field(default_factory=dict)
    new_members: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FormSettings:
    """Everything the settings file says."""

    fields: FieldMap = field(default_factory=FieldMap)
    rules: RuleSettings = field(default_factory=RuleSettings)
    # Clean submissions are approved automatically, except this share held for review at
    # random; with auto_approve false every clean submission waits for a koordinator.
    auto_approve: bool = True
    sample_rate: float = 0.10


def _mapping(
    data: Any, where: str, known: Mapping[str, str], problems: list[str]
) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        problems.append(f"{where}: expected a table")
        return {}
    found = {}
    for key, value in data.items():
        if key not in known:
            problems.append(f"{where}.{key}: unknown; one of {', '.join(sorted(known))}")
        elif not isinstance(value, str) or not value.strip():
            problems.append(f'{where}.{key}: expected a field path such as "grp/question"')
        else:
            found[key] = value.strip().strip("/")
    return found


def _fields(data: Any, problems: list[str]) -> FieldMap:
    if data is None:
        return FieldMap()
    if not isinstance(data, Mapping):
        problems.append("fields: expected a table")
        return FieldMap()
    plain = {k: v for k, v in data.items() if k not in {"roster", "new_members", *LIST_FIELDS}}
    photos = data.get("house_photos", [])
    if not isinstance(photos, list) or not all(isinstance(p, str) and p for p in photos):
        problems.append("fields.house_photos: expected a list of field paths")
        photos = []
    return FieldMap(
        visit=_mapping(plain, "fields", VISIT_FIELDS, problems),
        house_photos=tuple(p.strip("/") for p in photos),
        roster=_mapping(data.get("roster"), "fields.roster", ROSTER_FIELDS, problems),
        new_members=_mapping(
            data.get("new_members"), "fields.new_members", NEW_MEMBER_FIELDS, problems
        ),
    )


def _rules(data: Any, problems: list[str]) -> RuleSettings:
    if data is None:
        return RuleSettings()
    if not isinstance(data, Mapping):
        problems.append("rules: expected a table")
        return RuleSettings()
    disabled = data.get("disabled", [])
    if not isinstance(disabled, list) or not all(isinstance(r, str) for r in disabled):
        problems.append('rules.disabled: expected a list of rule IDs such as ["V37"]')
        disabled = []
    for rule_id in disabled:
        if rule_id not in engine.RULES:
            problems.append(f"rules.disabled: unknown rule {rule_id}")
    severities: dict[str, Severity] = {}
    thresholds: dict[str, dict[str, Threshold]] = {}
    for rule_id, options in data.items():
        if rule_id == "disabled":
            continue
        spec = engine.RULES.get(rule_id)
        if spec is None:
            problems.append(f"rules.{rule_id}: unknown rule")
            continue
        if not isinstance(options, Mapping):
            problems.append(f"rules.{rule_id}: expected a table")
            continue
        for name, value in options.items():
            where = f"rules.{rule_id}.{name}"
            if name == "severity":
                try:
                    severities[rule_id] = Severity(str(value).upper())
                except ValueError:
                    problems.append(f"{where}: one of BLOCK, HIGH, MED, LOW")
            elif name not in spec.thresholds:
                known = ", ".join(sorted(spec.thresholds)) or "none"
                problems.append(f"{where}: unknown; {rule_id} has severity and {known}")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{where}: expected a number")
            elif value < 0:
                problems.append(f"{where}: must not be negative")
            else:
                thresholds.setdefault(rule_id, {})[name] = value
    return RuleSettings(frozenset(disabled), severities, thresholds)


def parse_settings(data: Mapping[str, Any]) -> FormSettings:
    """Validate a parsed settings file; raises SettingsError naming every mistake."""
    problems: list[str] = []
    for key in data:
        if key not in {"fields", "rules", "review"}:
            problems.append(f"{key}: unknown section; use fields, rules or review")
    fields = _fields(data.get("fields"), problems)
    rules = _rules(data.get("rules"), problems)
    review = data.get("review") or {}
    auto_approve, sample_rate = True, 0.10
    if not isinstance(review, Mapping):
        problems.append("review: expected a table")
    else:
        for key in review:
            if key not in {"auto_approve", "sample_rate"}:
                problems.append(f"review.{key}: unknown; use auto_approve or sample_rate")
        auto_approve = review.get("auto_approve", True)
        if not isinstance(auto_approve, bool):
            problems.append("review.auto_approve: expected true or false")
            auto_approve = True
        sample_rate = review.get("sample_rate", 0.10)
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float):
            problems.append("review.sample_rate: expected a number between 0 and 1")
            sample_rate = 0.10
        elif not 0 <= sample_rate <= 1:
            problems.append("review.sample_rate: expected a number between 0 and 1")
    if problems:
        raise SettingsError(problems)
    return FormSettings(fields, rules, auto_approve, float(sample_rate))
