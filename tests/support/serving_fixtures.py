"""Shared test fixtures: a tiny trained Keras model on synthetic digits, and its TFLite exports.

Import the fixtures into a test module (`from tests.support.serving_fixtures import ...`). The
model and conversions are built once per test process (`functools.cache`), each module
gets its own copy of the files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.data.pixels import to_floats
from tests.support.project import synthetic_digits

NUM_CLASSES = 4
LABELS = ("horizontal", "falling", "vertical", "rising")  # the bars of `synthetic_digits` with 4 classes
SIZE = 28


@dataclass(frozen=True)
class TinySetup:
    model: object  # a keras.Model: [N, 28, 28] float in [0, 1] -> logits [N, 4]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    tflite: dict[str, bytes]  # flavour -> flatbuffer

    def keras_probabilities(self, pixels: np.ndarray) -> np.ndarray:
        from mnist_pipeline.model.quiet_tensorflow import keras

        logits = self.model.predict(to_floats(pixels), verbose=0)
        return keras.ops.convert_to_numpy(keras.activations.softmax(logits))


@functools.cache
def build_tiny_setup() -> TinySetup:
    from mnist_pipeline.export import build as serving
    from mnist_pipeline.model.quiet_tensorflow import keras

    keras.utils.set_random_seed(0)
    x_train, y_train = synthetic_digits(800, seed=1, num_classes=NUM_CLASSES, size=SIZE)
    x_test, y_test = synthetic_digits(300, seed=2, num_classes=NUM_CLASSES, size=SIZE)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(NUM_CLASSES),
        ]
    )
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(to_floats(x_train), y_train, epochs=4, batch_size=32, verbose=0)
    tflite = {flavour: serving.convert_tflite(model, flavour, x_train[:200]) for flavour in serving.TFLITE_FLAVOURS}
    return TinySetup(model, x_train, y_train, x_test, y_test, tflite)


@dataclass(frozen=True)
class ExportDir:
    """What the export stage writes that `predict` reads: TFLite models and labels.txt."""

    path: Path
    setup: TinySetup

    def model(self, flavour: str = "float32") -> Path:
        return self.path / f"model_{flavour}.tflite"


@pytest.fixture(scope="module")
def tiny_setup() -> TinySetup:
    return build_tiny_setup()


@pytest.fixture(scope="module")
def export_dir(tiny_setup: TinySetup, tmp_path_factory: pytest.TempPathFactory) -> ExportDir:
    path = tmp_path_factory.mktemp("export")
    for flavour, content in tiny_setup.tflite.items():
        (path / f"model_{flavour}.tflite").write_bytes(content)
    (path / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return ExportDir(path, tiny_setup)
