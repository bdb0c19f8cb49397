"""Shared test fixtures: a tiny trained Keras model on synthetic digits, and its TFLite exports.

Import the fixtures into a test module (`from tests.serving_fixtures import ...`). The
model and conversions are built once per test process (`functools.cache`), each module
gets its own copy of the files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

NUM_CLASSES = 4
LABELS = ("bar", "pole", "slash", "box")
SIZE = 28


def synthetic_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Light-on-dark 28x28 uint8 "digits" of 4 shapes, shifted, dimmed and noisy: separable, not trivial."""
    rng = np.random.default_rng(seed)
    templates = np.zeros((NUM_CLASSES, SIZE, SIZE))
    templates[0, 12:16, 6:22] = 1  # horizontal bar
    templates[1, 6:22, 12:16] = 1  # vertical bar
    for offset in range(-2, 2):  # diagonal stroke
        templates[2][np.arange(6, 22), np.clip(np.arange(21, 5, -1) + offset, 0, SIZE - 1)] = 1
    templates[3, 8:20, 8:20] = 1  # square outline
    templates[3, 11:17, 11:17] = 0
    labels = rng.integers(0, NUM_CLASSES, count)
    images = np.empty((count, SIZE, SIZE))
    for index, label in enumerate(labels):
        shifted = np.roll(templates[label], tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
        images[index] = shifted * rng.uniform(120, 255) + rng.normal(0, 25, (SIZE, SIZE))
    return np.clip(images, 0, 255).astype(np.uint8), labels


@dataclass(frozen=True)
class TinySetup:
    model: object  # a keras.Model: [N, 28, 28] float in [0, 1] -> logits [N, 4]
    x_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    tflite: dict[str, bytes]  # flavour -> flatbuffer

    def keras_probabilities(self, pixels: np.ndarray) -> np.ndarray:
        from mnist_pipeline.model.quiet_tensorflow import keras

        logits = self.model.predict(pixels.astype(np.float32) / 255.0, verbose=0)
        return keras.ops.convert_to_numpy(keras.activations.softmax(logits))


@functools.cache
def build_tiny_setup() -> TinySetup:
    from mnist_pipeline.model.quiet_tensorflow import keras
    from mnist_pipeline.serving import export as serving

    keras.utils.set_random_seed(0)
    x_train, y_train = synthetic_digits(800, seed=1)
    x_test, y_test = synthetic_digits(300, seed=2)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(NUM_CLASSES),
        ]
    )
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train / 255.0, y_train, epochs=4, batch_size=32, verbose=0)
    tflite = {flavour: serving.convert_tflite(model, flavour, x_train[:200]) for flavour in serving.TFLITE_FLAVOURS}
    return TinySetup(model, x_train, x_test, y_test, tflite)


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
