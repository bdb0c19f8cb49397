"""Serving artifacts: a SavedModel and TFLite models that take raw uint8 pixels.

The trained Keras model takes float images in [0, 1] and returns logits. Clients should
not have to know that, so every artifact built here has the same `serving_default`
signature: input `pixels` (uint8 `[N, H, W]`, as stored in the data set or decoded from
a PNG), outputs `probabilities` (float32 `[N, K]`, softmax) and `class` (int64 `[N]`).
Scaling and softmax run inside the graph, so a client cannot get them wrong.

TFLite is converted from the very function the SavedModel holds (its concrete function and
the weights it reads), not by reading the SavedModel back: 0.1 s less per flavour.
Identical weights give identical bytes across runs of a stage (see `_stable_fingerprint`).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mnist_pipeline.artifacts import atomic_path
from mnist_pipeline.export.layout import ExportedModel, exported_models, is_quantised
from mnist_pipeline.model.quiet_tensorflow import keras, tf
from mnist_pipeline.native_stderr import native_stderr_silenced
from mnist_pipeline.params import TFLITE_FLAVOURS, ExportParams
from mnist_pipeline.serving.litert import CLASS, PIXELS, PROBABILITIES, SIGNATURE, TFLiteClassifier


def image_shape(model: keras.Model) -> tuple[int, int]:
    """(H, W) of the model's input, which must be `[N, H, W]` grey images."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 3 or shape[1] is None or shape[2] is None:
        raise ValueError(f"expected a model input of shape [N, H, W], got {shape}")
    return int(shape[1]), int(shape[2])


def serving_function(model: keras.Model) -> tf.types.experimental.PolymorphicFunction:
    """The serving signature: uint8 `pixels` in, `probabilities` and `class` out."""
    height, width = image_shape(model)
    spec = tf.TensorSpec([None, height, width], tf.uint8, name=PIXELS)

    @tf.function(input_signature=[spec], autograph=False)
    def serve(pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        images = tf.cast(pixels, tf.float32) / 255.0  # plain ops every TFLite flavour converts
        probabilities = tf.nn.softmax(model(images, training=False), axis=-1)
        return {
            PROBABILITIES: probabilities,
            CLASS: tf.argmax(probabilities, axis=-1, output_type=tf.int64),
        }

    return serve


class _Serving(tf.Module):
    """What a SavedModel holds: the serving function and the weights it reads.

    A Keras 3 variable wraps the `tf.Variable` that a traced function captures. Unless
    those inner variables are tracked themselves, the SavedModel restores them only
    through the function, and the TFLite converter cannot freeze them (it leaves
    uninitialised READ_VARIABLE ops). They are listed in the model's own order, because
    `keras.export.ExportArchive`, which solves the same problem, lists them in an order
    that changes from process to process, and so do the bytes. `model.weights`, not
    `model.variables`: the dropout seed generators' state is not needed to serve and is
    re-seeded at random on every load, which changed the bytes too.
    """

    def __init__(self, model: keras.Model) -> None:
        super().__init__()
        self.weights = [variable.value for variable in model.weights]
        self.serve = serving_function(model)


def _write_saved_model(module: _Serving, directory: Path) -> None:
    tf.saved_model.save(module, str(directory), signatures={SIGNATURE: module.serve})
    _stable_fingerprint(directory / "fingerprint.pb")


def _stable_fingerprint(path: Path) -> None:
    """Replace the random UUID that TensorFlow writes into `fingerprint.pb` by a content hash.

    The other fingerprint fields are hashes of the SavedModel's content, so equal models
    get equal UUIDs and equal bytes (DVC sees the same hash), different models different ones.
    """
    from tensorflow.core.protobuf import fingerprint_pb2

    fingerprint = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    digest = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()
    fingerprint.uuid = str(int.from_bytes(digest[:16], "big"))
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))


