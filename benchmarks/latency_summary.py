"""Serving latency, summarising: the raw timings of `latency_measure` reduced to the figures the tables show.

Pure functions. A runtime without timings, or a cold start without runs, is an error
(`MissingFigure`), never a blank cell.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from benchmarks.common import MissingFigure


def runtime_summary(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """p50 and p99 over every call, each round's p50 (ms), each round's images/s, the accuracy."""
    for key in ("latency_s", "round_p50_s", "images_per_s", "accuracy"):
        if key not in entry or (isinstance(entry[key], list) and not entry[key]):
            raise MissingFigure(f"{name}: no {key} in the measurements")
    return {
        "p50_ms": float(np.percentile(entry["latency_s"], 50)) * 1000,
        "p99_ms": float(np.percentile(entry["latency_s"], 99)) * 1000,
        "round_p50_ms": [v * 1000 for v in entry["round_p50_s"]],
        "images_per_s": entry["images_per_s"],
        "accuracy": entry["accuracy"],
    }


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """One `runtime_summary` per runtime, in the order they were measured."""
    if not results:
        raise MissingFigure("no runtime was measured")
    return {name: runtime_summary(name, entry) for name, entry in results.items()}


def cold_summary(cold: dict[str, Any]) -> dict[str, Any]:
    """Per command: wall times (s) and the median max RSS (MiB); and what `predict` printed."""
    found: dict[str, Any] = {}
    for name in ("predict", "tensorflow"):
        if not cold.get(name) or not cold.get(f"{name}_rss_kib"):
            raise MissingFigure(f"no cold start of {name} in the measurements")
        found[name] = {"wall_s": cold[name], "rss_mib": statistics.median(cold[f"{name}_rss_kib"]) / 1024}
    if "output" not in cold:
        raise MissingFigure("no output of the cold `predict` in the measurements")
    found["output"] = cold["output"]
    return found
