"""Stage 4, evaluate: score the trained model on the test split, which training never saw.

Reads param `evaluate.gallery_size`, models/model.keras and the test split of
data/prepared/; writes metrics/eval/: metrics.json (test accuracy and loss, the figures
compared across experiments) and the plot data: confusion.csv, every test
image's (actual, predicted) class for the confusion matrix; per_class.csv, each class's
precision, recall (its accuracy), F1 and support; and misclassified.png, the test images
the model got wrong with the most confidence (mnist_pipeline/evaluation/gallery.py).
The model runs in NumPy (mnist_pipeline/model/inference.py), not TensorFlow: the same
logits within float rounding, without TensorFlow's ~2.5 s import.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline import params as params_module
from mnist_pipeline import paths
from mnist_pipeline.artifacts import write_bytes, write_json, write_text
from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.data.prepared import load_split
from mnist_pipeline.errors import report_errors
from mnist_pipeline.evaluation.gallery import gallery_png
from mnist_pipeline.evaluation.metrics import softmax, summarize
from mnist_pipeline.evaluation.plots import PER_CLASS_FILE, PREDICTIONS_FILE, per_class_csv, predictions_csv
from mnist_pipeline.model.inference import load_numpy_model, predict_logits


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--data", "data_dir", default=str(paths.PREPARED), show_default=True, help="Prepared arrays folder.")
@click.option("--model", "model_path", default=str(paths.MODEL), show_default=True, help="Trained model.")
@click.option("--out", "plots_dir", default=str(paths.EVAL), show_default=True, help="Headline and plot data folder.")
@report_errors
def main(params_path: str, data_dir: str, model_path: str, plots_dir: str) -> None:
    p = params_module.load_params(params_path)
    folder = Path(data_dir)
    names = read_labels(folder / LABELS_FILE)
    x_test, y_test = load_split(folder, "test")
    logits = predict_logits(load_numpy_model(model_path), x_test)
    predicted = logits.argmax(axis=-1)
    summary, per_class = summarize(y_test, logits, names)
    plots = Path(plots_dir)
    write_text(plots / PREDICTIONS_FILE, predictions_csv(y_test, predicted, names))
    write_text(plots / PER_CLASS_FILE, per_class_csv(per_class))
    gallery = gallery_png(x_test, y_test, softmax(logits), names, p.evaluate.gallery_size)
    write_bytes(plots / "misclassified.png", gallery)
    metrics_path = paths.headline(plots)
    write_json(metrics_path, summary)
    click.echo(f"evaluate: test accuracy {summary['accuracy']:.4f}, loss {summary['loss']:.4f} -> {metrics_path}")


if __name__ == "__main__":
    main()
