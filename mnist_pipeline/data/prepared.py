"""The prepared folder (x_/y_<split>.npy and labels.txt): written, read back, and summarised for metrics/data.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_pipeline.artifacts import atomic_path, load_array, save_array
from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import write_labels


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
        write_labels(tmp / LABELS_FILE, names)


def load_split(folder: Path, split: str, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one prepared split."""
    return load_array(folder / f"x_{split}.npy", mmap=mmap), load_array(folder / f"y_{split}.npy", mmap=mmap)
