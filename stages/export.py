"""Stage 5, export: ship the model as a SavedModel and TFLite files, verified, with a model card.

First the quality gate: a model whose test accuracy is below `evaluate.min_accuracy`
is refused, and nothing is written. Then every export is loaded fresh (SavedModel by
TensorFlow, TFLite by the LiteRT runtime that `predict` uses) and run over the whole
test split; an export that disagrees with the Keras model fails the stage. Everything
is built in a temporary folder and renamed into models/export only once it all passed.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from mnist_pipeline import params as params_module
from mnist_pipeline.artifacts import atomic_path, load_array, read_json, write_json, write_text
from mnist_pipeline.data.datasets import LABELS_FILE, read_class_names
from mnist_pipeline.errors import GateError, PipelineError, report_errors
from mnist_pipeline.evaluation.model_card import model_card
from mnist_pipeline.model.architectures import load_model, predict_logits
from mnist_pipeline.model.quiet_tensorflow import exit_now
from mnist_pipeline.serving.export import convert_tflite, save_saved_model, saved_model_predict
from mnist_pipeline.serving.litert import TFLiteClassifier


def check_gate(accuracy: float, min_accuracy: float) -> None:
    if accuracy < min_accuracy:
        raise GateError(
            f"quality gate: test accuracy {accuracy:.4f} is below evaluate.min_accuracy {min_accuracy:.4f}; "
            "refusing to export, nothing written (raise the accuracy or lower the gate)"
        )


def to_pixels(images: np.ndarray) -> np.ndarray:
    """Prepared floats back to the uint8 pixels a client sends (exact: they were v / 255)."""
    return np.rint(images * 255.0).astype(np.uint8)


def representative(x_train: np.ndarray, count: int) -> np.ndarray:
    """Evenly spaced training images for int8 calibration: deterministic without another seed."""
    step = max(1, len(x_train) // count)
    return to_pixels(x_train[::step][:count])


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


def check_export(name: str, figures: dict, p: params_module.ExportParams) -> None:
    """Float exports must agree with Keras; quantised ones may differ but must not lose accuracy."""
    quantised = name.endswith(("dynamic", "int8"))
    if quantised and figures["accuracy_drop"] > p.max_int8_drop:
        raise PipelineError(
            f"export {name}: accuracy drop {figures['accuracy_drop']:.4f} exceeds export.max_int8_drop {p.max_int8_drop}"
        )
    if not quantised and figures["agreement"] < p.min_agreement:
        raise PipelineError(
            f"export {name}: agrees with the Keras model on {figures['agreement']:.4f} of test images, "
            f"below export.min_agreement {p.min_agreement}"
        )


def build_exports(model, folder: Path, tmp: Path, p: params_module.Params) -> dict[str, Path]:
    """Write every export into `tmp`; return the file (or folder) of each by name."""
    paths = {"saved_model": tmp / "saved_model"}
    save_saved_model(model, paths["saved_model"])
    calibration = representative(load_array(folder / "x_train.npy", mmap=True), p.export.representative_samples)
    for flavour in p.export.tflite:
        paths[f"tflite_{flavour}"] = tmp / f"model_{flavour}.tflite"
        paths[f"tflite_{flavour}"].write_bytes(convert_tflite(model, flavour, calibration))
    return paths


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def run_export(path: Path, pixels: np.ndarray) -> np.ndarray:
    return saved_model_predict(path, pixels) if path.is_dir() else TFLiteClassifier(path).predict(pixels)


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--data", "data_dir", default="data/prepared", show_default=True, help="Prepared arrays folder.")
@click.option("--model", "model_path", default="models/model.keras", show_default=True, help="Trained model.")
@click.option("--eval-metrics", default="metrics/eval.json", show_default=True, help="Test metrics (the gate).")
@click.option("--data-metrics", default="metrics/data.json", show_default=True, help="Data summary (model card).")
@click.option("--out", default="models/export", show_default=True, help="Export folder.")
@click.option("--metrics", "metrics_path", default="metrics/export.json", show_default=True, help="Export metrics.")
@report_errors
def main(
    params_path: str, data_dir: str, model_path: str, eval_metrics: str, data_metrics: str, out: str, metrics_path: str
) -> None:
    p = params_module.load_params(params_path)
    evaluation = read_json(eval_metrics)
    check_gate(evaluation["accuracy"], p.evaluate.min_accuracy)
    folder = Path(data_dir)
    names = read_class_names(folder)
    model = load_model(model_path)
    x_test, y_test = load_array(folder / "x_test.npy"), load_array(folder / "y_test.npy")
    reference = predict_logits(model, x_test).argmax(axis=-1)
    keras_accuracy = float(np.mean(reference == y_test))
    pixels = to_pixels(x_test)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        report = {}
        for name, path in build_exports(model, folder, tmp, p).items():
            report[name] = score(run_export(path, pixels), y_test, reference, keras_accuracy, size_of(path))
            check_export(name, report[name], p.export)
        report["gate"] = {
            "min_accuracy": p.evaluate.min_accuracy,
            "test_accuracy": evaluation["accuracy"],
            "passed": True,
        }
        (tmp / LABELS_FILE).write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
        write_text(tmp / "model_card.md", model_card(p, read_json(data_metrics), evaluation, report))
    write_json(metrics_path, report)
    summary = ", ".join(f"{name} {figures['accuracy']:.4f}" for name, figures in report.items() if name != "gate")
    click.echo(f"export: {summary} -> {out}")
    exit_now()


if __name__ == "__main__":
    main()
