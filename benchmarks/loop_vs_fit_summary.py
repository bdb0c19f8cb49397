"""Loop against `fit`, summarising: the paired differences (loop − each other method) per size and their t interval.

Pure functions of the runs, free of TensorFlow, so they are tested on fixed numbers.
Seeds pair the runs: all methods start from the same weights, so a per-seed difference is
free of what the initial weights alone do to the accuracy.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from benchmarks.common import MissingFigure

# Student's t, two-sided 95% (the 0.975 quantile) for 1–30 degrees of freedom: no SciPy needed.
T_975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
MAX_PAIRS = len(T_975) + 1


def t_interval(differences: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the paired t 95% confidence interval of the mean difference."""
    if not 2 <= len(differences) <= MAX_PAIRS:
        raise ValueError(f"a t interval here needs 2 to {MAX_PAIRS} pairs, got {len(differences)}")
    mean = statistics.fmean(differences)
    half = T_975[len(differences) - 2] * statistics.stdev(differences) / math.sqrt(len(differences))
    return mean, mean - half, mean + half


def accuracies(runs: list[dict[str, Any]], size: int, method: str) -> dict[int, float]:
    return {run["seed"]: run["test_accuracy"] for run in runs if (run["size"], run["method"]) == (size, method)}


def epoch_seconds(runs: list[dict[str, Any]], size: int, method: str) -> float:
    """The median over seeds of a run's training time per epoch."""
    return statistics.median(
        run["train_s"] / run["epochs"] for run in runs if (run["size"], run["method"]) == (size, method)
    )


def comparison(runs: list[dict[str, Any]], size: int, against: str, seeds: list[int]) -> dict[str, Any]:
    """The loop against one other method at one size, paired by seed."""
    loop, other = accuracies(runs, size, "loop"), accuracies(runs, size, against)
    missing = [seed for seed in seeds if seed not in loop or seed not in other]
    if missing:
        raise MissingFigure(f"size {size}: no loop or {against} run for seeds {missing}")
    differences = [loop[seed] - other[seed] for seed in seeds]
    mean, low, high = t_interval(differences)
    return {
        "size": size,
        "against": against,
        "counts": next(run["counts"] for run in runs if run["size"] == size),
        "loop": [loop[seed] for seed in seeds],
        "other": [other[seed] for seed in seeds],
        "differences": differences,
        "loop_mean": statistics.fmean(loop[seed] for seed in seeds),
        "other_mean": statistics.fmean(other[seed] for seed in seeds),
        "mean_difference": mean,
        "ci95": [low, high],
        "loop_epoch_s": epoch_seconds(runs, size, "loop"),
        "other_epoch_s": epoch_seconds(runs, size, against),
    }


def summarize(runs: list[dict[str, Any]], sizes: list[int], seeds: list[int]) -> list[dict[str, Any]]:
    """One comparison per size and method the runs hold besides the loop, in the order they were run."""
    methods = list(dict.fromkeys(run["method"] for run in runs if run["method"] != "loop"))
    return [comparison(runs, size, against, seeds) for size in sizes for against in methods]
