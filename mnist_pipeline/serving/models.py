"""The model a server answers with, and hot reload: a new export on disk replaces it between requests.

A `LoadedModel` is immutable: the interpreter, the class names, and the version and hash
of the very bytes it was built from. `ModelWatcher` holds the current one; a request
takes it once and uses it to the end, while a background thread watches the files and,
when they change (`dvc checkout`, `dvc exp apply`, a new export), loads the new model
and swaps the reference. The swap is one assignment, so a request sees the old model or
the new one, never a mix, and a request in flight keeps the model it started with.

A file being written is not loaded: the files must look the same (size, mtime, inode)
for `settle` seconds, the bytes are read once and hashed and loaded from memory, and a
model that fails to load (cut short, not a TFLite model) leaves the old one serving.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.errors import DataError
from mnist_pipeline.serving.litert import TFLiteClassifier
from mnist_pipeline.serving.predict import model_labels, open_model

log = logging.getLogger("mnist_pipeline.serving")

FileState = tuple[tuple[int, int, int], ...]  # (size, mtime_ns, inode) of the model and labels file


@dataclass(frozen=True)
class LoadedModel:
    classifier: TFLiteClassifier
    labels: Sequence[str]
    sha256: str  # of the TFLite bytes loaded
    version: str  # the model file's modification time in whole seconds, as TF Serving's versions are numbers
    path: Path


def labels_path(model: Path) -> Path:
    return model.with_name(LABELS_FILE)


def file_state(model: Path) -> FileState:
    """What changes when the export is rewritten; a missing labels file counts as (0, 0, 0)."""
    states = []
    for path in (model, labels_path(model)):
        try:
            stat = path.stat()
            states.append((stat.st_size, stat.st_mtime_ns, stat.st_ino))
        except FileNotFoundError:
            if path == model:
                raise
            states.append((0, 0, 0))
    return tuple(states)


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
    return LoadedModel(classifier, labels, hashlib.sha256(content).hexdigest(), version, path)


class ModelWatcher:
    """The current model, replaced by a background thread when the files on disk change."""

    def __init__(self, path: Path, interval: float = 1.0, settle: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self.settle = settle
        with contextlib.suppress(FileNotFoundError):  # then load_model says what is missing
            self._state = file_state(path)  # before loading: a change while loading is seen at the next look
        self.current = load_model(path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def check(self) -> bool:
        """Load the model if its files changed and have stopped changing; whether it switched."""
        try:
            state = file_state(self.path)
            if state == self._state:
                return False
            if self._stop.wait(self.settle) or file_state(self.path) != state:
                return False  # still being written: look again next time
            loaded = load_model(self.path)
        except FileNotFoundError:
            return False  # between the old export's removal and the new one's arrival
        except DataError as error:
            log.warning("keeping model %s: the new files cannot be loaded: %s", self.current.sha256[:12], error)
            self._state = state  # not again until the files change once more
            return False
        if file_state(self.path) != state:
            return False  # changed while loading: the bytes may be a mix; load them again next time
        self._state = state
        if loaded.sha256 != self.current.sha256:
            self.current = loaded
            log.info("switched to model %s (version %s)", loaded.sha256[:12], loaded.version)
            return True
        return False
