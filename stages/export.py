"""Stage 6, export: the trained model as a SavedModel and TFLite files, verified, with a model card.

Reads params `train`, `export` and `data.seed`, models/model.keras, metrics/eval/
(metrics.json, per_class.csv), metrics/bless/verdict.json and data/prepared/ (x_train for
int8 calibration, the test split, labels.txt, manifest.json); writes models/export/ (the
exports, labels.txt, model_card.md, and exports.json: every export's size, accuracy and
agreement with Keras, and the blessing's verdict) and metrics/export/metrics.json, the
headline of exports.json. A refused model is exported too, marked not blessed in exports.json and
the model card, so its int8 and size figures can be compared; it ships only through the
gate (`python -m mnist_pipeline.checks`, promote). Then every export is loaded fresh and checked
against the Keras model (mnist_pipeline/export/verify.py). Everything is built in a
temporary folder and renamed into models/export only once it all passed.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline import params as params_module
from mnist_pipeline import paths
from mnist_pipeline.artifacts import atomic_path, load_array, read_json, write_json, write_text
from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import read_labels, write_labels
from mnist_pipeline.data.prepared import MANIFEST_FILE, load_split
from mnist_pipeline.errors import report_errors
from mnist_pipeline.evaluation.metrics import confusion_matrix
from mnist_pipeline.evaluation.plots import PER_CLASS_FILE, read_per_class
from mnist_pipeline.export.build import build_exports
from mnist_pipeline.export.model_card import model_card
from mnist_pipeline.export.record import EXPORTS_FILE, GATE, exports_of, headline
from mnist_pipeline.export.verify import check_judged, verify_exports
from mnist_pipeline.model.architectures import load_model, predict_logits
from mnist_pipeline.process_exit import exit_now


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--data", "data_dir", default=str(paths.PREPARED), show_default=True, help="Prepared arrays folder.")
@click.option("--model", "model_path", default=str(paths.MODEL), show_default=True, help="Trained model.")
@click.option("--eval", "eval_dir", default=str(paths.EVAL), show_default=True, help="Evaluate's folder (model card).")
@click.option("--verdict", "verdict_path", default=str(paths.VERDICT), show_default=True, help="Blessing.")
@click.option("--out", default=str(paths.EXPORT), show_default=True, help="Export folder.")
@click.option("--metrics", "metrics_dir", default=str(paths.EXPORT_METRICS), show_default=True, help="Headline folder.")
@report_errors
def main(
    params_path: str,
    data_dir: str,
    model_path: str,
    eval_dir: str,
    verdict_path: str,
    out: str,
    metrics_dir: str,
) -> None:
    p = params_module.load_params(params_path)
    verdict = read_json(verdict_path)
    check_judged(verdict, verdict_path, Path(model_path))
    evaluation = read_json(paths.headline(Path(eval_dir)))
    folder = Path(data_dir)
    names = read_labels(folder / LABELS_FILE)
    model = load_model(model_path)
    x_test, y_test = load_split(folder, "test")
    reference = predict_logits(model, x_test).argmax(axis=-1)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        exports = build_exports(model, load_array(folder / "x_train.npy", mmap=True), tmp, p.export)
        report = verify_exports(exports, tmp, x_test, y_test, reference, p.export)
        report[GATE] = verdict
        write_labels(tmp / LABELS_FILE, names)
        write_json(tmp / EXPORTS_FILE, report)
        per_class = read_per_class(Path(eval_dir) / PER_CLASS_FILE)
        confusion = confusion_matrix(y_test, reference, len(names))
        card = model_card(p, read_json(folder / MANIFEST_FILE), evaluation, per_class, confusion, report)
        write_text(tmp / "model_card.md", card)
    write_json(paths.headline(Path(metrics_dir)), headline(report))
    summary = ", ".join(f"{name} {figures['accuracy']:.4f}" for name, figures in exports_of(report).items())
    click.echo(f"export: {summary} -> {out}")
    exit_now()


if __name__ == "__main__":
    main()
