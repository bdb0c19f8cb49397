"""Inputs for `predict`: image files, `.npy` arrays and IDX files, made to look like MNIST.

MNIST digits are light strokes on a black background, scaled so the larger side of the
ink is 20 px (anti-aliased, aspect ratio kept) and placed in a 28x28 field with their
centre of mass in the middle (LeCun et al.). A model trained on them only works on
inputs prepared the same way, so photos and scans of any size go through
`mnist_style`. Inputs that already have the model's size (an MNIST array, an IDX file,
a 28x28 PNG written from one) are taken as they are: re-framing them would change them.

Every file is untrusted: a bad one raises `InputError` naming the file and the reason,
and nothing is allocated from sizes a header merely claims. Pure numpy + Pillow (no
TensorFlow), so `predict` starts fast. Longer than most modules because each kind of
input (image, `.npy`, IDX) has its own checks of untrusted bytes.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from mnist_pipeline.data.idx import IdxError, gunzip, read_idx
from mnist_pipeline.errors import DataError
from mnist_pipeline.serving.ink import NoDigitFound, find_digit

MNIST_SIZE = 28
MAX_IMAGE_PIXELS = 40_000_000  # a 40 MP photo is plenty; beyond it we refuse a decompression bomb
MAX_ARRAY_BYTES = 512 * 2**20  # a decompressed IDX file (MNIST's training images are 47 MB)
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")  # plain rasters; never EPS (runs Ghostscript)
# what Pillow's decoders raise on bad data (some of its readers index or unpack past the end of a cut file)
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error)


class InputError(DataError):
    """An input file cannot be used: it is missing, unreadable, corrupt or holds no images."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def load_inputs(path: str | Path, size: int = MNIST_SIZE) -> np.ndarray:
    """Read one input file as uint8 `[N, size, size]` MNIST-style images."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() == ".npy":
        return prepare_stack(read_npy(path), str(path), size)
    if is_idx_name(path):
        return prepare_stack(read_idx_images(path), str(path), size)
    return prepare_image(read_image(path), str(path), size)[np.newaxis]


def prepare_image(grey: np.ndarray, name: str, size: int = MNIST_SIZE) -> np.ndarray:
    """One decoded image as the model's input: MNIST-sized ones as they are (made light on dark), others framed."""
    if grey.shape == (size, size):
        return to_light_on_dark(grey)
    try:
        return mnist_style(grey, size)
    except NoDigitFound as error:
        raise InputError(name, str(error)) from None


def prepare_stack(images: np.ndarray, name: str, size: int = MNIST_SIZE) -> np.ndarray:
    """Arrays of the model's size are already MNIST-formatted; others are treated like photos."""
    if images.shape[1:] == (size, size):
        return images
    return np.stack([prepare_image(image, f"{name}[{index}]", size) for index, image in enumerate(images)])


def _check_file(path: Path) -> None:
    """Give the reasons a file cannot be read in words, before any parser sees it."""
    if path.is_dir():
        raise InputError(path, "is a directory, not a file")
    try:
        if path.stat().st_size == 0:
            raise InputError(path, "empty file")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as error:
        raise InputError(path, f"cannot read it ({error.strerror or error})") from None


# -- image files ---------------------------------------------------------------------------


def read_image(source: str | Path | BinaryIO, name: str | None = None) -> np.ndarray:
    """Decode an image file (a path, or an open binary file called `name`) to uint8 grey `[H, W]`.

    The size is checked from the header before any pixel is decoded, and Pillow's own
    bomb warning is turned into an error, so a small file cannot claim gigapixels.
    Transparent pixels count as white paper (what a viewer shows), EXIF rotation of
    phone photos is applied. Only what Pillow raises while decoding becomes an
    `InputError`; an error in our own code stays a bug with its traceback.
    """
    name = str(source) if name is None else name
    with _decoding(name):
        image = Image.open(source, formats=IMAGE_FORMATS)
    with image:
        pixels = image.width * image.height
        if pixels > MAX_IMAGE_PIXELS:
            raise InputError(
                name,
                f"image is {image.width}x{image.height} ({pixels / 1e6:.0f} MP), more than the "
                f"{MAX_IMAGE_PIXELS / 1e6:.0f} MP accepted (a decompression bomb?)",
            )
        with _decoding(name):
            image.load()
            upright = ImageOps.exif_transpose(image)
    return _to_grey(upright)


