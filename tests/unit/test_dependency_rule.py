"""The dependency rule: the domain library (shared/src) imports the standard library, pydantic
and itself, nothing else; ruff's banned-api list in shared/ruff.toml enforces it at lint time."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_SRC = ROOT / "shared" / "src"
ALLOWED_THIRD_PARTY = frozenset({"pydantic", "pydantic_core", "typing_extensions", "celeste"})
MUST_BE_BANNED = (
    "google",
    "firebase_admin",
    "firebase_functions",
    "redis",
    "flask",
    "werkzeug",
    "celeste_functions",
)
SOURCES = sorted(SHARED_SRC.rglob("*.py"))


def imported_modules(source: str) -> list[tuple[int, str]]:
    """``(line, top-level module)`` of every absolute import in ``source`` (relative imports
    stay inside the package, so they are always allowed)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def test_the_domain_library_has_sources() -> None:
    assert len(SOURCES) >= 5
    assert SHARED_SRC / "celeste" / "__init__.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SHARED_SRC)))
def test_domain_imports_only_stdlib_pydantic_and_itself(path: Path) -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for line, module in imported_modules(path.read_text(encoding="utf-8"))
        if module not in sys.stdlib_module_names and module not in ALLOWED_THIRD_PARTY
    ]
    assert offending == []


def test_imported_modules_sees_every_import_form() -> None:
    source = (
        "import a.b, c\n"
        "from d.e import f\n"
        "from . import g\n"
        "from .h import i\n"
        "def late():\n"
        "    import j\n"
        "if TYPE_CHECKING:\n"
        "    from k import L\n"
    )
    assert [m for _, m in imported_modules(source)] == ["a", "c", "d", "j", "k"]


def test_ruff_bans_io_and_framework_imports_in_shared() -> None:
    config = tomllib.loads((ROOT / "shared" / "ruff.toml").read_text(encoding="utf-8"))
    assert config.get("extend") == "../pyproject.toml"
    banned = config["lint"]["flake8-tidy-imports"]["banned-api"]
    assert set(MUST_BE_BANNED) <= set(banned)
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "TID" in root["tool"]["ruff"]["lint"]["select"]


# --- the domain's contexts point down only ------------------------------------------------

#: The context packages of ``celeste``, lowest first: a context may import its own modules and
#: those of the contexts before it, never one after it. ``ports``, ``writes`` and ``services``
#: are the layer above every context.
CONTEXTS = (
    "kernel",
    "catalog",
    "accounts",
    "pricing",
    "cart",
    "inventory",
    "orders",
    "notifications",
    "webhooks",
)
ABOVE = frozenset({"ports", "writes", "services"})


def _celeste_targets(source: str) -> list[tuple[int, str]]:
    """``(line, second-level name)`` of every ``celeste.*`` import (``celeste.orders.x`` →
    ``orders``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "celeste" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
            elif parts == ["celeste"]:
                found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "celeste" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
    return found


def test_every_domain_module_lives_in_a_context_or_the_layer_above() -> None:
    top = {p.relative_to(SHARED_SRC / "celeste").parts[0] for p in SOURCES}
    assert top - {"__init__.py", "py.typed"} == {*CONTEXTS, "ports", "writes.py", "services"}


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if p.relative_to(SHARED_SRC / "celeste").parts[0] in CONTEXTS],
    ids=lambda p: str(p.relative_to(SHARED_SRC)),
)
def test_a_context_imports_only_itself_and_the_contexts_below(path: Path) -> None:
    own = CONTEXTS.index(path.relative_to(SHARED_SRC / "celeste").parts[0])
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports celeste.{target}"
        for line, target in _celeste_targets(path.read_text(encoding="utf-8"))
        if target in ABOVE or (target in CONTEXTS and CONTEXTS.index(target) > own)
    ]
    assert upward == []
