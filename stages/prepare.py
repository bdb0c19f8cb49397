"""Stage 2, prepare: decode the raw IDX files, scale pixels to [0, 1] and hold out a validation split.

The validation split is carved out of the *training* set (stratified, seeded), so the
test split stays unseen until evaluate. Deliberately free of TensorFlow: this stage
should take a second or two, not the three TensorFlow takes just to import.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from mnist_pipeline import params as params_module
from mnist_pipeline.artifacts import atomic_path, save_array, write_json
from mnist_pipeline.data.datasets import DATASETS, LABELS_FILE, read_class_names
from mnist_pipeline.data.raw import Split, load_splits
from mnist_pipeline.errors import DataError, report_errors


def stratified_split(labels: np.ndarray, val_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (train, val): each class gives `val_size` of its examples to val, chosen by `seed`."""
    rng = np.random.default_rng(seed)
    val_parts = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        count = int(round(val_size * len(members)))
        val_parts.append(rng.permutation(members)[:count])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val, assume_unique=True)
    return train, val


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1], exactly as the seed program's `x / 255.0`."""
    return images.astype(np.float32) / np.float32(255.0)


def make_splits(raw: dict[str, Split], val_size: float, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    train_idx, val_idx = stratified_split(raw["train"].labels, val_size, seed)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise DataError(
            f"data.val_size = {val_size} leaves an empty split of {len(raw['train'].labels)} training examples"
        )
    train = raw["train"]
    return {
        "train": (scale(train.images[train_idx]), train.labels[train_idx].astype(np.int32)),
        "val": (scale(train.images[val_idx]), train.labels[val_idx].astype(np.int32)),
        "test": (scale(raw["test"].images), raw["test"].labels.astype(np.int32)),
    }


def summarize(
    splits: dict[str, tuple[np.ndarray, np.ndarray]], names: tuple[str, ...], dataset: str, hashes: dict[str, str]
) -> dict:
    """The figures of metrics/data.json: sizes, class balance and pixel statistics per split."""
    x_train = splits["train"][0]
    return {
        "dataset": dataset,
        "num_classes": len(names),
        "image_shape": list(x_train.shape[1:]),
        "counts": {split: int(len(y)) for split, (_, y) in splits.items()},
        "class_histogram": {
            split: {name: int(n) for name, n in zip(names, np.bincount(y, minlength=len(names)))}
            for split, (_, y) in splits.items()
        },
        "pixel_mean": round(float(x_train.mean(dtype=np.float64)), 6),
        "pixel_std": round(float(x_train.std(dtype=np.float64)), 6),
        "sha256": hashes,
    }


def write_prepared(out: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], names: tuple[str, ...]) -> None:
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for split, (x, y) in splits.items():
            save_array(tmp / f"x_{split}.npy", x)
            save_array(tmp / f"y_{split}.npy", y)
        (tmp / LABELS_FILE).write_text("".join(f"{name}\n" for name in names), encoding="utf-8")


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--raw", "raw_dir", default=None, help="Raw IDX folder  [default: data/raw/<data.dataset>]")
@click.option("--out", default="data/prepared", show_default=True, help="Prepared arrays folder.")
@click.option("--metrics", "metrics_path", default="metrics/data.json", show_default=True, help="Data summary.")
@report_errors
def main(params_path: str, raw_dir: str | None, out: str, metrics_path: str) -> None:
    data = params_module.load_params(params_path).data
    dataset = DATASETS[data.dataset]
    folder = Path(raw_dir or f"data/raw/{dataset.name}")
    names = read_class_names(folder)
    raw, hashes = load_splits(folder, dataset, names)
    splits = make_splits(raw, data.val_size, data.seed)
    write_prepared(Path(out), splits, names)
    write_json(metrics_path, summarize(splits, names, dataset.name, hashes))
    counts = ", ".join(f"{split} {len(y)}" for split, (_, y) in splits.items())
    click.echo(f"prepare: {dataset.name} {counts} -> {out}")


if __name__ == "__main__":
    main()
