"""The workbench, with real dvc: every experiment finishes and reads, and the gate sits where a model ships.

A refused model is a result: `dvc repro`, `dvc exp run` and queued sweeps complete with
`blessed 0` in the headline, the export marked not blessed. The checks command (what CI
runs) and promote are the gate. `dvc exp show` fits a terminal, and the README's way back
after a refused, failed or abandoned run restores the last commit with no stage run.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnist_pipeline import paths
from mnist_pipeline.evaluation.baseline import read_baseline
from tests.support.project import BIN, ROOT, queue_started, run, set_params, tree_digests, wait_for_queue

pytestmark = pytest.mark.slow

WORSE = ["-S", "train.epochs=1", "-S", "train.learning_rate=0.0002"]
# The README's compare command and its way back, word for word (test_readme_shows_these_commands).
COMPARE = "dvc exp show --only-changed --keep 'Experiment|accuracy$|loss$|blessed' --drop '[^.]*$|.*/|val\\.'"
WAY_BACK = "git restore params.yaml dvc.lock metrics && dvc checkout --force"
QUEUE_TIMEOUT_S = 600


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def metric(data: dict, file: Path, key: str) -> float | None:
    """One value of a metrics file in an experiment's `dvc exp show --json` data."""
    return ((data.get("metrics") or {}).get(file.as_posix()) or {}).get("data", {}).get(key)


def headline(project: Path, folder: Path) -> dict:
    return json.loads((project / paths.headline(folder)).read_text())


def promoted(project: Path) -> Path:
    """The pipeline run once (float32 TFLite only: quick), its model promoted and everything committed."""
    set_params(project, {"export": {"tflite": ["float32"]}})
    run(["dvc", "repro"], project)
    result = run([sys.executable, "-m", "mnist_pipeline.promote", "--note", "first release"], project)
    assert "is the baseline" in result.stdout
    run(["dvc", "repro"], project)  # bless again, now against the baseline
    commit(project, "first release, promoted")
    return project


def commit(project: Path, message: str) -> None:
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", message], project)


def checks(project: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "mnist_pipeline.checks"], project, check=False)


def in_terminal(command: str, cwd: Path, columns: int = 120) -> str:
    """What `command` shows in a terminal `columns` wide (a pseudo-terminal: rich sizes tables only for one)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COLUMNS": str(columns), "TERM": "dumb"}
    env["LINES"] = "50"
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode()).replace("\r", "")


def test_a_refused_experiment_completes_is_exported_marked_not_blessed_and_fails_the_checks(project: Path) -> None:
    promoted(project)

    refused = run(["dvc", "exp", "run", *WORSE], project)

    assert stages_run(refused.stdout)[-3:] == ["bless", "export", "report"], refused.stdout
    assert "bless: recorded, not shipped" in refused.stdout
    figures = headline(project, paths.BLESS)
    assert figures["blessed"] == 0 and figures["accuracy_change"] < 0 and "override" not in figures
    exports = json.loads((project / paths.EXPORT / "exports.json").read_text())
    assert exports["gate"]["blessed"] is False
    assert "**Refused** by accuracy change" in (project / paths.EXPORT / "model_card.md").read_text()

    gate = checks(project)

    assert gate.returncode == 1, gate.stdout
    failing = [line for line in gate.stdout.splitlines() if line.startswith("     - metrics/bless/verdict.json")]
    assert len(failing) == 1 and "refused by accuracy change" in failing[0] and "bless.override=" in failing[0]
    assert "FAIL blessing" in gate.stdout and "ok   export" in gate.stdout

    promote = run([sys.executable, "-m", "mnist_pipeline.promote"], project, check=False)
    assert promote.returncode == 1 and "only a blessed model" in promote.stderr
    assert read_baseline(project / paths.BASELINE).origin.endswith("first release")


def test_an_override_keeps_blessed_0_adds_override_1_and_passes_the_checks(project: Path) -> None:
    promoted(project)
    reason = "smaller model for the phone release; accuracy drop accepted"

    result = run(["dvc", "exp", "run", *WORSE, "-S", f"bless.override='{reason}'"], project)  # as the checks say

    assert "bless: shipped by override (bless.override: " + reason in result.stdout
    assert headline(project, paths.BLESS)["blessed"] == 0 and headline(project, paths.BLESS)["override"] == 1
    verdict = json.loads((project / paths.VERDICT).read_text())
    assert not verdict["blessed"] and verdict["override"] == {"reason": reason, "used": True}
    card = (project / paths.EXPORT / "model_card.md").read_text()
    assert f"**Shipped by override** (`bless.override`): {reason}." in card
    gate = checks(project)
    assert gate.returncode == 0 and "ok   blessing" in gate.stdout, gate.stdout
    assert "is the baseline" in run([sys.executable, "-m", "mnist_pipeline.promote"], project).stdout


def test_changing_the_baseline_reruns_bless_export_and_report_only(project: Path) -> None:
    set_params(project, {"export": {"tflite": ["float32"]}})
    run(["dvc", "repro"], project)
    run([sys.executable, "-m", "mnist_pipeline.promote"], project)

    result = run(["dvc", "repro"], project)

    assert stages_run(result.stdout) == ["bless", "export", "report"], result.stdout
    assert headline(project, paths.BLESS) == {"blessed": 1, "accuracy_change": 0.0}


def killed_in(project: Path, stage: str) -> None:
    """`dvc repro` killed as `stage` starts: what a crash, Ctrl-C or a closed laptop leaves behind."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(["dvc", "repro"], cwd=project, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(f"Running stage '{stage}'"):
            time.sleep(1)
            break
    process.kill()
    process.wait()


