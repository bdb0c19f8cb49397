"""Pixels to training floats and back: what prepare stores and what a client sends must round-trip exactly."""

from __future__ import annotations

import numpy as np

from mnist_pipeline.data.pixels import to_floats, to_pixels

EVERY_PIXEL = np.arange(256, dtype=np.uint8).reshape(16, 4, 4)


def test_floats_are_the_quickstarts_x_over_255_as_keras_feeds_them() -> None:
    floats = to_floats(EVERY_PIXEL)
    assert floats.dtype == np.float32 and floats.shape == EVERY_PIXEL.shape
    # the quickstart computes `x / 255.0` in float64; Keras casts it to float32: the same numbers
    assert np.array_equal(floats, (EVERY_PIXEL / 255.0).astype(np.float32))
    assert floats.min() == 0.0 and floats.max() == 1.0


def test_every_pixel_survives_the_round_trip() -> None:
    assert np.array_equal(to_pixels(to_floats(EVERY_PIXEL)), EVERY_PIXEL)
    assert to_pixels(to_floats(EVERY_PIXEL)).dtype == np.uint8


def test_pixels_round_to_nearest_and_clip_out_of_range_floats() -> None:
    floats = np.array([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 254.5 / 255 - 1e-4, 1.0, 1.5], np.float32)
    assert to_pixels(floats).tolist() == [0, 0, 0, 1, 254, 255, 255]


def test_conversions_leave_their_input_alone() -> None:
    pixels = EVERY_PIXEL.copy()
    floats = to_floats(pixels)
    to_pixels(floats)
    assert np.array_equal(pixels, EVERY_PIXEL) and np.array_equal(floats, to_floats(EVERY_PIXEL))
