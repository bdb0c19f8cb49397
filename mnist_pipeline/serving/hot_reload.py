"""Hot reload: a new export on disk replaces the served model between requests, and a failed one is reported.

`ModelWatcher` holds the current `LoadedModel`; a request takes it once and uses it to
the end, while a background thread watches the files and, when they change (`dvc
checkout`, `dvc exp apply`, a new export, a new labels.txt or exports.json), loads them
and swaps the reference. The swap is one assignment, so a request sees the old model or
the new one, never a mix.

A file being written is not loaded: the files must look the same (size, mtime, inode)
for `settle` seconds, and the bytes are read once, then hashed and loaded from memory.
Files that fail to load (cut short, not a TFLite model, labels that do not fit) or a
model file that stays deleted leave the old model serving, and `failure` says what
failed and why until the files change again: `/readyz` and the version status show it,
as TF Serving's version states do.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from mnist_pipeline.errors import DataError
from mnist_pipeline.export.record import EXPORTS_FILE
from mnist_pipeline.serving.model_loading import LoadedModel, labels_path, load_model

log = logging.getLogger("mnist_pipeline.serving")

FileState = tuple[tuple[int, int, int], ...]  # (size, mtime_ns, inode) of each watched file; (0, 0, 0) if absent
MISSING = (0, 0, 0)


@dataclass(frozen=True)
class LoadFailure:
    """Why the files on disk are not the ones served."""

    version: str | None  # the failed model file's version; None when the file is missing
    error: str  # one line, naming files by their name only (responses never show a filesystem path)


def watched_files(model: Path) -> tuple[Path, ...]:
    return model, labels_path(model), model.with_name(EXPORTS_FILE)


def file_state(model: Path) -> FileState:
    """What changes when the export, its labels or its verdict is rewritten."""
    states = []
    for path in watched_files(model):
        try:
            stat = path.stat()
            states.append((stat.st_size, stat.st_mtime_ns, stat.st_ino))
        except FileNotFoundError:
            states.append(MISSING)
    return tuple(states)


def identity(model: LoadedModel) -> tuple[object, ...]:
    """What a client can tell apart: a change to any of these is a new model to serve."""
    return model.sha256, tuple(model.labels), model.blessing, model.dataset


class ModelWatcher:
    """The current model, replaced by a background thread when the files on disk change."""

    def __init__(self, path: Path, interval: float = 1.0, settle: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self.settle = settle
        self._state = file_state(path)  # before loading: a change while loading is seen at the next look
        self.current = load_model(path)
        self.failure: LoadFailure | None = None
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
        """Load the files if they changed and have stopped changing; whether the served model switched."""
        state = file_state(self.path)
        if state == self._state:
            return False
        if self._stop.wait(self.settle) or file_state(self.path) != state:
            return False  # still being written (or between an export's removal and the next): look again later
        if state[0] == MISSING:
            return self._failed(state, None, f"{self.path.name} was deleted")
        try:
            loaded = load_model(self.path)
        except DataError as error:
            return self._failed(state, version_of(self.path), str(error).replace(str(self.path.parent), "."))
        if file_state(self.path) != state:
            return False  # changed while loading: the bytes may be a mix; load them again next time
        self._state = state
        self.failure = None
        if identity(loaded) == identity(self.current):
            return False
        self.current = loaded
        log.info("switched to model %s (version %s)", loaded.sha256[:12], loaded.version)
        return True

    def _failed(self, state: FileState, version: str | None, error: str) -> bool:
        """Keep serving the current model; say why until the files change once more."""
        log.warning("keeping model %s: %s", self.current.sha256[:12], error)
        self._state = state
        self.failure = LoadFailure(version, error)
        return False


def version_of(path: Path) -> str | None:
    try:
        return str(path.stat().st_mtime_ns // 10**9)
    except OSError:
        return None
