"""Finding the digit in a photo: the paper's local brightness, the ink's polarity, the main ink stroke.

A phone photo of a digit on paper is mostly paper, lit unevenly (one side of the page
can be 50 grey levels brighter than the other), with a digit covering well under 1 % of
the pixels. So nothing here uses one global level:

1. The photo is analysed at most `WORK_SIDE` pixels across (area-averaged: thin strokes
   stay, as lighter grey).
2. The paper's brightness is estimated locally: medians of small cells, then a
   morphological closing over a window of about a third of the page (a dilation then an
   erosion of the cell grid), which removes any dark mark narrower than the window (a
   digit's strokes, a filled drawing up to ~25 % of the page) and keeps the lighting
   gradient, then interpolated back. The opening does the same for light ink on dark.
3. The ink is how much darker (or lighter) each pixel is than its local paper; the
   polarity whose ink stands out more wins, which does not depend on the digit's size.
4. Ink is what stands clearly above the noise of the paper; the main connected piece
   (most ink) is the digit, together with the pieces near it (a pencil stroke broken by
   the paper's grain); specks elsewhere on the page are left out.

Pure NumPy and Pillow (no SciPy): the cell grid is small, and connected pieces are found
from the runs of each row. That morphology and labelling, written out, is why the module
is longer than most.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

WORK_SIDE = 512  # longer side the photo is analysed at
CELLS = 24  # cells across the shorter side for the paper's brightness
CLOSING_RADIUS = 4  # in cells: marks narrower than about (2 * 4 + 1) / 24 of the page are ink
FIT_ROUNDS = 200  # at most this many fits of the paper's surface (each a small matrix product)
MIN_CONTRAST = 20.0  # grey levels ink must differ from the paper to be ink at all
NOISE_SIGMAS = 5.0  # and this many times the paper's noise
PEAK_SHARE = 0.25  # pixels with less than this share of the strongest ink are not ink
SATURATED = 98  # percentile of the ink that becomes full white: a robust maximum
NEAR = 0.3  # pieces within this share of the digit's size from it belong to it
MIN_PIECE = 0.05  # ... if they hold at least this share of its ink


class NoDigitFound(ValueError):
    """The image holds nothing that stands out from its background."""


def find_digit(grey: np.ndarray) -> np.ndarray:
    """The digit of a photo as light ink on black (float, 0-255), cropped to its box."""
    work = working_copy(grey)
    ink = ink_map(work)
    noise = robust_sigma(ink)
    peak = float(box_mean(ink).max(initial=0.0))
    if peak < max(MIN_CONTRAST, NOISE_SIGMAS * noise):
        raise NoDigitFound(
            f"no digit found: nothing stands out from the background (contrast {peak:.0f} grey levels, "
            f"noise {noise:.1f}); photograph one dark digit on light paper, or a light one on dark"
        )
    mask = ink > max(PEAK_SHARE * peak, NOISE_SIGMAS * noise, MIN_CONTRAST / 2)
    piece = dilate(main_piece(mask, ink))  # one pixel more: the anti-aliased edge of the strokes
    rows = np.flatnonzero(piece.any(axis=1))
    cols = np.flatnonzero(piece.any(axis=0))
    digit = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # faint ink inside the digit's box stays
    digit = np.where(digit > max(2 * noise, 0.1 * peak), digit, 0.0)
    full = np.percentile(digit[digit > 0], SATURATED)
    return np.clip(digit * (255 / full), 0, 255)


def working_copy(grey: np.ndarray) -> np.ndarray:
    """Float grey at most `WORK_SIDE` pixels across, shrunk by averaging whole blocks of pixels."""
    factor = -(-max(grey.shape) // WORK_SIDE)
    image = Image.fromarray(grey)
    if factor > 1:
        image = image.reduce(factor)
    return np.asarray(image, np.float64)


def ink_map(work: np.ndarray) -> np.ndarray:
    """How far each pixel stands out from its local background, light on dark whatever the photo's polarity."""
    cell, grid = cell_medians(work)
    dark_ink = is_dark_ink(work, grid, cell)
    level = paper_level(grid, cell, work.shape, dark_ink)
    return level - work if dark_ink else work - level


