"""Hot reload, one look at a time: a labels-only change is applied, a failed or deleted export is reported."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mnist_pipeline.serving.hot_reload import ModelWatcher
from mnist_pipeline.serving.tf_serving import model_status
from tests.support.serving_fixtures import LABELS, ExportDir, export_dir, tiny_setup  # noqa: F401 - fixtures


@pytest.fixture
def model(export_dir: ExportDir, tmp_path: Path) -> Path:
    shutil.copytree(export_dir.path, tmp_path / "export")
    return tmp_path / "export" / "model_float32.tflite"


def touched(path: Path, content: bytes) -> None:
    """Write `content` with a later mtime than before, as a new export's file has."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(content)
    os.utime(path, ns=(before + 2 * 10**9, before + 2 * 10**9))


def watcher_for(model: Path) -> ModelWatcher:
    return ModelWatcher(model, interval=0, settle=0)


def test_a_labels_only_change_is_applied(model: Path) -> None:
    watcher = watcher_for(model)
    touched(model.with_name("labels.txt"), "".join(f"{name.upper()}\n" for name in LABELS).encode())
    assert watcher.check()
    assert list(watcher.current.labels) == [name.upper() for name in LABELS] and watcher.failure is None


def test_a_broken_model_keeps_the_old_one_serving_and_says_why(model: Path) -> None:
    watcher = watcher_for(model)
    served = watcher.current
    touched(model, b"not a model")
    assert not watcher.check()
    assert watcher.current is served
    assert watcher.failure is not None and watcher.failure.version == str(model.stat().st_mtime_ns // 10**9)
    assert (
        "not a usable TFLite serving model" in watcher.failure.error and str(model.parent) not in watcher.failure.error
    )
    [failed, available] = model_status(served.version, watcher.failure)["model_version_status"]
    assert (failed["state"], available["state"], available["version"]) == ("END", "AVAILABLE", served.version)
    assert failed["status"]["error_message"] == watcher.failure.error


def test_labels_that_do_not_fit_the_model_are_a_failure_too(model: Path) -> None:
    watcher = watcher_for(model)
    touched(model.with_name("labels.txt"), b"one\ntwo\n")
    assert not watcher.check()
    assert watcher.failure is not None and "2 class names but the model has 4" in watcher.failure.error
    assert list(watcher.current.labels) == list(LABELS)


def test_a_deleted_model_keeps_the_old_one_serving_and_says_so(model: Path) -> None:
    watcher = watcher_for(model)
    served = watcher.current
    content = model.read_bytes()
    model.unlink()
    assert not watcher.check()
    assert watcher.current is served
    assert watcher.failure is not None and watcher.failure.version is None
    assert watcher.failure.error == "model_float32.tflite was deleted"
    touched(model, content)  # back again: the failure is over, and the same model needs no switch
    assert not watcher.check() and watcher.failure is None


def test_a_new_verdict_is_applied(model: Path) -> None:
    watcher = watcher_for(model)
    assert watcher.current.blessing.blessed is None
    touched(model.with_name("exports.json"), b'{"gate": {"blessed": false, "summary": "refused by floor"}}')
    assert watcher.check() and watcher.current.blessing.blessed is False
