"""Atomic writes, reproducible zips and pickle-free arrays."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.artifacts import (
    PARTIAL_MARKER,
    ZIP_EPOCH,
    atomic_path,
    load_array,
    normalize_zip,
    read_json,
    save_array,
    sweep_partials,
    write_bytes,
    write_json,
    write_text,
)
from mnist_pipeline.errors import DataError
from tests.support.project import ROOT


class Boom(Exception):
    pass


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if PARTIAL_MARKER in p.name)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- atomic_path: files


def test_file_appears_only_when_the_body_succeeds(tmp_path: Path) -> None:
    final = tmp_path / "metrics" / "eval.json"
    with atomic_path(final) as tmp:
        assert tmp.parent == final.parent  # same folder: the rename is atomic
        assert tmp.name.startswith(".") and PARTIAL_MARKER in tmp.name
        assert tmp.suffix == ".json"  # writers that insist on a suffix (Keras) still work
        assert not final.exists()
        tmp.write_text("{}")
        assert not final.exists()  # nothing visible until the body is done
    assert final.read_text() == "{}"
    assert partials(tmp_path) == []


def test_replacing_a_file_shows_old_content_until_done(tmp_path: Path) -> None:
    final = tmp_path / "x.txt"
    final.write_text("old")
    with atomic_path(final) as tmp:
        tmp.write_text("new")
        assert final.read_text() == "old"
    assert final.read_text() == "new"
    assert partials(tmp_path) == []


@pytest.mark.parametrize("error", [Boom("disk full"), KeyboardInterrupt()], ids=["exception", "ctrl-c"])
def test_a_failing_body_leaves_the_old_file_untouched_and_no_temp(tmp_path: Path, error: BaseException) -> None:
    final = tmp_path / "x.txt"
    final.write_text("old")
    with pytest.raises(type(error)) as caught:
        with atomic_path(final) as tmp:
            tmp.write_text("half writ")
            raise error
    assert caught.value is error
    assert final.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_a_failing_body_creates_nothing(tmp_path: Path) -> None:
    final = tmp_path / "new.bin"
    with pytest.raises(Boom):
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"partial")
            raise Boom
    assert list(tmp_path.iterdir()) == []


def test_parent_folders_are_created(tmp_path: Path) -> None:
    write_text(tmp_path / "a" / "b" / "c.txt", "deep")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "deep"


# ---------------------------------------------------------------------------- atomic_path: stale temporaries


def test_a_stale_partial_from_a_killed_writer_is_swept(tmp_path: Path) -> None:
    (tmp_path / ".x.partial-123").write_text("torn")
    (tmp_path / ".x.partial-old-456").mkdir()
    (tmp_path / ".x.partial-old-456" / "inside").write_text("torn")
    (tmp_path / ".model.partial-999.keras").write_text("torn")
    unrelated = {".y.partial-1": "keep", "x.txt": "keep", ".xy.partial-2": "keep", ".model.partial-7.json": "keep"}
    for name, text in unrelated.items():
        (tmp_path / name).write_text(text)

    write_text(tmp_path / "x", "fresh")
    assert not (tmp_path / ".x.partial-123").exists() and not (tmp_path / ".x.partial-old-456").exists()
    assert (tmp_path / ".model.partial-999.keras").exists()  # another path's temporary
    write_bytes(tmp_path / "model.keras", b"zip")
    assert not (tmp_path / ".model.partial-999.keras").exists()

    assert (tmp_path / "x").read_text() == "fresh"
    for name, text in unrelated.items():
        assert (tmp_path / name).read_text() == text, name


def test_sweep_partials_alone(tmp_path: Path) -> None:
    (tmp_path / ".data.partial-1.json").write_text("torn")
    (tmp_path / "data.json").write_text("kept")
    sweep_partials(tmp_path / "data.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]


def test_a_writer_killed_midway_leaves_old_content_and_the_next_writer_cleans_up(tmp_path: Path) -> None:
    final = tmp_path / "prepared"
    final.mkdir()
    (final / "x.npy").write_text("old")
    script = textwrap.dedent(
        f"""
        import os
        from mnist_pipeline.artifacts import atomic_path
        with atomic_path({str(final)!r}) as tmp:
            tmp.mkdir()
            (tmp / "x.npy").write_text("half")
            os._exit(9)  # killed: no finally, no cleanup
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=60
    )
    assert result.returncode == 9, result.stderr
    assert (final / "x.npy").read_text() == "old"  # the reader never sees a torn output
    assert len(partials(tmp_path)) >= 1  # what a killed writer leaves

    with atomic_path(final) as tmp:
        tmp.mkdir()
        (tmp / "x.npy").write_text("new")
    assert tree(final) == {"x.npy": b"new"}
    assert partials(tmp_path) == []


