"""Reading a form's rule settings file (forms/<form>.toml) and checking it against the form.

The settings are checked when the form is published, so a misspelt rule, threshold or
field path is a clear error for the designer then, never a silent gap in the checks later:
every field path must name a node of the form's instance, and the roster's fields must be
inside the roster's repeat.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from server import problems
from server.forms.xform import XFormFacts
from server.problems import ProblemError
from server.rules.settings import FormSettings, SettingsError, parse_settings

SUFFIX = ".toml"
MAX_BYTES = 200_000


def settings_beside(source: Path) -> Path | None:
    """The settings file that goes with a form file: same name, .toml."""
    candidate = source.with_suffix(SUFFIX)
    return candidate if candidate.is_file() else None


def read_rule_settings(path: Path) -> dict[str, Any]:
    """The parsed TOML; a syntax error names its line."""
    if path.stat().st_size > MAX_BYTES:
        raise ProblemError(problems.RULE_SETTINGS_INVALID, name=path.name, details="too large")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProblemError(
            problems.RULE_SETTINGS_INVALID, name=path.name, details=str(exc)
        ) from None


def _missing_paths(settings: FormSettings, facts: XFormFacts) -> list[str]:
    known = set(facts.paths)
    missing = []
    named = [(f"fields.{key}", path) for key, path in settings.fields.visit.items()]
    named += [("fields.house_photos", path) for path in settings.fields.house_photos]
    for section, mapping in (
        ("roster", settings.fields.roster),
        ("new_members", settings.fields.new_members),
    ):
        repeat = mapping.get("repeat")
        for key, path in mapping.items():
            full = path if key == "repeat" or repeat is None else f"{repeat}/{path}"
            named.append((f"fields.{section}.{key}", full))
    for where, path in named:
        if path not in known:
            missing.append(f"{where}: {path!r} is not a question of form {facts.form_id}")
    return missing


def check_rule_settings(data: dict[str, Any], facts: XFormFacts, name: str) -> FormSettings:
    """Validated settings for this form, or a 422 problem listing every mistake."""
    import server.rules.catalog  # noqa: F401 - registers the rules the file may name

    try:
        settings = parse_settings(data)
    except SettingsError as exc:
        mistakes = exc.problems
    else:
        mistakes = _missing_paths(settings, facts)
        if not mistakes:
            return settings
    raise ProblemError(problems.RULE_SETTINGS_INVALID, name=name, details="\n".join(mistakes))
