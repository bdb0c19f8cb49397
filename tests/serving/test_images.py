"""Loading prediction inputs and making photos look like MNIST digits; every bad input is refused by name."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageDraw

from mnist_pipeline.data.idx import write_idx, write_idx_gz
from mnist_pipeline.errors import DataError
from mnist_pipeline.serving import images
from mnist_pipeline.serving.images import InputError, load_inputs
from mnist_pipeline.serving.ink import NoDigitFound
from tests.support.images import png_claiming


def drawing(
    size: tuple[int, int] = (120, 80),
    box: tuple[int, int, int, int] = (30, 20, 50, 100),
    ink: int = 0,
    paper: int = 255,
) -> np.ndarray:
    """A grey [H, W] "scan": a filled rectangle (x0, y0, x1, y1) of `ink` on `paper`."""
    image = Image.new("L", size, paper)
    ImageDraw.Draw(image).rectangle(box, fill=ink)
    return np.asarray(image)


def save_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode).save(path)
    return path


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    weights = image.astype(np.float64)
    rows, cols = np.indices(image.shape)
    return float((rows * weights).sum() / weights.sum()), float((cols * weights).sum() / weights.sum())


def refusal(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_inputs(path)
    assert isinstance(caught.value, DataError)
    assert str(caught.value).startswith(f"{path}: ")
    return caught.value.reason


# -- MNIST-style preprocessing ------------------------------------------------------------


def test_dark_ink_on_light_paper_is_inverted_to_light_on_dark() -> None:
    scan = drawing(ink=20, paper=230)
    digit = images.mnist_style(scan)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit.max() == 255
    assert images.border(digit).max() == 0
    np.testing.assert_array_equal(digit, images.mnist_style(255 - scan))


def test_dim_photo_of_grey_paper_is_still_recognised_as_dark_on_light() -> None:
    assert images.is_dark_on_light(drawing(ink=10, paper=90))
    assert not images.is_dark_on_light(drawing(ink=170, paper=40))


def test_off_centre_digit_is_centred_by_mass() -> None:
    scan = drawing(size=(300, 200), box=(5, 5, 40, 70))  # top left corner
    digit = images.mnist_style(scan)
    row, col = center_of_mass(digit)
    assert abs(row - 13.5) <= 1 and abs(col - 13.5) <= 1


def test_centring_uses_mass_not_the_bounding_box() -> None:
    ink = np.zeros((20, 10), np.uint8)
    ink[:, 0:3] = 255  # a heavy left stroke
    ink[0, :] = 255  # and a thin top bar
    field = images.center_by_mass(ink)
    row, col = center_of_mass(field)
    assert abs(col - 13.5) <= 0.5 and abs(row - 13.5) <= 0.5
    assert np.flatnonzero(field.any(axis=0))[0] != (28 - 10) // 2  # not centred by its box
    assert images.crop_to_ink(field).shape == (20, 10)  # shifted, not cut


def test_centring_never_pushes_ink_out_of_the_field() -> None:
    ink = np.zeros((20, 20), np.uint8)
    ink[:, 0:3] = 255  # all the mass far left: the full shift would cut the digit
    field = images.center_by_mass(ink)
    assert images.crop_to_ink(field).shape == (20, 3)
    assert field.sum() == ink.sum()


@pytest.mark.parametrize(("box", "expected"), [((50, 10, 69, 109), (20, 4)), ((10, 50, 109, 69), (4, 20))])
def test_larger_side_becomes_20_px_and_the_aspect_ratio_is_kept(box: tuple, expected: tuple) -> None:
    digit = images.mnist_style(drawing(size=(120, 120), box=box))
    assert images.crop_to_ink(digit).shape == expected


@pytest.mark.parametrize("size", [(3, 400), (400, 3), (29, 27), (1500, 2000)])
def test_any_size_gives_a_28x28_digit(size: tuple[int, int]) -> None:
    width, height = size
    scan = drawing(size=size, box=(width // 4, height // 4, width // 2, height // 2))
    digit = images.mnist_style(scan)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8


@pytest.mark.parametrize(
    "page",
    [
        np.full((50, 40), 200, np.uint8),  # blank
        np.zeros((1, 1), np.uint8),  # one pixel
        np.clip(np.random.default_rng(0).normal(220, 3, (300, 400)), 0, 255).astype(np.uint8),  # paper, no ink
        np.tile(np.linspace(180, 240, 400), (300, 1)).astype(np.uint8),  # unevenly lit paper, no ink
    ],
    ids=["blank", "one pixel", "paper grain", "lighting gradient"],
)
def test_a_page_without_a_digit_is_refused(page: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(NoDigitFound, match="no digit found"):
        images.mnist_style(page)
    assert "no digit found" in refusal(save_png(tmp_path / "blank.png", page))


def test_paper_texture_does_not_widen_the_box() -> None:
    rng = np.random.default_rng(0)
    scan = drawing(size=(100, 100), box=(40, 20, 55, 80), ink=30, paper=220) + rng.normal(0, 6, (100, 100))
    scan = np.clip(scan, 0, 255)
    digit = images.mnist_style(scan.astype(np.uint8))
    assert images.crop_to_ink(digit).shape[0] == 20
    assert images.crop_to_ink(digit).shape[1] <= 7


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 60), st.integers(1, 60))))
def test_mnist_style_always_fits_the_ink_in_20_px_inside_28(grey: np.ndarray) -> None:
    try:
        digit = images.mnist_style(grey)
    except NoDigitFound:
        return  # flat or noise-only input: refused, never a guess
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert max(images.crop_to_ink(digit).shape, default=0) <= 20


# -- image files ---------------------------------------------------------------------------


def test_a_28x28_image_is_taken_as_it_is(tmp_path: Path) -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:15] = 200
    digit[20, 2] = 90  # off-centre on purpose: no re-framing for images already MNIST-sized
    np.testing.assert_array_equal(load_inputs(save_png(tmp_path / "d.png", digit)), digit[np.newaxis])


def test_a_28x28_dark_on_light_image_is_only_inverted(tmp_path: Path) -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:15] = 255
    np.testing.assert_array_equal(load_inputs(save_png(tmp_path / "d.png", 255 - digit)), digit[np.newaxis])


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".gif", ".tiff", ".webp"])
def test_common_formats_load(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"scan{suffix}"
    Image.fromarray(drawing()).convert("RGB").save(path)
    loaded = load_inputs(path)
    assert loaded.shape == (1, 28, 28)
    assert images.crop_to_ink(loaded[0]).shape[0] == 20


def test_rgb_is_made_grey(tmp_path: Path) -> None:
    rgb = np.stack([drawing(ink=30, paper=250), drawing(ink=40, paper=240), drawing(ink=200, paper=255)], axis=-1)
    path = save_png(tmp_path / "blue-ink.png", rgb.astype(np.uint8))
    # the grey of blue ink is not black: the same digit, up to rounding of the contrast stretch
    np.testing.assert_allclose(load_inputs(path)[0], images.mnist_style(drawing()), atol=2)


def test_transparent_background_counts_as_white_paper(tmp_path: Path) -> None:
    rgba = np.zeros((*drawing().shape, 4), np.uint8)  # fully transparent black...
    rgba[drawing() == 0] = (0, 0, 0, 255)  # ...but for opaque black ink
    loaded = load_inputs(save_png(tmp_path / "ink.png", rgba))
    np.testing.assert_array_equal(loaded[0], images.mnist_style(drawing()))


def test_16_bit_grey_is_scaled_to_8_bit(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(drawing().astype(np.uint16) * 257).save(path)
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_array_equal(load_inputs(path)[0], images.mnist_style(drawing()))


def test_exif_rotation_of_phone_photos_is_applied(tmp_path: Path) -> None:
    upright = Image.fromarray(drawing(size=(120, 80), box=(30, 10, 45, 100)))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "photo.jpg"
    upright.rotate(90, expand=True).save(path, exif=exif, quality=95)
    assert images.read_image(path).shape == np.asarray(upright).shape


# -- arrays ----------------------------------------------------------------------------------


def test_npy_stack_of_28x28_is_taken_as_it_is(tmp_path: Path) -> None:
    stack = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "x.npy", stack)
    np.testing.assert_array_equal(load_inputs(tmp_path / "x.npy"), stack)


def test_npy_single_float_image_in_0_1(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.float32) / 255
    np.save(tmp_path / "x.npy", image)
    np.testing.assert_array_equal(load_inputs(tmp_path / "x.npy"), np.rint(image * 255)[np.newaxis])


def test_npy_of_larger_drawings_is_prepared_like_photos(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.stack([drawing(), 255 - drawing()]))
    loaded = load_inputs(tmp_path / "x.npy")
    assert loaded.shape == (2, 28, 28)
    np.testing.assert_array_equal(loaded[0], loaded[1])


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_plain_and_gzipped(tmp_path: Path, gz: bool) -> None:
    stack = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    path = tmp_path / ("t10k-images-idx3-ubyte.gz" if gz else "t10k-images-idx3-ubyte")
    path.write_bytes(write_idx_gz(stack) if gz else write_idx(stack))
    np.testing.assert_array_equal(load_inputs(path), stack)


def test_idx_single_image(tmp_path: Path) -> None:
    digit = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    (tmp_path / "one.idx").write_bytes(write_idx(digit))
    np.testing.assert_array_equal(load_inputs(tmp_path / "one.idx"), digit[np.newaxis])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("train-images-idx3-ubyte", True),
        ("t10k-images.idx3-ubyte.gz", True),
        ("x.IDX", True),
        ("a.png", False),
        ("ubyte.png", False),
        ("x.npy.gz", False),
    ],
)
def test_idx_names(name: str, expected: bool) -> None:
    assert images.is_idx_name(name) is expected


# -- bad inputs ------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    assert refusal(tmp_path / "nope.png") == "no such file"


def test_directory(tmp_path: Path) -> None:
    assert "directory" in refusal(tmp_path)


@pytest.mark.parametrize("name", ["empty.png", "empty.npy", "empty-ubyte"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).touch()
    assert refusal(tmp_path / name) == "empty file"


def test_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("a shopping list, not a digit\n")
    assert "not an image" in refusal(tmp_path / "notes.png")


def test_eps_is_not_opened(tmp_path: Path) -> None:
    """EPS would be rendered by running Ghostscript on the file: never for untrusted input."""
    (tmp_path / "x.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    assert "not an image" in refusal(tmp_path / "x.eps")


def test_truncated_png(tmp_path: Path) -> None:
    noisy = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)  # incompressible: a long IDAT
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, "PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert "truncated" in refusal(tmp_path / "cut.png")


@pytest.mark.parametrize("side", [7_000, 10_000, 20_000])  # ours (40 MP), Pillow's warning, Pillow's error
def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path, side: int) -> None:
    (tmp_path / "bomb.png").write_bytes(png_claiming(side, side))
    assert "bomb" in refusal(tmp_path / "bomb.png")


def test_npy_holding_objects(tmp_path: Path) -> None:
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert "objects" in refusal(tmp_path / "objects.npy")


def test_pickle_named_npy(tmp_path: Path) -> None:
    (tmp_path / "sneaky.npy").write_bytes(pickle.dumps([1, 2, 3]))
    assert "not a .npy file" in refusal(tmp_path / "sneaky.npy")


def test_npz_named_npy(tmp_path: Path) -> None:
    with open(tmp_path / "archive.npy", "wb") as handle:
        np.savez(handle, x=np.zeros((28, 28)))
    assert ".npz" in refusal(tmp_path / "archive.npy")


def test_npy_header_claiming_more_than_the_file_holds(tmp_path: Path) -> None:
    with open(tmp_path / "liar.npy", "wb") as handle:
        header = {"descr": "|u1", "fortran_order": False, "shape": (10**6, 1000, 1000)}
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\0" * 100)
    assert "truncated" in refusal(tmp_path / "liar.npy")


@pytest.mark.parametrize(
    ("array", "reason"),
    [
        (np.zeros(5, np.uint8), "shape [5]"),
        (np.zeros((2, 2, 28, 28), np.uint8), "shape [2, 2, 28, 28]"),
        (np.zeros((0, 28, 28), np.uint8), "shape [0, 28, 28]"),
        (np.full((28, 28), 1.5, np.float32), "[0, 1]"),
        (np.full((28, 28), np.nan), "finite"),
        (np.full((28, 28), 300, np.int32), "int32"),
        (np.full((28, 28), "7"), "<U1"),
    ],
)
def test_npy_that_holds_no_images(tmp_path: Path, array: np.ndarray, reason: str) -> None:
    np.save(tmp_path / "x.npy", array)
    assert reason in refusal(tmp_path / "x.npy")


def test_idx_header_claiming_more_than_the_file_holds(tmp_path: Path) -> None:
    (tmp_path / "liar-ubyte").write_bytes(struct.pack(">HBB3I", 0, 8, 3, 10**9, 28, 28) + b"\0" * 100)
    assert "declares shape" in refusal(tmp_path / "liar-ubyte")


def test_idx_of_labels_is_not_images(tmp_path: Path) -> None:
    (tmp_path / "labels-idx1-ubyte").write_bytes(write_idx(np.arange(5, dtype=np.uint8)))
    assert "shape [5]" in refusal(tmp_path / "labels-idx1-ubyte")


def test_idx_of_ints_is_not_images(tmp_path: Path) -> None:
    (tmp_path / "ints.idx").write_bytes(write_idx(np.zeros((2, 28, 28), np.int32)))
    assert "unsigned-byte" in refusal(tmp_path / "ints.idx")


def test_truncated_gzip_idx(tmp_path: Path) -> None:
    data = write_idx_gz(np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    (tmp_path / "cut-ubyte.gz").write_bytes(data[: len(data) // 2])
    assert "truncated" in refusal(tmp_path / "cut-ubyte.gz")


def test_a_bug_of_ours_is_not_reported_as_a_corrupt_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what Pillow raises while decoding is the file's fault; our own TypeError keeps its traceback."""
    path = save_png(tmp_path / "fine.png", drawing())

    def broken(image: Image.Image) -> np.ndarray:
        raise TypeError("a bug in our code")

    monkeypatch.setattr(images, "_to_grey", broken)
    with pytest.raises(TypeError, match="a bug in our code"):
        load_inputs(path)
