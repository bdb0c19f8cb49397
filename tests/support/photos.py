"""Synthetic phone photos of 28x28 images, as a user would take them of a digit drawn on paper.

A light-on-dark 28x28 image (MNIST's convention) becomes dark ink on a page: the item is
8-15 % of the page's width, anywhere on it, slightly rotated, drawn with a marker (dark,
solid) or a pencil (grey, grainy), on paper of grey 200-245 lit unevenly (a gradient of
10-50 grey levels across the page), then blurred a little, given sensor noise and saved
as a JPEG of quality 50-95. Measures how well the image path copes with photos: used by the photo tests and
`benchmarks/photo_accuracy.py`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class PhotoSpec:
    page: tuple[int, int]  # (width, height) in pixels
    item_fraction: float  # item width / page width
    position: tuple[float, float]  # item centre, as fractions of the free space
    rotation: float  # degrees
    paper: float  # grey level of the paper at its middle
    gradient: float  # grey levels from one edge of the page to the other
    gradient_angle: float  # radians
    pencil: bool  # grey grainy strokes rather than solid dark ones
    blur: float  # Gaussian radius in pixels
    noise: float  # sensor noise, grey levels (standard deviation)
    quality: int  # JPEG quality


def random_spec(rng: np.random.Generator) -> PhotoSpec:
    width = int(rng.integers(480, 1000))
    height = int(width * rng.choice([0.75, 1.0, 1.33]))
    return PhotoSpec(
        page=(width, height),
        item_fraction=float(rng.uniform(0.08, 0.15)),
        position=(float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9))),
        rotation=float(rng.uniform(-8, 8)),
        paper=float(rng.uniform(200, 245)),
        gradient=float(rng.uniform(10, 50)),
        gradient_angle=float(rng.uniform(0, 2 * np.pi)),
        pencil=bool(rng.random() < 0.5),
        blur=float(rng.uniform(0, 1.5)),
        noise=float(rng.uniform(1, 4)),
        quality=int(rng.integers(50, 96)),
    )


def render_photo(item: np.ndarray, spec: PhotoSpec, rng: np.random.Generator) -> bytes:
    """JPEG bytes of a page with `item` (uint8 [28, 28], light on dark) drawn on it as `spec` says."""
    width, height = spec.page
    side = max(8, round(spec.item_fraction * width))
    coverage = Image.fromarray(item).resize((side, side), Image.Resampling.BICUBIC)
    coverage = coverage.rotate(spec.rotation, resample=Image.Resampling.BILINEAR, expand=True)
    alpha = np.asarray(coverage, np.float64) / 255
    if spec.pencil:  # graphite: lighter, and the paper's grain shows through the stroke
        alpha = alpha * rng.uniform(0.45, 0.7) * np.clip(rng.normal(1, 0.25, alpha.shape), 0.3, 1.3)
    ink = 25.0 if not spec.pencil else 40.0
    rows, cols = np.mgrid[0:height, 0:width]
    ramp = (np.cos(spec.gradient_angle) * cols / width + np.sin(spec.gradient_angle) * rows / height) / np.sqrt(2)
    page = spec.paper + spec.gradient * ramp
    top = round(spec.position[1] * (height - alpha.shape[0]))
    left = round(spec.position[0] * (width - alpha.shape[1]))
    region = page[top : top + alpha.shape[0], left : left + alpha.shape[1]]
    region[:] = (
        region * (1 - alpha[: region.shape[0], : region.shape[1]]) + ink * alpha[: region.shape[0], : region.shape[1]]
    )
    photo = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    if spec.blur > 0:
        photo = photo.filter(ImageFilter.GaussianBlur(spec.blur))
    noisy = np.asarray(photo, np.float64) + rng.normal(0, spec.noise, (height, width))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=spec.quality)
    return buffer.getvalue()


def clean_render(item: np.ndarray, scale: int = 8) -> bytes:
    """The same item as a clean scan: black on white, enlarged, no lighting, noise or compression."""
    enlarged = Image.fromarray(255 - item).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    page = Image.new("L", (28 * scale * 2, 28 * scale * 2), 255)
    page.paste(enlarged, (28 * scale // 2, 28 * scale // 2))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()
