"""Serving latency, rendering: the summaries of `latency_summary` as benchmarks/results/latency.md."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from benchmarks.common import MissingFigure
from benchmarks.latency_measure import BATCH

if TYPE_CHECKING:
    from benchmarks.latency_measure import Settings


def ms(milliseconds: float) -> str:
    """Milliseconds: 3 decimals below 10 ms, 2 below 100 ms, else 1."""
    return (
        f"{milliseconds:.3f}"
        if milliseconds < 10
        else f"{milliseconds:.2f}"
        if milliseconds < 100
        else f"{milliseconds:.1f}"
    )


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    """`median (min–max)`."""
    if not values:
        raise MissingFigure("a figure of the table has no value")
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def markdown(info: dict[str, Any], runtimes: dict[str, Any], cold: dict[str, Any], settings: Settings) -> str:
    m = info["machine"]
    lines = [
        "# Serving latency",
        "",
        f"Measured {info['date']} with `python -m benchmarks.latency{info['command_args']}`: {info['what_model']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable); Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, LiteRT {info['litert']}. Shared machine: times are noisy; "
        "compare rows of this table with each other.",
        "",
        f"Per image: batch of 1, {info['calls_per_runtime']} calls per runtime after {settings.warmup} warm-up calls, in "
        f"{settings.rounds} rounds (runtimes in a rotated order each round); p50 and p99 over all calls, and the range of "
        f"the per-round p50s. Throughput: the whole test split ({info['test_images']} images) in batches of {BATCH}, "
        "median (min–max) over rounds. Accuracy: on the test split, from the batch runs.",
        "",
        "| runtime | p50 (ms) | p99 (ms) | p50 per round (ms) | images/s at batch 1024 | test accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in runtimes.items():
        lines.append(
            f"| {name} | {ms(entry['p50_ms'])} | {ms(entry['p99_ms'])} "
            f"| {ms(min(entry['round_p50_ms']))}–{ms(max(entry['round_p50_ms']))} "
            f"| {spread(entry['images_per_s'], lambda v: f'{v:,.0f}')} | {entry['accuracy'] * 100:.2f} % |"
        )
    predict, tensorflow = cold["predict"], cold["tensorflow"]
    lines += [
        "",
        f"Cold start, fresh process classifying one PNG (wall time, median (min–max) of {settings.cold}, the two alternating):",
        "",
        "| command | wall time (s) | max RSS (MiB) |",
        "|---|---|---|",
        f"| `predict one.png` (TFLite float32 by LiteRT, no TensorFlow) | {spread(predict['wall_s'], lambda v: f'{v:.2f}')} "
        f"| {predict['rss_mib']:.0f} |",
        f"| for comparison: `python -c` loading the SavedModel in TensorFlow and classifying the same PNG "
        f"| {spread(tensorflow['wall_s'], lambda v: f'{v:.2f}')} | {tensorflow['rss_mib']:.0f} |",
        "",
        f"`predict` printed: `{cold['output']}`. Wall time and max RSS (`ru_maxrss`) of the process alone, "
        "taken by a minimal Python parent (`benchmarks/common.py`'s `run_small`).",
    ]
    if info.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {note}" for note in info["notes"]]
    return "\n".join(lines) + "\n"
