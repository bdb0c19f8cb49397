"""Serving latency, measuring: every way to run the exported model, timed on the test split; fresh-process cold starts.

Nothing here summarises or formats; a runtime that cannot load or answer raises.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, run_small
from mnist_pipeline.data.pixels import to_floats
from mnist_pipeline.serving.litert import PIXELS, PROBABILITIES, SIGNATURE, TFLiteClassifier
from tests.support.project import BIN

BATCH = 1024
FLAVOUR_ORDER = {"model_float32": 0, "model_dynamic": 1, "model_int8": 2}


@dataclass(frozen=True)
class Runtime:
    """One way of serving: `one(pixels[1, H, W])` and `batch(pixels[N, H, W])` each return class scores."""

    name: str
    one: Callable[[np.ndarray], np.ndarray]
    batch: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Settings:
    """How much to measure (the command's options)."""

    calls: int
    warmup: int
    rounds: int
    cold: int


def load_test_pixels(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The test split as a client sends it: uint8 pixels, and the labels."""
    return np.load(data / "x_test.npy"), np.load(data / "y_test.npy")


# --------------------------------------------------------------------------- runtimes


def signature_runner(path: Path) -> Callable[..., dict[str, np.ndarray]]:
    """LiteRT's bare runner of the serving signature: what `TFLiteClassifier` wraps, without its conversions."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path)).get_signature_runner(SIGNATURE)


def tflite_runtimes(path: Path) -> list[Runtime]:
    """One TFLite flavour two ways: LiteRT's bare signature runner, and the classifier `predict` runs."""
    from mnist_pipeline.native_stderr import native_stderr_silenced

    flavour = path.stem.removeprefix("model_")
    with native_stderr_silenced():  # LiteRT announces its XNNPACK delegate
        single, batched = signature_runner(path), signature_runner(path)  # two, so neither resizes its input per call

    def one(pixels: np.ndarray) -> np.ndarray:
        return single(**{PIXELS: pixels})[PROBABILITIES]

    def batch(pixels: np.ndarray) -> np.ndarray:
        return batched(**{PIXELS: pixels})[PROBABILITIES]

    classifier = f"`{TFLiteClassifier.__module__}.TFLiteClassifier.predict` (what `predict` runs)"
    return [
        Runtime(f"TFLite {flavour}: LiteRT signature runner", one, batch),
        Runtime(f"TFLite {flavour}: {classifier}", TFLiteClassifier(path).predict, TFLiteClassifier(path).predict),
    ]


def saved_model_runtime(path: Path) -> Runtime:
    from mnist_pipeline.model.quiet_tensorflow import tf

    signature = tf.saved_model.load(str(path)).signatures[SIGNATURE]

    def call(pixels: np.ndarray) -> np.ndarray:
        return signature(**{PIXELS: tf.constant(pixels)})[PROBABILITIES].numpy()

    return Runtime("SavedModel `serving_default` (TensorFlow)", call, call)


def keras_runtimes(path: Path) -> list[Runtime]:
    from mnist_pipeline.model.architectures import load_model

    model = load_model(path)

    def direct(pixels: np.ndarray) -> np.ndarray:
        return model(to_floats(pixels), training=False).numpy()

    def predict(pixels: np.ndarray) -> np.ndarray:
        return model.predict(to_floats(pixels), batch_size=BATCH, verbose=0)

    return [Runtime("Keras `model(x)`", direct, direct), Runtime("Keras `model.predict(x)`", predict, predict)]


def all_runtimes(export: Path, model: Path) -> list[Runtime]:
    """Every TFLite flavour in the export (float32, dynamic, int8 first), the SavedModel, the Keras model."""
    flavours = sorted(export.glob("model_*.tflite"), key=lambda path: (FLAVOUR_ORDER.get(path.stem, 9), path.name))
    if not flavours:
        raise FileNotFoundError(f"no model_*.tflite in {export}")
    runtimes = [runtime for path in flavours for runtime in tflite_runtimes(path)]
    return [*runtimes, saved_model_runtime(export / "saved_model"), *keras_runtimes(model)]


# --------------------------------------------------------------------------- measuring


def per_image(runtime: Runtime, pixels: np.ndarray, order: np.ndarray) -> list[float]:
    """Seconds per call, one image per call, in `order`."""
    times = []
    for index in order:
        image = pixels[index : index + 1]
        started = time.perf_counter()
        runtime.one(image)
        times.append(time.perf_counter() - started)
    return times


def throughput(runtime: Runtime, pixels: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Images per second over the whole split in batches of BATCH (the last one smaller), and the accuracy."""
    started = time.perf_counter()
    scores = [runtime.batch(pixels[i : i + BATCH]) for i in range(0, len(pixels), BATCH)]
    seconds = time.perf_counter() - started
    return len(pixels) / seconds, float(np.mean(np.concatenate(scores).argmax(axis=-1) == labels))


def measure(
    runtimes: list[Runtime], pixels: np.ndarray, labels: np.ndarray, settings: Settings, log: Callable[[str], None]
) -> dict[str, Any]:
    """Per runtime: every per-image latency (s), each round's p50 (s), each round's images/s, the accuracy."""
    rng = np.random.default_rng(0)
    per_round = max(1, settings.calls // settings.rounds)
    results: dict[str, Any] = {r.name: {"latency_s": [], "round_p50_s": [], "images_per_s": []} for r in runtimes}
    for runtime in runtimes:  # warm-up: tracing, delegate set-up, first allocations
        log(f"warm-up: {runtime.name}")
        for index in rng.integers(0, len(pixels), settings.warmup):
            runtime.one(pixels[index : index + 1])
        runtime.batch(pixels[:BATCH])
    for round_index in range(settings.rounds):
        shift = round_index % len(runtimes)
        for runtime in runtimes[shift:] + runtimes[:shift]:
            log(f"round {round_index + 1}: {runtime.name}")
            times = per_image(runtime, pixels, rng.integers(0, len(pixels), per_round))
            rate, accuracy = throughput(runtime, pixels, labels)
            entry = results[runtime.name]
            entry["latency_s"] += times
            entry["round_p50_s"].append(float(np.percentile(times, 50)))
            entry["images_per_s"].append(rate)
            entry["accuracy"] = accuracy
    return results


def cold_starts(export: Path, image: np.ndarray, count: int, scratch: Path) -> dict[str, Any]:
    """Fresh-process wall times: `predict one.png` and, for comparison, the SavedModel in TensorFlow."""
    from PIL import Image

    png = scratch / "one.png"
    Image.fromarray(image).save(png)
    ours = [str(BIN / "predict"), "--model", str(export / "model_float32.tflite"), str(png)]
    tensorflow = [
        sys.executable,
        "-c",
        "import sys, numpy as np; from PIL import Image; import tensorflow as tf; "
        f"f = tf.saved_model.load(sys.argv[1]).signatures['{SIGNATURE}']; "
        "p = np.asarray(Image.open(sys.argv[2]).convert('L'))[None]; "
        f"print(int(f({PIXELS}=tf.constant(p))['class'][0]))",
        str(export / "saved_model"),
        str(png),
    ]
    found: dict[str, Any] = {"predict": [], "predict_rss_kib": [], "tensorflow": [], "tensorflow_rss_kib": []}
    for index in range(count):
        pair = [("predict", ours), ("tensorflow", tensorflow)]
        for name, command in pair if index % 2 == 0 else pair[::-1]:
            proc = run_small(command, ROOT)
            found[name].append(proc.wall_s)
            found[f"{name}_rss_kib"].append(proc.max_rss_kib)
            if name == "predict":
                found["output"] = proc.stdout.strip().replace(str(png), png.name)
    return found
