"""Stage 4, evaluate: score the trained model on the test split, which training never saw.

Writes metrics/eval.json (accuracy, loss, per-class precision/recall/F1) and the plot
data under metrics/eval/: every test image's (actual, predicted) class for the
confusion matrix, per-class accuracy, and misclassified.png: the test images the
model got wrong with the most confidence (mnist_pipeline/evaluation/gallery.py).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
import numpy as np

from mnist_pipeline import params as params_module
from mnist_pipeline.artifacts import load_array, write_bytes, write_json, write_text
from mnist_pipeline.data.datasets import read_class_names
from mnist_pipeline.errors import report_errors
from mnist_pipeline.evaluation.gallery import gallery_png
from mnist_pipeline.evaluation.metrics import confusion_matrix, cross_entropy, per_class_scores, softmax
from mnist_pipeline.model.architectures import load_model, predict_logits
from mnist_pipeline.model.quiet_tensorflow import exit_now


def summarize(labels: np.ndarray, logits: np.ndarray, names: tuple[str, ...]) -> dict:
    predicted = logits.argmax(axis=-1)
    scores = per_class_scores(confusion_matrix(labels, predicted, len(names)))
    return {
        "accuracy": round(float(np.mean(predicted == labels)), 6),
        "loss": round(cross_entropy(logits, labels), 6),
        "macro_f1": round(float(scores["f1"].mean()), 6),
        "per_class": {
            name: {
                "precision": round(float(scores["precision"][i]), 6),
                "recall": round(float(scores["recall"][i]), 6),
                "f1": round(float(scores["f1"][i]), 6),
                "support": int(scores["support"][i]),
            }
            for i, name in enumerate(names)
        },
    }


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


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--data", "data_dir", default="data/prepared", show_default=True, help="Prepared arrays folder.")
@click.option("--model", "model_path", default="models/model.keras", show_default=True, help="Trained model.")
@click.option("--metrics", "metrics_path", default="metrics/eval.json", show_default=True, help="Test metrics.")
@click.option("--plots", "plots_dir", default="metrics/eval", show_default=True, help="Plot data folder.")
@report_errors
def main(params_path: str, data_dir: str, model_path: str, metrics_path: str, plots_dir: str) -> None:
    p = params_module.load_params(params_path)
    folder = Path(data_dir)
    names = read_class_names(folder)
    x_test, y_test = load_array(folder / "x_test.npy"), load_array(folder / "y_test.npy")
    logits = predict_logits(load_model(model_path), x_test)
    predicted = logits.argmax(axis=-1)
    summary = summarize(y_test, logits, names)
    plots = Path(plots_dir)
    write_text(plots / "confusion.csv", csv_text(["actual", "predicted"], confusion_rows(y_test, predicted, names)))
    write_text(plots / "per_class_accuracy.csv", csv_text(["class", "accuracy"], per_class_rows(summary)))
    gallery = gallery_png(x_test, y_test, softmax(logits), names, p.evaluate.gallery_size)
    write_bytes(plots / "misclassified.png", gallery)
    write_json(metrics_path, summary)
    click.echo(f"evaluate: test accuracy {summary['accuracy']:.4f}, loss {summary['loss']:.4f} -> {metrics_path}")
    exit_now()


if __name__ == "__main__":
    main()
