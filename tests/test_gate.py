"""The absolute floor: the bless stage refuses a model whose test accuracy is below bless.min_accuracy.

Run directly, the refusal leaves the previous export byte for byte, and export itself
refuses a model that was not blessed. Under DVC, the experiment fails at bless with the
one-line verdict after evaluate has written its metrics, export does not run, nothing
half-built is left behind, and `dvc checkout --force` brings the earlier state back.
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
    """Lines giving the floor's verdict with both figures: the accuracy and the 1.0 threshold."""
    figures = ("blessing refused by absolute floor", f"{accuracy:.4f}", "bless.min_accuracy 1.0000")
    return [line for line in output.splitlines() if all(figure in line for figure in figures)]


@pytest.mark.slow
def test_a_model_below_the_floor_exits_1_and_export_refuses_it_too(project: Path) -> None:
    accuracy, before = exported(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["bless"]["min_accuracy"] = 1.0
    strict = project.parent / "strict-params.yaml"
    strict.write_text(yaml.safe_dump(params, sort_keys=False))

    result = run([sys.executable, "-m", "stages.bless", "--params", str(strict)], project, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.stdout}{result.stderr}"
    assert gate_message_lines(lines[0], accuracy), lines[0]
    assert json.loads((project / "metrics/bless.json").read_text())["blessed"] == 0, "the verdict is always written"

    exported_anyway = run([sys.executable, "-m", "stages.export"], project, check=False)

    assert exported_anyway.returncode == 1
    assert exported_anyway.stderr.startswith("error: metrics/bless/verdict.json: the model was not blessed (refused by")
    assert snapshot(project) == before, "the refused model changed models/export or metrics/export.json"
    assert not leftovers(project)


@pytest.mark.slow
def test_failing_floor_in_an_experiment_stops_at_bless_and_checkout_restores(project: Path) -> None:
    accuracy, before = exported(project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "first run"], project)

    result = run(["dvc", "exp", "run", "--set-param", "bless.min_accuracy=1.0"], project, check=False)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert len(gate_message_lines(output, accuracy)) == 1, output
    ran = [line for line in output.splitlines() if line.startswith("Running stage '")]
    # The floor is bless's alone: moving it must not re-run evaluate's TensorFlow inference, and export never runs.
    assert "Stage 'evaluate' didn't change, skipping" in output, output
    assert ran == ["Running stage 'bless':"], output
    assert json.loads((project / "metrics/eval.json").read_text())["accuracy"] == accuracy
    assert not leftovers(project), "a half-built export was left behind"
    assert snapshot(project) == before, "export did not run, so the previous export is untouched"

    run(["git", "checkout", "--", "params.yaml"], project)
    # The refusal's verdict is in metrics/bless/ (a cached output) and DVC never saved it, so a plain
    # checkout refuses to overwrite it: the README says to add --force after a refusal.
    refused = run(["dvc", "checkout"], project, check=False)
    assert refused.returncode != 0 and "metrics/bless/verdict.json" in refused.stderr, refused.stderr
    run(["dvc", "checkout", "--force"], project)
    restored = snapshot(project)
    assert {k: v for k, v in restored.items() if k.startswith("models/")} == {
        k: v for k, v in before.items() if k.startswith("models/")
    }, "dvc checkout did not bring back the earlier export"
    run(["dvc", "repro"], project)
    assert snapshot(project) == before
    assert "up to date" in run(["dvc", "status"], project).stdout
