"""Leaks between splits: images counted byte for byte, and only what prepare added beyond the raw files is a leak."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_pipeline.data.leaks import check_leaks, repeated_count, shared_count


def images(*values: int) -> np.ndarray:
    """One 2x2 image per value, every pixel that value."""
    return np.array([np.full((2, 2), value, np.uint8) for value in values])


def test_counts_are_byte_for_byte() -> None:
    assert shared_count(images(1, 2, 3), images(3, 4), images(1)) == 2
    assert shared_count(images(1, 2), images(3)) == 0
    assert repeated_count(images(5, 5, 6, 7, 7, 7)) == 5
    assert shared_count(images(1).astype(np.float32), images(1)) == 0, "other bytes, not the same image"


def test_clean_splits_pass() -> None:
    raw = {"train": images(1, 2, 3, 4), "test": images(5, 6)}
    splits = {"train": images(1, 2, 3), "val": images(4), "test": images(5, 6)}
    assert check_leaks(Path("prepared"), splits, raw) == []


def test_a_test_image_copied_into_train_is_a_leak() -> None:
    raw = {"train": images(1, 2, 3, 4), "test": images(5, 6)}
    splits = {"train": images(1, 2, 3, 6), "val": images(4), "test": images(5, 6)}
    assert check_leaks(Path("prepared"), splits, raw) == [
        "prepared/x_test.npy: 1 of its images also occur in train or val, more than the 0 the raw files share (a leak)"
    ]


def test_duplicates_the_raw_files_already_hold_are_not_a_leak() -> None:
    raw = {"train": images(0, 1, 2, 0), "test": images(0, 5)}  # a blank image in train twice and in test
    splits = {"train": images(0, 1), "val": images(2, 0), "test": images(0, 5)}
    assert check_leaks(Path("prepared"), splits, raw) == []