@pytest.mark.parametrize("how", ["refused", "failed in export", "abandoned in train"])
def test_the_way_back_restores_the_last_commit_with_no_stage_run(project: Path, how: str) -> None:
    promoted(project)
    before = tree_digests(project, "dvc.lock", "metrics", "models")
    if how == "refused":
        run(["dvc", "exp", "run", *WORSE], project)
    else:
        set_params(project, {"train": {"epochs": 1, "learning_rate": 0.0002}})
        killed_in(project, how.split()[-1])
    assert tree_digests(project, "dvc.lock", "metrics", "models") != before

    run(["sh", "-c", WAY_BACK], project)

    assert tree_digests(project, "dvc.lock", "metrics", "models") == before
    assert "Data and pipelines are up to date." in run(["dvc", "status"], project).stdout
    assert stages_run(run(["dvc", "repro"], project).stdout) == []


def test_a_queued_sweep_completes_and_reads_in_a_120_column_terminal(project: Path) -> None:
    promoted(project)
    sweep = [
        ["-S", "train.epochs=1"],
        ["-S", "train.epochs=3"],
        ["-S", "train.hidden_units=32"],
        ["-S", "train.model=cnn"],
    ]
    for params in sweep:
        run(["dvc", "exp", "run", "--queue", *params], project)

    with queue_started(project, jobs=2):
        found = wait_for_queue(project, len(sweep), QUEUE_TIMEOUT_S)
    rows = [
        {
            "name": name,
            "state": row["state"] or "success",
            "accuracy": metric(row["data"], paths.headline(paths.EVAL), "accuracy"),
            "blessed": metric(row["data"], paths.headline(paths.BLESS), "blessed"),
        }
        for name, row in found.items()
    ]

    assert len(rows) == len(sweep) and all(row["state"] == "success" for row in rows), rows
    assert {row["blessed"] for row in rows} <= {0, 1} and all(row["accuracy"] is not None for row in rows)
    header = run(["dvc", "exp", "show", "--csv"], project).stdout.splitlines()[0].split(",")
    assert len(header) <= 50, f"plain dvc exp show has {len(header)} columns: {header}"
    shown = in_terminal(COMPARE + " --no-pager", project)
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 120, shown
    assert "…" not in shown, shown
    titles = next(line for line in lines if "Experiment" in line).split()
    assert titles == [
        "Experiment",
        "accuracy",
        "loss",
        "blessed",
        "train.model",
        "train.hidden_units",
        "train.epochs",
    ], shown
    for row in rows:
        line = next(line for line in lines if f"[{row['name']}]" in line)
        assert f" {row['accuracy']:.5g} " in line and f" {row['blessed']} " in line, (row, line)


def test_readme_shows_these_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert COMPARE in readme and WAY_BACK in readme
