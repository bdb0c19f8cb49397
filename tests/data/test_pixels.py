"""Pixels to the model's floats: the quickstart's `x / 255.0`, as Keras feeds it."""

from __future__ import annotations

import numpy as np

from mnist_pipeline.data.pixels import to_floats

EVERY_PIXEL = np.arange(256, dtype=np.uint8).reshape(16, 4, 4)


def test_floats_are_the_quickstarts_x_over_255_as_keras_feeds_them() -> None:
    floats = to_floats(EVERY_PIXEL)
    assert floats.dtype == np.float32 and floats.shape == EVERY_PIXEL.shape
    # the quickstart computes `x / 255.0` in float64; Keras casts it to float32: the same numbers
    assert np.array_equal(floats, (EVERY_PIXEL / 255.0).astype(np.float32))
    assert floats.min() == 0.0 and floats.max() == 1.0


def test_conversion_leaves_its_input_alone() -> None:
    pixels = EVERY_PIXEL.copy()
    to_floats(pixels)
    assert np.array_equal(pixels, EVERY_PIXEL)
