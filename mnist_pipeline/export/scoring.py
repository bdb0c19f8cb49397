"""Scoring exported models on a sample of the test split against the figures the export stage claims.

The export stage measures every exported model on the whole test split and writes the
figures to its report, models/export/exports.json. The output checks re-measure them on a fixed random
sample, which is fast enough for CI, and accept a difference only as large as that
sample size explains (see `tolerance`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_pipeline.artifacts import load_array
from mnist_pipeline.export.build import predict_exported
from mnist_pipeline.export.layout import ExportedModel
from mnist_pipeline.model.architectures import predict_logits
from mnist_pipeline.model.quiet_tensorflow import keras, tf

SAMPLE_SIZE = 2000  # test images each export is scored on: a few seconds for all of them together
SAMPLE_SEED = 0
Z = 4.0  # standard deviations a sampled figure may stray from the claimed one
SLACK_IMAGES = 2  # near-ties that may resolve differently on another CPU or in another batch


def tolerance(claimed: float, sample: int, population: int) -> float:
    """How far a rate measured on `sample` of the `population` test images may stray from the `claimed` rate on all.

    The sample is a fixed random subset of the test split, so the number of its images a
    model gets right (or agrees with Keras on) is hypergeometric: mean `n p`, variance
    `n p (1 - p) (N - n) / (N - 1)` for the claimed rate `p`. A correct claim lands within
    `Z` = 4 standard deviations but for about one run in 10,000; a wrong one (another model, a
    broken conversion) is off by a few percent, which on 2,000 images is 10 or more standard
    deviations. `SLACK_IMAGES` more images are allowed because a near-tie between two classes
    may go the other way on another CPU or batch size, which no sampling argument covers; on
    the whole split (`n = N`) that slack is all that remains.
    """
    variance = claimed * (1.0 - claimed) * sample * (population - sample) / max(1, population - 1)
    return (Z * math.sqrt(variance) + SLACK_IMAGES) / sample


def sample_indices(population: int, size: int = SAMPLE_SIZE, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Sorted indices of a fixed random sample of the test split: the same images every run, so a failure reproduces."""
    if population <= size:
        return np.arange(population)
    return np.sort(np.random.default_rng(seed).choice(population, size, replace=False))


@dataclass(frozen=True)
class Sample:
    """Test images to score the exports on, their labels and what the Keras model predicts for them."""

    pixels: np.ndarray  # uint8 [n, H, W], as a client sends them
    labels: np.ndarray
    reference: np.ndarray  # the Keras model's classes
    population: int  # images in the whole test split, which the export report was measured on


def draw_sample(folder: Path, model: keras.Model) -> Sample:
    """The sample of the prepared test split in `folder`, with the Keras `model`'s predictions for it."""
    x_test, y_test = load_array(folder / "x_test.npy", mmap=True), load_array(folder / "y_test.npy")
    chosen = sample_indices(len(y_test))
    pixels = np.asarray(x_test[chosen])
    return Sample(pixels, y_test[chosen], predict_logits(model, pixels).argmax(axis=-1), len(y_test))


def compare(path: Path, measured: dict[str, float], claimed: dict, claims_path: Path, sample: Sample) -> list[str]:
    """One problem per figure measured on the sample that the claim on the whole split cannot explain."""
    n = len(sample.labels)
    problems = []
    for key, value in measured.items():
        allowed = tolerance(claimed[key], n, sample.population)
        if abs(value - claimed[key]) > allowed:
            problems.append(
                f"{path}: {key} {value:.4f} on {n} test images, but {claims_path} claims {claimed[key]:.4f} "
                f"(± {allowed:.4f} for this sample): a different or broken model"
            )
    return problems


# What loading a corrupt model raises: LiteRT a ValueError, TensorFlow an OSError, an
# IndexError or one of its own OpErrors, a missing signature a KeyError. Only the
# load-and-run is guarded, so a bug elsewhere in the checks still shows its traceback.
LOAD_ERRORS = (OSError, ValueError, RuntimeError, LookupError, tf.errors.OpError)


def score_export(
    export_dir: Path, exported: ExportedModel, claims: dict, claims_path: Path, sample: Sample
) -> list[str]:
    """Load one exported model, run it on the sample, and compare its accuracy and agreement with the claims."""
    path = export_dir / exported.filename
    if not path.exists():
        return [f"{path} is missing"]
    if exported.name not in claims:
        return [f"{claims_path}: no entry for {exported.name} ({path})"]
    try:
        probabilities = predict_exported(exported, export_dir, sample.pixels)
    except LOAD_ERRORS as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return [f"{path}: cannot be loaded and run ({reason})"]
    predicted = probabilities.argmax(axis=-1)
    measured = {
        "accuracy": float(np.mean(predicted == sample.labels)),
        "agreement": float(np.mean(predicted == sample.reference)),
    }
    return compare(path, measured, claims[exported.name], claims_path, sample)
