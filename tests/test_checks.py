"""The output checks catch what a stage could get wrong while still "succeeding".

Each bad case must fail with exactly one line that names the file at fault; the good
cases (data and a small real export built here) must pass.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mnist_pipeline.artifacts import load_array, save_array, sha256_of, write_bytes, write_json
from mnist_pipeline.checks import check_blessing, check_export, check_metrics, check_prepared, main
from mnist_pipeline.data.datasets import FILES, LABELS_FILE
from mnist_pipeline.data.idx import write_idx_gz
from mnist_pipeline.data.labels import write_labels
from mnist_pipeline.data.prepared import MANIFEST_FILE
from mnist_pipeline.data.raw import Split
from mnist_pipeline.evaluation.blessing import Evaluation, decide
from mnist_pipeline.evaluation.blessing import headline as verdict_headline
from mnist_pipeline.evaluation.plots import PER_CLASS_FILE, per_class_csv
from mnist_pipeline.export.model_card import model_card
from mnist_pipeline.export.record import EXPORTS_FILE, GATE, headline
from mnist_pipeline.params import Params, load_params
from tests.support.project import ROOT, set_params, synthetic_digits
from tests.support.serving_fixtures import LABELS, TinySetup, tiny_setup  # noqa: F401 (a fixture)

NAMES = [f"c{i}" for i in range(10)]
RAW, PREPARED = "data/raw/custom", "data/prepared"
MANIFEST = f"{PREPARED}/{MANIFEST_FILE}"
VAL = 40  # the last raw training images become the val split


def params_with(folder: Path, overrides: dict[str, dict[str, object]]) -> Params:
    """The project's params with `overrides`: what a test relies on is set here, not read from the workspace."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    set_params(folder, overrides)
    return load_params(folder / "params.yaml")


def one_problem(problems: list[str], *expected: str) -> str:
    """The single problem found, which must be one line and mention each of `expected`."""
    assert len(problems) == 1, problems
    assert "\n" not in problems[0], problems[0]
    for text in expected:
        assert text in problems[0], problems[0]
    return problems[0]


# --------------------------------------------------------------------------- prepared data


def copy_train_image_into_test(images: np.ndarray, train_images: np.ndarray) -> np.ndarray:
    copied = images.copy()
    copied[7] = train_images[3]
    return copied


def write_data(root: Path, train: Split, test: Split, names: Sequence[str], leak: bool = False) -> None:
    """data/raw/custom and data/prepared (with its manifest) under `root`, laid out as the pipeline writes them;
    `leak` copies a train image into the prepared test split."""
    raw_dir = root / RAW
    hashes = {}
    for filename, array in zip(FILES, (train.images, train.labels, test.images, test.labels)):
        write_bytes(raw_dir / filename, write_idx_gz(array))
        hashes[filename] = hashlib.sha256(gzip.decompress((raw_dir / filename).read_bytes())).hexdigest()
    write_labels(raw_dir / LABELS_FILE, names)
    splits = {
        "train": (train.images[:-VAL], train.labels[:-VAL]),
        "val": (train.images[-VAL:], train.labels[-VAL:]),
        "test": (copy_train_image_into_test(test.images, train.images) if leak else test.images, test.labels),
    }
    for split, (images, labels) in splits.items():
        save_array(root / PREPARED / f"x_{split}.npy", images)
        save_array(root / PREPARED / f"y_{split}.npy", labels.astype(np.int32))
    write_labels(root / PREPARED / LABELS_FILE, names)
    counts = {split: len(labels) for split, (_, labels) in splits.items()}
    write_json(root / MANIFEST, {"counts": counts, "sha256": hashes})


def prepare(root: Path, leak: bool = False, raw_duplicate: bool = False) -> Path:
    """Generated data as the pipeline lays it out; `raw_duplicate` puts a train image in the raw test file too
    (a duplicate the dataset itself holds). Returns the prepared folder."""
    train, test = Split(*synthetic_digits(240, seed=1)), Split(*synthetic_digits(60, seed=2))
    if raw_duplicate:
        test = Split(copy_train_image_into_test(test.images, train.images), test.labels)
    write_data(root, train, test, NAMES, leak)
    return root / PREPARED


def check_data(root: Path) -> list[str]:
    return check_prepared(root / PREPARED, root / RAW, "custom")


def test_clean_prepared_data_passes(tmp_path: Path) -> None:
    prepare(tmp_path)
    assert check_data(tmp_path) == []


