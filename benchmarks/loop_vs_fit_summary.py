"""Loop against `fit`, summarising: the paired differences (loop − fit) per training-set size and their t interval.

Pure functions of the runs, free of TensorFlow, so they are tested on fixed numbers.
Seeds pair the runs: both methods start from the same weights, so a per-seed difference
cancels most of what the seed alone does to the accuracy.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from benchmarks.common import MissingFigure

# Student's t, two-sided 95% (the 0.975 quantile) for 1–30 degrees of freedom: no SciPy needed.
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
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
    return {run["seed"]: run["test_accuracy"] for run in runs if run["size"] == size and run["method"] == method}


def epoch_seconds(runs: list[dict[str, Any]], size: int, method: str) -> float:
    """The median over seeds of a run's training time per epoch."""
    return statistics.median(
        run["train_s"] / run["epochs"] for run in runs if (run["size"], run["method"]) == (size, method)
    )


def size_summary(runs: list[dict[str, Any]], size: int, seeds: list[int]) -> dict[str, Any]:
    loop, fit = accuracies(runs, size, "loop"), accuracies(runs, size, "fit")
    missing = [seed for seed in seeds if seed not in loop or seed not in fit]
    if missing:
        raise MissingFigure(f"size {size}: no loop or fit run for seeds {missing}")
    differences = [loop[seed] - fit[seed] for seed in seeds]
    mean, low, high = t_interval(differences)
    return {
        "size": size,
        "counts": next(run["counts"] for run in runs if run["size"] == size),
        "loop": [loop[seed] for seed in seeds],
        "fit": [fit[seed] for seed in seeds],
        "differences": differences,
        "loop_mean": statistics.fmean(loop.values()),
        "fit_mean": statistics.fmean(fit.values()),
        "mean_difference": mean,
        "ci95": [low, high],
        "loop_epoch_s": epoch_seconds(runs, size, "loop"),
        "fit_epoch_s": epoch_seconds(runs, size, "fit"),
    }


def summarize(runs: list[dict[str, Any]], sizes: list[int], seeds: list[int]) -> list[dict[str, Any]]:
    return [size_summary(runs, size, seeds) for size in sizes]
