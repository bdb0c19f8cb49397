"""Markdown tables, for the model card and the blessing verdict."""

from __future__ import annotations


def cell(value: object) -> str:
    """A table cell: a `|` in a class name must not split it."""
    return str(value).replace("|", "\\|")


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
