"""House conventions checked mechanically: the dependency direction of docs/architecture.md,
module docstrings, and a one-line docstring on every test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "server"

# package/module -> server modules it must never import (prefix match).
FORBIDDEN = {
    "server.accounts": ("server.openrosa", "server.forms", "server.http", "server.services"),
    "server.forms": ("server.openrosa", "server.http", "server.services", "server.web"),
    "server.openrosa.protocol": ("server.",),
    "server.openrosa.envelope": ("server.db", "server.services", "server.models"),
    "server.config": ("server.",),
    "server.models": ("server.",),
    "server.problems": ("server.",),
    "server.storage": ("server.",),
    "server.db": ("server.openrosa", "server.forms", "server.accounts", "server.services"),
    # The review UI and Collect's protocol share only what lies below them.
    "server.openrosa": ("server.reviews", "server.web"),
    "server.web": ("server.openrosa", "server.reviews"),
    # The dashboard reads what the review UI reads; nothing below imports it.
    "server.dashboard": ("server.openrosa",),
    "server.reviews": ("server.openrosa", "server.dashboard"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SERVER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("server")}


MODULES = sorted(SERVER.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_module_respects_dependency_direction(path: Path) -> None:
    """No module imports a layer above it (e.g. accounts never imports openrosa)."""
    name = _module_name(path)
    banned = [
        prefix
        for owner, prefixes in FORBIDDEN.items()
        if name == owner or name.startswith(owner + ".")
        for prefix in prefixes
    ]
    offending = sorted(
        imported
        for imported in _imports(path)
        for prefix in banned
        if imported.startswith(prefix) and imported != name
    )
    assert not offending, f"{name} imports {offending}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_module_has_a_docstring(path: Path) -> None:
    """Every module says what it owns in its docstring."""
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no docstring"


TESTS = sorted((SERVER.parent / "tests").rglob("test_*.py"))


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_every_test_has_a_one_line_docstring(path: Path) -> None:
    """Each test states the behaviour it pins in one line."""
    tree = ast.parse(path.read_text())
    bad = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
        and (not (doc := ast.get_docstring(node)) or "\n" in doc.strip())
    ]
    assert not bad, f"{path.name}: {bad}"