def save_saved_model(model: keras.Model, path: str | Path) -> None:
    """Write a SavedModel directory whose `serving_default` signature is `serving_function`."""
    with atomic_path(path) as tmp:
        _write_saved_model(_Serving(model), tmp)


def saved_model_predict(path: str | Path, pixels: np.ndarray) -> np.ndarray:
    """Probabilities from the SavedModel at `path`, loaded as a client would (no Keras)."""
    signature = tf.saved_model.load(str(path)).signatures[SIGNATURE]
    outputs = signature(**{PIXELS: tf.constant(np.asarray(pixels, dtype=np.uint8))})
    return outputs[PROBABILITIES].numpy()


def predict_exported(exported: ExportedModel, folder: Path, pixels: np.ndarray) -> np.ndarray:
    """Probabilities from an exported model in `folder`, loaded as its clients load it (TensorFlow or LiteRT)."""
    path = folder / exported.filename
    return saved_model_predict(path, pixels) if exported.flavour is None else TFLiteClassifier(path).predict(pixels)


def convert_tflite(model: keras.Model, flavour: str, representative: np.ndarray) -> bytes:
    """A TFLite flatbuffer of the serving signature of `model` (see `_convert`)."""
    return _convert(_Serving(model), flavour, representative, image_shape(model))


def _convert(module: _Serving, flavour: str, representative: np.ndarray, shape: tuple[int, int]) -> bytes:
    """A TFLite flatbuffer of `module`'s serving function.

    `float32` is a plain conversion; `dynamic` stores weights as int8 and computes in
    float (no data needed); `int8` quantises weights and activations, calibrated on
    `representative` (uint8 `[M, H, W]` training images of `shape`), using int8 builtin ops only.
    Input stays uint8 pixels and outputs stay float32/int64 in every flavour: the
    converter adds the (de)quantise steps at the edges.
    """
    if flavour not in TFLITE_FLAVOURS:
        raise ValueError(f"unknown TFLite flavour {flavour!r}; expected one of {TFLITE_FLAVOURS}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    if is_quantised(flavour):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if flavour == "int8":
        samples = _check_representative(representative, shape)
        converter.representative_dataset = lambda: _calibration_batches(samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with warnings.catch_warnings(), native_stderr_silenced():
        # calibration runs the deprecated tf.lite.Interpreter internally; not our concern
        warnings.filterwarnings("ignore", "(?s).*tf.lite.Interpreter is deprecated")
        return converter.convert()


def _check_representative(representative: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    samples = np.asarray(representative)
    if samples.dtype != np.uint8 or samples.ndim != 3 or samples.shape[1:] != shape:
        raise ValueError(
            f"representative data must be uint8 [M, {shape[0]}, {shape[1]}], got {samples.dtype} {list(samples.shape)}"
        )
    if len(samples) == 0:
        raise ValueError("int8 quantisation needs at least one representative image")
    return samples


def _calibration_batches(samples: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
    for index in range(len(samples)):
        yield {PIXELS: samples[index : index + 1]}


def representative(x_train: np.ndarray, count: int) -> np.ndarray:
    """Evenly spaced training images for int8 calibration: deterministic without another seed."""
    step = max(1, len(x_train) // count)
    return np.array(x_train[::step][:count])


def build_exports(model: keras.Model, x_train: np.ndarray, tmp: Path, p: ExportParams) -> list[ExportedModel]:
    """Write every export into `tmp` (int8 calibrated on `x_train`); return what was written.

    One serving module is traced once and serves the SavedModel and every TFLite flavour.
    """
    calibration = representative(x_train, p.representative_samples)
    saved_model, *tflite = exported_models(p.tflite)
    module = _Serving(model)
    with atomic_path(tmp / saved_model.filename) as directory:
        _write_saved_model(module, directory)
    for exported in tflite:
        flatbuffer = _convert(module, str(exported.flavour), calibration, image_shape(model))
        (tmp / exported.filename).write_bytes(flatbuffer)
    return [saved_model, *tflite]
