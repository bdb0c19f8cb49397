"""The models `train.model` can name, and how they are saved and loaded.

Both output logits (no softmax): the loss uses `from_logits=True`, and the probability
model for clients is built at export. Saved `.keras` files are normalised (fixed zip
timestamps, no save date) so the same weights always give the same bytes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_pipeline.artifacts import normalize_zip
from mnist_pipeline.errors import DataError
from mnist_pipeline.model.quiet_tensorflow import keras, tf
from mnist_pipeline.params import TrainParams

layers = keras.layers
PREDICT_BATCH = 2048


def mlp(input_shape: tuple[int, ...], num_classes: int, p: TrainParams) -> keras.Model:
    """The TensorFlow beginner quickstart model."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Flatten(),
            layers.Dense(p.hidden_units, activation="relu"),
            layers.Dropout(p.dropout),
            layers.Dense(num_classes),
        ],
        name="mlp",
    )


def cnn(input_shape: tuple[int, ...], num_classes: int, p: TrainParams) -> keras.Model:
    """A small convnet (after keras-io's MNIST convnet): ~1.5 points better on Fashion-MNIST."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Reshape((*input_shape, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(p.dropout),
            layers.Dense(p.hidden_units, activation="relu"),
            layers.Dense(num_classes),
        ],
        name="cnn",
    )


BUILDERS: dict[str, Callable[[tuple[int, ...], int, TrainParams], keras.Model]] = {"mlp": mlp, "cnn": cnn}


def build_model(params: TrainParams, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    return BUILDERS[params.model](tuple(input_shape), num_classes, params)


def compiled_forward(model: keras.Model) -> Callable[[tf.Tensor], tf.Tensor]:
    """Inference as one compiled graph for any batch size; build it once and reuse it (tracing costs)."""
    images = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
    return tf.function(lambda batch: model(batch, training=False), input_signature=[images])


def predict_logits(model: keras.Model, x: np.ndarray, forward: Callable | None = None) -> np.ndarray:
    """Logits in large batches, without `model.predict`'s per-call set-up cost."""
    forward = forward or compiled_forward(model)
    batch_size = PREDICT_BATCH
    chunks = [forward(tf.constant(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(chunks) if chunks else np.empty((0, model.output_shape[-1]), np.float32)


def save_model(model: keras.Model, path: str | Path) -> None:
    """Save atomically, with bytes that depend only on the architecture and weights."""
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "model.keras"
        model.save(raw)
        normalize_zip(raw, path, rewrite={"metadata.json": _without_date, "config.json": _renumber_shared_objects})


def _without_date(metadata: bytes) -> bytes:
    return json.dumps({**json.loads(metadata), "date_saved": ""}).encode("utf-8")


def _renumber_shared_objects(config: bytes) -> bytes:
    """Keras writes `id()` of shared objects as `shared_object_id`; number them in order of appearance instead."""
    numbers: dict[int, int] = {}

    def renumber(node: object) -> object:
        if isinstance(node, dict):
            return {
                key: numbers.setdefault(value, len(numbers)) if key == "shared_object_id" else renumber(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [renumber(item) for item in node]
        return node

    return json.dumps(renumber(json.loads(config))).encode("utf-8")


def load_model(path: str | Path) -> keras.Model:
    """Load in safe mode: a model file never gets to run code (no Lambda layers, no pickles)."""
    if not Path(path).is_file():
        raise DataError(f"{path} is missing; run the train stage first (dvc repro train)")
    return keras.saving.load_model(path, compile=False, safe_mode=True)
