"""docs/rules.md carries the catalog exactly as the registered rules describe themselves."""

from __future__ import annotations

from conftest import ROOT

from server.validation.commands import CATALOG_END, CATALOG_START, catalog_markdown, registered


def test_catalog_in_docs_is_current() -> None:
    """Regenerate with: verivali rules list --markdown (between the catalog markers)."""
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    start = text.index(CATALOG_START) + len(CATALOG_START)
    assert text[start : text.index(CATALOG_END)] == catalog_markdown(registered())


def test_every_catalog_rule_has_a_policy_and_a_known_id() -> None:
    """Rules are V01..V50 with a policy docstring and Indonesian and English titles."""
    specs = registered()
    assert len(specs) >= 40
    for spec in specs:
        assert spec.id[0] == "V" and 1 <= int(spec.id[1:]) <= 50
        assert spec.policy and spec.title_id and spec.title_en
