"""Writing artifacts so that a crash never leaves a half-written file, and bytes are reproducible.

Every writer goes through `atomic_path`: the content is written to a hidden temporary
sibling and renamed into place only once complete, so a killed stage leaves either the
old file or the new one, never a torn one. Zip-based formats (Keras `.keras`) embed
timestamps; `normalize_zip` rewrites them so identical content gives identical bytes
and DVC sees the same hash.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

PARTIAL_MARKER = ".partial-"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _partial_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{PARTIAL_MARKER}{os.getpid()}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def sweep_partials(path: Path) -> None:
    """Delete temporary siblings of `path` left behind by a writer that was killed."""
    for stale in path.parent.glob(f".{path.name}{PARTIAL_MARKER}*"):
        _remove(stale)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
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
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, final)
    finally:
        if partial.exists():
            _remove(partial)


def _replace_dir(partial: Path, final: Path) -> None:
    """Swap a finished directory into place (rename is atomic for files, not for trees)."""
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}{PARTIAL_MARKER}old-{os.getpid()}")
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
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save_array(path: str | Path, array: np.ndarray) -> None:
    """Save one array as `.npy` (not `.npz`: numpy stamps the zip with the current time)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)


def load_array(path: str | Path, mmap: bool = False) -> np.ndarray:
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)


def normalize_zip(path: str | Path, replace_json: dict[str, dict[str, Any]] | None = None) -> None:
    """Rewrite a zip with fixed timestamps and sorted entries, optionally patching JSON members.

    `replace_json` maps a member name to keys to overwrite in it (e.g. Keras's
    `metadata.json` carries the save date).
    """
    source = Path(path)
    with zipfile.ZipFile(source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    for name, patch in (replace_json or {}).items():
        if name in members:
            content = json.loads(members[name])
            content.update(patch)
            members[name] = json.dumps(content).encode("utf-8")
    with atomic_path(source) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, members[name])
