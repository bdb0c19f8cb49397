"""The quality gate: export refuses a model whose test accuracy is below evaluate.min_accuracy.

Run directly, the refused export leaves the previous one byte for byte. Under DVC, the
experiment fails at export with the gate's message after evaluate has written its
metrics, nothing half-built is left behind, and `dvc checkout` brings the earlier
export back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from mnist_pipeline.artifacts import PARTIAL_MARKER
from tests.conftest import run, set_params, tree_digests

EXPORT_OUTPUTS = ("models/export", "metrics/export.json")


def snapshot(project: Path) -> dict[str, str]:
    """SHA-256 of every file the export stage writes, by path."""
    return tree_digests(project, *EXPORT_OUTPUTS)


def leftovers(project: Path) -> list[str]:
    found = [path for folder in ("models", "metrics") for path in (project / folder).rglob(f"*{PARTIAL_MARKER}*")]
    return [str(path.relative_to(project)) for path in found]


def exported(project: Path) -> tuple[float, dict[str, str]]:
    """Run the pipeline once (float32 TFLite only: quick); return the test accuracy and the export's hashes."""
    set_params(project, {"export": {"tflite": ["float32"]}})
    run(["dvc", "repro"], project)
    accuracy = json.loads((project / "metrics/eval.json").read_text())["accuracy"]
    assert accuracy < 1.0, f"test accuracy {accuracy}: a gate at 1.0 cannot fail, make the test data harder"
    hashes = snapshot(project)
    assert any(name.startswith("models/export/") for name in hashes) and "metrics/export.json" in hashes
    return accuracy, hashes


def gate_message_lines(output: str, accuracy: float) -> list[str]:
    """Lines giving the gate's verdict with both figures: the accuracy and the 1.0 threshold."""
    figures = ("quality gate", f"{accuracy:.4f}", "1.0000")
    return [line for line in output.splitlines() if all(figure in line for figure in figures)]


@pytest.mark.slow
def test_export_below_the_gate_exits_1_and_leaves_the_previous_export(project: Path) -> None:
    accuracy, before = exported(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"]["min_accuracy"] = 1.0
    strict = project.parent / "strict-params.yaml"
    strict.write_text(yaml.safe_dump(params, sort_keys=False))

    result = run([sys.executable, "-m", "stages.export", "--params", str(strict)], project, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.stdout}{result.stderr}"
    assert gate_message_lines(lines[0], accuracy), lines[0]
    assert "evaluate.min_accuracy" in lines[0]
    assert snapshot(project) == before, "the refused export changed models/export or metrics/export.json"
    assert not leftovers(project)


@pytest.mark.slow
def test_failing_gate_in_an_experiment_stops_at_export_and_checkout_restores(project: Path) -> None:
    accuracy, before = exported(project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline run"], project)

    result = run(["dvc", "exp", "run", "--set-param", "evaluate.min_accuracy=1.0"], project, check=False)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert gate_message_lines(output, accuracy), output
    # The gate is export's alone: moving it must not re-run evaluate's TensorFlow inference.
    assert "Stage 'evaluate' didn't change, skipping" in output and "Running stage 'export'" in output, output
    assert json.loads((project / "metrics/eval.json").read_text())["accuracy"] == accuracy
    assert not leftovers(project), "a half-built export was left behind"
    # DVC removes a stage's outputs before running it, so the refused export is gone (or, were
    # the outputs `persist`ed, untouched): either way nothing of a refused model is left.
    remaining = snapshot(project)
    assert not remaining or remaining == before, sorted(remaining)

    run(["git", "checkout", "--", "params.yaml"], project)
    run(["dvc", "checkout"], project)
    restored = snapshot(project)
    assert {k: v for k, v in restored.items() if k.startswith("models/")} == {
        k: v for k, v in before.items() if k.startswith("models/")
    }, "dvc checkout did not bring back the earlier export"
    run(["dvc", "repro"], project)
    assert snapshot(project) == before
    assert "up to date" in run(["dvc", "status"], project).stdout
