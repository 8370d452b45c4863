"""The house rules the tree keeps: no two parts import each other, only the CLI reads the
settings, and a name is imported from the module that defines it, never through another."""

from __future__ import annotations

import ast
import itertools
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "voicebot"
KNOWN_CYCLES: set[tuple[str, str]] = set()  # none left (daemon <-> spool went with spool.resend.TakePieces)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text())


def _part(module: str) -> str | None:
    """The folder a module lives in (None for the top-level modules: errors, modes, protocols...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else None


def _imports(module: str) -> list[ast.ImportFrom | ast.Import]:
    return [n for n in ast.walk(_tree(module)) if isinstance(n, ast.ImportFrom | ast.Import)]


def _imported_modules(module: str) -> set[str]:
    names: set[str] = set()
    for node in _imports(module):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("voicebot.")}


def test_no_two_parts_import_each_other() -> None:
    uses: dict[str, set[str]] = {}
    for module in MODULES:
        part = _part(module)
        for target in _imported_modules(module):
            other = _part(target)
            if part is not None and other is not None and other != part:
                uses.setdefault(part, set()).add(other)
    cycles = {(a, b) for a, b in itertools.combinations(sorted(uses), 2) if b in uses[a] and a in uses.get(b, ())}
    assert cycles - KNOWN_CYCLES == set()


def test_nothing_below_the_cli_imports_the_settings() -> None:
    """Each part takes its own typed options (built in voicebot.cli.wiring); only the CLI reads voicebot.config."""
    offenders = sorted(f"{module} imports {target}" for module in MODULES
                       if _part(module) not in ("cli", "config")
                       for target in _imported_modules(module) if target.startswith("voicebot.config"))
    assert offenders == []


def _defines(module: str) -> set[str]:
    names: set[str] = set()
    for node in _tree(module).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def test_names_come_from_the_module_that_defines_them() -> None:
    """`from voicebot.x import name` only where voicebot.x defines name (or name is its submodule)."""
    through = sorted(
        f"{module}: {alias.name} via {node.module}"
        for module in MODULES for node in _imports(module)
        if isinstance(node, ast.ImportFrom) and node.module in MODULES
        for alias in node.names
        if alias.name not in _defines(node.module) and f"{node.module}.{alias.name}" not in MODULES
    )
    assert through == []
