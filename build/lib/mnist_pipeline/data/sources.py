"""Where a dataset's raw files come from, and getting all four of them, verified, into one folder.

A source (`data.source`) is a folder holding either a `<dataset>.txt` list of URL
prefixes to fetch the files from (data/mirrors/ lists the public mirrors of MNIST and
Fashion-MNIST) or the four .gz files themselves. dvc.yaml declares that folder as a
dependency of the download stage: DVC hashes the files in it, so replacing one re-runs
download, while a no-op `dvc repro` sends no request to a mirror (the list is hashed,
not the remote files).

Every file is decompressed, parsed and checked (content checksum for known datasets;
format, counts and label range for all) before the folder is renamed into place, so a
corrupt or partial file never reaches data/raw or the DVC cache.
"""

from __future__ import annotations

from pathlib import Path

from mnist_pipeline.artifacts import atomic_path, write_json
from mnist_pipeline.data.datasets import (
    CHECKSUMS_FILE,
    FASHION_MNIST,
    FASHION_MNIST_DEB,
    FASHION_MNIST_DEB_DIR,
    FILES,
    LABELS_FILE,
    SPLIT_FILES,
    Dataset,
)
from mnist_pipeline.data.download import NotFoundError, OfflineError, fetch
from mnist_pipeline.data.labels import parse_labels, write_labels
from mnist_pipeline.data.raw import RawFile, check_shapes, check_split, decode_file
from mnist_pipeline.errors import ParamsError

URL_SCHEMES = ("http://", "https://", "file://")
MAX_LABELS_BYTES = 1024**2


def mirror_list(dataset: Dataset, source: str) -> Path:
    """`<source>/<dataset>.txt`: where the folder lists URL prefixes to fetch the files from."""
    return Path(source).expanduser() / f"{dataset.name}.txt"


def read_mirror_list(path: Path) -> list[str]:
    """URL prefixes, one per line, in the order to try them; blank lines and `#` comments are skipped."""
    lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    prefixes = [line for line in lines if line]
    for prefix in prefixes:
        if not prefix.startswith(URL_SCHEMES):
            raise ParamsError(f"{path}: {prefix!r} is not an http(s):// or file:// URL prefix")
    if not prefixes:
        raise ParamsError(f"{path} lists no URL prefix: put one per line")
    return [prefix.rstrip("/") + "/" for prefix in prefixes]


def source_urls(dataset: Dataset, source: str, filename: str) -> list[str]:
    """Where to look for `filename`: the URL prefixes of the source's mirror list, else the source folder itself."""
    listing = mirror_list(dataset, source)
    if listing.is_file():
        return [prefix + filename for prefix in read_mirror_list(listing)]
    return [(Path(source).expanduser().resolve() / filename).as_uri()]


def check_source(dataset: Dataset, source: str) -> None:
    """`data.source` must be a folder holding the four files or the dataset's mirror list."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ParamsError(f"data.source = {source!r} is not a folder (data/mirrors holds the public mirrors' lists)")
    if mirror_list(dataset, source).is_file():
        read_mirror_list(mirror_list(dataset, source))
        return
    if not any((folder / name).is_file() for name in FILES):  # some missing: the fetch names which
        raise ParamsError(
            f"data.source = {source!r} holds neither {dataset.name}.txt (URL prefixes to fetch the files from) "
            f"nor the dataset's files: point it at the folder with your four IDX .gz files ({', '.join(FILES)}) "
            f"and optionally {LABELS_FILE}"
        )


def fetch_verified(dataset: Dataset, source: str, filename: str, progress: bool) -> tuple[bytes, RawFile]:
    """Fetch one file, accepting it from a source only if it decodes and (if known) matches its checksum."""
    decoded: list[RawFile] = []
    data = fetch(
        source_urls(dataset, source, filename),
        name=filename,
        max_bytes=dataset.max_bytes(filename),
        verify=lambda body: decoded.append(decode_file(body, filename, dataset)),
        progress=progress,
    )
    return data, decoded[-1]


def class_names(dataset: Dataset, source: str, labels: list[RawFile]) -> tuple[str, ...]:
    """Known names; else the custom dataset's labels.txt; else the label values found, 0..max."""
    if dataset.known:
        return dataset.class_names
    try:
        text = fetch(
            source_urls(dataset, source, LABELS_FILE), name=LABELS_FILE, max_bytes=MAX_LABELS_BYTES, progress=False
        )
    except NotFoundError:
        largest = max((int(f.array.max()) for f in labels if len(f.array)), default=0)
        return tuple(str(value) for value in range(largest + 1))
    return parse_labels(text, f"{LABELS_FILE} in {source}")


def download(dataset: Dataset, source: str, out: Path, progress: bool = True) -> None:
    check_source(dataset, source)
    files: dict[str, tuple[bytes, RawFile]] = {}
    try:
        for filename in FILES:
            files[filename] = fetch_verified(dataset, source, filename, progress)
    except OfflineError as error:
        raise OfflineError(
            f"{error}. No network? Put the four .gz files in a folder and point data.source at it: "
            "dvc exp run --set-param data.source=/path/to/folder (or edit params.yaml). "
            f"On Debian/Ubuntu, `apt install {FASHION_MNIST_DEB}` installs Fashion-MNIST for that: "
            f"dvc exp run --set-param data.dataset={FASHION_MNIST.name} --set-param data.source={FASHION_MNIST_DEB_DIR}"
        ) from None
    names = class_names(dataset, source, [files[labels][1] for _, labels in SPLIT_FILES.values()])
    check_shapes(
        {
            split: check_split(files[images][1], files[labels][1], len(names))
            for split, (images, labels) in SPLIT_FILES.items()
        }
    )
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for filename, (data, _) in files.items():
            (tmp / filename).write_bytes(data)
        write_labels(tmp / LABELS_FILE, names)
        write_json(tmp / CHECKSUMS_FILE, {name: raw.sha256 for name, (_, raw) in files.items()})