# ---------------------------------------------------------------------------- atomic_path: directories


def test_a_directory_is_replaced_as_a_whole(tmp_path: Path) -> None:
    final = tmp_path / "export"
    final.mkdir()
    (final / "old.tflite").write_bytes(b"old")
    (final / "sub").mkdir()
    (final / "sub" / "old.txt").write_text("old")
    with atomic_path(final) as tmp:
        tmp.mkdir()
        (tmp / "new.tflite").write_bytes(b"new")
        assert tree(final) == {"old.tflite": b"old", "sub/old.txt": b"old"}  # untouched while writing
    assert tree(final) == {"new.tflite": b"new"}  # no leftovers from the old directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_a_failing_directory_body_leaves_the_old_directory(tmp_path: Path) -> None:
    final = tmp_path / "export"
    final.mkdir()
    (final / "model.tflite").write_bytes(b"old")
    with pytest.raises(Boom):
        with atomic_path(final) as tmp:
            tmp.mkdir()
            (tmp / "model.tflite").write_bytes(b"half")
            raise Boom
    assert tree(final) == {"model.tflite": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_a_new_directory(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "raw" / "mnist") as tmp:
        tmp.mkdir(parents=True)
        (tmp / "labels.txt").write_text("0\n")
    assert tree(tmp_path) == {"raw/mnist/labels.txt": b"0\n"}


def test_a_directory_replaces_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    with atomic_path(tmp_path / "out") as tmp:
        tmp.mkdir()
        (tmp / "f").write_text("x")
    assert tree(tmp_path) == {"out/f": b"x"}


# ---------------------------------------------------------------------------- writers and readers


def test_write_json_is_stable_and_ends_with_a_newline(tmp_path: Path) -> None:
    obj = {"b": 1, "a": [1.5, {"z": None}], "é": "ü"}
    write_json(tmp_path / "one.json", obj)
    write_json(tmp_path / "two.json", json.loads(json.dumps(obj)))
    data = (tmp_path / "one.json").read_bytes()
    assert data == (tmp_path / "two.json").read_bytes()
    assert data.endswith(b"}\n")
    assert list(json.loads(data)) == ["b", "a", "é"]  # key order kept, as written
    assert read_json(tmp_path / "one.json") == obj


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_write_json_refuses_nan_and_writes_nothing(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError):
        write_json(tmp_path / "m.json", {"accuracy": value})
    assert list(tmp_path.iterdir()) == []


def test_read_json_errors_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is missing; run the pipeline first"):
        read_json(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not readable JSON"):
        read_json(tmp_path / "bad.json")


def test_write_text_is_utf8(tmp_path: Path) -> None:
    write_text(tmp_path / "labels.txt", "T-shirt/top\nÄrmel\n")
    assert (tmp_path / "labels.txt").read_bytes() == "T-shirt/top\nÄrmel\n".encode()


# ---------------------------------------------------------------------------- arrays


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8, np.float64])
def test_save_and_load_array(tmp_path: Path, dtype: type) -> None:
    array = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    save_array(tmp_path / "x.npy", array)
    back = load_array(tmp_path / "x.npy")
    assert back.dtype == array.dtype and np.array_equal(back, array)
    mapped = load_array(tmp_path / "x.npy", mmap=True)
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, array)
    assert partials(tmp_path) == []


def test_save_array_bytes_are_reproducible(tmp_path: Path) -> None:
    array = np.random.default_rng(0).random((10, 5)).astype(np.float32)
    save_array(tmp_path / "a.npy", array)
    save_array(tmp_path / "b.npy", array.copy())
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    assert (tmp_path / "a.npy").read_bytes().startswith(b"\x93NUMPY")


def test_save_array_refuses_object_arrays_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="allow_pickle"):
        save_array(tmp_path / "x.npy", np.array([{"a": 1}, None], dtype=object))
    assert list(tmp_path.iterdir()) == []


