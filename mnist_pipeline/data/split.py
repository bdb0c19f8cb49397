"""The prepared splits: a stratified, seeded validation split out of the training set, pixels kept as uint8.

The validation split is carved out of the *training* set, so the test split stays
unseen until evaluate.
"""

from __future__ import annotations

import numpy as np

from mnist_pipeline.data.raw import Split
from mnist_pipeline.errors import DataError


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


def make_splits(raw: dict[str, Split], val_size: float, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    train_idx, val_idx = stratified_split(raw["train"].labels, val_size, seed)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise DataError(
            f"data.val_size = {val_size} leaves an empty split of {len(raw['train'].labels)} training examples"
        )
    train = raw["train"]
    return {
        "train": (train.images[train_idx], train.labels[train_idx].astype(np.int32)),
        "val": (train.images[val_idx], train.labels[val_idx].astype(np.int32)),
        "test": (raw["test"].images, raw["test"].labels.astype(np.int32)),
    }
