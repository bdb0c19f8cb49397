"""`predict`: classify digit images with the exported TFLite model, without TensorFlow.

The exported models take raw uint8 pixels and return probabilities (see
`mnist_pipeline.export.build`), so all a client does is load images the MNIST way
(`mnist_pipeline.serving.images`) and run the model with the LiteRT runtime. This module never imports
TensorFlow, directly or not, so one image is classified in a fraction of a second.

A bad input is reported as one line (`error: PATH: REASON`) and the others are still
classified; the exit status is non-zero if any input failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.errors import DataError, report_errors
from mnist_pipeline.serving.images import InputError, load_inputs
from mnist_pipeline.serving.litert import TFLiteClassifier

DEFAULT_MODEL = Path("models/export/model_float32.tflite")


def open_model(path: Path, content: bytes | None = None) -> TFLiteClassifier:
    """Load the model, turning a missing or broken file into an error that says what to do.

    `content` is the file's bytes when the caller has read them already: the server hashes and
    loads the same bytes, never a file that changed in between.
    """
    if content is None and not path.is_file():
        raise DataError(f"{path}: model not found; run `dvc repro` (or `dvc pull`) first, or pass --model")
    try:
        classifier = TFLiteClassifier(path if content is None else content)
    except (ValueError, RuntimeError) as error:
        raise DataError(f"{path}: not a usable TFLite serving model ({error})") from None
    height, width = classifier.image_shape
    if height != width:
        raise DataError(f"{path}: the model takes {height}x{width} images; only square ones are supported")
    return classifier


def model_option(help: str) -> Callable[[Callable], Callable]:
    """`--model`, shared by `predict` and `serve`: a TFLite export, the float32 one by default."""
    return click.option(
        "--model", type=click.Path(path_type=Path, dir_okay=False), default=DEFAULT_MODEL, show_default=True, help=help
    )


def model_labels(path: Path, num_classes: int, required: bool) -> list[str]:
    """The model's class names from `path`; class numbers if the file is absent and was not asked for."""
    if not path.is_file() and not required:
        return [str(index) for index in range(num_classes)]
    names = list(read_labels(path))
    if len(names) != num_classes:
        raise DataError(f"{path}: has {len(names)} class names but the model has {num_classes} classes")
    return names


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


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@model_option("TFLite model written by the export stage (any flavour: float32, dynamic, int8).")
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"Class names, one per line.  [default: {LABELS_FILE} beside the model, else class numbers]",
)
@click.option(
    "--top-k", type=click.IntRange(min=1), default=1, show_default=True, help="Show the k most likely classes."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of one line per image.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@report_errors
def main(model: Path, labels: Path | None, top_k: int, as_json: bool, inputs: tuple[str, ...]) -> None:
    """Classify digit images with the exported model.

    INPUT is an image (PNG, JPEG, BMP, ...: a photo or scan of one digit, any size,
    dark on light or light on dark), a .npy array ([H, W] or [N, H, W], uint8 or
    floats in [0, 1]) or an IDX file (e.g. t10k-images-idx3-ubyte[.gz]). Photos are
    prepared like MNIST (inverted if needed, cropped, scaled to 20 px, centred by
    mass); 28x28 inputs are used as they are.

    Prints `NAME: LABEL (PROBABILITY)` per image, NAME[i] for the i-th image of an
    array. A bad input is reported on stderr and skipped; the exit status is 1 if
    any input failed.
    """
    classifier = open_model(model)
    names = model_labels(labels or model.with_name(LABELS_FILE), classifier.num_classes, required=labels is not None)
    k = min(top_k, classifier.num_classes)
    predictions: list[Prediction] = []
    errors: list[InputError] = []
    for path in inputs:
        try:
            found = classify(classifier, names, path, k)
        except InputError as error:
            click.echo(f"error: {error}", err=True)
            errors.append(error)
            continue
        predictions += found
        if not as_json:
            for prediction in found:
                click.echo(prediction.as_text())
    if as_json:
        document = {
            "model": str(model),
            "predictions": [prediction.as_json() for prediction in predictions],
            "errors": [{"input": error.path, "error": error.reason} for error in errors],
        }
        click.echo(json.dumps(document, indent=2))
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
