"""The misclassified gallery: the test images the model got wrong with the most confidence.

A grid of upscaled images, each captioned "true X / pred Y 0.97" (on two lines, so that
two experiments' galleries fit side by side in `dvc plots diff`), written as a PNG that
`dvc plots show` puts next to the curves. NumPy and Pillow only (no TensorFlow, no
matplotlib), and byte-deterministic: the same inputs always give the same PNG bytes, so
DVC sees the same hash.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SCALE = 3
PADDING = 8
CAPTION_SIZE = 13
TITLE_SIZE = 16
MAX_COLUMNS = 4  # ~620 px wide: two galleries side by side fit a 1400 px page
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
WRONG = (190, 20, 20)
EMPTY_MESSAGE = "No misclassified test images: every prediction was right."


def most_confident_mistakes(probabilities: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` misclassified examples, most confident (wrong) prediction first.

    Ties keep the lower index first, so the choice is deterministic.
    """
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"probabilities {probabilities.shape} and labels {labels.shape} do not match")
    predicted = probabilities.argmax(axis=-1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    order = np.argsort(-confidence, kind="stable")
    return wrong[order][: max(0, count)].astype(np.intp)


def caption(true_name: str, predicted_name: str, confidence: float) -> tuple[str, str]:
    """The caption's two lines, drawn in two colours: what it is, and what the model said."""
    return f"true {true_name}", f"pred {predicted_name} {confidence:.2f}"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_size(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(math.ceil(right - min(left, 0))), int(math.ceil(bottom))


def _message_image(text: str) -> Image.Image:
    font = _font(TITLE_SIZE)
    width, height = _text_size(font, text)
    image = Image.new("RGB", (width + 4 * PADDING, height + 4 * PADDING), BACKGROUND)
    ImageDraw.Draw(image).text((2 * PADDING, 2 * PADDING), text, fill=TEXT, font=font)
    return image


def render_gallery(
    images_uint8: np.ndarray,
    true_names: Sequence[str],
    predicted_names: Sequence[str],
    confidences: Sequence[float],
    columns: int,
    title: str | None = None,
) -> Image.Image:
    """A grid of images upscaled `SCALE` times, each captioned, on a white background.

    `images_uint8` is `[N, H, W]` (or `[N, H, W, 1]`) grayscale pixels. With no images the
    picture says that there were no mistakes.
    """
    images = np.asarray(images_uint8)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    count = len(images)
    if not len(true_names) == len(predicted_names) == len(confidences) == count:
        raise ValueError("one name, prediction and confidence per image is needed")
    if count == 0:
        return _message_image(title or EMPTY_MESSAGE)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images [N, H, W], got {images.dtype} {images.shape}")

    font, title_font = _font(CAPTION_SIZE), _font(TITLE_SIZE)
    captions = [caption(t, p, float(c)) for t, p, c in zip(true_names, predicted_names, confidences)]
    tile_w, tile_h = images.shape[2] * SCALE, images.shape[1] * SCALE
    line_h = max(_text_size(font, line)[1] for lines in captions for line in lines) + PADDING // 2
    cell_w = max(tile_w, *(_text_size(font, line)[0] for lines in captions for line in lines)) + 2 * PADDING
    cell_h = tile_h + 2 * line_h + 3 * PADDING
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    title_h = _text_size(title_font, title)[1] + 2 * PADDING if title else 0
    width = max(columns * cell_w, _text_size(title_font, title)[0] if title else 0) + 2 * PADDING
    canvas = Image.new("RGB", (width, rows * cell_h + title_h + 2 * PADDING), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((PADDING, PADDING), title, fill=TEXT, font=title_font)

    for index, (pixels, (truth, prediction)) in enumerate(zip(images, captions)):
        row, column = divmod(index, columns)
        x, y = PADDING + column * cell_w, PADDING + title_h + row * cell_h
        tile = Image.fromarray(pixels).resize((tile_w, tile_h), Image.Resampling.NEAREST)
        canvas.paste(tile.convert("RGB"), (x + (cell_w - tile_w) // 2, y + PADDING))
        for line, (text, colour) in enumerate(((truth, TEXT), (prediction, WRONG))):
            text_x = x + (cell_w - _text_size(font, text)[0]) // 2
            draw.text((text_x, y + tile_h + 2 * PADDING + line * line_h), text, fill=colour, font=font)
    return canvas


def png_bytes(image: Image.Image) -> bytes:
    """PNG bytes with no metadata (no timestamp, no text chunks): same picture, same bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def gallery_png(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, names: Sequence[str], count: int
) -> bytes:
    """The whole gallery for the evaluate stage: pick the mistakes, draw them, encode the PNG."""
    chosen = most_confident_mistakes(probabilities, labels, count)
    predicted = probabilities.argmax(axis=-1)
    mistakes = int(np.sum(predicted != labels))
    share = f"{mistakes / max(1, len(labels)):.1%} of {len(labels)} test images"
    if len(chosen) == mistakes:
        title = f"All {mistakes} mistakes ({share}), most confident first"
    else:
        title = f"The {len(chosen)} most confident of {mistakes} mistakes ({share})"
    picture = render_gallery(
        np.asarray(images)[chosen],
        [names[i] for i in labels[chosen]],
        [names[i] for i in predicted[chosen]],
        probabilities[chosen, predicted[chosen]].tolist(),
        columns=min(MAX_COLUMNS, max(1, math.ceil(math.sqrt(len(chosen))))),
        title=title if len(chosen) else None,
    )
    return png_bytes(picture)
