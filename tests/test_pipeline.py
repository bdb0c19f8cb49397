"""End to end: the real `dvc` commands on a temporary git copy of the project and a small learnable dataset."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, copy_project, run, set_params, tree_digests

pytestmark = pytest.mark.slow

STAGES = ("download", "prepare", "train", "evaluate", "bless", "export", "plots_template", "report")
OUTPUTS = ("data/raw", "data/prepared", "models", "metrics")


def stages_run(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory, dataset_dir: Path) -> Path:
    """One full `dvc repro`, shared (read-only) by the tests below; they copy it to change it."""
    project = copy_project(
        tmp_path_factory.mktemp("pipeline") / "project",
        {
            "data": {"dataset": "custom", "source": str(dataset_dir)},
            "train": {"epochs": 2},
            "export": {"representative_samples": 50},
        },
    )
    result = run(["dvc", "repro"], project)
    assert stages_run(result.stdout) == list(STAGES)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "first run"], project)
    return project


@pytest.fixture
def workspace(reproduced: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced project (git history, DVC cache and all)."""
    target = tmp_path / "project"
    shutil.copytree(reproduced, target, symlinks=True)
    return target


def test_repro_writes_every_artifact_and_learns(reproduced: Path) -> None:
    evaluation = json.loads((reproduced / "metrics/eval/metrics.json").read_text())
    assert evaluation["accuracy"] > 0.9, evaluation
    data = json.loads((reproduced / "data/prepared/manifest.json").read_text())
    assert data["counts"] == {"train": 1080, "val": 120, "test": 300}
    assert data["sha256"] == json.loads((reproduced / "data/raw/custom/content-sha256.json").read_text())
    exports = json.loads((reproduced / "models/export/exports.json").read_text())
    assert exports["saved_model"]["agreement"] >= 0.999
    assert exports["tflite_float32"]["agreement"] >= 0.999
    assert exports["tflite_int8"]["accuracy_drop"] <= 0.005
    assert json.loads((reproduced / "metrics/export/metrics.json").read_text()) == {
        "int8_drop": exports["tflite_int8"]["accuracy_drop"],
        "tflite_kb": round(exports["tflite_float32"]["size_bytes"] / 1024, 1),
    }
    for name in (
        "saved_model/saved_model.pb",
        "model_float32.tflite",
        "model_int8.tflite",
        "labels.txt",
        "model_card.md",
    ):
        assert (reproduced / "models/export" / name).is_file(), name
    checks = run(["python", "-m", "mnist_pipeline.checks"], reproduced)
    assert checks.stdout.count("ok  ") == 5 and "FAIL" not in checks.stdout, checks.stdout


def leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    """Flatten nested metrics the way DVC names its columns (`val.loss`)."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        flat |= leaves(value, f"{name}.") if isinstance(value, dict) else {name: value}
    return flat


def test_metrics_show_is_a_short_table_of_numbers(reproduced: Path) -> None:
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], reproduced).stdout)
    files = {path: result["data"] for path, result in next(iter(shown.values()))["data"].items()}
    assert list(files) == [
        "metrics/eval/metrics.json",
        "metrics/train/metrics.json",
        "metrics/bless/metrics.json",
        "metrics/export/metrics.json",
    ]
    assert list(files["metrics/eval/metrics.json"]) == ["accuracy", "loss"]
    assert files["metrics/eval/metrics.json"]["accuracy"] > 0.9
    columns = {name: value for figures in files.values() for name, value in leaves(figures).items()}
    assert len(columns) <= 9, sorted(columns)
    assert all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in columns.values()), columns
    table = run(["dvc", "metrics", "show"], reproduced).stdout.splitlines()
    assert len(table) == 5 and max(len(line) for line in table) <= 120, table


def test_noop_repro_runs_nothing(reproduced: Path) -> None:
    result = run(["dvc", "repro"], reproduced)
    assert stages_run(result.stdout) == []
    assert run(["dvc", "status"], reproduced).stdout.strip().endswith("up to date.")


def test_experiment_reruns_exactly_train_evaluate_bless_export_report(workspace: Path) -> None:
    result = run(["dvc", "exp", "run", "--set-param", "train.epochs=1"], workspace)
    assert stages_run(result.stdout) == ["train", "evaluate", "bless", "export", "report"]
    curve = (workspace / "metrics/train/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in curve] == ["step", "1"], "one epoch, as set"
    header = run(["dvc", "exp", "show", "--csv"], workspace).stdout.splitlines()[0].split(",")
    assert header[:7] == ["Experiment", "rev", "typ", "Created", "parent", "accuracy", "loss"], header


def test_going_back_to_earlier_params_runs_no_stage(workspace: Path) -> None:
    """Every stage, evaluate included, comes back from the run cache with the outputs it wrote."""
    first = tree_digests(workspace, *OUTPUTS)
    set_params(workspace, {"train": {"epochs": 1}})
    assert stages_run(run(["dvc", "repro"], workspace).stdout) == ["train", "evaluate", "bless", "export", "report"]
    second = tree_digests(workspace, *OUTPUTS)
    assert second != first
    set_params(workspace, {"train": {"epochs": 2}})
    back = run(["dvc", "repro"], workspace)
    assert stages_run(back.stdout) == [], back.stdout
    for stage in ("train", "evaluate", "bless", "export", "report"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in back.stdout, back.stdout
    assert tree_digests(workspace, *OUTPUTS) == first
    set_params(workspace, {"train": {"epochs": 1}})
    assert stages_run(run(["dvc", "repro"], workspace).stdout) == []
    assert tree_digests(workspace, *OUTPUTS) == second


def test_same_params_give_identical_bytes(workspace: Path) -> None:
    """Bit-for-bit reproducibility on CPU: data, weights, metrics and exports."""
    before = tree_digests(workspace, *OUTPUTS)
    run(["dvc", "repro", "--force"], workspace)
    after = tree_digests(workspace, *OUTPUTS)
    changed = sorted(path for path in before if before[path] != after.get(path))
    assert not changed
    assert before.keys() == after.keys()


def test_bad_param_fails_then_run_cache_restores_outputs(workspace: Path) -> None:
    before = tree_digests(workspace, "models", "metrics")
    set_params(workspace, {"train": {"epochs": 0}})
    failed = run(["dvc", "repro"], workspace, check=False)
    assert failed.returncode != 0
    assert "train.epochs = 0 is out of range" in failed.stderr + failed.stdout
    assert "Traceback" not in failed.stderr + failed.stdout
    set_params(workspace, {"train": {"epochs": 2}})
    fixed = run(["dvc", "repro"], workspace)
    assert stages_run(fixed.stdout) == [], fixed.stdout
    assert tree_digests(workspace, "models", "metrics") == before


def test_typo_in_set_param_is_rejected(workspace: Path) -> None:
    """DVC itself refuses `train.epoch=3`; its append syntax `+train.epoch=3` reaches our validation."""
    refused = run(["dvc", "exp", "run", "--set-param", "train.epoch=3"], workspace, check=False)
    assert refused.returncode != 0
    failed = run(["dvc", "exp", "run", "--set-param", "+train.epoch=3"], workspace, check=False)
    assert failed.returncode != 0
    assert "unknown key train.epoch (did you mean train.epochs?)" in failed.stderr + failed.stdout
    assert stages_run(failed.stdout) == ["train"]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _lock(project: Path) -> dict:
    return yaml.safe_load((project / "dvc.lock").read_text())


def test_killed_training_commits_nothing_and_recovers(workspace: Path) -> None:
    """SIGKILL `dvc repro` in the middle of training; the last good state survives."""
    set_params(workspace, {"train": {"epochs": 200}})
    lock_before = (workspace / "dvc.lock").read_bytes()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        ["dvc", "repro"],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = ""
    deadline = time.monotonic() + 180
    while "epoch 2:" not in seen and time.monotonic() < deadline and process.poll() is None:
        seen += process.stdout.readline()
    assert "epoch 2:" in seen, seen
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    assert (workspace / "dvc.lock").read_bytes() == lock_before
    model = workspace / "models/model.keras"
    assert not model.exists() or _md5(model) == _lock(workspace)["stages"]["train"]["outs"][0]["md5"]
    status = run(["dvc", "status"], workspace).stdout
    assert "train:" in status
    set_params(workspace, {"train": {"epochs": 2}})
    run(["git", "checkout", "--", "metrics"], workspace)  # the metrics files are small and live in git (cache: false)
    run(["dvc", "checkout", "--force"], workspace)
    assert run(["dvc", "status"], workspace).stdout.strip().endswith("up to date.")
    resumed = run(["dvc", "repro"], workspace)
    assert stages_run(resumed.stdout) == []
