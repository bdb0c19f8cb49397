"""Finding images that one split shares with another: a leak of test images into training.

Images are compared byte for byte through a hash of each, so a check over 70,000 images
takes a fraction of a second and needs no second copy of the data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def image_hashes(images: np.ndarray) -> list[bytes]:
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in images]


def shared_count(images: np.ndarray, *others: np.ndarray) -> int:
    """How many of `images` also occur, byte for byte, in any of `others`."""
    seen = set().union(*(image_hashes(other) for other in others))
    return sum(h in seen for h in image_hashes(images))


def repeated_count(images: np.ndarray) -> int:
    """How many images occur more than once in `images` (each copy counts)."""
    _, inverse, counts = np.unique(image_hashes(images), return_inverse=True, return_counts=True)
    return int(np.sum(counts[inverse] > 1))


def check_leaks(folder: Path, splits: dict[str, np.ndarray], raw: dict[str, np.ndarray]) -> list[str]:
    """No test image may also be in train or val, no val image in train, beyond the duplicates the raw files hold.

    A dataset may hold identical images naturally (a blank scan in train and in test), and
    prepare cannot undo that; anything beyond what the raw files share was put there by prepare.
    """
    found = {
        "val": (shared_count(splits["val"], splits["train"]), repeated_count(raw["train"]), "train"),
        "test": (
            shared_count(splits["test"], splits["train"], splits["val"]),
            shared_count(raw["test"], raw["train"]),
            "train or val",
        ),
    }
    return [
        f"{folder / f'x_{split}.npy'}: {count} of its images also occur in {where}, "
        f"more than the {natural} the raw files share (a leak)"
        for split, (count, natural, where) in found.items()
        if count > natural
    ]
