"""Predictions as `predict` prints them and the image endpoint returns them: the k best classes of each image.

Shared by the command and the server, so a file gets the same answer from both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnist_pipeline.serving.images import load_inputs
from mnist_pipeline.serving.litert import TFLiteClassifier


@dataclass(frozen=True)
class Prediction:
    input: str
    index: int | None  # position in a multi-image file, None for a single image
    top: list[tuple[int, str, float]]  # (class, label, probability), best first

    @property
    def name(self) -> str:
        return self.input if self.index is None else f"{self.input}[{self.index}]"

    def as_text(self) -> str:
        return f"{self.name}: " + ", ".join(f"{label} ({probability:.3f})" for _, label, probability in self.top)

    def as_json(self) -> dict[str, Any]:
        best_class, best_label, best_probability = self.top[0]
        return {
            "input": self.input,
            "index": self.index,
            "class": best_class,
            "label": best_label,
            "probability": best_probability,
            "top": [{"class": c, "label": label, "probability": p} for c, label, p in self.top],
        }


def top_k(probabilities: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[int, str, float]]:
    """The k most probable classes, best first (ties: lower class first, like argmax)."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(c), labels[c], round(float(probabilities[c]), 6)) for c in order]


def classify(classifier: TFLiteClassifier, labels: Sequence[str], path: str, k: int) -> list[Prediction]:
    """Predictions for every image in one input file (raises `InputError` for a bad file)."""
    images = load_inputs(path, size=classifier.image_shape[0])
    probabilities = classifier.predict(images)
    single = len(images) == 1
    return [
        Prediction(path, None if single else index, top_k(row, labels, k)) for index, row in enumerate(probabilities)
    ]
