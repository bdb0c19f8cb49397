"""Shipping with real dvc: promote a baseline, commit it, and let experiments be blessed or refused against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mnist_pipeline.evaluation.baseline import read_baseline
from tests.conftest import run, set_params
from tests.test_gate import leftovers, snapshot

pytestmark = pytest.mark.slow

WORSE = ["-S", "train.epochs=1", "-S", "train.learning_rate=0.0002"]


def stages_run(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def promoted(project: Path) -> Path:
    """The pipeline run once (float32 TFLite only: quick), its model promoted and everything committed."""
    set_params(project, {"export": {"tflite": ["float32"]}})
    run(["dvc", "repro"], project)
    result = run([sys.executable, "-m", "mnist_pipeline.promote", "--note", "first release"], project)
    assert "is the baseline" in result.stdout
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "first release, promoted"], project)
    return project


def test_promote_refuses_a_model_the_bless_stage_did_not_bless(project: Path) -> None:
    set_params(project, {"export": {"tflite": ["float32"]}, "bless": {"min_accuracy": 1.0}})
    run(["dvc", "repro"], project, check=False)
    result = run([sys.executable, "-m", "mnist_pipeline.promote"], project, check=False)
    assert result.returncode == 1 and result.stderr.startswith("error: metrics/bless/verdict.json: this model was")
    assert read_baseline(project / "baseline") is None


def test_changing_the_baseline_reruns_bless_and_export_only(project: Path) -> None:
    promoted(project)
    baseline = read_baseline(project / "baseline")
    assert baseline is not None and baseline.origin.endswith("first release")
    model = json.loads((project / "metrics/bless/verdict.json").read_text())["candidate"]["model_sha256"]
    assert baseline.model_sha256 == model

    result = run(["dvc", "repro"], project)

    assert stages_run(result.stdout) == ["bless", "export", "report"], result.stdout
    verdict = json.loads((project / "metrics/bless/verdict.json").read_text())
    assert verdict["comparison"] == "against the baseline, image by image"
    assert json.loads((project / "metrics/bless.json").read_text()) == {"blessed": 1, "accuracy_change": 0.0}
    card = (project / "models/export/model_card.md").read_text()
    assert "## Blessing\n\n**Blessed**." in card and f"`{model[:12]}`" in card


def test_a_worse_experiment_fails_at_the_blessing_and_exp_show_has_the_blessing_columns(project: Path) -> None:
    promoted(project)
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "verdict against the baseline"], project)
    before = snapshot(project)

    refused = run(["dvc", "exp", "run", *WORSE], project, check=False)

    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    lines = [line for line in output.splitlines() if line.startswith("error: blessing refused by")]
    assert len(lines) == 1, output
    assert "accuracy change: candidate " in lines[0] and " lost, " in lines[0] and "McNemar p=" in lines[0]
    assert stages_run(refused.stdout)[-1] == "bless" and "export" not in stages_run(refused.stdout)
    assert json.loads((project / "metrics/bless.json").read_text())["blessed"] == 0
    assert "**Refused** by accuracy change" in (project / "metrics/bless/verdict.md").read_text()
    assert snapshot(project) == before, "a refused model must not touch the export"
    assert not leftovers(project)

    run(["git", "checkout", "--", "params.yaml"], project)
    blessed = run(["dvc", "exp", "run", "-S", "train.seed=7"], project)
    assert "bless: blessed: accuracy change:" in blessed.stdout
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = [exp for commit in shown for exp in commit.get("experiments") or []]
    figures = [run_["data"]["metrics"]["metrics/bless.json"]["data"] for exp in experiments for run_ in exp["revs"]]
    assert figures and set(figures[0]) == {"blessed", "accuracy_change"}, figures
    assert figures[0]["blessed"] == 1
    table = run(["dvc", "exp", "show", "--no-pager", "--md"], project).stdout
    assert all(column in table.splitlines()[0] for column in ("blessed", "accuracy_change"))


def test_the_override_ships_a_refused_model_and_says_so_in_the_model_card(project: Path) -> None:
    promoted(project)
    reason = "smaller model for the phone release"
    result = run(["dvc", "exp", "run", *WORSE, "-S", "bless.force=true", "-S", f"bless.reason={reason}"], project)
    assert "bless: shipped by override (bless.force, reason: " + reason in result.stdout
    verdict = json.loads((project / "metrics/bless/verdict.json").read_text())
    assert verdict["blessed"] and verdict["override"] == {"force": True, "reason": reason, "used": True}
    card = (project / "models/export/model_card.md").read_text()
    assert f"**Shipped by override** (`bless.force: true`), reason: {reason}." in card
    assert "| **FAIL** |" in card
