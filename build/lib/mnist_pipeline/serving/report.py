"""The export report: every export's verified figures, and the few worth comparing across experiments.

The full report (size, accuracy, agreement with Keras and accuracy drop of each export,
and under `gate` the blessing's verdict from stages/bless.py) ships inside the artifact as
models/export/exports.json; metrics/export.json holds only the headline, since DVC shows
every key of a metrics file as a column.
"""

from __future__ import annotations

EXPORTS_FILE = "exports.json"
GATE = "gate"


def exports_of(report: dict) -> dict[str, dict]:
    """The report's per-export figures, without the gate's verdict."""
    return {name: figures for name, figures in report.items() if name != GATE}


def headline(report: dict) -> dict:
    """`agreement`: the lowest agreement with Keras over all exports; `int8_drop`: the int8 model's
    test accuracy drop; `tflite_kb`: the float32 TFLite model's size in KiB.

    Short names, because `dvc metrics show` puts every column on one line. A figure is left
    out when its flavour was not exported (`export.tflite`).
    """
    exports = exports_of(report)
    figures = {"agreement": min(f["agreement"] for f in exports.values())}
    if "tflite_int8" in exports:
        figures["int8_drop"] = exports["tflite_int8"]["accuracy_drop"]
    if "tflite_float32" in exports:
        figures["tflite_kb"] = round(exports["tflite_float32"]["size_bytes"] / 1024, 1)
    return figures
