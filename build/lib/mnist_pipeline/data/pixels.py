"""uint8 pixels and the [0, 1] floats the model trains on, both ways.

Prepare stores `pixels / 255` as float32; exports, the gallery and the checks need the
pixels back (a client sends uint8). Both directions live here so that the round trip is
exact: `to_pixels(to_floats(p)) == p` for every uint8 `p`.
"""

from __future__ import annotations

import numpy as np


def to_floats(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1], exactly as the quickstart's `x / 255.0` does once Keras casts it."""
    return np.asarray(pixels).astype(np.float32) / np.float32(255.0)


def to_pixels(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats to the nearest uint8 pixels (values outside [0, 1] are clipped)."""
    return np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
