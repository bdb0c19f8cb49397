"""What a Python file imports, read from its syntax tree (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, by its full dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a file imports."""
    return {module.split(".")[0] for module in imported_modules(path)}
