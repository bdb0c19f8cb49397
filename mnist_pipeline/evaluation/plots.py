"""The plot data of metrics/eval/: CSV files in the shapes DVC's plot templates read."""

from __future__ import annotations

import csv
import io

import numpy as np


def csv_text(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def confusion_rows(labels: np.ndarray, predicted: np.ndarray, names: tuple[str, ...]) -> list[list[str]]:
    """One row per test image, the shape DVC's confusion templates expect."""
    return [[names[a], names[p]] for a, p in zip(labels.tolist(), predicted.tolist())]


def per_class_rows(summary: dict) -> list[list]:
    return [[name, figures["recall"]] for name, figures in summary["per_class"].items()]