def test_load_array_refuses_a_pickled_file(tmp_path: Path) -> None:
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"payload": 1}, [2]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_array(path)
    with pytest.raises(ValueError, match="Python objects"):
        load_array(path, mmap=True)


# ---------------------------------------------------------------------------- normalize_zip


MEMBERS = {
    "metadata.json": json.dumps({"keras_version": "3", "date_saved": "2024-01-02@03:04:05"}).encode(),
    "config.json": b'{"class_name": "Sequential"}',
    "model.weights.h5": bytes(range(256)) * 8,
    "assets/readme.txt": b"hello",
}


def make_zip(path: Path, date: tuple[int, ...], order: list[str], compression: int, attr: int = 0o600) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=date)
            info.compress_type = compression
            info.external_attr = attr << 16
            archive.writestr(info, MEMBERS[name])
    return path


def test_normalize_zip_gives_identical_bytes_for_the_same_content(tmp_path: Path) -> None:
    names = list(MEMBERS)
    one = make_zip(tmp_path / "one.zip", (2024, 1, 2, 3, 4, 6), names, zipfile.ZIP_DEFLATED)
    two = make_zip(tmp_path / "two.zip", (2025, 6, 7, 8, 9, 10), names[::-1], zipfile.ZIP_STORED, attr=0o755)
    assert one.read_bytes() != two.read_bytes()
    normalize_zip(one, tmp_path / "a.keras")
    normalize_zip(two, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()

    with zipfile.ZipFile(tmp_path / "a.keras") as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(MEMBERS)
        assert all(i.date_time == ZIP_EPOCH for i in infos)
        assert {i.filename: archive.read(i) for i in infos} == MEMBERS
        assert archive.testzip() is None
    assert partials(tmp_path) == []


def test_normalize_zip_rewrites_members(tmp_path: Path) -> None:
    def undated(data: bytes) -> bytes:
        return json.dumps({**json.loads(data), "date_saved": ""}).encode()

    for index, saved in enumerate(["2024-01-02@03:04:05", "2031-12-31@23:59:59"]):
        members = {**MEMBERS, "metadata.json": json.dumps({"keras_version": "3", "date_saved": saved}).encode()}
        with zipfile.ZipFile(tmp_path / f"{index}.zip", "w") as archive:
            for name, data in members.items():
                archive.writestr(zipfile.ZipInfo(name, date_time=(2024 + index, 1, 1, 0, 0, 0)), data)
        normalize_zip(
            tmp_path / f"{index}.zip",
            tmp_path / f"{index}.keras",
            rewrite={"metadata.json": undated, "not-there.json": undated},
        )
    assert (tmp_path / "0.keras").read_bytes() == (tmp_path / "1.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "0.keras") as archive:
        assert json.loads(archive.read("metadata.json")) == {"keras_version": "3", "date_saved": ""}
        assert "not-there.json" not in archive.namelist()
        assert archive.read("config.json") == MEMBERS["config.json"]


def test_normalize_zip_leaves_the_source_and_replaces_the_destination(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "src.zip", (2024, 1, 1, 0, 0, 0), list(MEMBERS), zipfile.ZIP_DEFLATED)
    before = source.read_bytes()
    destination = tmp_path / "models" / "model.keras"
    destination.parent.mkdir()
    destination.write_bytes(b"old model")
    normalize_zip(source, destination)
    assert source.read_bytes() == before
    assert zipfile.is_zipfile(destination)
    assert partials(tmp_path) == []


def test_normalize_zip_of_a_corrupt_source_keeps_the_old_destination(tmp_path: Path) -> None:
    destination = tmp_path / "model.keras"
    destination.write_bytes(b"old model")
    (tmp_path / "src.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(zipfile.BadZipFile):
        normalize_zip(tmp_path / "src.zip", destination)
    assert destination.read_bytes() == b"old model"
    assert partials(tmp_path) == []


def test_normalize_zip_output_is_independent_of_compression_level(tmp_path: Path) -> None:
    buffers = []
    for level in (1, 9):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
            for name, data in MEMBERS.items():
                archive.writestr(name, data)
        (tmp_path / f"{level}.zip").write_bytes(buffer.getvalue())
        normalize_zip(tmp_path / f"{level}.zip", tmp_path / f"{level}.keras")
        buffers.append((tmp_path / f"{level}.keras").read_bytes())
    assert buffers[0] == buffers[1]
