"""`predict`: classify image files with the exported TFLite model, without TensorFlow.

A thin command over `model_loading` and `predictions`. A bad input is reported as one
line (`error: PATH: REASON`) and the others are still classified; the exit status is
non-zero if any input failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.errors import report_errors
from mnist_pipeline.serving.images import InputError
from mnist_pipeline.serving.model_loading import model_labels, model_option, open_model
from mnist_pipeline.serving.predictions import Prediction, classify


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
    """Classify images with the exported model, into the classes of the dataset it was trained on.

    INPUT is an image (PNG, JPEG, BMP, ...: a photo or scan of one object, any size,
    dark on light or light on dark), a .npy array ([H, W] or [N, H, W], uint8 or
    floats in [0, 1]) or an IDX file (e.g. t10k-images-idx3-ubyte[.gz]). Photos are
    prepared like MNIST (inverted if needed, cropped, scaled to 20 px, centred by
    mass); inputs of the model's size are used as they are.

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
            click.echo("\n".join(prediction.as_text() for prediction in found))
    if as_json:
        document = {
            "model": str(model),
            "predictions": [prediction.as_json() for prediction in predictions],
            "errors": [{"input": error.path, "error": error.reason} for error in errors],
        }
        click.echo(json.dumps(document, indent=2))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
