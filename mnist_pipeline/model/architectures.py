"""The models `train.model` can name (the registry params take their choices from), and how they are saved and loaded.

A new architecture is one function here, decorated with `@architecture(threads=...)`: its name is the
value of `train.model`, its docstring's first line describes it in params.yaml's schema.
This module imports TensorFlow only when a model is built, run, saved or loaded, so that
params.py can read the registry without it. Every model outputs logits (no softmax): the
loss uses `from_logits=True`, and the probability model for clients is built at export.
Saved `.keras` files are normalised (fixed zip timestamps, no save date) so the same
weights always give the same bytes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_pipeline.artifacts import normalize_zip
from mnist_pipeline.errors import DataError

if TYPE_CHECKING:
    from mnist_pipeline.model.quiet_tensorflow import keras, tf
    from mnist_pipeline.params import TrainParams

PREDICT_BATCH = 2048

Builder = Callable[[tuple[int, ...], int, "TrainParams"], "keras.Model"]
ARCHITECTURES: dict[str, Builder] = {}
AUTO_THREADS: dict[str, int] = {}  # what `train.threads: auto` gives each (0: every core)


def architecture(threads: int) -> Callable[[Builder], Builder]:
    """Register a model under its function's name, the value `train.model` takes to pick it, with the thread count
    that trains it fastest: a small model's steps are too small to split, a convnet's convolutions are not."""

    def register(build: Builder) -> Builder:
        ARCHITECTURES[build.__name__] = build
        AUTO_THREADS[build.__name__] = threads
        return build

    return register


def summary(name: str) -> str:
    """An architecture's one-line description: its docstring's first line."""
    return (ARCHITECTURES[name].__doc__ or name).strip().splitlines()[0].rstrip(".")


@architecture(threads=1)
def mlp(input_shape: tuple[int, ...], num_classes: int, p: TrainParams) -> keras.Model:
    """The TensorFlow quickstart model: Flatten, Dense(relu), Dropout, Dense."""
    from mnist_pipeline.model.quiet_tensorflow import keras

    layers = keras.layers
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


@architecture(threads=0)  # 2 epochs: 28.9 s on 1 thread, 22.0 s on 2
def cnn(input_shape: tuple[int, ...], num_classes: int, p: TrainParams) -> keras.Model:
    """A small convnet after keras-io's MNIST convnet, about 1.5 points better on Fashion-MNIST.

    Two Conv2D and MaxPooling blocks, Dropout, Dense(relu), Dense.
    """
    from mnist_pipeline.model.quiet_tensorflow import keras

    layers = keras.layers
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


def build_model(params: TrainParams, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    return ARCHITECTURES[params.model](tuple(input_shape), num_classes, params)


def model_input(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels as the model's input, inside a graph: the very floats `pixels.to_floats` gives in NumPy.

    The quickstart's own arithmetic, `x / 255.0` in float64 then float32 as Keras casts it: a
    compiled float32 `cast / 255` is rewritten into a multiplication by 1/255, a rounding away.
    """
    from mnist_pipeline.model.quiet_tensorflow import tf

    return tf.cast(tf.cast(pixels, tf.float64) / 255.0, tf.float32)


def pixel_spec(model: keras.Model) -> tf.TensorSpec:
    """A batch of any size of the uint8 images `model` takes."""
    from mnist_pipeline.model.quiet_tensorflow import tf

    return tf.TensorSpec([None, *model.input_shape[1:]], tf.uint8)


def compiled_forward(model: keras.Model) -> Callable[[tf.Tensor], tf.Tensor]:
    """Inference on uint8 pixels as one compiled graph for any batch size; build it once and reuse it (tracing costs)."""
    from mnist_pipeline.model.quiet_tensorflow import tf

    return tf.function(lambda pixels: model(model_input(pixels), training=False), input_signature=[pixel_spec(model)])


def predict_logits(model: keras.Model, pixels: np.ndarray, forward: Callable | None = None) -> np.ndarray:
    """Logits for uint8 images, in large batches, without `model.predict`'s per-call set-up cost."""
    from mnist_pipeline.model.quiet_tensorflow import tf

    forward = forward or compiled_forward(model)
    batch_size = PREDICT_BATCH
    chunks = [forward(tf.constant(pixels[i : i + batch_size])).numpy() for i in range(0, len(pixels), batch_size)]
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
    from mnist_pipeline.model.quiet_tensorflow import keras

    if not Path(path).is_file():
        raise DataError(f"{path} is missing; run the train stage first (dvc repro train)")
    return keras.saving.load_model(path, compile=False, safe_mode=True)
