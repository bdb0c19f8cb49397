"""The prepared folder (x_/y_<split>.npy: uint8 pixels and int32 labels; labels.txt, manifest.json): written, read back, and summarised."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_pipeline.artifacts import atomic_path, load_array, save_array, write_json
from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import write_labels

# Beside the arrays: the dataset's name, split sizes, class balance, pixel statistics and
# the raw files' content hashes; what the model card and the checks read. Not a DVC metric:
# those are the few figures compared across experiments.
MANIFEST_FILE = "manifest.json"


def summarize(
    splits: dict[str, tuple[np.ndarray, np.ndarray]], names: tuple[str, ...], dataset: str, hashes: dict[str, str]
) -> dict:
    """The manifest: sizes, class balance and pixel statistics per split, and the raw files' hashes."""
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
        **pixel_statistics(x_train),
        "sha256": hashes,
    }


# Pixels counted per bincount call: bincount widens uint8 to int64, and a whole training set at
# once (47 million pixels) would be 376 MB of fresh memory, slow to touch on a shared machine.
HISTOGRAM_CHUNK = 1 << 20


def pixel_histogram(pixels: np.ndarray, chunk: int = HISTOGRAM_CHUNK) -> np.ndarray:
    """How many pixels take each of the 256 uint8 values, counted `chunk` pixels at a time."""
    flat = pixels.reshape(-1)
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, flat.size, chunk):
        counts += np.bincount(flat[start : start + chunk], minlength=256)
    return counts


def pixel_statistics(pixels: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation of uint8 pixels on the model's scale, [0, 1], from their histogram:
    exact, and without the float64 copy `std` makes (370 MB for 47 million pixels)."""
    counts = pixel_histogram(pixels).astype(np.float64)
    values = np.arange(256) / 255
    total = max(counts.sum(), 1.0)
    mean = float(counts @ values) / total
    variance = float(counts @ (values - mean) ** 2) / total
    return {"pixel_mean": round(mean, 6), "pixel_std": round(variance**0.5, 6)}


def write_prepared(
    out: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], names: tuple[str, ...], manifest: dict
) -> None:
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for split, (x, y) in splits.items():
            save_array(tmp / f"x_{split}.npy", x)
            save_array(tmp / f"y_{split}.npy", y)
        write_labels(tmp / LABELS_FILE, names)
        write_json(tmp / MANIFEST_FILE, manifest)


def load_split(folder: Path, split: str, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one prepared split."""
    return load_array(folder / f"x_{split}.npy", mmap=mmap), load_array(folder / f"y_{split}.npy", mmap=mmap)
