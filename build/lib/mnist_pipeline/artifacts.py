"""Writing artifacts so that a crash never leaves a half-written file, and bytes are reproducible.

Every writer goes through `atomic_path`: the content is written to a hidden temporary
sibling and renamed into place only once complete, so a killed stage leaves either the
old file or the new one, never a torn one. (We do not fsync: that guards against power
loss, costs a second per stage on 200 MB of arrays, and DVC re-hashes outputs anyway.) Zip-based formats (Keras `.keras`) embed
timestamps; `normalize_zip` rewrites them so identical content gives identical bytes
and DVC sees the same hash.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np

from mnist_pipeline.errors import DataError

PARTIAL_MARKER = ".partial-"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _partial_name(path: Path, tag: str = "") -> Path:
    """A hidden sibling that keeps the suffix (Keras insists on `.keras`) and names its writer."""
    return path.with_name(f".{path.stem}{PARTIAL_MARKER}{tag}{os.getpid()}{path.suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def sweep_partials(path: Path) -> None:
    """Delete temporary siblings of `path` left behind by a writer that was killed."""
    for stale in path.parent.glob(f".{path.stem}{PARTIAL_MARKER}*{path.suffix}"):
        _remove(stale)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Generator[Path, None, None]:
    """Yield a temporary path to write a file or directory to; rename it to `path` on success.

    On an exception the temporary path is removed and `path` is left as it was.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_partials(final)
    partial = _partial_name(final)
    try:
        yield partial
        if partial.is_dir():
            _replace_dir(partial, final)
        else:
            os.replace(partial, final)
    finally:
        if partial.exists():
            _remove(partial)


def _replace_dir(partial: Path, final: Path) -> None:
    """Swap a finished directory into place (rename is atomic for files, not for trees)."""
    if final.exists() or final.is_symlink():
        old = _partial_name(final, tag="old-")
        os.replace(final, old)
        os.replace(partial, final)
        _remove(old)
    else:
        os.replace(partial, final)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON with a stable layout, so equal content always gives equal bytes."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise DataError(f"{path} is missing; run the pipeline first (dvc repro)") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not readable JSON ({error})") from None


def save_array(path: str | Path, array: np.ndarray) -> None:
    """Save one array as `.npy` (not `.npz`: numpy stamps the zip with the current time)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)


def load_array(path: str | Path, mmap: bool = False) -> np.ndarray:
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)


def normalize_zip(
    source: str | Path, destination: str | Path, rewrite: dict[str, Callable[[bytes], bytes]] | None = None
) -> None:
    """Copy a zip to `destination` with fixed timestamps and sorted entries.

    `rewrite` maps a member name to a function that makes its content stable (Keras's
    `metadata.json` carries the save date, its `config.json` Python object ids).
    """
    with zipfile.ZipFile(source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    for name, function in (rewrite or {}).items():
        if name in members:
            members[name] = function(members[name])
    with atomic_path(destination) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, members[name])
