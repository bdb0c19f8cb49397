"""uint8 pixels, as the data sets store them and clients send them, and the [0, 1] floats the model takes.

Every artifact holds pixels (prepare's arrays: 4x smaller than floats, exact); the model
gets `pixels / 255` at the last moment. `to_floats` is that step in NumPy, and
`architectures.model_input` the same step inside a TensorFlow graph (training, Keras
inference); tests/model/test_architectures.py checks that they give the same floats. The
exports' serving signature scales with plain float32 ops every TFLite flavour converts,
and is held to the Keras model by its agreement (export.min_agreement).
"""

from __future__ import annotations

import numpy as np


def to_floats(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1], exactly as the quickstart's `x / 255.0` does once Keras casts it."""
    return np.asarray(pixels).astype(np.float32) / np.float32(255.0)
