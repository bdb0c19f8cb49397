"""The prepare stage: stratified validation split, scaling, the manifest, and the command end to end (without TensorFlow)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_pipeline.data.datasets import FILES, LABELS_FILE, SPLITS
from mnist_pipeline.data.pixels import to_floats
from mnist_pipeline.data.prepared import MANIFEST_FILE, pixel_histogram, summarize
from mnist_pipeline.data.raw import Split
from mnist_pipeline.data.split import make_splits, stratified_split
from mnist_pipeline.errors import DataError
from tests.support.project import ROOT, run_module, synthetic_digits, tree_digests, write_dataset

NAMES = [f"bar{i}" for i in range(10)]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def uneven_labels() -> np.ndarray:
    """Classes of very different sizes, shuffled: 100, 37, 5, 1 and 250 examples."""
    labels = np.repeat(np.arange(5), [100, 37, 5, 1, 250]).astype(np.uint8)
    return np.random.default_rng(3).permutation(labels)


# ---------------------------------------------------------------------------- stratified_split


def check_split(labels: np.ndarray, val_size: float, train: np.ndarray, val: np.ndarray) -> None:
    assert np.intersect1d(train, val).size == 0, "train and val overlap"
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels))), "not a partition"
    assert len(np.unique(val)) == len(val) and len(np.unique(train)) == len(train)
    for value in np.unique(labels):
        total = int(np.sum(labels == value))
        in_val = int(np.sum(labels[val] == value))
        assert abs(in_val - val_size * total) <= 1, f"class {value}: {in_val} of {total} in val"


@pytest.mark.parametrize("val_size", [0.05, 0.1, 0.25, 0.5])
def test_stratified_split_is_a_stratified_partition(val_size: float) -> None:
    labels = uneven_labels()
    train, val = stratified_split(labels, val_size, seed=42)
    check_split(labels, val_size, train, val)
    assert np.all(np.diff(val) > 0) and np.all(np.diff(train) > 0)  # sorted indices: order of the source kept


def test_stratified_split_is_deterministic_for_a_seed() -> None:
    labels = uneven_labels()
    first, second = stratified_split(labels, 0.1, seed=7), stratified_split(labels, 0.1, seed=7)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_stratified_split_differs_for_another_seed() -> None:
    labels = uneven_labels()
    _, val_a = stratified_split(labels, 0.1, seed=7)
    _, val_b = stratified_split(labels, 0.1, seed=8)
    assert len(val_a) == len(val_b)  # same sizes...
    assert not np.array_equal(val_a, val_b)  # ...different examples


def test_stratified_split_of_the_synthetic_set() -> None:
    _, labels = synthetic_digits(1200, seed=1)
    train, val = stratified_split(labels, 0.1, seed=42)
    assert len(val) == 120 and len(train) == 1080
    assert np.array_equal(np.bincount(labels[val], minlength=10), np.full(10, 12))


@settings(max_examples=100, deadline=None)
@given(
    labels=st.lists(st.integers(0, 9), min_size=1, max_size=300).map(lambda v: np.array(v, dtype=np.uint8)),
    val_size=st.floats(0.01, 0.5),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_properties(labels: np.ndarray, val_size: float, seed: int) -> None:
    train, val = stratified_split(labels, val_size, seed)
    check_split(labels, val_size, train, val)
    again = stratified_split(labels, val_size, seed)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])


# ---------------------------------------------------------------------------- make_splits and summarize


@pytest.fixture(scope="module")
def raw() -> dict[str, Split]:
    return {"train": Split(*synthetic_digits(300, seed=1)), "test": Split(*synthetic_digits(80, seed=2))}


def test_make_splits_sizes_dtypes_and_content(raw: dict[str, Split]) -> None:
    splits = make_splits(raw, 0.2, seed=1)
    assert list(splits) == list(SPLITS)
    assert {name: len(y) for name, (_, y) in splits.items()} == {"train": 240, "val": 60, "test": 80}
    for x, y in splits.values():
        assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and len(x) == len(y)
        assert y.dtype == np.int32
    train_idx, val_idx = stratified_split(raw["train"].labels, 0.2, seed=1)
    assert np.array_equal(splits["val"][0], raw["train"].images[val_idx])
    assert np.array_equal(splits["val"][1], raw["train"].labels[val_idx])
    assert np.array_equal(splits["train"][1], raw["train"].labels[train_idx])
    assert np.array_equal(splits["test"][0], raw["test"].images)  # the test split is untouched
    assert np.array_equal(splits["test"][1], raw["test"].labels)


def test_make_splits_refuses_an_empty_validation_split() -> None:
    tiny = {"train": Split(*synthetic_digits(20, seed=1)), "test": Split(*synthetic_digits(10, seed=2))}
    with pytest.raises(DataError, match=r"data.val_size = 0.01 leaves an empty split of 20 training examples"):
        make_splits(tiny, 0.01, seed=0)


@pytest.mark.parametrize("chunk", [1, 3, 4096, 1 << 20])  # 3: a shorter last chunk
def test_pixel_histogram_counts_every_pixel_whatever_the_chunk(chunk: int) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    pixels[0, 0, :3] = [0, 255, 255]  # both ends of the range
    histogram = pixel_histogram(pixels, chunk)
    assert histogram.shape == (256,) and histogram.sum() == pixels.size
    assert np.array_equal(histogram, [int(np.sum(pixels == value)) for value in range(256)])


def test_summarize(raw: dict[str, Split]) -> None:
    splits = make_splits(raw, 0.2, seed=1)
    hashes = {name: f"{i:064x}" for i, name in enumerate(FILES)}
    summary = summarize(splits, tuple(NAMES), "custom", hashes)
    assert list(summary) == [
        "dataset",
        "num_classes",
        "image_shape",
        "counts",
        "class_histogram",
        "pixel_mean",
        "pixel_std",
        "sha256",
    ]
    assert summary["dataset"] == "custom"
    assert summary["num_classes"] == 10
    assert summary["image_shape"] == [28, 28]
    assert summary["counts"] == {"train": 240, "val": 60, "test": 80}
    for split, (_, y) in splits.items():
        histogram = summary["class_histogram"][split]
        assert list(histogram) == NAMES
        assert histogram == {name: int(np.sum(y == i)) for i, name in enumerate(NAMES)}
        assert sum(histogram.values()) == summary["counts"][split]
    floats = to_floats(splits["train"][0]).astype(np.float64)  # on the model's scale, [0, 1]
    assert summary["pixel_mean"] == pytest.approx(float(floats.mean()), abs=1e-6)
    assert summary["pixel_std"] == pytest.approx(float(floats.std()), abs=1e-6)
    assert 0 < summary["pixel_mean"] < 1 and summary["pixel_std"] > 0
    assert summary["sha256"] == hashes
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary  # plain JSON types only


def test_summarize_counts_classes_absent_from_a_split(raw: dict[str, Split]) -> None:
    splits = make_splits(raw, 0.2, seed=1)
    names = (*NAMES, "never-seen")
    summary = summarize(splits, names, "custom", {})
    assert summary["num_classes"] == 11
    assert all(hist["never-seen"] == 0 for hist in summary["class_histogram"].values())


# ---------------------------------------------------------------------------- the command, end to end


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("raw"), train=300, test=80, names=NAMES)


def write_params(path: Path, **data: object) -> Path:
    doc = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    doc["data"].update({"dataset": "custom", "source": "data/mirrors", "val_size": 0.1, "seed": 42, **data})
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def prepare(tmp_path: Path, raw: Path, out: Path, params: Path | None = None) -> subprocess.CompletedProcess:
    params = params or write_params(tmp_path / "params.yaml")
    options = ["--params", str(params), "--raw", str(raw), "--out", str(out)]
    return run_module("stages.prepare", options, tmp_path)


def test_cli_end_to_end(tmp_path: Path, raw_dir: Path) -> None:
    out = tmp_path / "prepared"
    result = prepare(tmp_path, raw_dir, out)
    assert result.returncode == 0, result.stderr
    assert "prepare: custom train 270, val 30, test 80" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [LABELS_FILE, MANIFEST_FILE, *(f"{xy}_{split}.npy" for split in SPLITS for xy in "xy")]
    )
    arrays = {p.stem: np.load(p, allow_pickle=False) for p in out.glob("*.npy")}
    images, labels = synthetic_digits(300, seed=1)
    train_idx, val_idx = stratified_split(labels, 0.1, seed=42)
    assert np.array_equal(arrays["x_val"], images[val_idx])
    assert np.array_equal(arrays["y_train"], labels[train_idx].astype(np.int32))
    assert np.array_equal(arrays["x_test"], synthetic_digits(80, seed=2)[0])
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_train"].dtype == np.int32
    assert (out / LABELS_FILE).read_text(encoding="utf-8").splitlines() == NAMES

    summary = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert summary["dataset"] == "custom"
    assert summary["counts"] == {"train": 270, "val": 30, "test": 80}
    assert summary["class_histogram"]["val"] == {name: 3 for name in NAMES}
    assert summary["image_shape"] == [28, 28]
    assert summary["sha256"] == {
        name: hashlib.sha256(gzip.decompress((raw_dir / name).read_bytes())).hexdigest() for name in FILES
    }
    assert [p.name for p in tmp_path.rglob("*") if ".partial-" in p.name] == []


def test_cli_outputs_are_byte_identical_across_runs(tmp_path: Path, raw_dir: Path) -> None:
    first = prepare(tmp_path, raw_dir, tmp_path / "a" / "prepared")
    second = prepare(tmp_path, raw_dir, tmp_path / "b" / "prepared")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    a, b = tree_digests(tmp_path / "a"), tree_digests(tmp_path / "b")
    assert len(a) == 8 and a == b


def test_cli_seed_changes_the_split(tmp_path: Path, raw_dir: Path) -> None:
    other = write_params(tmp_path / "other.yaml", seed=43)
    assert prepare(tmp_path, raw_dir, tmp_path / "a").returncode == 0
    assert prepare(tmp_path, raw_dir, tmp_path / "b", params=other).returncode == 0
    assert (tmp_path / "a" / "y_test.npy").read_bytes() == (tmp_path / "b" / "y_test.npy").read_bytes()
    assert (tmp_path / "a" / "x_val.npy").read_bytes() != (tmp_path / "b" / "x_val.npy").read_bytes()


@pytest.mark.parametrize(
    ("breakage", "fragment"),
    [
        ("missing-raw", "is missing; run the download stage first"),
        ("no-labels-file", "labels.txt is missing"),
        ("truncated", "gzip data is truncated"),
        ("wrong-dataset", "checksum mismatch for mnist"),
        ("tiny-val", "leaves an empty split"),
    ],
    ids=["missing-raw", "no-labels-file", "truncated", "wrong-dataset", "tiny-val"],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, breakage: str, fragment: str) -> None:
    raw = write_dataset(tmp_path / "raw", train=40, test=20, names=NAMES)
    params = write_params(tmp_path / "params.yaml")
    if breakage == "missing-raw":
        (raw / FILES[3]).unlink()
    elif breakage == "no-labels-file":
        (raw / LABELS_FILE).unlink()
    elif breakage == "truncated":
        data = (raw / FILES[0]).read_bytes()
        (raw / FILES[0]).write_bytes(data[: len(data) // 2])
    elif breakage == "wrong-dataset":
        params = write_params(tmp_path / "params.yaml", dataset="mnist")
    else:
        params = write_params(tmp_path / "params.yaml", val_size=0.01)
    out = tmp_path / "out" / "prepared"
    result = prepare(tmp_path, raw, out, params=params)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.rglob("*") if ".partial-" in p.name] == []


NO_TENSORFLOW = textwrap.dedent(
    """
    import runpy, sys
    sys.argv = [{module!r}, *{args!r}]
    code = None
    try:
        runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        code = exit.code
    finally:
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        print("EXIT", code)
        print("HEAVY", heavy)
    """
)


@pytest.mark.parametrize("module", ["stages.prepare", "stages.download"])
def test_stage_never_imports_tensorflow(tmp_path: Path, raw_dir: Path, module: str) -> None:
    params = write_params(tmp_path / "params.yaml", source=str(raw_dir))
    if module == "stages.prepare":
        args = [
            "--params",
            str(params),
            "--raw",
            str(raw_dir),
            "--out",
            str(tmp_path / "out"),
        ]
    else:
        args = ["--params", str(params), "--out", str(tmp_path / "out"), "--no-progress"]
    script = NO_TENSORFLOW.format(module=module, args=args)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "EXIT 0" in result.stdout, result.stdout + result.stderr  # it really ran, and succeeded
    assert (tmp_path / "out").is_dir()
    assert "HEAVY []" in result.stdout, result.stdout