def test_one_test_image_leaked_into_train_is_caught(tmp_path: Path) -> None:
    folder = prepare(tmp_path, leak=True)
    one_problem(
        check_data(tmp_path),
        f"{folder / 'x_test.npy'}: 1 of its images also occur in train or val, more than the 0 the raw files share",
    )


def test_duplicates_already_in_the_raw_files_are_not_a_leak(tmp_path: Path) -> None:
    """A dataset may hold the same image in train and test; prepare did not put it there."""
    prepare(tmp_path, raw_duplicate=True)
    assert check_data(tmp_path) == []


def test_a_val_image_the_raw_training_file_already_repeats_is_not_a_leak(tmp_path: Path) -> None:
    images, labels = synthetic_digits(240, seed=1)
    images[-1] = images[0]  # the last image goes to val, the first to train
    write_data(tmp_path, Split(images, labels), Split(*synthetic_digits(60, seed=2)), NAMES)
    assert check_data(tmp_path) == []


def test_val_image_copied_from_train_is_caught(tmp_path: Path) -> None:
    folder = prepare(tmp_path)
    x_val = load_array(folder / "x_val.npy").copy()
    x_val[0] = load_array(folder / "x_train.npy")[0]
    save_array(folder / "x_val.npy", x_val)
    one_problem(check_data(tmp_path), str(folder / "x_val.npy"), "leak")


def test_float_images_are_caught(tmp_path: Path) -> None:
    """Prepared images are uint8 pixels; floats (a prepared folder from before they were) must not pass."""
    folder = prepare(tmp_path)
    save_array(folder / "x_test.npy", load_array(folder / "x_test.npy").astype(np.float32) / 255)
    one_problem(check_data(tmp_path), f"{folder / 'x_test.npy'}: dtypes float32/int32, expected uint8/int32")


def test_a_count_that_disagrees_with_the_manifest_is_caught(tmp_path: Path) -> None:
    folder = prepare(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["counts"]["test"] += 1
    write_json(tmp_path / MANIFEST, manifest)
    one_problem(
        check_data(tmp_path),
        f"{tmp_path / MANIFEST}: says test has 61 examples, {folder / 'x_test.npy'} holds 60",
    )


def test_a_manifest_naming_other_raw_files_is_caught(tmp_path: Path) -> None:
    prepare(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["sha256"][FILES[2]] = "0" * 64
    write_json(tmp_path / MANIFEST, manifest)
    one_problem(check_data(tmp_path), f"{tmp_path / MANIFEST}: raw file hashes", "differ from")


# --------------------------------------------------------------------------- metrics


def metrics_dir(folder: Path, accuracy: float, classes: int = 10) -> Path:
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "metrics.json").write_text(json.dumps({"val": {"loss": 0.3, "accuracy": accuracy}, "step": 2}))
    (folder / "eval").mkdir()
    (folder / "eval" / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "loss": 0.3}))
    per_class = {f"c{i}": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 10} for i in range(classes)}
    (folder / "eval" / PER_CLASS_FILE).write_text(per_class_csv(per_class))
    return folder


def test_metrics_at_chance_level_are_caught(tmp_path: Path) -> None:
    assert check_metrics(metrics_dir(tmp_path / "good", 0.9), 10) == []
    problems = check_metrics(metrics_dir(tmp_path / "bad", 0.1), 10)
    assert len(problems) == 2 and all("not better than chance" in p for p in problems)


def test_a_per_class_table_missing_a_class_is_caught(tmp_path: Path) -> None:
    one_problem(check_metrics(metrics_dir(tmp_path, 0.9, classes=9), 10), f"{PER_CLASS_FILE}: 9 classes, expected 10")


# --------------------------------------------------------------------------- exports


@pytest.mark.parametrize("rate", [0.5, 0.88, 0.99, 0.9995])
def test_tolerance_covers_sampling_noise_without_hiding_a_real_difference(rate: float) -> None:
    """Draw many samples as the checks do: almost none may stray beyond the tolerance, and it is not loose."""
    from mnist_pipeline.export.scoring import SLACK_IMAGES, tolerance

    population, size = 10_000, 2_000
    outcomes = np.arange(population) < round(rate * population)  # exactly `rate` of them right
    rng = np.random.default_rng(0)
    deviations = np.array([abs(outcomes[rng.permutation(population)[:size]].mean() - rate) for _ in range(2_000)])
    allowed = tolerance(rate, size, population)
    assert np.mean(deviations > allowed) <= 0.001
    assert allowed <= 2.0 * np.quantile(deviations, 0.999) + SLACK_IMAGES / size
    assert tolerance(rate, population, population) == SLACK_IMAGES / population  # the whole split: no sampling