@contextlib.contextmanager
def _decoding(name: str) -> Generator[None, None, None]:
    """Turn what Pillow raises on bad data into an `InputError` naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except Image.UnidentifiedImageError:
        raise InputError(name, f"not an image (not one of {', '.join(IMAGE_FORMATS)})") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise InputError(name, f"refused as a decompression bomb ({error})") from None
    except _IMAGE_ERRORS as error:
        raise InputError(name, f"corrupt or truncated image ({error or type(error).__name__})") from None


def _to_grey(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I;16"):
        return (np.asarray(image, dtype=np.float64) / 257).round().astype(np.uint8)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(image.convert("L"), dtype=np.uint8)


# -- arrays ----------------------------------------------------------------------------------


def read_npy(path: str | Path) -> np.ndarray:
    """Read a `.npy` of images (`[H, W]` or `[N, H, W]`, uint8 or float in [0, 1]) as uint8 `[N, H, W]`.

    Pickles are refused (loading one runs arbitrary code), and the file is memory-mapped
    so a header claiming a huge shape fails on the file's real size instead of allocating.
    """
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as error:
        raise InputError(path, f"cannot read it ({error.strerror or error})") from None
    if magic.startswith(b"PK"):
        raise InputError(path, "is an .npz archive; save one array with numpy.save")
    if magic != b"\x93NUMPY":
        raise InputError(path, "not a .npy file (no NUMPY header)")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as error:
        if "object" in str(error).lower() or "pickle" in str(error):
            raise InputError(path, "holds Python objects (a pickle), which are refused; save plain numbers") from None
        raise InputError(path, f"corrupt or truncated .npy file ({error})") from None
    except (OSError, EOFError) as error:
        raise InputError(path, f"corrupt or truncated .npy file ({error})") from None
    return _image_stack(np.array(array), path)


def is_idx_name(path: str | Path) -> bool:
    """MNIST's naming: `t10k-images-idx3-ubyte`, `images.idx`, either with `.gz`."""
    name = Path(path).name.lower().removesuffix(".gz")
    return name.endswith(("-ubyte", ".idx"))


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned-byte images (`[N, H, W]` or one `[H, W]`), gzipped or not."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix.lower() == ".gz":
            data = gunzip(data, name=str(path), max_bytes=MAX_ARRAY_BYTES)
        array = read_idx(data, name=str(path))
    except IdxError as error:
        raise InputError(path, str(error).removeprefix(f"{path}: ")) from None
    except OSError as error:
        raise InputError(path, f"cannot read it ({error.strerror or error})") from None
    if array.dtype != np.uint8:
        raise InputError(path, f"IDX holds {array.dtype} values, expected unsigned-byte images")
    return _image_stack(array, path)


def _image_stack(array: np.ndarray, path: str | Path) -> np.ndarray:
    """Check what a file holds is images and bring it to uint8 `[N, H, W]`."""
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3 or 0 in array.shape:
        raise InputError(path, f"holds an array of shape {list(array.shape)}, expected images [H, W] or [N, H, W]")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise InputError(path, "float pixels must be finite and in [0, 1]")
        return np.rint(array * 255).astype(np.uint8)
    if array.dtype.kind in "iub" and array.min() >= 0 and array.max() <= 255:
        return array.astype(np.uint8)
    raise InputError(path, f"holds {array.dtype} values, expected uint8 pixels or floats in [0, 1]")


# -- MNIST-style preprocessing ------------------------------------------------------------


def mnist_style(grey: np.ndarray, size: int = MNIST_SIZE) -> np.ndarray:
    """A photo or scan of one digit, prepared the way MNIST's digits were (see the module doc).

    Raises `NoDigitFound` for a blank page (see `mnist_pipeline.serving.ink` for how the digit is found).
    """
    digit = np.rint(find_digit(grey)).astype(np.uint8)
    return center_by_mass(fit_in_box(digit, round(size * 20 / 28)), size)


def border(grey: np.ndarray) -> np.ndarray:
    """The outermost pixels: on a photo or scan of one digit, that is the background."""
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def is_dark_on_light(grey: np.ndarray) -> bool:
    """Whether the background is nearer the bright end of the image than the dark end.

    Comparing with the image's own range (not a fixed 128) also catches a dim photo of
    grey paper with black ink.
    """
    background = float(np.median(border(grey)))
    darkest, brightest = np.percentile(grey, [1, 99])
    return background - darkest > brightest - background


def to_light_on_dark(grey: np.ndarray) -> np.ndarray:
    """Invert dark ink on light paper into MNIST's light strokes on black."""
    return 255 - grey if is_dark_on_light(grey) else grey


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The smallest rectangle holding every non-zero pixel (empty if there is none)."""
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return ink[:0, :0]
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fit_in_box(ink: np.ndarray, box: int) -> np.ndarray:
    """Scale so the larger side is `box` pixels, keeping the aspect ratio, with anti-aliasing."""
    height, width = ink.shape
    scale = box / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Pillow widens the filter when shrinking (anti-aliasing); a triangle, unlike Lanczos, does not ring
    resized = Image.fromarray(ink).resize(new_size, Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def center_by_mass(digit: np.ndarray, size: int = MNIST_SIZE) -> np.ndarray:
    """Paste into a `size` x `size` black field so the centre of mass lands in the middle.

    The shift is limited so the whole digit stays inside the field.
    """
    height, width = digit.shape
    weights = digit.astype(np.float64)
    total = weights.sum()
    if total == 0:
        center_row, center_col = (height - 1) / 2, (width - 1) / 2
    else:
        center_row = (weights.sum(axis=1) @ np.arange(height)) / total
        center_col = (weights.sum(axis=0) @ np.arange(width)) / total
    middle = (size - 1) / 2
    top = int(np.clip(round(middle - center_row), 0, size - height))
    left = int(np.clip(round(middle - center_col), 0, size - width))
    field = np.zeros((size, size), np.uint8)
    field[top : top + height, left : left + width] = digit
    return field
