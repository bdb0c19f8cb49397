"""The `predict` command: same answers as the Keras model, one line per bad input, never TensorFlow."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from mnist_pipeline.serving.litert import dequantise, quantise
from mnist_pipeline.serving.predict import main
from tests.support.project import ROOT
from tests.support.serving_fixtures import LABELS, NUM_CLASSES, ExportDir, export_dir, tiny_setup  # noqa: F401 - fixtures

PNG_COUNT = 60


def predict(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def pngs(export_dir: ExportDir, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The synthetic test digits as the PNG files a user would have."""
    folder = tmp_path_factory.mktemp("pngs")
    paths = []
    for index, digit in enumerate(export_dir.setup.x_test[:PNG_COUNT]):
        paths.append(folder / f"digit-{index:02d}.png")
        Image.fromarray(digit).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def keras_labels(export_dir: ExportDir) -> list[str]:
    probabilities = export_dir.setup.keras_probabilities(export_dir.setup.x_test[:PNG_COUNT])
    return [LABELS[c] for c in probabilities.argmax(axis=1)]


def bad_inputs(folder: Path) -> list[Path]:
    """One of each kind of input that must be refused."""
    (folder / "notes.png").write_text("not a digit")
    (folder / "empty.png").touch()
    noisy = np.random.default_rng(0).integers(0, 256, (100, 100), dtype=np.uint8)
    Image.fromarray(noisy).save(folder / "whole.png")
    (folder / "cut.png").write_bytes((folder / "whole.png").read_bytes()[:3000])
    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)
    ihdr = struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    (folder / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr)  # claims 900 MP
    (folder / "a-folder").mkdir()
    return [folder / name for name in ("notes.png", "empty.png", "cut.png", "bomb.png", "a-folder", "missing.png")]


@pytest.mark.parametrize(("flavour", "min_agreement"), [("float32", 1.0), ("dynamic", 0.95), ("int8", 0.9)])
def test_pngs_get_the_keras_models_answers(
    export_dir: ExportDir, pngs: list[Path], keras_labels: list[str], flavour: str, min_agreement: float
) -> None:
    result = predict("--model", export_dir.model(flavour), "--json", *pngs)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [p["input"] for p in document["predictions"]] == [str(path) for path in pngs]
    labels = [p["label"] for p in document["predictions"]]
    assert np.mean(np.array(labels) == np.array(keras_labels)) >= min_agreement
    assert document["errors"] == []


def test_text_output_is_one_line_per_image(export_dir: ExportDir, pngs: list[Path], keras_labels: list[str]) -> None:
    result = predict("--model", export_dir.model(), *pngs[:5])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    for line, path, label in zip(lines, pngs[:5], keras_labels[:5], strict=True):
        assert line.startswith(f"{path}: {label} (")
    assert result.stderr == ""


def test_top_k_lists_the_k_best_in_order(export_dir: ExportDir, pngs: list[Path], keras_labels: list[str]) -> None:
    result = predict("--model", export_dir.model(), "--top-k", "3", "--json", *pngs[:10])
    for prediction, label in zip(json.loads(result.stdout)["predictions"], keras_labels[:10], strict=True):
        top = prediction["top"]
        assert len(top) == 3 and top[0]["label"] == prediction["label"] == label
        assert [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)
        assert len({t["class"] for t in top}) == 3
    text = predict("--model", export_dir.model(), "--top-k", "99", pngs[0]).stdout
    assert text.count("(") == NUM_CLASSES  # more than there are classes: all of them


def test_multi_image_files_are_indexed(export_dir: ExportDir, tmp_path: Path, keras_labels: list[str]) -> None:
    np.save(tmp_path / "batch.npy", export_dir.setup.x_test[:4])
    text = predict("--model", export_dir.model(), tmp_path / "batch.npy").stdout.splitlines()
    assert text == [line for line in text if line.startswith(f"{tmp_path / 'batch.npy'}[")]
    assert [line.split(": ")[1].split(" (")[0] for line in text] == keras_labels[:4]
    document = json.loads(predict("--model", export_dir.model(), "--json", tmp_path / "batch.npy").stdout)
    assert [p["index"] for p in document["predictions"]] == [0, 1, 2, 3]


