"""The output checks catch what a stage could get wrong while still "succeeding"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mnist_pipeline.artifacts import save_array
from mnist_pipeline.checks import check_export, check_metrics, check_prepared, shared_fraction
from mnist_pipeline.evaluation.model_card import model_card
from mnist_pipeline.params import load_params
from tests.conftest import ROOT, synthetic_digits


def prepared(folder: Path, leak: bool = False) -> dict:
    """A prepared-data folder like prepare writes, optionally with val copied from train."""
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = synthetic_digits(500, seed=3)
    x, y = images.astype(np.float32) / 255.0, labels.astype(np.int32)
    splits = {
        "train": (x[:300], y[:300]),
        "val": (x[:50] if leak else x[300:350], y[300:350]),
        "test": (x[350:], y[350:]),
    }
    for split, (images_, labels_) in splits.items():
        save_array(folder / f"x_{split}.npy", images_)
        save_array(folder / f"y_{split}.npy", labels_)
    (folder / "labels.txt").write_text("".join(f"c{i}\n" for i in range(10)))
    return {"counts": {split: len(labels_) for split, (_, labels_) in splits.items()}}


def test_clean_prepared_data_passes(tmp_path: Path) -> None:
    counts = prepared(tmp_path)
    assert check_prepared(tmp_path, counts) == []


def test_leak_from_train_into_val_is_caught(tmp_path: Path) -> None:
    counts = prepared(tmp_path, leak=True)
    problems = check_prepared(tmp_path, counts)
    assert any("val: 100.0% of its images are also in train" in p for p in problems), problems


def test_counts_that_disagree_with_data_json_are_caught(tmp_path: Path) -> None:
    counts = prepared(tmp_path)
    counts["counts"]["test"] += 1
    assert any("test: 150 examples, metrics/data.json says 151" in p for p in check_prepared(tmp_path, counts))


def test_shared_fraction_counts_exact_duplicates() -> None:
    a = np.zeros((4, 2, 2), np.float32) + np.arange(4, dtype=np.float32)[:, None, None]
    assert shared_fraction(a, a[:2]) == 1.0
    assert shared_fraction(a, a[:2] + 10) == 0.0


def metrics_dir(folder: Path, accuracy: float, classes: int = 10) -> Path:
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "metrics.json").write_text(
        json.dumps(
            {"train": {"loss": 0.3, "accuracy": accuracy}, "val": {"loss": 0.3, "accuracy": accuracy}, "step": 2}
        )
    )
    per_class = {f"c{i}": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 10} for i in range(classes)}
    (folder / "eval.json").write_text(
        json.dumps({"accuracy": accuracy, "loss": 0.3, "macro_f1": 0.9, "per_class": per_class})
    )
    return folder


def test_metrics_at_chance_level_are_caught(tmp_path: Path) -> None:
    assert check_metrics(metrics_dir(tmp_path / "good", 0.9), 10) == []
    problems = check_metrics(metrics_dir(tmp_path / "bad", 0.1), 10)
    assert len(problems) == 3 and all("not better than chance" in p for p in problems)


def test_export_with_low_agreement_or_missing_files_is_caught(tmp_path: Path) -> None:
    p = load_params(ROOT / "params.yaml").export
    (tmp_path / "saved_model").mkdir()
    (tmp_path / "saved_model" / "saved_model.pb").write_bytes(b"x")
    for flavour in p.tflite:
        (tmp_path / f"model_{flavour}.tflite").write_bytes(b"x")
    (tmp_path / "labels.txt").write_text("a\n")
    (tmp_path / "model_card.md").write_text("# card\n")
    figures = {"agreement": 1.0, "accuracy": 0.9, "accuracy_drop": 0.0, "size_bytes": 1}
    report = {"saved_model": figures, **{f"tflite_{f}": figures for f in p.tflite}}
    assert check_export(tmp_path, report, p) == []
    report["tflite_float32"] = {**figures, "agreement": 0.99}
    (tmp_path / "model_card.md").unlink()
    problems = check_export(tmp_path, report, p)
    assert any("tflite_float32 agrees with Keras on 0.99" in x for x in problems)
    assert any("model_card.md is missing" in x for x in problems)


def test_model_card_states_data_params_metrics_and_gate() -> None:
    passed_accuracy = 0.9731
    workspace = load_params(ROOT / "params.yaml")  # whatever experiment it holds: the values below are set here
    params = workspace.model_copy(
        update={
            "data": workspace.data.model_copy(update={"seed": 123}),
            "train": workspace.train.model_copy(update={"model": "mlp", "epochs": 7}),
        }
    )
    data = {"dataset": "mnist", "num_classes": 2, "image_shape": [28, 28], "counts": {"train": 9, "val": 1, "test": 5}}
    evaluation = {
        "accuracy": passed_accuracy,
        "loss": 0.1,
        "macro_f1": 0.97,
        "per_class": {"0": {"precision": 1.0, "recall": 0.95, "f1": 0.97, "support": 3}},
    }
    exports = {
        "tflite_int8": {"size_bytes": 1234, "accuracy": 0.97, "agreement": 0.995, "accuracy_drop": 0.0031},
        "gate": {"min_accuracy": 0.9, "test_accuracy": passed_accuracy, "passed": True},
    }
    card = model_card(params, data, evaluation, exports)
    assert card.startswith("# Model card: mlp on mnist")
    for expected in (
        "train 9, val 1, test 5",
        "seed 123",
        "| train.epochs | 7 |",
        "Accuracy **0.9731**",
        "| 0 | 1.0000 | 0.9500 |",
        "0.9731 ≥ evaluate.min_accuracy 0.9000",
        "| tflite_int8 | 1234 | 0.9700 | 0.9950 | +0.0031 |",
    ):
        assert expected in card, expected
