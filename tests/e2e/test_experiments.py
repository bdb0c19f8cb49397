"""Experiments: two queued runs in parallel with `dvc queue start -j 2`, and a workspace `dvc exp run`.

Queued experiments run in a temporary copy of the repository that holds only the
git-tracked files, so the dataset must come from outside the repo: the `project`
fixture points `data.source` at an absolute path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.project import queue_started, run, set_params, wait_for_queue

QUEUE_TIMEOUT_S = 480
SWEEP = (16, 32)


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.mark.slow
def test_queued_experiments_run_in_parallel_and_a_workspace_experiment_reruns_only_train_onwards(project: Path) -> None:
    set_params(project, {"export": {"tflite": ["float32"]}})
    run(["dvc", "repro"], project)
    run(["git", "add", "params.yaml", "dvc.lock", "metrics"], project)
    run(["git", "commit", "-qm", "baseline"], project)

    names = []
    for units in SWEEP:
        queued = run(
            ["dvc", "exp", "run", "--queue", "-S", f"train.hidden_units={units}", "-S", "train.epochs=1"], project
        )
        match = re.search(r"Queued experiment '([^']+)'", queued.stdout + queued.stderr)
        assert match, queued.stdout + queued.stderr
        names.append(match.group(1))
    with queue_started(project, jobs=2):
        found = wait_for_queue(project, len(names), QUEUE_TIMEOUT_S)

    # `dvc exp show` lists both, each with its own params and test accuracy.
    seen = {}
    for name in names:
        data = found[name]["data"]
        train = data["params"]["params.yaml"]["data"]["train"]
        accuracy = data["metrics"]["metrics/eval/metrics.json"]["data"]["accuracy"]
        assert train["epochs"] == 1
        assert 0.0 <= accuracy <= 1.0
        seen[train["hidden_units"]] = accuracy
    assert sorted(seen) == list(SWEEP), seen
    # The queue ran in its own copies: the workspace still holds the baseline.
    assert run(["git", "status", "--porcelain"], project).stdout == ""

    # In the workspace, an experiment that changes a train param re-runs exactly the
    # stages downstream of it; download and prepare come from the cache.
    result = run(["dvc", "exp", "run", "--set-param", "train.epochs=1"], project)
    output = result.stdout + result.stderr
    assert stages_run(output) == ["train", "evaluate", "bless", "export", "report"], output
    for skipped in ("download", "prepare", "plots_template"):
        assert f"Stage '{skipped}' didn't change, skipping" in output, output
    curve = project / "metrics/train/plots/metrics/val/accuracy.tsv"
    assert len(curve.read_text().splitlines()) == 2, "a header and the one epoch"
