"""Output checks: run after `dvc repro` (in CI or by hand) to validate what every stage wrote.

Each check returns the problems it found; the command prints one line per check and
exits 1 if any failed. They check the artifacts themselves, not the code that made them:
a stage that "succeeded" but wrote nonsense is caught here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from mnist_pipeline import params as params_module
from mnist_pipeline.artifacts import load_array, read_json
from mnist_pipeline.data.datasets import LABELS_FILE, SPLITS, read_class_names
from mnist_pipeline.errors import report_errors

MAX_SHARED_IMAGES = 0.01


def _row_hashes(images: np.ndarray) -> set[bytes]:
    return {hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in images}


def shared_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of `b`'s images that also occur in `a` (a leak shows as ~1, natural duplicates as ~0)."""
    seen = _row_hashes(a)
    return sum(h in seen for h in _row_hashes(b)) / max(1, len(b))


def check_prepared(folder: Path, data_metrics: dict) -> list[str]:
    problems = []
    names = read_class_names(folder)
    splits = {s: (load_array(folder / f"x_{s}.npy", mmap=True), load_array(folder / f"y_{s}.npy")) for s in SPLITS}
    shape = splits["train"][0].shape[1:]
    for split, (x, y) in splits.items():
        if x.dtype != np.float32 or y.dtype != np.int32:
            problems.append(f"{split}: dtypes {x.dtype}/{y.dtype}, expected float32/int32")
        if x.shape[1:] != shape or len(x) != len(y):
            problems.append(f"{split}: images {x.shape} and labels {y.shape} do not match the train split {shape}")
        if len(x) and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
            problems.append(f"{split}: pixels outside [0, 1]")
        if len(y) and (y.min() < 0 or y.max() >= len(names)):
            problems.append(f"{split}: labels outside 0-{len(names) - 1}")
        if len(y) != data_metrics["counts"][split]:
            problems.append(f"{split}: {len(y)} examples, metrics/data.json says {data_metrics['counts'][split]}")
    for other in ("val", "test"):
        fraction = shared_fraction(splits["train"][0], splits[other][0])
        if fraction > MAX_SHARED_IMAGES:
            problems.append(f"{other}: {fraction:.1%} of its images are also in train (a leak)")
    return problems


def check_model(model_path: Path, folder: Path) -> list[str]:
    from mnist_pipeline.model.architectures import load_model

    model = load_model(model_path)
    x = load_array(folder / "x_val.npy", mmap=True)
    expected_in, expected_out = (None, *x.shape[1:]), (None, len(read_class_names(folder)))
    problems = []
    if tuple(model.input_shape) != expected_in:
        problems.append(f"model input {model.input_shape}, expected {expected_in}")
    if tuple(model.output_shape) != expected_out:
        problems.append(f"model output {model.output_shape}, expected {expected_out}")
    return problems


def check_metrics(metrics_dir: Path, num_classes: int) -> list[str]:
    """Every metrics file has its keys, and accuracies are probabilities better than chance."""
    problems = []
    train = read_json(metrics_dir / "train" / "metrics.json")
    evaluation = read_json(metrics_dir / "eval.json")
    for name, value in {
        "train.accuracy": train["train"]["accuracy"],
        "val.accuracy": train["val"]["accuracy"],
        "eval.accuracy": evaluation["accuracy"],
    }.items():
        if not 1.0 / num_classes < value <= 1.0:
            problems.append(f"{name} = {value}: not better than chance ({1 / num_classes:.3f})")
    if not np.isfinite(evaluation["loss"]) or evaluation["loss"] < 0:
        problems.append(f"eval.loss = {evaluation['loss']} is not a finite non-negative number")
    if len(evaluation["per_class"]) != num_classes:
        problems.append(f"eval.per_class has {len(evaluation['per_class'])} classes, expected {num_classes}")
    return problems


def check_export(export_dir: Path, export_metrics: dict, p: params_module.ExportParams) -> list[str]:
    problems = []
    expected = {"saved_model": export_dir / "saved_model" / "saved_model.pb"}
    expected |= {f"tflite_{f}": export_dir / f"model_{f}.tflite" for f in p.tflite}
    for name, path in expected.items():
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif name not in export_metrics:
            problems.append(f"metrics/export.json has no entry for {name}")
        elif not name.endswith(("dynamic", "int8")) and export_metrics[name]["agreement"] < p.min_agreement:
            problems.append(f"{name} agrees with Keras on {export_metrics[name]['agreement']}, below {p.min_agreement}")
    for extra in (LABELS_FILE, "model_card.md"):
        if not (export_dir / extra).is_file():
            problems.append(f"{export_dir / extra} is missing")
    return problems


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@report_errors
def main(params_path: str) -> None:
    p = params_module.load_params(params_path)
    folder, metrics = Path("data/prepared"), Path("metrics")
    num_classes = len(read_class_names(folder))
    checks: dict[str, Callable[[], list[str]]] = {
        "prepared data": lambda: check_prepared(folder, read_json(metrics / "data.json")),
        "model": lambda: check_model(Path("models/model.keras"), folder),
        "metrics": lambda: check_metrics(metrics, num_classes),
        "export": lambda: check_export(Path("models/export"), read_json(metrics / "export.json"), p.export),
    }
    failed = 0
    for name, check in checks.items():
        problems = check()
        failed += bool(problems)
        click.echo(f"{'FAIL' if problems else 'ok  '} {name}" + "".join(f"\n     - {x}" for x in problems))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
