"""Inference of a saved `.keras` model in plain NumPy: evaluate scores without importing TensorFlow.

TensorFlow's import costs ~2.5 s of every process that makes it; evaluate only needs a
forward pass. This reads the file as Keras writes it (config.json: the layers in order;
model.weights.h5: their weights) and runs the layers `architectures.py` builds, in
inference mode (dropout off). A layer, activation or option it does not know is refused,
never guessed at, and like Keras's safe mode it never runs code from the file. h5py, which
reads the weights, comes with Keras.
tests/model/test_inference.py checks the logits against Keras's for every architecture.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mnist_pipeline.data.pixels import to_floats
from mnist_pipeline.errors import DataError

Layer = Callable[[np.ndarray], np.ndarray]
BATCH = 512  # images per forward pass: bounds the convolutions' unfolded windows to ~70 MB
ACTIVATIONS: dict[str, Layer] = {"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0)}


@dataclass(frozen=True)
class NumpyModel:
    """A Sequential model's layers as NumPy functions; called on a float32 batch, returns logits."""

    name: str
    layers: tuple[Layer, ...]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer(x)
        return x


def activation(config: dict[str, Any]) -> Layer:
    name = config.get("activation", "linear")
    if name not in ACTIVATIONS:
        raise DataError(f"layer {config['name']}: activation {name!r} is not supported without TensorFlow")
    return ACTIVATIONS[name]


def require(config: dict[str, Any], **expected: Any) -> None:
    """Refuse an option this module does not implement (strides, padding, ...) instead of computing it wrong."""
    for key, value in expected.items():
        found = config.get(key, value)
        if (list(found) if isinstance(found, tuple | list) else found) != value:
            raise DataError(f"layer {config['name']}: {key}={found!r} is not supported without TensorFlow")


def dense(config: dict[str, Any], weights: list[np.ndarray]) -> Layer:
    act = activation(config)
    kernel, bias = weights if config.get("use_bias", True) else (weights[0], 0.0)
    return lambda x: act(x @ kernel + bias)


def conv2d(config: dict[str, Any], weights: list[np.ndarray]) -> Layer:
    """Keras's Conv2D with its defaults: channels last, stride 1, no padding, no dilation."""
    require(config, strides=[1, 1], padding="valid", dilation_rate=[1, 1], groups=1, data_format="channels_last")
    act = activation(config)
    kernel, bias = weights if config.get("use_bias", True) else (weights[0], 0.0)
    kh, kw = kernel.shape[:2]
    by_channel = kernel.transpose(2, 0, 1, 3)  # (in, kh, kw, out), the order of the windows' axes

    def forward(x: np.ndarray) -> np.ndarray:
        windows = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (n, h', w', in, kh, kw)
        return act(np.tensordot(windows, by_channel, axes=3) + bias)

    return forward


def max_pooling2d(config: dict[str, Any], weights: list[np.ndarray]) -> Layer:
    require(config, padding="valid", data_format="channels_last")
    ph, pw = config["pool_size"]
    sh, sw = config.get("strides") or (ph, pw)

    def forward(x: np.ndarray) -> np.ndarray:
        windows = sliding_window_view(x, (ph, pw), axis=(1, 2))[:, ::sh, ::sw]
        return windows.max(axis=(-2, -1))

    return forward


def reshape(config: dict[str, Any], weights: list[np.ndarray]) -> Layer:
    target = tuple(config["target_shape"])
    return lambda x: x.reshape(len(x), *target)


def flatten(config: dict[str, Any], weights: list[np.ndarray]) -> Layer:
    require(config, data_format="channels_last")
    return lambda x: x.reshape(len(x), -1)


def dropout(config: dict[str, Any], weights: list[np.ndarray]) -> Layer:
    return lambda x: x  # off at inference, as in `model(x, training=False)`


LAYERS: dict[str, Callable[[dict[str, Any], list[np.ndarray]], Layer]] = {
    "Dense": dense,
    "Conv2D": conv2d,
    "MaxPooling2D": max_pooling2d,
    "Reshape": reshape,
    "Flatten": flatten,
    "Dropout": dropout,
}


def snake_case(name: str) -> str:
    """Keras's `naming.to_snake_case`: `MaxPooling2D` -> `max_pooling2d`, the name its weights file uses."""
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)).lower()


def weight_keys(class_names: list[str]) -> list[str]:
    """Where Keras stores each layer's weights in model.weights.h5: `layers/<class in snake case>[_<n>]`.

    The n-th repeat of a class gets the suffix `_n` (Keras's saving_lib numbers them so, whatever the layers' names).
    """
    seen: dict[str, int] = {}
    keys = []
    for class_name in class_names:
        base = snake_case(class_name)
        keys.append(f"{base}_{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return keys


def load_numpy_model(path: str | Path) -> NumpyModel:
    """The Sequential model saved at `path`, ready to run in NumPy."""
    if not Path(path).is_file():
        raise DataError(f"{path} is missing; run the train stage first (dvc repro train)")
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        weights_file = io.BytesIO(archive.read("model.weights.h5"))
    if config["class_name"] != "Sequential":
        raise DataError(f"{path}: a {config['class_name']} model; only Sequential models run without TensorFlow")
    specs = [layer for layer in config["config"]["layers"] if layer["class_name"] != "InputLayer"]
    unknown = sorted({layer["class_name"] for layer in specs} - set(LAYERS))
    if unknown:
        raise DataError(f"{path}: layers {', '.join(unknown)} are not supported without TensorFlow")
    with h5py.File(weights_file, "r") as stored:
        layers = []
        for spec, key in zip(specs, weight_keys([layer["class_name"] for layer in specs]), strict=True):
            variables = stored[f"layers/{key}/vars"]
            weights = [np.asarray(variables[str(i)], np.float32) for i in range(len(variables))]
            layers.append(LAYERS[spec["class_name"]](spec["config"], weights))
    return NumpyModel(config["config"]["name"], tuple(layers))


def predict_logits(model: NumpyModel, pixels: np.ndarray) -> np.ndarray:
    """Logits in float32 for uint8 images, a batch at a time."""
    chunks = [model(to_floats(pixels[i : i + BATCH])) for i in range(0, len(pixels), BATCH)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.empty((0, 0), np.float32)
