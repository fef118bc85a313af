"""The English catalog keeps up with the UI: every text in the templates and code has an
English translation with the same placeholders, and the catalog holds no stale entries."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.i18n import CATALOGS, compile_catalogs

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


def _source_texts() -> set[str]:
    found: set[str] = set()
    methods = [("server/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "ngettext": (1, 2)}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=methods, keywords=keywords
    ):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def _catalog() -> dict[str, str]:
    with (CATALOGS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id and isinstance(m.id, str)}


def test_every_ui_text_has_an_english_translation() -> None:
    """A text in a template or in code without an English entry fails (run `make messages`)."""
    catalog = _catalog()
    missing = sorted(t for t in _source_texts() if not catalog.get(t))
    assert not missing, missing


def test_the_catalog_holds_no_stale_texts() -> None:
    """Entries whose Indonesian text is gone from the UI are removed from the catalog."""
    stale = sorted(set(_catalog()) - _source_texts())
    assert not stale, stale


def test_translations_keep_their_placeholders() -> None:
    """'%(n)d kiriman' translates to a text with the same %(n)d."""
    for source, english in _catalog().items():
        assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(english)), source


def test_the_catalog_compiles_once_and_again_when_changed(tmp_path: Path) -> None:
    """A compiled catalog is reused while the .po is older, and rebuilt when it is newer."""
    compile_catalogs(CATALOGS, tmp_path)
    compiled = tmp_path / "en" / "LC_MESSAGES" / "messages.mo"
    first = compiled.stat().st_mtime_ns
    compile_catalogs(CATALOGS, tmp_path)
    assert compiled.stat().st_mtime_ns == first
