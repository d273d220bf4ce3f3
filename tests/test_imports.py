"""Modules use each other's public names only: a name with a leading underscore stays in its own module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "quantadvisor"


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        ours = node.level > 0 or (node.module or "").split(".")[0] == "quantadvisor"
        for alias in node.names if ours else []:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {alias.name}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _private_imports(path)]
    assert found == [], "give these a public name in the module that owns them:\n" + "\n".join(found)