def test_without_labels_file_class_numbers_are_shown(export_dir: ExportDir, tmp_path: Path, pngs: list[Path]) -> None:
    shutil.copy(export_dir.model(), tmp_path / "model.tflite")
    document = json.loads(predict("--model", tmp_path / "model.tflite", "--json", pngs[0]).stdout)
    label = document["predictions"][0]["label"]
    assert label in [str(c) for c in range(NUM_CLASSES)]


def test_bad_inputs_are_reported_one_line_each_and_the_rest_classified(
    export_dir: ExportDir, pngs: list[Path], tmp_path: Path
) -> None:
    bad = bad_inputs(tmp_path)
    mixed = [pngs[0], *bad[:3], pngs[1], *bad[3:], pngs[2]]
    result = predict("--model", export_dir.model(), *mixed)
    assert result.exit_code == 1
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == [str(p) for p in pngs[:3]]
    errors = result.stderr.splitlines()
    assert [line.split(": ")[1] for line in errors] == [str(path) for path in bad]
    assert all(line.startswith("error: ") for line in errors)
    reasons = " | ".join(errors)
    for expected in ("not an image", "empty file", "truncated", "bomb", "directory", "no such file"):
        assert expected in reasons
    assert "Traceback" not in result.output


def test_bad_inputs_are_listed_in_the_json_document_too(
    export_dir: ExportDir, pngs: list[Path], tmp_path: Path
) -> None:
    result = predict("--model", export_dir.model(), "--json", pngs[0], tmp_path / "missing.png")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert len(document["predictions"]) == 1
    assert document["errors"] == [{"input": str(tmp_path / "missing.png"), "error": "no such file"}]


def test_missing_model_says_to_run_the_pipeline(tmp_path: Path, pngs: list[Path]) -> None:
    result = predict("--model", tmp_path / "nothing.tflite", pngs[0])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "dvc repro" in result.stderr and "dvc pull" in result.stderr
    assert "Traceback" not in result.output


def test_a_file_that_is_not_a_model(tmp_path: Path, pngs: list[Path]) -> None:
    (tmp_path / "model.tflite").write_text("not a flatbuffer")
    result = predict("--model", tmp_path / "model.tflite", pngs[0])
    assert result.exit_code == 1
    assert "not a usable TFLite serving model" in result.stderr and "Traceback" not in result.output


def test_labels_that_do_not_match_the_model(export_dir: ExportDir, tmp_path: Path, pngs: list[Path]) -> None:
    (tmp_path / "labels.txt").write_text("one\ntwo\n")
    result = predict("--model", export_dir.model(), "--labels", tmp_path / "labels.txt", pngs[0])
    assert result.exit_code == 1
    assert "2 class names but the model has 4 classes" in result.stderr


def test_help_documents_the_options() -> None:
    result = predict("--help")
    assert result.exit_code == 0
    for option in ("--model", "--labels", "--top-k", "--json", "INPUT..."):
        assert option in result.stdout


def test_no_input_is_a_usage_error() -> None:
    assert predict().exit_code == 2


def test_quantised_tensors_are_handled_from_their_scale_and_zero_point() -> None:
    detail = {"dtype": np.int8, "quantization": (2.0, -128)}
    np.testing.assert_array_equal(quantise(np.array([0, 2, 254, 600, -9]), detail), [-128, -127, -1, 127, -128])
    probabilities = dequantise(np.array([-128, 0, 127], np.int8), {"quantization": (1 / 256, -128)})
    np.testing.assert_allclose(probabilities, [0.0, 0.5, 255 / 256])
    plain = {"dtype": np.uint8, "quantization": (0.0, 0)}
    np.testing.assert_array_equal(quantise(np.array([0, 7, 255], np.uint8), plain), [0, 7, 255])


def test_predict_never_imports_tensorflow(export_dir: ExportDir, pngs: list[Path]) -> None:
    code = f"""
        import sys
        from mnist_pipeline.serving.predict import main
        try:
            main(["--model", {str(export_dir.model())!r}, {str(pngs[0])!r}])
        except SystemExit as exit:
            assert not exit.code, exit.code
        heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras", "scipy"))
        print("heavy modules:", heavy)
        """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(f"{pngs[0]}: ")
    assert result.stdout.splitlines()[-1] == "heavy modules: []"
    assert result.stderr == ""  # no runtime banners either
