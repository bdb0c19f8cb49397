"""Evaluate's NumPy inference gives Keras's logits and figures for every architecture, and imports no TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.errors import DataError
from mnist_pipeline.evaluation.metrics import summarize
from mnist_pipeline.model.architectures import ARCHITECTURES, build_model, predict_logits, save_model
from mnist_pipeline.model.inference import load_numpy_model, weight_keys
from mnist_pipeline.model.inference import predict_logits as numpy_logits
from mnist_pipeline.model.quiet_tensorflow import keras
from tests.support.project import ROOT, synthetic_digits
from tests.support.training import train_params

NAMES = tuple(f"bar{i}" for i in range(10))


def saved_model(tmp_path: Path, architecture: str) -> Path:
    """A model of `architecture` with seeded random weights, biases included (Keras starts them at zero)."""
    keras.utils.set_random_seed(3)
    p = train_params(model=architecture, dropout=0.5, seed=3, threads=1)
    model = build_model(p, (28, 28), len(NAMES))
    rng = np.random.default_rng(3)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path / f"{architecture}.keras"
    save_model(model, path)
    return path


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_numpy_logits_and_figures_are_keras_ones(tmp_path: Path, architecture: str) -> None:
    path = saved_model(tmp_path, architecture)
    images, labels = synthetic_digits(1100, seed=5)  # more than one NumPy batch
    expected = predict_logits(keras.saving.load_model(path, compile=False), images)
    got = numpy_logits(load_numpy_model(path), images)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert np.array_equal(got.argmax(axis=-1), expected.argmax(axis=-1))
    figures, per_class = summarize(labels, got, NAMES)
    keras_figures, keras_per_class = summarize(labels, expected, NAMES)
    assert figures["accuracy"] == keras_figures["accuracy"] and per_class == keras_per_class
    assert figures["loss"] == pytest.approx(keras_figures["loss"], abs=2e-6)


def test_weight_keys_number_repeated_layer_classes_as_keras_does() -> None:
    classes = ["Reshape", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert weight_keys(classes) == [
        "reshape",
        "conv2d",
        "max_pooling2d",
        "conv2d_1",
        "max_pooling2d_1",
        "flatten",
        "dense",
        "dense_1",
    ]


@pytest.mark.parametrize(
    "layer",
    [
        pytest.param(lambda: keras.layers.BatchNormalization(), id="unknown layer"),
        pytest.param(lambda: keras.layers.Dense(4, activation="tanh"), id="unknown activation"),
        pytest.param(lambda: keras.layers.Conv2D(2, 3, padding="same"), id="unknown option"),
    ],
)
def test_what_it_cannot_compute_is_refused(tmp_path: Path, layer) -> None:
    shape = (6, 6, 1) if "Conv2D" in type(layer()).__name__ else (4,)
    model = keras.Sequential([keras.Input(shape), layer(), keras.layers.Flatten(), keras.layers.Dense(2)])
    save_model(model, tmp_path / "model.keras")
    with pytest.raises(DataError, match="not supported without TensorFlow"):
        load_numpy_model(tmp_path / "model.keras")


def test_a_missing_model_says_which_stage_makes_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run the train stage first"):
        load_numpy_model(tmp_path / "model.keras")


def test_the_evaluate_stage_imports_no_tensorflow() -> None:
    code = (
        "import sys, stages.evaluate; print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
