"""Loading what `predict` and `serve` answer with: the TFLite model, its class names, and what export said of it.

Shared by both commands and by hot reload, so a model is refused with the same words
wherever it is loaded. The export folder's `exports.json` and `model_card.md` are read
only for what a client should know (the blessing's verdict, the dataset), and read
defensively: a figure that is missing or malformed is "unknown", never an error, since an
export written by another version of the pipeline must still serve.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.errors import DataError
from mnist_pipeline.export.record import EXPORTS_FILE, GATE
from mnist_pipeline.serving.litert import TFLiteClassifier

DEFAULT_MODEL = Path("models/export/model_float32.tflite")
MODEL_CARD = "model_card.md"
CARD_TITLE = re.compile(r"^# Model card: .+ on (\S+)\s*$", re.MULTILINE)  # the card's first line names the dataset


@dataclass(frozen=True)
class Blessing:
    """What the export's verdict says: each figure None when the export does not say."""

    blessed: bool | None
    override: bool | None  # shipped by `bless.force` although a rule refused it
    summary: str | None

    def as_json(self) -> dict[str, Any]:
        return {"blessed": self.blessed, "override": self.override, "summary": self.summary}


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to answer, immutable: the interpreter, its class names, and the bytes' identity."""

    classifier: TFLiteClassifier
    labels: Sequence[str]
    sha256: str  # of the TFLite bytes loaded
    version: str  # the model file's modification time in whole seconds, as TF Serving's versions are numbers
    blessing: Blessing
    dataset: str | None


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


def labels_path(model: Path) -> Path:
    return model.with_name(LABELS_FILE)


def model_labels(path: Path, num_classes: int, required: bool) -> list[str]:
    """The model's class names from `path`; class numbers if the file is absent and was not asked for."""
    if not path.is_file() and not required:
        return [str(index) for index in range(num_classes)]
    names = list(read_labels(path))
    if len(names) != num_classes:
        raise DataError(f"{path}: has {len(names)} class names but the model has {num_classes} classes")
    return names


def load_model(path: Path) -> LoadedModel:
    """Read the model's bytes once, then hash and load those same bytes (never a file that moved under us)."""
    try:
        content = path.read_bytes()
        version = str(path.stat().st_mtime_ns // 10**9)
    except FileNotFoundError:
        raise DataError(f"{path}: model not found; run `dvc repro` (or `dvc pull`) first, or pass --model") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the model ({error.strerror or error})") from None
    classifier = open_model(path, content)
    labels = model_labels(labels_path(path), classifier.num_classes, required=False)
    sha256 = hashlib.sha256(content).hexdigest()
    return LoadedModel(classifier, labels, sha256, version, read_blessing(path.parent), read_dataset(path.parent))


def read_blessing(folder: Path) -> Blessing:
    """The verdict export copied into exports.json; an override counts whether written as a flag or a figure."""
    gate = _read_json(folder / EXPORTS_FILE).get(GATE)
    if not isinstance(gate, dict):
        return Blessing(None, None, None)
    override = gate.get("override")
    if isinstance(override, dict):
        override = override.get("used")
    summary = gate.get("summary")
    return Blessing(_flag(gate.get("blessed")), _flag(override), summary if isinstance(summary, str) else None)


def _flag(value: object) -> bool | None:
    """`true`/`1` and `false`/`0` as booleans; anything else unknown."""
    return bool(value) if isinstance(value, bool | int) and value in (0, 1) else None


def _read_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def read_dataset(folder: Path) -> str | None:
    """The dataset the model card's title names (`# Model card: mlp on fashion_mnist`)."""
    try:
        match = CARD_TITLE.search(folder.joinpath(MODEL_CARD).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None
