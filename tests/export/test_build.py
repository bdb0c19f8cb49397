"""Serving artifacts agree with the Keras model they were exported from, as a client sees them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.export import build as serving
from mnist_pipeline.export.build import build_exports, convert_tflite, representative
from mnist_pipeline.export.layout import SAVED_MODEL
from mnist_pipeline.params import TFLITE_FLAVOURS, ExportParams
from mnist_pipeline.serving.litert import TFLiteClassifier
from tests.support.project import ROOT, tree_digests
from tests.support.serving_fixtures import NUM_CLASSES, TinySetup, export_dir, tiny_setup  # noqa: F401 - fixtures


def run_python(code: str) -> str:
    """Run code in a fresh interpreter (nothing traced or cached from this one), return stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_tiny_model_is_not_degenerate(tiny_setup: TinySetup) -> None:
    predicted = tiny_setup.keras_probabilities(tiny_setup.x_test).argmax(axis=1)
    assert (predicted == tiny_setup.y_test).mean() > 0.9
    assert len(set(predicted.tolist())) == NUM_CLASSES


def test_serving_function_takes_uint8_pixels_and_returns_probabilities_and_class(tiny_setup: TinySetup) -> None:
    outputs = serving.serving_function(tiny_setup.model)(tiny_setup.x_test[:50])
    probabilities = outputs["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, tiny_setup.keras_probabilities(tiny_setup.x_test[:50]), atol=1e-5)
    assert outputs["class"].dtype.name == "int64"
    np.testing.assert_array_equal(outputs["class"].numpy(), probabilities.argmax(axis=1))


def test_saved_model_loaded_in_a_fresh_process_matches_keras(tiny_setup: TinySetup, tmp_path: Path) -> None:
    serving.save_saved_model(tiny_setup.model, tmp_path / "saved_model")
    np.save(tmp_path / "pixels.npy", tiny_setup.x_test)
    run_python(
        f"""
        import numpy as np
        import tensorflow as tf
        signature = tf.saved_model.load({str(tmp_path / "saved_model")!r}).signatures["serving_default"]
        outputs = signature(pixels=tf.constant(np.load({str(tmp_path / "pixels.npy")!r})))
        assert outputs["probabilities"].dtype == tf.float32 and outputs["class"].dtype == tf.int64
        np.save({str(tmp_path / "probabilities.npy")!r}, outputs["probabilities"].numpy())
        np.save({str(tmp_path / "class.npy")!r}, outputs["class"].numpy())
        """
    )
    expected = tiny_setup.keras_probabilities(tiny_setup.x_test)
    np.testing.assert_allclose(np.load(tmp_path / "probabilities.npy"), expected, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "class.npy"), expected.argmax(axis=1))
    np.testing.assert_allclose(
        serving.saved_model_predict(tmp_path / "saved_model", tiny_setup.x_test[:10]), expected[:10], atol=1e-5
    )


@pytest.mark.slow
def test_export_bytes_are_the_same_every_run(tiny_setup: TinySetup, tmp_path: Path) -> None:
    """DVC hashes the export: two runs of the export (fresh processes) must write identical files."""
    tiny_setup.model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x_train.npy", tiny_setup.x_train)
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        run_python(
            f"""
            from pathlib import Path

            import numpy as np
            from mnist_pipeline.export.build import build_exports
            from mnist_pipeline.model.quiet_tensorflow import keras
            from mnist_pipeline.params import ExportParams
            p = ExportParams(tflite=["float32", "dynamic", "int8"], representative_samples=100,
                             min_agreement=0.999, max_int8_drop=0.005)
            model = keras.saving.load_model({str(tmp_path / "model.keras")!r})
            build_exports(model, np.load({str(tmp_path / "x_train.npy")!r}), Path({str(tmp_path / run)!r}), p)
            """
        )
    first, second = tree_digests(tmp_path / "first"), tree_digests(tmp_path / "second")
    assert "saved_model/fingerprint.pb" in first and "model_int8.tflite" in first
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_save_saved_model_replaces_an_existing_export(tiny_setup: TinySetup, tmp_path: Path) -> None:
    target = tmp_path / "saved_model"
    target.mkdir()
    (target / "stale.txt").write_text("from an older export")
    serving.save_saved_model(tiny_setup.model, target)
    assert not (target / "stale.txt").exists()
    assert (target / "saved_model.pb").is_file()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no partial left behind


