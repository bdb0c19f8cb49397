"""What each supported dataset is: its files and how to recognise them (where to get them: data/mirrors/).

Checksums are SHA-256 of the *decompressed* IDX bytes: mirrors (and Debian's package
of Fashion-MNIST) recompress the files, so the `.gz` bytes differ between sources while
the content is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FILES: tuple[str, ...] = tuple(name for pair in SPLIT_FILES.values() for name in pair)
LABELS_FILE = "labels.txt"
# The prepared splits, in the order prepare writes them.
SPLITS = ("train", "val", "test")
CHECKSUMS_FILE = "content-sha256.json"
CUSTOM_MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Dataset:
    name: str
    sha256: dict[str, str]
    sizes: dict[str, int]
    class_names: tuple[str, ...]

    @property
    def known(self) -> bool:
        """Whether we know this dataset's content (checksums, sizes, class names)."""
        return bool(self.sha256)

    def max_bytes(self, filename: str) -> int:
        """The most bytes `filename` may decompress to: its true size when known."""
        return self.sizes.get(filename, CUSTOM_MAX_BYTES)


MNIST = Dataset(
    name="mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    sizes={
        "train-images-idx3-ubyte.gz": 47040016,
        "train-labels-idx1-ubyte.gz": 60008,
        "t10k-images-idx3-ubyte.gz": 7840016,
        "t10k-labels-idx1-ubyte.gz": 10008,
    },
    class_names=tuple(str(digit) for digit in range(10)),
)

FASHION_MNIST = Dataset(
    name="fashion_mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    sizes=MNIST.sizes,
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
)

# Real data without internet: Debian and Ubuntu package Fashion-MNIST (the four .gz files, recompressed).
FASHION_MNIST_DEB = "dataset-fashion-mnist"
FASHION_MNIST_DEB_DIR = "/usr/share/datasets/fashion-mnist"

CUSTOM = Dataset(name="custom", sha256={}, sizes={}, class_names=())

DATASETS: dict[str, Dataset] = {d.name: d for d in (MNIST, FASHION_MNIST, CUSTOM)}