def is_dark_ink(work: np.ndarray, grid: np.ndarray, cell: int) -> bool:
    """Whether the marks are darker than the paper around them.

    Against a neutral background (the median of the cells around each cell, which ink
    covering less than half of them does not move), the strongest dark marks are
    compared with the strongest light ones; a small digit counts as much as a large one.
    """
    neutral = upsample(window(grid, CLOSING_RADIUS, np.median), cell, work.shape)
    return strength(neutral - work) >= strength(work - neutral)


def strength(ink: np.ndarray) -> float:
    """Mean of the strongest 0.2 % of the ink: a small digit counts as much as a large one."""
    flat = ink.ravel()
    count = max(1, flat.size // 500)
    return float(np.sort(flat)[-count:].mean())  # not np.partition: it crawls on the many equal values of clean paper


def cell_medians(work: np.ndarray) -> tuple[int, np.ndarray]:
    """The median of each cell of a grid `CELLS` cells across the shorter side (edges repeated): the cell size and grid."""
    height, width = work.shape
    cell = max(1, min(height, width) // CELLS)
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.pad(work, ((0, rows * cell - height), (0, cols * cell - width)), mode="edge")
    cells = np.sort(padded.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2)
    return cell, cells[:, :, cells.shape[2] // 2]  # sorting, as np.median's partition crawls on clean paper


def paper_level(grid: np.ndarray, cell: int, shape: tuple[int, int], dark_ink: bool) -> np.ndarray:
    """The paper's brightness at every pixel, from two estimates of it that fail in different places.

    - A morphological closing of the cell medians (a dilation then an erosion over a window
      of about a third of the page): removes any dark mark narrower than the window (strokes,
      a small drawing) and follows uneven lighting, but not a shape wider than the window.
    - A smooth surface under the cell medians: a quadratic in (x, y) is fitted, every cell
      on the ink's side is moved onto it and it is fitted again until nothing moves (the
      "modified polynomial" baseline of spectroscopy); it ends on the paper however large
      the ink shape is, but only follows lighting that is smooth across the page.

    Ink only ever pulls an estimate towards itself, so the one further from the ink wins.
    (For light ink on dark paper, the opening and the surface above the cells.)
    """
    first, second, outer = (np.max, np.min, np.maximum) if dark_ink else (np.min, np.max, np.minimum)
    closed = window(window(grid, CLOSING_RADIUS, first), CLOSING_RADIUS, second)
    combined = window(outer(closed, smooth_surface(grid, outer)), 1, np.mean)  # the mean softens the cells' edges
    return upsample(combined, cell, shape)


def upsample(grid: np.ndarray, cell: int, shape: tuple[int, int]) -> np.ndarray:
    """Cell values interpolated (bilinear) back to every pixel of an image of `shape`."""
    rows, cols = grid.shape
    level = Image.fromarray(grid.astype(np.float32), mode="F").resize(
        (cols * cell, rows * cell), Image.Resampling.BILINEAR
    )
    return np.asarray(level, np.float64)[: shape[0], : shape[1]]


def smooth_surface(grid: np.ndarray, outer: np.ufunc) -> np.ndarray:
    """The quadratic surface fitted to `grid` with every cell beyond it moved onto it (`outer`: max or min)."""
    rows, cols = grid.shape
    y, x = np.mgrid[0:rows, 0:cols] / max(rows, cols)
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)
    solve = np.linalg.pinv(terms)
    values = grid.ravel()
    for _ in range(FIT_ROUNDS):
        surface = terms @ (solve @ values)
        moved = outer(values, surface)
        if np.abs(moved - values).max() < 0.5:
            break
        values = moved
    return surface.reshape(rows, cols)


def window(grid: np.ndarray, radius: int, reduce: Callable[..., np.ndarray]) -> np.ndarray:
    """`reduce` (max, min, mean) over the (2r+1)-square around each cell, edges repeated."""
    padded = np.pad(grid, radius, mode="edge")
    windows = sliding_window_view(padded, (2 * radius + 1, 2 * radius + 1)).reshape(*grid.shape, -1)
    return reduce(windows, axis=-1)


def robust_sigma(ink: np.ndarray) -> float:
    """The paper's noise, from the pixels on the far side of the paper level from the ink: there is no ink there.

    Those are one half of the paper's noise, whose median is 0.674 sigma; the ink, however
    much of the page it covers, does not enter.
    """
    below = ink[ink < 0]
    return float(np.median(-below) / 0.674) if below.size else 0.0


def neighbours(image: np.ndarray) -> list[np.ndarray]:
    """The 9 shifted copies of an image that make up each pixel's 3x3 neighbourhood (edges repeated)."""
    height, width = image.shape
    padded = np.pad(image, 1, mode="edge")
    return [padded[row : row + height, col : col + width] for row in range(3) for col in range(3)]


def box_mean(image: np.ndarray) -> np.ndarray:
    """3x3 mean, so that one noisy pixel does not count as the strongest ink."""
    return np.add.reduce(neighbours(image)) / 9


def dilate(mask: np.ndarray) -> np.ndarray:
    """Grow a mask by one pixel (3x3), to keep the anti-aliased edge of a stroke."""
    return np.logical_or.reduce(neighbours(mask))


def main_piece(mask: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The connected piece of `mask` with the most ink, with the substantial pieces close to it."""
    pieces = Pieces(dilate(mask), ink * mask)  # one pixel of gap does not split a stroke
    main = int(np.argmax(pieces.mass))
    top, left, bottom, right = pieces.boxes[main]
    margin = NEAR * max(bottom - top, right - left)
    near = (
        (pieces.boxes[:, 0] <= bottom + margin)
        & (pieces.boxes[:, 2] >= top - margin)
        & (pieces.boxes[:, 1] <= right + margin)
        & (pieces.boxes[:, 3] >= left - margin)
        & (pieces.mass >= MIN_PIECE * pieces.mass[main])
    )
    return pieces.paint(np.flatnonzero(near)) & mask


class Pieces:
    """8-connected pieces of a mask, found from the runs of set pixels in each row (union-find)."""

    def __init__(self, mask: np.ndarray, weights: np.ndarray) -> None:
        height, width = mask.shape
        edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
        self.rows, self.starts = np.nonzero(edges == 1)
        self.ends = np.nonzero(edges == -1)[1]  # exclusive; runs come in row order, as do their ends
        self.shape = mask.shape
        roots = self._connect(height)
        self.labels, piece_of_run = np.unique(roots, return_inverse=True)
        count = len(self.labels)
        self.piece_of_run = piece_of_run
        sums = np.pad(np.cumsum(weights, axis=1), ((0, 0), (1, 0)))
        run_mass = sums[self.rows, self.ends] - sums[self.rows, self.starts]
        self.mass = np.bincount(piece_of_run, run_mass, minlength=count)
        self.boxes = np.empty((count, 4))
        for column, (values, reduce) in enumerate(
            [(self.rows, np.minimum), (self.starts, np.minimum), (self.rows, np.maximum), (self.ends - 1, np.maximum)]
        ):
            self.boxes[:, column] = np.inf if reduce is np.minimum else -np.inf
            reduce.at(self.boxes[:, column], piece_of_run, values)

    def _connect(self, height: int) -> np.ndarray:
        parent = list(range(len(self.rows)))

        def find(run: int) -> int:
            while parent[run] != run:
                parent[run] = parent[parent[run]]
                run = parent[run]
            return run

        first = np.searchsorted(self.rows, np.arange(height + 1)).tolist()
        starts, ends = self.starts.tolist(), self.ends.tolist()
        for row in range(1, height):
            above, above_end, here, here_end = first[row - 1], first[row], first[row], first[row + 1]
            while above < above_end and here < here_end:
                if starts[above] <= ends[here] and starts[here] <= ends[above]:  # touching, diagonals too
                    parent[find(above)] = find(here)
                if ends[above] < ends[here]:
                    above += 1
                else:
                    here += 1
        return np.array([find(run) for run in range(len(parent))], dtype=np.int64)

    def paint(self, pieces: np.ndarray) -> np.ndarray:
        """A mask of the given pieces."""
        mask = np.zeros(self.shape, bool)
        for run in np.flatnonzero(np.isin(self.piece_of_run, pieces)).tolist():
            mask[self.rows[run], self.starts[run] : self.ends[run]] = True
        return mask
