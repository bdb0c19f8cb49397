"""The download stage: sources (a folder of files, or of mirror lists), verification, and a battery of bad raw data.

Every bad input must be a `DataError` naming the file and the problem, with nothing left at the
output path (no directory, no hidden `.partial-` folder). Network tests use 127.0.0.1 only.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_pipeline.data.datasets import CHECKSUMS_FILE, CUSTOM, FASHION_MNIST, FILES, LABELS_FILE, MNIST, Dataset
from mnist_pipeline.data.idx import gunzip, write_idx, write_idx_gz
from mnist_pipeline.data.raw import decode_file, load_splits
from mnist_pipeline.data.sources import check_source, class_names, download, source_urls
from mnist_pipeline.errors import DataError, DownloadError, ParamsError
from tests.support.http_server import ScriptedServer, closed_port_url, no_proxy, serve, server, sleeps  # noqa: F401 - fixtures
from tests.support.project import ROOT, run_module, synthetic_digits, write_dataset

NAMES = [f"bar{i}" for i in range(10)]
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = FILES


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small custom dataset (10 classes, named) in a local folder."""
    return write_dataset(tmp_path / "source", train=120, test=40, names=NAMES)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "data" / "raw" / "custom"


def content(folder: Path, filename: str) -> bytes:
    return gzip.decompress((folder / filename).read_bytes())


def known_like(folder: Path, **changes) -> Dataset:
    """MNIST's definition, but with the checksums and sizes of the files in `folder`.

    The size limit applies to the .gz download as well as to its content, and tiny files grow
    when compressed, so the limit is the larger of the two.
    """
    fields = {
        "sha256": {f: hashlib.sha256(content(folder, f)).hexdigest() for f in FILES},
        "sizes": {f: max(len(content(folder, f)), (folder / f).stat().st_size) for f in FILES},
        **changes,
    }
    return dataclasses.replace(MNIST, **fields)


