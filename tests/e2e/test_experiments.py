"""Experiments: two queued runs in parallel with `dvc queue start -j 2`, and a workspace `dvc exp run`.

Queued experiments run in a temporary copy of the repository that holds only the
git-tracked files, so the dataset must come from outside the repo: the `project`
fixture points `data.source` at an absolute path.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import project as project_support
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


QUEUE_STATUS = """Task     Name        Created    Status
a6646c1  crash-aura  02:15 PM   Success
c9a7422  dowdy-ruby  02:15 PM   {second}

Worker status: 0 active, 0 idle
"""


def fake_dvc(second: str) -> Callable[..., subprocess.CompletedProcess]:
    """`run` for wait_for_queue: `dvc queue status` shows two experiments, the second in state `second`."""

    def fake(args: list[str], cwd: Path, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess:
        outputs = {
            "status": QUEUE_STATUS.format(second=second),
            "logs": f"log of {args[-1]}",
            "show": json.dumps([{"experiments": [{"name": "crash-aura"}, {"name": "dowdy-ruby"}]}]),
        }
        return subprocess.CompletedProcess(args, 0, outputs[args[2]], "")

    return fake


def test_the_queue_wait_reads_queue_status_and_fails_on_a_failed_or_unfinished_experiment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert project_support.parse_queue_status(QUEUE_STATUS.format(second="Running")) == {
        "crash-aura": "Success",
        "dowdy-ruby": "Running",
    }
    monkeypatch.setattr(project_support, "run", fake_dvc("Success"))
    assert set(wait_for_queue(tmp_path, 2, timeout=1, poll=0)) == {"crash-aura", "dowdy-ruby"}

    monkeypatch.setattr(project_support, "run", fake_dvc("Failed"))
    with pytest.raises(AssertionError, match="log of dowdy-ruby"):
        wait_for_queue(tmp_path, 2, timeout=1, poll=0)
    monkeypatch.setattr(project_support, "run", fake_dvc("Running"))
    with pytest.raises(AssertionError, match="did not all succeed within 0 s.*'dowdy-ruby': 'Running'"):
        wait_for_queue(tmp_path, 2, timeout=0.2, poll=0.05)
    with pytest.raises(AssertionError, match="did not all succeed"):
        wait_for_queue(tmp_path, 3, timeout=0.2, poll=0.05)  # one experiment never shows up
