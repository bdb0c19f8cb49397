"""Running an exported TFLite model with the LiteRT runtime, without importing TensorFlow.

Shared by `predict` (which must start fast) and by export's verification, so a model
is checked by exactly the code that will serve it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnist_pipeline.native_stderr import native_stderr_silenced

SIGNATURE = "serving_default"
PIXELS = "pixels"
PROBABILITIES = "probabilities"
CLASS = "class"  # the SavedModel's second output: argmax of the probabilities
BATCH = 1024  # images per interpreter call, so a whole IDX file never needs one huge tensor


class TFLiteClassifier:
    """A TFLite model with the serving signature (uint8 `pixels` in, `probabilities` out), run by LiteRT.

    Quantisation is handled from the tensors' own scale and zero point, so any flavour
    works: a quantised input gets pixels quantised to its scale, a quantised output is
    dequantised to probabilities.
    """

    def __init__(self, model: str | Path | bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, bytes):
            self._interpreter = Interpreter(model_content=model)
        else:
            self._interpreter = Interpreter(model_path=str(model))
        signatures = self._interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise ValueError(f"the model has no {SIGNATURE!r} signature (it has {sorted(signatures)})")
        self._runner = self._interpreter.get_signature_runner(SIGNATURE)
        self._input = self._runner.get_input_details()[PIXELS]
        self._output = self._runner.get_output_details()[PROBABILITIES]
        _, height, width = self._input["shape_signature"]
        self.image_shape = (int(height), int(width))
        self.num_classes = int(self._output["shape_signature"][-1])
        self._first_call = True

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities float32 `[N, K]` for uint8 pixels `[N, H, W]`."""
        chunks = [self._run(pixels[start : start + BATCH]) for start in range(0, len(pixels), BATCH)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.num_classes), np.float32)

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        inputs = {PIXELS: quantise(pixels, self._input)}
        if self._first_call:  # LiteRT announces its XNNPACK delegate on the first call only
            self._first_call = False
            with native_stderr_silenced():
                outputs = self._runner(**inputs)
        else:
            outputs = self._runner(**inputs)
        return dequantise(outputs[PROBABILITIES], self._output)


def quantise(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Values in the tensor's dtype: `q = round(value / scale) + zero_point` if it is quantised."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if scale and dtype.kind in "iu":
        info = np.iinfo(dtype)
        quantised = np.rint(values.astype(np.float64) / scale) + zero_point
        return np.clip(quantised, info.min, info.max).astype(dtype)
    return values.astype(dtype)


def dequantise(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Real float32 values of a tensor: `(q - zero_point) * scale` if it is quantised."""
    scale, zero_point = detail["quantization"]
    if scale and values.dtype.kind in "iu":
        return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
    return values.astype(np.float32)
