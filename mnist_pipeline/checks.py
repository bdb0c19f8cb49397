"""Output checks: run after `dvc repro` (in CI or by hand) to validate what every stage wrote.

Each check returns the problems it found, one line each naming the file at fault; the
command prints one line per check and exits 1 if any failed. They check the artifacts
themselves, not the code that made them: a stage that "succeeded" but wrote nonsense is
caught here. Every exported model is loaded the way its clients load it and scored on a
sample of the test split against what the export report (models/export/exports.json) claims.
The blessing check is the gate: a refused model without a recorded override fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from mnist_pipeline import params as params_module
from mnist_pipeline import paths
from mnist_pipeline.artifacts import load_array, read_json, sha256_of
from mnist_pipeline.data.datasets import DATASETS, LABELS_FILE, SPLITS
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.data.leaks import check_leaks
from mnist_pipeline.data.prepared import MANIFEST_FILE
from mnist_pipeline.data.raw import load_splits
from mnist_pipeline.errors import DataError, PipelineError, report_errors
from mnist_pipeline.evaluation.blessing import headline as verdict_headline
from mnist_pipeline.evaluation.blessing import ships
from mnist_pipeline.evaluation.plots import PER_CLASS_FILE, read_per_class
from mnist_pipeline.export.layout import exported_models
from mnist_pipeline.export.record import EXPORTS_FILE, headline

if TYPE_CHECKING:  # TensorFlow is imported only by the checks that need it
    from mnist_pipeline.export.scoring import Sample
    from mnist_pipeline.model.quiet_tensorflow import keras


def check_prepared(folder: Path, raw_folder: Path, dataset: str) -> list[str]:
    """Dtypes, shapes, label ranges and counts of the prepared splits, no leak between them, and a
    manifest that names the raw files they came from.
    """
    problems = []
    names = read_labels(folder / LABELS_FILE)
    manifest_path = folder / MANIFEST_FILE
    manifest = read_json(manifest_path)
    counts = manifest["counts"]
    splits = {s: (load_array(folder / f"x_{s}.npy", mmap=True), load_array(folder / f"y_{s}.npy")) for s in SPLITS}
    shape = splits["train"][0].shape[1:]
    for split, (x, y) in splits.items():
        where = folder / f"x_{split}.npy"
        if x.dtype != np.uint8 or y.dtype != np.int32:
            problems.append(f"{where}: dtypes {x.dtype}/{y.dtype}, expected uint8/int32")
        if x.shape[1:] != shape or len(x) != len(y):
            problems.append(f"{where}: images {x.shape} and labels {y.shape} do not match the train split {shape}")
        if len(y) and (y.min() < 0 or y.max() >= len(names)):
            problems.append(f"{folder / f'y_{split}.npy'}: labels outside 0-{len(names) - 1}")
        if len(y) != counts[split]:
            problems.append(f"{manifest_path}: says {split} has {counts[split]} examples, {where} holds {len(y)}")
    raw, hashes = load_splits(raw_folder, DATASETS[dataset], names)
    if manifest["sha256"] != hashes:
        problems.append(f"{manifest_path}: raw file hashes {manifest['sha256']} differ from {raw_folder}'s {hashes}")
    return problems + check_leaks(folder, {s: x for s, (x, _) in splits.items()}, {s: r.images for s, r in raw.items()})


def check_model(model_path: Path, model: keras.Model, folder: Path) -> list[str]:
    """The trained model takes the prepared images and has one output per class."""
    x = load_array(folder / "x_val.npy", mmap=True)
    expected_in, expected_out = (None, *x.shape[1:]), (None, len(read_labels(folder / LABELS_FILE)))
    problems = []
    if tuple(model.input_shape) != expected_in:
        problems.append(f"{model_path}: input {model.input_shape}, expected {expected_in}")
    if tuple(model.output_shape) != expected_out:
        problems.append(f"{model_path}: output {model.output_shape}, expected {expected_out}")
    return problems


def check_metrics(metrics_dir: Path, num_classes: int) -> list[str]:
    """Every metrics file has its keys, accuracies are probabilities better than chance, every class is scored."""
    problems = []
    train_path, eval_path = (paths.headline(metrics_dir / folder.name) for folder in (paths.TRAIN, paths.EVAL))
    train, evaluation = read_json(train_path), read_json(eval_path)
    per_class_path = metrics_dir / paths.EVAL.name / PER_CLASS_FILE
    per_class = read_per_class(per_class_path)
    for path, name, value in (
        (train_path, "val.accuracy", train["val"]["accuracy"]),
        (eval_path, "accuracy", evaluation["accuracy"]),
    ):
        if not 1.0 / num_classes < value <= 1.0:
            problems.append(f"{path}: {name} = {value} is not better than chance ({1 / num_classes:.3f})")
    if not np.isfinite(evaluation["loss"]) or evaluation["loss"] < 0:
        problems.append(f"{eval_path}: loss = {evaluation['loss']} is not a finite non-negative number")
    if len(per_class) != num_classes:
        problems.append(f"{per_class_path}: {len(per_class)} classes, expected {num_classes}")
    return problems


def check_export(
    export_dir: Path, headline_path: Path, sample: Sample, num_classes: int, p: params_module.ExportParams
) -> list[str]:
    """Every exported model loads, scores on the sample what the export report claims, and passes the export
    rules; the headline metrics (metrics/export/metrics.json) are the report's.
    """
    from mnist_pipeline.export import verify
    from mnist_pipeline.export.scoring import score_export

    claims_path = export_dir / EXPORTS_FILE
    claims = read_json(claims_path)
    problems = []
    if (shown := read_json(headline_path)) != headline(claims):
        problems.append(f"{headline_path}: {shown} is not the headline of {claims_path}, {headline(claims)}")
    for exported in exported_models(p.tflite):
        found = score_export(export_dir, exported, claims, claims_path, sample)
        if not found:
            try:
                verify.check_export(exported, claims[exported.name], p)
            except PipelineError as error:
                found = [f"{claims_path}: {error}"]
        problems += found
    labels_path = export_dir / LABELS_FILE
    if len(names := read_labels(labels_path)) != num_classes:
        problems.append(f"{labels_path}: {len(names)} class names, the model has {num_classes} classes")
    if not (export_dir / "model_card.md").is_file():
        problems.append(f"{export_dir / 'model_card.md'} is missing")
    return problems


def check_blessing(verdict_path: Path, headline_path: Path, model_path: Path) -> list[str]:
    """The gate where a model ships: the verdict is about this model, its headline is the one shown, and it ships
    (blessed, or refused and shipped by a recorded override). A refused model is a result while it is tried, but a
    workspace, commit or pull request carrying one fails here."""
    verdict = read_json(verdict_path)
    problems = []
    if verdict["candidate"]["model_sha256"] != sha256_of([model_path]):
        problems.append(f"{verdict_path} is about another model than {model_path}: run the pipeline (dvc repro)")
    if (shown := read_json(headline_path)) != verdict_headline(verdict):
        problems.append(f"{headline_path}: {shown} is not the headline of {verdict_path}, {verdict_headline(verdict)}")
    if not ships(verdict):
        problems.append(
            f"{verdict_path}: {verdict['summary']}. Train a better model, or ship this one on purpose: "
            "dvc exp run -S \"bless.override='<why it ships anyway>'\" (recorded as override)"
        )
    return problems


def as_problems(check: Callable[[], list[str]]) -> list[str]:
    """Run a check; a user error it raises (a missing or unreadable file) is one more problem, not a crash."""
    try:
        return check()
    except PipelineError as error:
        return [str(error)]


def report(checks: dict[str, Callable[[], list[str]]]) -> int:
    """Run every check, print `ok`/`FAIL` and the problems of each; return how many failed."""
    failed = 0
    for name, check in checks.items():
        problems = as_problems(check)
        failed += bool(problems)
        click.echo(f"{'FAIL' if problems else 'ok  '} {name}" + "".join(f"\n     - {x}" for x in problems))
    return failed


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@report_errors
def main(params_path: str) -> None:
    from mnist_pipeline.export.scoring import draw_sample
    from mnist_pipeline.model.architectures import load_model

    p = params_module.load_params(params_path)
    folder, model_path = paths.PREPARED, paths.MODEL
    num_classes = len(read_labels(folder / LABELS_FILE))
    if not model_path.is_file():
        raise DataError(f"{model_path} is missing; run the pipeline first (dvc repro)")
    model = load_model(model_path)
    checks: dict[str, Callable[[], list[str]]] = {
        "prepared data": lambda: check_prepared(folder, paths.RAW / p.data.dataset, p.data.dataset),
        "model": lambda: check_model(model_path, model, folder),
        "metrics": lambda: check_metrics(paths.METRICS, num_classes),
        "blessing": lambda: check_blessing(paths.VERDICT, paths.headline(paths.BLESS), model_path),
        "export": lambda: check_export(
            paths.EXPORT, paths.headline(paths.EXPORT_METRICS), draw_sample(folder, model), num_classes, p.export
        ),
    }
    if report(checks):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
