"""What an export must pass: the blessing before anything is built, and agreement with Keras after.

Every export is loaded fresh (SavedModel by TensorFlow, TFLite by the LiteRT runtime
that `predict` uses) and run over the whole test split; float exports must agree with
the Keras model, quantised ones must not lose more than `export.max_int8_drop`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_pipeline import params as params_module
from mnist_pipeline.errors import GateError, PipelineError
from mnist_pipeline.evaluation.baseline import sha256_of
from mnist_pipeline.serving.export import predict_exported
from mnist_pipeline.serving.layout import ExportedModel


def check_blessed(verdict: dict, verdict_path: str, model_path: Path) -> None:
    """Export only the very model the bless stage blessed (stages/bless.py; the verdict names its hash)."""
    if not verdict["blessed"]:
        raise GateError(
            f"{verdict_path}: the model was not blessed ({verdict['summary']}); refusing to export, nothing written"
        )
    if verdict["candidate"]["model_sha256"] != sha256_of([model_path]):
        raise GateError(
            f"{verdict_path} is about another model than {model_path}: run the bless stage first (dvc repro)"
        )


def score(
    probabilities: np.ndarray, labels: np.ndarray, reference: np.ndarray, keras_accuracy: float, size: int
) -> dict:
    predicted = probabilities.argmax(axis=-1)
    accuracy = float(np.mean(predicted == labels))
    return {
        "size_bytes": size,
        "accuracy": round(accuracy, 6),
        "agreement": round(float(np.mean(predicted == reference)), 6),
        "accuracy_drop": round(keras_accuracy - accuracy, 6),
    }


def check_export(exported: ExportedModel, figures: dict, p: params_module.ExportParams) -> None:
    """Float exports must agree with Keras; quantised ones may differ but must not lose accuracy."""
    if exported.quantised and figures["accuracy_drop"] > p.max_int8_drop:
        raise PipelineError(
            f"export {exported.name}: accuracy drop {figures['accuracy_drop']:.4f} "
            f"exceeds export.max_int8_drop {p.max_int8_drop}"
        )
    if not exported.quantised and figures["agreement"] < p.min_agreement:
        raise PipelineError(
            f"export {exported.name}: agrees with the Keras model on {figures['agreement']:.4f} of test images, "
            f"below export.min_agreement {p.min_agreement}"
        )


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def verify_exports(
    exports: list[ExportedModel],
    folder: Path,
    pixels: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray,
    p: params_module.ExportParams,
) -> dict[str, dict]:
    """Run every export in `folder` over the test pixels, score it against the Keras predictions `reference`,
    refuse a bad one."""
    keras_accuracy = float(np.mean(reference == labels))
    report = {}
    for exported in exports:
        probabilities = predict_exported(exported, folder, pixels)
        report[exported.name] = score(
            probabilities, labels, reference, keras_accuracy, size_of(folder / exported.filename)
        )
        check_export(exported, report[exported.name], p)
    return report
