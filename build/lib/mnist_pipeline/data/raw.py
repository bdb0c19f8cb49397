"""Checking the four raw IDX files of a dataset: used by download (so a bad file never lands
in data/raw) and by prepare (which decodes what download verified).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_pipeline.data.datasets import LABELS_FILE, SPLIT_FILES, Dataset
from mnist_pipeline.data.idx import IdxError, gunzip, read_idx
from mnist_pipeline.errors import DataError


@dataclass(frozen=True)
class RawFile:
    """One decompressed, structurally valid IDX file."""

    name: str
    array: np.ndarray
    sha256: str


@dataclass(frozen=True)
class Split:
    images: np.ndarray
    labels: np.ndarray


def decode_file(gz: bytes, filename: str, dataset: Dataset) -> RawFile:
    """Decompress and parse one file, and check it is the file the dataset says it is."""
    content = gunzip(gz, name=filename, max_bytes=dataset.max_bytes(filename))
    array = read_idx(content, name=filename)
    digest = hashlib.sha256(content).hexdigest()
    expected = dataset.sha256.get(filename)
    if expected is not None and digest != expected:
        raise DataError(
            f"{filename}: checksum mismatch for {dataset.name}: the decompressed content has SHA-256 "
            f"{digest}, expected {expected} (a corrupt or different file)"
        )
    _check_layout(array, filename)
    return RawFile(filename, array, digest)


def _check_layout(array: np.ndarray, filename: str) -> None:
    is_images = "-images-" in filename
    want_ndim = 3 if is_images else 1
    if array.ndim != want_ndim or array.dtype != np.uint8:
        kind = "images [count, rows, columns]" if is_images else "labels [count]"
        raise IdxError(f"{filename}: expected unsigned-byte {kind}, got {array.dtype} with shape {array.shape}")
    if is_images and min(array.shape) == 0:
        raise IdxError(f"{filename}: holds no pixels (shape {array.shape})")


def check_split(images: RawFile, labels: RawFile, num_classes: int) -> Split:
    """Images and labels must pair up, and every label must name a known class."""
    if len(images.array) != len(labels.array):
        raise DataError(
            f"{images.name} holds {len(images.array)} images but {labels.name} holds {len(labels.array)} labels"
        )
    if len(labels.array) and int(labels.array.max()) >= num_classes:
        bad = int(labels.array.max())
        raise DataError(
            f"{labels.name}: label {bad} is outside 0-{num_classes - 1} ({num_classes} classes; "
            f"for a custom dataset put one class name per line in {LABELS_FILE})"
        )
    return Split(images.array, labels.array)


def load_splits(
    folder: Path, dataset: Dataset, class_names: tuple[str, ...]
) -> tuple[dict[str, Split], dict[str, str]]:
    """Decode the train and test splits from `folder`; also return each file's content hash."""
    splits, hashes = {}, {}
    for split, (images_name, labels_name) in SPLIT_FILES.items():
        images = decode_file(_read(folder / images_name), images_name, dataset)
        labels = decode_file(_read(folder / labels_name), labels_name, dataset)
        splits[split] = check_split(images, labels, len(class_names))
        hashes.update({images.name: images.sha256, labels.name: labels.sha256})
    check_shapes(splits)
    return splits, hashes


def check_shapes(splits: dict[str, Split]) -> None:
    """A model takes one image size: train and test images must agree."""
    shapes = {split: value.images.shape[1:] for split, value in splits.items()}
    if shapes["train"] != shapes["test"]:
        raise DataError(
            f"{SPLIT_FILES['train'][0]} holds {shapes['train']} images but {SPLIT_FILES['test'][0]} "
            f"holds {shapes['test']}"
        )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} is missing; run the download stage first (dvc repro download)") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
