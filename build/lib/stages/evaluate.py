"""Stage 4, evaluate: score the trained model on the test split, which training never saw.

Reads param `evaluate.gallery_size`, models/model.keras and the test split of
data/prepared/; writes metrics/eval.json (test accuracy and loss, the figures compared
across experiments) and the plot data under metrics/eval/: confusion.csv, every test
image's (actual, predicted) class for the confusion matrix; per_class.csv, each class's
precision, recall (its accuracy), F1 and support; and misclassified.png, the test images
the model got wrong with the most confidence (mnist_pipeline/evaluation/gallery.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline import params as params_module
from mnist_pipeline.artifacts import write_bytes, write_json, write_text
from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.data.prepared import load_split
from mnist_pipeline.errors import report_errors
from mnist_pipeline.evaluation.gallery import gallery_png
from mnist_pipeline.evaluation.metrics import softmax, summarize
from mnist_pipeline.evaluation.plots import PER_CLASS_FILE, PREDICTIONS_FILE, per_class_csv, predictions_csv
from mnist_pipeline.model.architectures import load_model, predict_logits
from mnist_pipeline.model.quiet_tensorflow import exit_now


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
    names = read_labels(folder / LABELS_FILE)
    x_test, y_test = load_split(folder, "test")
    logits = predict_logits(load_model(model_path), x_test)
    predicted = logits.argmax(axis=-1)
    summary, per_class = summarize(y_test, logits, names)
    plots = Path(plots_dir)
    write_text(plots / PREDICTIONS_FILE, predictions_csv(y_test, predicted, names))
    write_text(plots / PER_CLASS_FILE, per_class_csv(per_class))
    gallery = gallery_png(x_test, y_test, softmax(logits), names, p.evaluate.gallery_size)
    write_bytes(plots / "misclassified.png", gallery)
    write_json(metrics_path, summary)
    click.echo(f"evaluate: test accuracy {summary['accuracy']:.4f}, loss {summary['loss']:.4f} -> {metrics_path}")
    exit_now()


if __name__ == "__main__":
    main()
