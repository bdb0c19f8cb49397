"""The files behind the blessing: the candidate's per-image predictions, the committed baseline, and their hashes.

The baseline is the model in service, described by small files committed to git in
`baseline/`: `baseline.json` (model and test-data hashes, headline metrics, where it came
from) and `predictions.csv` (its prediction for every test image, in test order). No
`baseline.json` means no baseline yet, a normal state: the folder itself always exists,
so the bless stage can declare it as a dependency.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from mnist_pipeline.artifacts import load_array, read_json, write_json, write_text
from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.errors import DataError
from mnist_pipeline.evaluation.blessing import Evaluation
from mnist_pipeline.evaluation.plots import PREDICTIONS_FILE, csv_text, read_predictions

BASELINE_DIR = Path("baseline")
RECORD = "baseline.json"
PREDICTIONS = "predictions.csv"
EVAL_PREDICTIONS = Path("metrics/eval") / PREDICTIONS_FILE  # evaluate's per-image (actual, predicted) classes
TEST_FILES = ("x_test.npy", "y_test.npy")
CHUNK = 1 << 20


def sha256_of(paths: list[Path]) -> str:
    """SHA-256 of the files' bytes one after another."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def hash_test_data(data_dir: Path) -> str:
    """What identifies the test split: the prepared test images and labels, byte for byte."""
    return sha256_of([data_dir / name for name in TEST_FILES])


def load_candidate(data_dir: Path, predictions: Path, model: Path) -> Evaluation:
    """The model being judged, from evaluate's output; its labels must be this test split's."""
    classes = read_labels(data_dir / LABELS_FILE)
    labels, predicted = read_predictions(predictions, classes)
    if not np.array_equal(labels, load_array(data_dir / "y_test.npy")):
        raise DataError(f"{predictions} is not about {data_dir}'s test split: run evaluate again (dvc repro evaluate)")
    return Evaluation(labels, predicted, classes, sha256_of([model]), hash_test_data(data_dir))


def read_baseline(folder: Path = BASELINE_DIR) -> Evaluation | None:
    """The committed baseline, or None when there is none yet."""
    if not (folder / RECORD).exists():
        return None
    record = read_json(folder / RECORD)
    try:
        rows = np.loadtxt(folder / PREDICTIONS, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except (OSError, ValueError) as error:
        raise DataError(f"{folder / PREDICTIONS}: not the label,predicted table promote writes ({error})") from None
    if len(rows) != record["images"]:
        raise DataError(f"{folder / PREDICTIONS} has {len(rows)} rows, {folder / RECORD} says {record['images']}")
    return Evaluation(
        labels=rows[:, 0],
        predicted=rows[:, 1],
        classes=tuple(record["classes"]),
        model_sha256=record["model_sha256"],
        test_data_sha256=record["test_data_sha256"],
        origin=record["origin"],
    )


def baseline_record(evaluation: Evaluation) -> dict:
    """baseline.json: what the model is, what it was scored on, and its headline metrics."""
    return {
        "model_sha256": evaluation.model_sha256,
        "test_data_sha256": evaluation.test_data_sha256,
        "origin": evaluation.origin,
        "images": len(evaluation.labels),
        "accuracy": round(evaluation.accuracy, 6),
        "recall": {name: round(value, 6) for name, value in evaluation.recall().items()},
        "classes": list(evaluation.classes),
    }


def write_baseline(evaluation: Evaluation, folder: Path = BASELINE_DIR) -> None:
    """Predictions first, record last: a baseline.json always describes the predictions beside it."""
    rows = [list(pair) for pair in zip(evaluation.labels.tolist(), evaluation.predicted.tolist())]
    write_text(folder / PREDICTIONS, csv_text(["label", "predicted"], rows))
    write_json(folder / RECORD, baseline_record(evaluation))
