"""Running an exported TFLite model with the LiteRT runtime, without importing TensorFlow.

Shared by `predict` (which must start fast) and by export's verification, so the
model is checked by exactly the code that will serve it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stages.quiet import native_stderr_silenced

SIGNATURE = "serving_default"
PIXELS = "pixels"
PROBABILITIES = "probabilities"


def load_runner(model_path: str | Path):  # noqa: ANN201 - LiteRT's SignatureRunner
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path))
    return interpreter.get_signature_runner(SIGNATURE)


def tflite_probabilities(model_path: str | Path, pixels: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities for uint8 `pixels` [N, H, W], in batches to bound memory."""
    with native_stderr_silenced():  # LiteRT announces its XNNPACK delegate on the first call
        runner = load_runner(model_path)
        chunks = [
            runner(**{PIXELS: np.ascontiguousarray(pixels[i : i + batch_size], dtype=np.uint8)})[PROBABILITIES]
            for i in range(0, len(pixels), batch_size)
        ]
    return np.concatenate(chunks).astype(np.float32)
