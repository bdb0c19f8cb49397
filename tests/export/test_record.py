"""exports.json and its headline: every export's figures in the record, the two worth comparing in the headline."""

from __future__ import annotations

from mnist_pipeline.export.record import GATE, exports_of, headline


def figures(agreement: float, drop: float, size: int) -> dict:
    return {"size_bytes": size, "accuracy": 0.9, "agreement": agreement, "accuracy_drop": drop}


REPORT = {
    "saved_model": figures(1.0, 0.0, 5000),
    "tflite_float32": figures(0.9999, 0.0, 410),
    "tflite_dynamic": figures(0.998, 0.001, 120),
    "tflite_int8": figures(0.997, 0.002, 110),
    GATE: {"min_accuracy": 0.0, "test_accuracy": 0.9, "passed": True},
}


def test_export_headline_is_int8_drop_and_float32_size() -> None:
    assert headline(REPORT) == {"int8_drop": 0.002, "tflite_kb": 0.4}
    assert list(exports_of(REPORT)) == ["saved_model", "tflite_float32", "tflite_dynamic", "tflite_int8"]


def test_export_headline_leaves_out_flavours_not_exported() -> None:
    report = {"saved_model": figures(1.0, 0.0, 5000), "tflite_dynamic": figures(0.99, 0.004, 120), GATE: {}}
    assert headline(report) == {}