@pytest.mark.parametrize("flavour", serving.TFLITE_FLAVOURS)
def test_tflite_signature_takes_uint8_pixels(tiny_setup: TinySetup, flavour: str) -> None:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=tiny_setup.tflite[flavour]).get_signature_runner("serving_default")
    inputs, outputs = runner.get_input_details(), runner.get_output_details()
    assert list(inputs) == ["pixels"]
    assert inputs["pixels"]["dtype"] == np.uint8
    assert list(inputs["pixels"]["shape_signature"]) == [-1, 28, 28]
    assert outputs["probabilities"]["dtype"] == np.float32
    assert outputs["class"]["dtype"] == np.int64
    result = runner(pixels=tiny_setup.x_test[:7])
    assert result["probabilities"].shape == (7, NUM_CLASSES)
    np.testing.assert_array_equal(result["class"], result["probabilities"].argmax(axis=1))


@pytest.mark.parametrize("flavour", ["float32", "dynamic"])
def test_float_tflite_agrees_with_keras(tiny_setup: TinySetup, flavour: str) -> None:
    probabilities = TFLiteClassifier(tiny_setup.tflite[flavour]).predict(tiny_setup.x_test)
    expected = tiny_setup.keras_probabilities(tiny_setup.x_test)
    assert (probabilities.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.99
    if flavour == "float32":
        np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_int8_tflite_is_about_as_accurate_as_keras(tiny_setup: TinySetup) -> None:
    probabilities = TFLiteClassifier(tiny_setup.tflite["int8"]).predict(tiny_setup.x_test)
    keras_predicted = tiny_setup.keras_probabilities(tiny_setup.x_test).argmax(axis=1)
    keras_accuracy = (keras_predicted == tiny_setup.y_test).mean()
    int8_accuracy = (probabilities.argmax(axis=1) == tiny_setup.y_test).mean()
    assert int8_accuracy >= keras_accuracy - 0.02
    assert (probabilities.argmax(axis=1) == keras_predicted).mean() >= 0.95


def test_int8_tflite_uses_only_integer_kernels_inside(tiny_setup: TinySetup) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tiny_setup.tflite["int8"])
    interpreter.allocate_tensors()
    layers = [op for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    assert layers
    for op in layers:
        for index in (i for i in op["inputs"] if i >= 0):
            assert interpreter._get_tensor_details(index, 0)["dtype"] in (np.int8, np.int32)


@pytest.mark.parametrize("flavour", serving.TFLITE_FLAVOURS)
def test_tflite_conversion_is_reproducible(tiny_setup: TinySetup, flavour: str) -> None:
    again = serving.convert_tflite(tiny_setup.model, flavour, tiny_setup.x_train[:200])
    assert again == tiny_setup.tflite[flavour]


def test_convert_tflite_rejects_bad_arguments(tiny_setup: TinySetup) -> None:
    with pytest.raises(ValueError, match="flavour"):
        serving.convert_tflite(tiny_setup.model, "float16", tiny_setup.x_train)
    with pytest.raises(ValueError, match="uint8"):
        serving.convert_tflite(tiny_setup.model, "int8", tiny_setup.x_train / 255.0)
    with pytest.raises(ValueError, match="at least one"):
        serving.convert_tflite(tiny_setup.model, "int8", tiny_setup.x_train[:0])


def test_models_with_dropout_and_batch_norm_convert_in_every_flavour() -> None:
    """Their extra variables (RNG state, moving statistics) must be frozen, not left as READ_VARIABLE ops."""
    from mnist_pipeline.model.quiet_tensorflow import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3),
        ]
    )
    pixels = np.random.default_rng(3).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    expected = keras.ops.convert_to_numpy(keras.activations.softmax(model(pixels / 255.0, training=False)))
    for flavour in serving.TFLITE_FLAVOURS:
        probabilities = TFLiteClassifier(serving.convert_tflite(model, flavour, pixels[:20])).predict(pixels)
        np.testing.assert_allclose(probabilities, expected, atol=1e-5 if flavour == "float32" else 0.05)


def test_every_flavour_converted_from_the_one_serving_module_is_what_converting_it_alone_gives(
    tiny_setup: TinySetup,
    tmp_path: Path,
) -> None:
    x_train = tiny_setup.x_train
    p = ExportParams(tflite=list(TFLITE_FLAVOURS), representative_samples=100, min_agreement=0.999, max_int8_drop=0.005)
    written = build_exports(tiny_setup.model, x_train, tmp_path, p)
    assert [exported.filename for exported in written][0] == SAVED_MODEL
    assert (tmp_path / SAVED_MODEL / "saved_model.pb").is_file()
    calibration = representative(x_train, p.representative_samples)
    for exported in written[1:]:
        alone = convert_tflite(tiny_setup.model, str(exported.flavour), calibration)
        assert (tmp_path / exported.filename).read_bytes() == alone, exported.name