def test_the_sample_is_fixed_distinct_and_the_whole_split_when_small() -> None:
    from mnist_pipeline.export.scoring import sample_indices

    chosen = sample_indices(10_000, size=2_000)
    assert len(np.unique(chosen)) == 2_000 and np.array_equal(chosen, sample_indices(10_000, size=2_000))
    assert chosen.min() < 1_000 and chosen.max() >= 9_000  # spread over the split, not its first images
    assert np.array_equal(sample_indices(300, size=2_000), np.arange(300))


@pytest.fixture(scope="module")
def export_params(tmp_path_factory: pytest.TempPathFactory) -> Params:
    overrides = {"export": {"tflite": ["float32", "dynamic", "int8"], "min_agreement": 0.999, "max_int8_drop": 0.05}}
    return params_with(tmp_path_factory.mktemp("params"), overrides)


@pytest.fixture(scope="module")
def good_export(tiny_setup: TinySetup, export_params: Params, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/export (with its report, exports.json) and metrics/export.json as the export stage writes them."""
    from mnist_pipeline.export.build import save_saved_model
    from mnist_pipeline.export.layout import exported_models
    from mnist_pipeline.export.verify import verify_exports

    root = tmp_path_factory.mktemp("good")
    export_dir = root / "export"
    save_saved_model(tiny_setup.model, export_dir / "saved_model")
    for flavour, content in tiny_setup.tflite.items():
        (export_dir / f"model_{flavour}.tflite").write_bytes(content)
    write_labels(export_dir / LABELS_FILE, LABELS)
    (export_dir / "model_card.md").write_text("# Model card\n")
    reference = tiny_setup.keras_probabilities(tiny_setup.x_test).argmax(axis=-1)
    exports = exported_models(export_params.export.tflite)
    claims = verify_exports(exports, export_dir, tiny_setup.x_test, tiny_setup.y_test, reference, export_params.export)
    write_json(export_dir / EXPORTS_FILE, claims)
    write_json(root / "export.json", headline(claims))
    return root


@pytest.fixture(scope="module")
def sample(tiny_setup: TinySetup):
    """Half of the tiny test split, drawn as the checks draw theirs."""
    from mnist_pipeline.export.scoring import Sample, sample_indices

    chosen = sample_indices(len(tiny_setup.y_test), size=len(tiny_setup.y_test) // 2)
    pixels = tiny_setup.x_test[chosen]
    reference = tiny_setup.keras_probabilities(pixels).argmax(axis=-1)
    return Sample(pixels, tiny_setup.y_test[chosen], reference, len(tiny_setup.y_test))


def broken_copy(good: Path, target: Path) -> Path:
    shutil.copytree(good, target)
    return target


def run_check(root: Path, sample, params: Params) -> list[str]:
    return check_export(root / "export", root / "export.json", sample, len(LABELS), params.export)


@pytest.mark.slow
def test_a_real_export_passes(good_export: Path, sample, export_params: Params) -> None:
    assert run_check(good_export, sample, export_params) == []


@pytest.mark.slow
def test_a_truncated_tflite_file_is_caught(good_export: Path, sample, export_params: Params, tmp_path: Path) -> None:
    root = broken_copy(good_export, tmp_path / "root")
    model = root / "export" / "model_int8.tflite"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    one_problem(run_check(root, sample, export_params), f"{model}: cannot be loaded and run")


@pytest.mark.slow
def test_a_saved_model_of_another_model_is_caught(
    good_export: Path, sample, export_params: Params, tiny_setup: TinySetup, tmp_path: Path
) -> None:
    from mnist_pipeline.export.build import save_saved_model
    from mnist_pipeline.model.quiet_tensorflow import keras

    root = broken_copy(good_export, tmp_path / "root")
    keras.utils.set_random_seed(7)
    other = keras.models.clone_model(tiny_setup.model)  # same architecture, fresh weights
    shutil.rmtree(root / "export" / "saved_model")
    save_saved_model(other, root / "export" / "saved_model")
    problems = run_check(root, sample, export_params)
    assert problems and all(p.startswith(f"{root / 'export' / 'saved_model'}: ") for p in problems), problems
    assert any("agreement" in p and "a different or broken model" in p for p in problems), problems


@pytest.mark.slow
def test_a_claim_the_model_does_not_meet_is_caught(
    good_export: Path, sample, export_params: Params, tmp_path: Path
) -> None:
    root = broken_copy(good_export, tmp_path / "root")
    report = root / "export" / EXPORTS_FILE
    claims = json.loads(report.read_text())
    claims["tflite_float32"]["accuracy"] = round(claims["tflite_float32"]["accuracy"] - 0.2, 6)
    write_json(report, claims)
    one_problem(run_check(root, sample, export_params), "model_float32.tflite: accuracy", str(report))


@pytest.mark.slow
def test_claims_below_the_export_rules_are_caught(
    good_export: Path, sample, export_params: Params, tmp_path: Path
) -> None:
    strict = params_with(tmp_path / "params", {"export": {"max_int8_drop": 0.0, "min_agreement": 1.0}})
    root = broken_copy(good_export, tmp_path / "root")
    report = root / "export" / EXPORTS_FILE
    claims = json.loads(report.read_text())
    claims["tflite_int8"]["accuracy_drop"] = 0.01
    write_json(report, claims)
    write_json(root / "export.json", headline(claims))
    one_problem(run_check(root, sample, strict), str(report), "tflite_int8: accuracy drop 0.0100")


@pytest.mark.slow
def test_headline_metrics_that_are_not_the_reports_are_caught(
    good_export: Path, sample, export_params: Params, tmp_path: Path
) -> None:
    root = broken_copy(good_export, tmp_path / "root")
    shown = {**json.loads((root / "export.json").read_text()), "agreement": 0.5}
    write_json(root / "export.json", shown)
    one_problem(run_check(root, sample, export_params), f"{root / 'export.json'}: {shown} is not the headline of")


@pytest.mark.slow
def test_labels_that_do_not_match_the_model_are_caught(
    good_export: Path, sample, export_params: Params, tmp_path: Path
) -> None:
    root = broken_copy(good_export, tmp_path / "root")
    write_labels(root / "export" / LABELS_FILE, LABELS[:-1])
    one_problem(run_check(root, sample, export_params), f"{root / 'export' / LABELS_FILE}: 3 class names")


# --------------------------------------------------------------------------- blessing: the gate where a model ships


def judged(folder: Path, min_accuracy: float, force: bool = False) -> tuple[Path, Path, Path]:
    """A model file, and the verdict (with its headline) that the bless stage writes about it."""
    model = folder / "model.keras"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(b"weights")
    labels = np.arange(100) % 10
    candidate = Evaluation(
        labels,
        np.where(np.arange(100) < 20, (labels + 1) % 10, labels),
        tuple("0123456789"),
        model_sha256=sha256_of([model]),
        test_data_sha256="d" * 64,
    )
    params = load_params(ROOT / "params.yaml").bless.model_copy(
        update={"min_accuracy": min_accuracy, "override": "demo" if force else ""}
    )
    verdict = decide(candidate, None, params)
    write_json(folder / "bless" / "verdict.json", verdict)
    write_json(folder / "bless" / "metrics.json", verdict_headline(verdict))
    return folder / "bless" / "verdict.json", folder / "bless" / "metrics.json", model


def test_a_blessed_model_passes_the_gate(tmp_path: Path) -> None:
    assert check_blessing(*judged(tmp_path, min_accuracy=0.5)) == []


def test_a_refused_model_fails_the_gate_in_one_line_saying_why_and_how(tmp_path: Path) -> None:
    verdict, _, _ = judged(tmp_path, min_accuracy=0.9)
    problems = check_blessing(*judged(tmp_path, min_accuracy=0.9))
    assert len(problems) == 1 and "\n" not in problems[0], problems
    assert problems[0].startswith(f"{verdict}: refused by absolute floor: test accuracy 0.8000 is below")
    assert "dvc exp run -S \"bless.override='<why it ships anyway>'\"" in problems[0]


def test_a_refused_model_shipped_by_a_recorded_override_passes_the_gate(tmp_path: Path) -> None:
    verdict, shown, model = judged(tmp_path, min_accuracy=0.9, force=True)
    assert json.loads(shown.read_text()) == {"blessed": 0, "override": 1}
    assert check_blessing(verdict, shown, model) == []


def test_a_verdict_about_another_model_or_another_headline_fails_the_gate(tmp_path: Path) -> None:
    verdict, shown, model = judged(tmp_path, min_accuracy=0.5)
    model.write_bytes(b"retrained weights")
    write_json(shown, {"blessed": 1, "override": 1})
    problems = check_blessing(verdict, shown, model)
    assert len(problems) == 2 and "is about another model than" in problems[0], problems
    assert "is not the headline of" in problems[1]


@pytest.mark.slow
def test_the_command_passes_a_good_run_and_fails_a_broken_one_line_per_problem(
    tiny_setup: TinySetup, good_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m mnist_pipeline.checks` in a project holding every output of a (tiny) run."""
    from mnist_pipeline.model.architectures import save_model

    overrides = {"data": {"dataset": "custom", "source": str(tmp_path)}, "export": {"max_int8_drop": 0.05}}
    params_with(tmp_path, overrides)
    write_data(
        tmp_path, Split(tiny_setup.x_train, tiny_setup.y_train), Split(tiny_setup.x_test, tiny_setup.y_test), LABELS
    )
    save_model(tiny_setup.model, tmp_path / "models" / "model.keras")
    shutil.copytree(good_export / "export", tmp_path / "models" / "export")
    metrics_dir(tmp_path / "metrics", 0.9, classes=len(LABELS))
    (tmp_path / "metrics" / "export").mkdir()
    shutil.copy(good_export / "export.json", tmp_path / "metrics" / "export" / "metrics.json")
    verdict, shown, _ = judged(tmp_path / "verdict", min_accuracy=0.5)
    shutil.copytree(verdict.parent, tmp_path / "metrics" / "bless")
    candidate = json.loads(verdict.read_text())
    candidate["candidate"]["model_sha256"] = sha256_of([tmp_path / "models" / "model.keras"])
    write_json(tmp_path / "metrics" / "bless" / "verdict.json", candidate)
    monkeypatch.chdir(tmp_path)
    good = CliRunner().invoke(main, [])
    assert good.exit_code == 0 and good.output.count("ok  ") == 5, good.output

    model = Path("models/export/model_dynamic.tflite")
    model.write_bytes(model.read_bytes()[:1000])
    broken = CliRunner().invoke(main, [])
    assert broken.exit_code == 1
    assert broken.output.splitlines() == [
        "ok   prepared data",
        "ok   model",
        "ok   metrics",
        "ok   blessing",
        "FAIL export",
        f"     - {model}: cannot be loaded and run (The model is not a valid Flatbuffer buffer)",
    ]


def test_model_card_states_data_params_metrics_and_blessing(tmp_path: Path) -> None:
    passed_accuracy = 0.9731
    params = params_with(tmp_path, {"train": {"model": "mlp", "epochs": 7}, "data": {"seed": 123}})
    labels = np.arange(10_000) % 2
    predicted = np.where(np.arange(10_000) < 269, 1 - labels, labels)
    candidate = Evaluation(labels, predicted, ("0", "1"), model_sha256="f" * 64, test_data_sha256="d" * 64)
    floor = params.bless.model_copy(update={"min_accuracy": 0.9, "override": ""})
    data = {"dataset": "mnist", "num_classes": 2, "image_shape": [28, 28], "counts": {"train": 9, "val": 1, "test": 5}}
    evaluation = {"accuracy": passed_accuracy, "loss": 0.1}
    per_class = {
        "0": {"precision": 1.0, "recall": 0.95, "f1": 0.97, "support": 3},
        "1": {"precision": 0.9, "recall": 1.0, "f1": 0.95, "support": 2},
    }
    exports = {
        "tflite_int8": {"size_bytes": 1234, "accuracy": 0.97, "agreement": 0.995, "accuracy_drop": 0.0031},
    }
    confusion = np.array([[3, 0], [1, 1]])
    card = model_card(params, data, evaluation, per_class, confusion, {**exports, GATE: decide(candidate, None, floor)})
    assert card.startswith("# Model card: mlp on mnist")
    for expected in (
        "train 9, val 1, test 5",
        "seed 123",
        "| train.epochs | 7 |",
        "Accuracy **0.9731**, loss 0.1000, macro F1 0.9600.",
        "| 0 | 1.0000 | 0.9500 | 0.9700 | 3 |",
        "| 1 | 0.9000 | 1.0000 | 0.9500 | 2 |",
        "| actual \\ predicted | 0 | 1 |\n|---|---|---|\n| 0 0 | 3 | 0 |\n| 1 1 | 1 | 1 |",
        "## Blessing\n\n**Blessed**.\n\nComparison: no baseline yet",
        "| absolute floor | accuracy < 0.9000 (`bless.min_accuracy`) | 0.9731 |",
        "| tflite_int8 | 1234 | 0.9700 | 0.9950 | +0.0031 |",
    ):
        assert expected in card, expected
