"""Markdown tables: one row per list, a `|` inside a cell kept as text."""

from __future__ import annotations

from mnist_pipeline.evaluation.markdown import cell, table


def test_a_table_has_a_header_a_rule_and_a_row_per_list() -> None:
    assert table(["class", "recall"], [["Bag", 0.96], ["Shirt", 0.64]]) == (
        "| class | recall |\n|---|---|\n| Bag | 0.96 |\n| Shirt | 0.64 |"
    )


def test_a_pipe_in_a_cell_does_not_split_it() -> None:
    assert cell("T-shirt|top") == "T-shirt\\|top"
    assert table(["a|b"], [["c|d"]]).splitlines()[2] == "| c\\|d |"