def mirrors(folder: Path, dataset: Dataset, *prefixes: str) -> str:
    """A source folder whose `<dataset>.txt` lists `prefixes`: what `data.source` names to fetch over HTTP."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{dataset.name}.txt").write_text("# tried in order\n" + "".join(f"{p}\n" for p in prefixes))
    return str(folder)


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), f"{out} must not exist after a failure"
    root = out.parent.parent.parent
    leftovers = [p for p in root.rglob("*") if ".partial-" in p.name]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def assert_downloaded(out: Path, folder: Path, names: list[str]) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, LABELS_FILE, CHECKSUMS_FILE])
    for filename in FILES:
        assert (out / filename).read_bytes() == (folder / filename).read_bytes()
    assert (out / LABELS_FILE).read_text(encoding="utf-8") == "".join(f"{n}\n" for n in names)
    recorded = json.loads((out / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    assert recorded == {f: hashlib.sha256(content(folder, f)).hexdigest() for f in FILES}
    assert [p for p in out.parent.iterdir() if ".partial-" in p.name] == []


# ---------------------------------------------------------------------------- where files come from


@pytest.mark.parametrize("dataset", [MNIST, FASHION_MNIST], ids=lambda d: d.name)
def test_the_default_source_lists_the_public_mirrors(dataset: Dataset) -> None:
    default = str(ROOT / "data" / "mirrors")
    urls = source_urls(dataset, default, TRAIN_LABELS)
    assert len(urls) > 1 and all(url.startswith(("https://", "http://")) for url in urls)
    assert all(url.endswith("/" + TRAIN_LABELS) and "//" + TRAIN_LABELS not in url for url in urls)
    check_source(dataset, default)


@pytest.mark.parametrize("prefix", ["http://host/data", "http://host/data/", "https://host/data//", "file:///srv/data"])
def test_source_urls_for_a_url_prefix(tmp_path: Path, prefix: str) -> None:
    source = mirrors(tmp_path / "list", MNIST, prefix, "http://second/")
    assert source_urls(MNIST, source, TEST_LABELS) == [
        prefix.rstrip("/") + "/" + TEST_LABELS,
        "http://second/" + TEST_LABELS,
    ]
    assert source_urls(FASHION_MNIST, source, TEST_LABELS) == [(Path(source) / TEST_LABELS).as_uri()]


def test_source_urls_for_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert source_urls(CUSTOM, str(tmp_path), TEST_IMAGES) == [(tmp_path.resolve() / TEST_IMAGES).as_uri()]
    monkeypatch.chdir(tmp_path)
    assert source_urls(CUSTOM, "sub", TEST_IMAGES) == [(tmp_path.resolve() / "sub" / TEST_IMAGES).as_uri()]
    monkeypatch.setenv("HOME", str(tmp_path))
    assert source_urls(CUSTOM, "~/x", TEST_IMAGES) == [(tmp_path.resolve() / "x" / TEST_IMAGES).as_uri()]


def test_check_source_accepts_a_folder_of_files_or_of_a_mirror_list(source: Path, tmp_path: Path) -> None:
    check_source(CUSTOM, str(source))
    check_source(CUSTOM, mirrors(tmp_path / "list", CUSTOM, "https://example.invalid/data/"))


@pytest.mark.parametrize(
    ("dataset", "where", "fragment"),
    [
        (CUSTOM, "mirrors", "holds neither custom.txt"),
        (MNIST, "empty", "holds neither mnist.txt"),
        (CUSTOM, "nowhere", "is not a folder"),
        (MNIST, "nowhere", "is not a folder"),
        (CUSTOM, "a-file", "is not a folder"),
        (MNIST, "ftp", "'ftp://host/data' is not an http"),
        (MNIST, "blank-list", "lists no URL prefix"),
    ],
    ids=[
        "custom-with-the-public-mirrors",
        "empty-folder",
        "missing-folder",
        "known-missing-folder",
        "a-file",
        "ftp",
        "blank-list",
    ],
)
def test_source_pointing_nowhere_is_a_params_error(
    tmp_path: Path, out: Path, dataset: Dataset, where: str, fragment: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    mirrors(tmp_path / "ftp", MNIST, "ftp://host/data")
    mirrors(tmp_path / "blank-list", MNIST)
    where = str(ROOT / "data" / "mirrors") if where == "mirrors" else str(tmp_path / where)
    with pytest.raises(ParamsError, match=fragment):
        check_source(dataset, where)
    with pytest.raises(ParamsError, match=fragment):
        download(dataset, where, out, progress=False)
    assert_nothing_written(out)


# ---------------------------------------------------------------------------- successful downloads


def test_local_folder_source(source: Path, out: Path) -> None:
    download(CUSTOM, str(source), out, progress=False)
    assert_downloaded(out, source, NAMES)


def test_url_source(source: Path, tmp_path: Path, out: Path, server: ScriptedServer) -> None:
    for name in [*FILES, LABELS_FILE]:
        server.route(f"/data/{name}", body=(source / name).read_bytes())
    download(CUSTOM, mirrors(tmp_path / "list", CUSTOM, server.url("/data/")), out, progress=False)
    assert_downloaded(out, source, NAMES)
    assert all(server.hits[f"/data/{name}"] == 1 for name in FILES)


def test_url_source_without_labels_file_names_classes_by_value(
    source: Path, tmp_path: Path, out: Path, server: ScriptedServer
) -> None:
    for name in FILES:
        server.route(f"/data/{name}", body=(source / name).read_bytes())
    download(CUSTOM, mirrors(tmp_path / "list", CUSTOM, server.url("/data")), out, progress=False)
    assert server.hits[f"/data/{LABELS_FILE}"] == 1  # a 404 is not retried
    assert_downloaded(out, source, [str(i) for i in range(10)])


def test_custom_dataset_without_labels_file_names_classes_0_to_max(tmp_path: Path, out: Path) -> None:
    folder = tmp_path / "seven"
    folder.mkdir()
    arrays = [*synthetic_digits(70, seed=1, num_classes=7), *synthetic_digits(21, seed=2, num_classes=7)]
    for filename, array in zip(FILES, arrays):
        (folder / filename).write_bytes(write_idx_gz(array))
    download(CUSTOM, str(folder), out, progress=False)
    assert_downloaded(out, folder, ["0", "1", "2", "3", "4", "5", "6"])


def test_known_dataset_gets_its_own_class_names(source: Path, out: Path) -> None:
    download(known_like(source), str(source), out, progress=False)
    assert_downloaded(out, source, list(MNIST.class_names))


def test_known_dataset_from_its_mirrors(source: Path, tmp_path: Path, out: Path, server: ScriptedServer) -> None:
    mirror = server.url("/mirror/")
    for name in FILES:
        server.route(f"/mirror/{name}", body=(source / name).read_bytes())
    download(known_like(source), mirrors(tmp_path / "list", MNIST, mirror), out, progress=False)
    assert_downloaded(out, source, list(MNIST.class_names))


def test_recompressed_copy_of_a_known_dataset_is_accepted(source: Path, tmp_path: Path, out: Path) -> None:
    """Checksums are of the decompressed content, so a differently compressed copy is the same dataset."""
    dataset = known_like(source)
    copy = tmp_path / "recompressed"
    copy.mkdir()
    for name in FILES:
        (copy / name).write_bytes(gzip.compress(content(source, name), compresslevel=1, mtime=12345))
        assert (copy / name).read_bytes() != (source / name).read_bytes()
    download(dataset, str(copy), out, progress=False)
    assert_downloaded(out, copy, list(MNIST.class_names))


def test_a_new_download_replaces_the_old_one(source: Path, tmp_path: Path, out: Path) -> None:
    download(CUSTOM, str(source), out, progress=False)
    other = write_dataset(tmp_path / "other", train=60, test=20, names=[f"n{i}" for i in range(10)])
    download(CUSTOM, str(other), out, progress=False)
    assert_downloaded(out, other, [f"n{i}" for i in range(10)])


def test_class_names_direct(source: Path) -> None:
    labels = [decode_file((source / f).read_bytes(), f, CUSTOM) for f in (TRAIN_LABELS, TEST_LABELS)]
    assert class_names(FASHION_MNIST, "", labels) == FASHION_MNIST.class_names
    assert class_names(CUSTOM, str(source), labels) == tuple(NAMES)
    (source / LABELS_FILE).unlink()
    assert class_names(CUSTOM, str(source), labels) == tuple(str(i) for i in range(10))
    (source / LABELS_FILE).write_text("\n  \n")
    with pytest.raises(DataError, match=f"{LABELS_FILE} in .*: no class names in it"):
        class_names(CUSTOM, str(source), labels)


def test_garbled_class_names_are_refused_not_replaced(source: Path, out: Path) -> None:
    """A labels.txt saved as Latin-1 would otherwise put U+FFFD into the model card and `predict`."""
    (source / LABELS_FILE).write_bytes("zero\nun\nd\xe9ux\n".encode("latin-1"))
    with pytest.raises(DataError, match=f"{LABELS_FILE} in {source}: line 3 is not UTF-8"):
        download(CUSTOM, str(source), out, progress=False)
    assert not out.exists()


# ---------------------------------------------------------------------------- the bad raw data battery


def gz(array: np.ndarray) -> bytes:
    return write_idx_gz(array)


def put(folder: Path, filename: str, data: bytes) -> None:
    (folder / filename).write_bytes(data)


def header(code: int, dims: tuple[int, ...]) -> bytes:
    return struct.pack(f">HBB{len(dims)}I", 0, code, len(dims), *dims)


def labels_of(folder: Path, filename: str) -> np.ndarray:
    return np.frombuffer(content(folder, filename), dtype=np.uint8, offset=8).copy()


def truncated_gzip(folder: Path) -> None:
    data = (folder / TRAIN_IMAGES).read_bytes()
    put(folder, TRAIN_IMAGES, data[: len(data) // 2])


def not_gzip(folder: Path) -> None:
    put(folder, TEST_IMAGES, content(folder, TEST_IMAGES))


def html_error_page(folder: Path) -> None:
    put(folder, TRAIN_LABELS, b"<html><body>403 Forbidden</body></html>")


def wrong_magic(folder: Path) -> None:
    data = bytearray(content(folder, TEST_LABELS))
    data[2] = 0x07
    put(folder, TEST_LABELS, gzip.compress(bytes(data)))


def billions(folder: Path) -> None:
    put(folder, TRAIN_LABELS, gzip.compress(header(0x08, (4_000_000_000, 28, 28)) + b"\x00" * 16))


def truncated_idx(folder: Path) -> None:
    put(folder, TEST_IMAGES, gzip.compress(content(folder, TEST_IMAGES)[:-100]))


def counts_disagree(folder: Path) -> None:
    put(folder, TEST_LABELS, gz(labels_of(folder, TEST_LABELS)[:-1]))


def label_outside_classes(folder: Path) -> None:
    labels = labels_of(folder, TRAIN_LABELS)
    labels[5] = 12
    put(folder, TRAIN_LABELS, gz(labels))


def label_outside_labels_txt(folder: Path) -> None:
    (folder / LABELS_FILE).write_text("\n".join(NAMES[:5]) + "\n")


def images_not_3d(folder: Path) -> None:
    put(folder, TRAIN_IMAGES, gz(np.zeros((120, 784), dtype=np.uint8)))


def images_not_bytes(folder: Path) -> None:
    put(folder, TEST_IMAGES, gz(np.zeros((40, 28, 28), dtype=np.float32)))


def labels_not_1d(folder: Path) -> None:
    put(folder, TRAIN_LABELS, gz(labels_of(folder, TRAIN_LABELS).reshape(120, 1)))


def images_and_labels_swapped(folder: Path) -> None:
    images, labels = (folder / TEST_IMAGES).read_bytes(), (folder / TEST_LABELS).read_bytes()
    put(folder, TEST_IMAGES, labels)
    put(folder, TEST_LABELS, images)


def no_pixels(folder: Path) -> None:
    put(folder, TRAIN_IMAGES, gz(np.zeros((120, 0, 28), dtype=np.uint8)))


def missing_file(folder: Path) -> None:
    (folder / TEST_LABELS).unlink()


def empty_file(folder: Path) -> None:
    put(folder, TRAIN_IMAGES, b"")


def unchanged(folder: Path) -> None:
    pass


# (mutation of the source folder, dataset, file the message must name, problem the message must state)
BAD_RAW: dict[str, tuple[Callable[[Path], None], Dataset, str, str]] = {
    "truncated-gzip": (truncated_gzip, CUSTOM, TRAIN_IMAGES, "truncated"),
    "not-gzip": (not_gzip, CUSTOM, TEST_IMAGES, "not a valid gzip file"),
    "html-error-page": (html_error_page, CUSTOM, TRAIN_LABELS, "not a valid gzip file"),
    "empty-file": (empty_file, CUSTOM, TRAIN_IMAGES, "too short to be an IDX file"),
    "wrong-checksum-fashion": (
        unchanged,
        FASHION_MNIST,
        TRAIN_IMAGES,
        f"expected {FASHION_MNIST.sha256[TRAIN_IMAGES]}",
    ),
    "wrong-checksum-mnist": (unchanged, MNIST, TRAIN_IMAGES, f"expected {MNIST.sha256[TRAIN_IMAGES]}"),
    "wrong-magic": (wrong_magic, CUSTOM, TEST_LABELS, "bad IDX magic number"),
    "billions-of-items": (billions, CUSTOM, TRAIN_LABELS, "declares shape (4000000000, 28, 28)"),
    "truncated-idx": (truncated_idx, CUSTOM, TEST_IMAGES, "declares shape (40, 28, 28)"),
    "counts-disagree": (counts_disagree, CUSTOM, TEST_LABELS, "holds 40 images but"),
    "label-outside-classes": (label_outside_classes, CUSTOM, TRAIN_LABELS, "label 12 is outside 0-9"),
    "label-outside-labels-txt": (label_outside_labels_txt, CUSTOM, TRAIN_LABELS, "is outside 0-4 (5 classes"),
    "images-not-3d": (images_not_3d, CUSTOM, TRAIN_IMAGES, "expected unsigned-byte images"),
    "images-not-bytes": (images_not_bytes, CUSTOM, TEST_IMAGES, "expected unsigned-byte images"),
    "labels-not-1d": (labels_not_1d, CUSTOM, TRAIN_LABELS, "expected unsigned-byte labels"),
    "images-labels-swapped": (images_and_labels_swapped, CUSTOM, TEST_IMAGES, "expected unsigned-byte images"),
    "no-pixels": (no_pixels, CUSTOM, TRAIN_IMAGES, "holds no pixels"),
    "missing-file": (missing_file, CUSTOM, TEST_LABELS, "No such file"),
}


@pytest.mark.parametrize(("mutate", "dataset", "filename", "problem"), BAD_RAW.values(), ids=BAD_RAW.keys())
def test_bad_raw_data_is_refused_and_nothing_is_written(
    source: Path, out: Path, mutate: Callable[[Path], None], dataset: Dataset, filename: str, problem: str
) -> None:
    mutate(source)
    with pytest.raises(DataError) as caught:
        download(dataset, str(source), out, progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert filename in message, message
    assert problem in message, message
    assert_nothing_written(out)


@pytest.mark.parametrize("case", ["truncated-gzip", "counts-disagree", "label-outside-classes"])
def test_a_failed_download_leaves_the_previous_one_untouched(
    source: Path, tmp_path: Path, out: Path, case: str
) -> None:
    download(CUSTOM, str(source), out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    mutate = BAD_RAW[case][0]
    mutate(source)
    with pytest.raises(DataError):
        download(CUSTOM, str(source), out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p for p in out.parent.iterdir() if ".partial-" in p.name] == []


def test_gzip_bomb_over_a_known_size_is_refused(source: Path, out: Path) -> None:
    dataset = known_like(source)
    dataset = dataclasses.replace(dataset, sizes={**dataset.sizes, TRAIN_LABELS: 64 * 1024})
    bomb = gzip.compress(b"\x00" * (8 * 1024**2))
    assert len(bomb) < 64 * 1024
    put(source, TRAIN_LABELS, bomb)
    with pytest.raises(DataError, match=f"{TRAIN_LABELS}: decompresses to more than {64 * 1024} bytes"):
        download(dataset, str(source), out, progress=False)
    assert_nothing_written(out)


def test_wrong_content_over_http_names_the_file_and_the_expected_hash(
    source: Path, tmp_path: Path, out: Path, server: ScriptedServer
) -> None:
    for name in FILES:
        server.route(f"/fashion/{name}", body=(source / name).read_bytes())
    with pytest.raises(DataError) as caught:
        download(FASHION_MNIST, mirrors(tmp_path / "list", FASHION_MNIST, server.url("/fashion")), out, progress=False)
    message = str(caught.value)
    assert TRAIN_IMAGES in message and FASHION_MNIST.sha256[TRAIN_IMAGES] in message
    assert "checksum mismatch" in message
    assert server.hits[f"/fashion/{TRAIN_IMAGES}"] == 1  # wrong content is not retried
    assert_nothing_written(out)


def test_header_numpy_cannot_hold_is_a_data_error(source: Path, out: Path) -> None:
    put(source, TRAIN_IMAGES, gzip.compress(header(0x08, (0, 2**32 - 1, 2**32 - 1))))
    with pytest.raises(DataError, match=TRAIN_IMAGES):
        download(CUSTOM, str(source), out, progress=False)
    assert_nothing_written(out)


def test_empty_label_files_without_labels_txt_is_a_data_error(source: Path, out: Path) -> None:
    (source / LABELS_FILE).unlink()
    put(source, TRAIN_LABELS, gz(np.zeros(0, dtype=np.uint8)))
    put(source, TEST_LABELS, gz(np.zeros(0, dtype=np.uint8)))
    with pytest.raises(DataError, match="labels"):
        download(CUSTOM, str(source), out, progress=False)
    assert_nothing_written(out)


def test_labels_txt_that_fails_to_download_is_not_silently_replaced(
    source: Path, tmp_path: Path, out: Path, server: ScriptedServer
) -> None:
    for name in FILES:
        server.route(f"/data/{name}", body=(source / name).read_bytes())
    server.route(f"/data/{LABELS_FILE}", body=(source / LABELS_FILE).read_bytes(), fail=10, fail_status=503)
    with pytest.raises(DataError, match=LABELS_FILE):
        download(CUSTOM, mirrors(tmp_path / "list", CUSTOM, server.url("/data")), out, progress=False)
    assert_nothing_written(out)


def test_train_and_test_image_shapes_must_agree(source: Path, out: Path) -> None:
    put(source, TEST_IMAGES, gz(np.zeros((40, 32, 32), dtype=np.uint8)))
    with pytest.raises(DataError, match="32"):
        download(CUSTOM, str(source), out, progress=False)
    assert_nothing_written(out)


def test_prepare_side_refuses_mismatched_image_shapes(source: Path) -> None:
    put(source, TEST_IMAGES, gz(np.zeros((40, 32, 32), dtype=np.uint8)))
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte.gz holds \(28, 28\) images but t10k-images-idx3-ubyte.gz holds \(32, 32\)",
    ):
        load_splits(source, CUSTOM, tuple(NAMES))


# ---------------------------------------------------------------------------- offline and flaky mirrors


def test_offline_fails_fast_and_says_how_to_set_data_source(tmp_path: Path, out: Path, sleeps: list[float]) -> None:
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        download(MNIST, mirrors(tmp_path / "list", MNIST, "http://mirror.invalid/"), out, progress=False)
    assert time.monotonic() - started < 20
    message = str(caught.value)
    assert sleeps == []
    lines = message.splitlines()
    assert len(lines) == 6 and all(len(line) <= 120 for line in lines), lines
    assert lines[0].startswith("no network") and lines[4] == f"Tried, for {TRAIN_IMAGES}:", lines
    assert lines[5] == f"  http://mirror.invalid/{TRAIN_IMAGES}: host lookup failed", lines
    assert "http://mirror.invalid/" in message
    assert "data.source" in message and "--set-param data.source=" in message
    assert "apt install dataset-fashion-mnist" in message, "the offline route to real data"
    assert "--set-param data.dataset=fashion_mnist --set-param data.source=/usr/share/datasets/fashion-mnist" in message
    assert_nothing_written(out)


def test_refused_connections_are_offline_too(tmp_path: Path, out: Path, sleeps: list[float]) -> None:
    with closed_port_url("/") as refused:
        with pytest.raises(DownloadError, match="data.source"):
            download(MNIST, mirrors(tmp_path / "list", MNIST, refused, "http://mirror.invalid/"), out, progress=False)
    assert sleeps == []
    assert_nothing_written(out)


def test_interrupted_download_falls_back_to_the_next_mirror(
    source: Path, out: Path, server: ScriptedServer, sleeps: list[float]
) -> None:
    for name in FILES:
        body = (source / name).read_bytes()
        server.route(f"/one/{name}", body=body, cut_at=len(body) // 2 if name == TRAIN_IMAGES else None)
        server.route(f"/two/{name}", body=body)
    source_list = mirrors(source.parent / "list", MNIST, server.url("/one/"), server.url("/two/"))
    download(known_like(source), source_list, out, progress=False)
    assert_downloaded(out, source, list(MNIST.class_names))
    assert server.hits[f"/one/{TRAIN_IMAGES}"] == 3  # retried: a cut connection may recover
    assert server.hits[f"/two/{TRAIN_IMAGES}"] == 1
    assert server.hits[f"/two/{TEST_IMAGES}"] == 0  # the first mirror served the others whole
    assert sleeps == [1.0, 2.0]


def test_corrupt_first_mirror_falls_back_to_the_next(source: Path, out: Path, server: ScriptedServer) -> None:
    source_list = mirrors(source.parent / "list", MNIST, server.url("/bad/"), server.url("/good/"))
    for name in FILES:
        body = (source / name).read_bytes()
        server.route(f"/bad/{name}", body=gz(np.ones(5, np.uint8)) if name == TEST_LABELS else body)
        server.route(f"/good/{name}", body=body)
    download(known_like(source), source_list, out, progress=False)
    assert_downloaded(out, source, list(MNIST.class_names))
    assert server.hits[f"/bad/{TEST_LABELS}"] == 1 and server.hits[f"/good/{TEST_LABELS}"] == 1


def test_downloaded_files_decode_to_what_was_served(source: Path, out: Path) -> None:
    download(CUSTOM, str(source), out, progress=False)
    splits, hashes = load_splits(out, CUSTOM, tuple(NAMES))
    images, labels = synthetic_digits(120, seed=1)
    np.testing.assert_array_equal(splits["train"].images, images)
    np.testing.assert_array_equal(splits["train"].labels, labels)
    assert hashes == json.loads((out / CHECKSUMS_FILE).read_text())
    assert gunzip((out / TEST_LABELS).read_bytes(), name="x", max_bytes=100) == write_idx(synthetic_digits(40, 2)[1])


# ---------------------------------------------------------------------------- the command line


def run_download(tmp_path: Path, source: Path, out: Path) -> subprocess.CompletedProcess:
    doc = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    doc["data"].update(dataset="custom", source=str(source))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return run_module("stages.download", ["--params", str(params), "--out", str(out), "--no-progress"], tmp_path)


def test_cli_downloads(source: Path, tmp_path: Path, out: Path) -> None:
    result = run_download(tmp_path, source, out)
    assert result.returncode == 0, result.stderr
    assert f"verified into {out}" in result.stdout
    assert_downloaded(out, source, NAMES)


def test_cli_reports_bad_data_in_one_line(source: Path, tmp_path: Path, out: Path) -> None:
    counts_disagree(source)
    result = run_download(tmp_path, source, out)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and TEST_LABELS in lines[0]
    assert_nothing_written(out)
