"""A form's rule settings file: read beside the form when it is published, checked against
the rules and the form's questions, stored with the version, and updated without a new
version when only the settings change."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, Seed, publish

from server.forms import queries as form_queries
from server.problems import ProblemError

FORM = ROOT / "forms" / "verval_ruta.xlsx"
RULES = ROOT / "forms" / "verval_ruta.toml"


def stored_rules(svc, seed: Seed):  # type: ignore[no-untyped-def]
    with svc.db.sessions() as session:
        form = form_queries.form_by_xml_id(session, seed.project_id, "verval_ruta")
        assert form is not None and form.current_version_id
        version = form_queries.version_by_id(session, form.current_version_id)
        assert version is not None
        return version.version, version.rule_settings


def copy_form(tmp_path: Path, rules: str) -> Path:
    form = tmp_path / "verval_ruta.xlsx"
    shutil.copy(FORM, form)
    form.with_suffix(".toml").write_text(rules, encoding="utf-8")
    return form


def test_settings_beside_the_form_are_stored_with_it(svc, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """Publishing forms/verval_ruta.xlsx keeps forms/verval_ruta.toml as checked."""
    publish(svc, seed.project_id, FORM)
    version, rules = stored_rules(svc, seed)
    assert rules == tomllib.loads(RULES.read_text())
    assert rules["fields"]["target"] == "sasaran" and version == "2026112301"


def test_changing_only_the_settings_keeps_the_version(svc, seed: Seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """New thresholds update the current version's settings; phones see no new form."""
    publish(svc, seed.project_id, FORM)
    changed = RULES.read_text() + "\n[rules.V31]\nmax_accuracy_m = 50\n"
    version, md5, created = publish(svc, seed.project_id, copy_form(tmp_path, changed))
    assert not created and version == "2026112301"
    _version, rules = stored_rules(svc, seed)
    assert rules["rules"]["V31"] == {"max_accuracy_m": 50}


@pytest.mark.parametrize(
    ("rules", "mistakes"),
    [
        (
            '[fields]\ntarget = "sasaran_x"\n[fields.roster]\nrepeat = "anggota"\nstatus = "x"\n',
            [
                "fields.target: 'sasaran_x' is not a question of form verval_ruta",
                "fields.roster.status: 'anggota/x' is not a question of form verval_ruta",
            ],
        ),
        (
            '[rules]\ndisabled = ["V77"]\n[rules.V31]\nmax_acuracy_m = 5\n',
            ["rules.disabled: unknown rule V77", "rules.V31.max_acuracy_m: unknown"],
        ),
        ('[fields\ntarget = "sasaran"\n', ["line 1"]),
    ],
)
def test_wrong_settings_are_refused_with_every_mistake(  # type: ignore[no-untyped-def]
    svc, seed: Seed, tmp_path: Path, rules: str, mistakes: list[str]
) -> None:
    """A misspelt field path, rule or threshold, or broken TOML, stops the publish."""
    with pytest.raises(ProblemError) as caught:
        publish(svc, seed.project_id, copy_form(tmp_path, rules))
    assert caught.value.status == 422
    message = caught.value.message("en")
    for mistake in mistakes:
        assert mistake in message
