"""The plot data of metrics/eval/: CSV files in the shapes DVC's plot templates read.

DVC shows every key of a metrics file as a column of `dvc metrics show` and
`dvc exp show`, so metrics/eval.json holds only the test accuracy and loss. The
per-class table (precision, recall, F1, support) is plot data here, read back by the
model card and the checks; so is every test image's (actual, predicted) class.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from mnist_pipeline.errors import DataError

PER_CLASS_FILE = "per_class.csv"
PREDICTIONS_FILE = "confusion.csv"
PER_CLASS_FIELDS = ("precision", "recall", "f1", "support")


def csv_text(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def per_class_csv(table: dict[str, dict]) -> str:
    rows = [[name, *(figures[field] for field in PER_CLASS_FIELDS)] for name, figures in table.items()]
    return csv_text(["class", *PER_CLASS_FIELDS], rows)


def predictions_csv(labels: np.ndarray, predicted: np.ndarray, names: tuple[str, ...]) -> str:
    """One row per test image, (actual, predicted) class names: the shape DVC's confusion templates expect."""
    rows = [[names[a], names[p]] for a, p in zip(labels.tolist(), predicted.tolist())]
    return csv_text(["actual", "predicted"], rows)


def _rows(path: str | Path, header: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
    except FileNotFoundError:
        raise DataError(f"{path} is missing; run the evaluate stage first (dvc repro evaluate)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    if tuple(reader.fieldnames or ()) != header:
        raise DataError(f"{path}: columns {reader.fieldnames}, expected {list(header)}")
    return rows


def read_predictions(path: str | Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """metrics/eval/confusion.csv back into (true labels, predicted labels), class indices in test order."""
    index = {name: i for i, name in enumerate(names)}
    try:
        pairs = [(index[row["actual"]], index[row["predicted"]]) for row in _rows(path, ("actual", "predicted"))]
    except KeyError as error:
        raise DataError(f"{path}: class {error} is not in labels.txt ({', '.join(names)})") from None
    labels, predicted = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    return labels, predicted


def read_per_class(path: str | Path) -> dict[str, dict]:
    """metrics/eval/per_class.csv back into the table that `metrics.summarize` made."""
    rows = _rows(path, ("class", *PER_CLASS_FIELDS))
    try:
        return {
            row["class"]: {k: int(row[k]) if k == "support" else float(row[k]) for k in PER_CLASS_FIELDS}
            for row in rows
        }
    except ValueError as error:
        raise DataError(f"{path}: not a number ({error})") from None
