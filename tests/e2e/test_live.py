"""Live curves: the train stage writes every epoch under metrics/train as it goes, and DVC draws them mid-run.

The stage runs as `python -m stages.train` would, with one change: after each epoch
(dvclive's `next_step`) it waits until the test says go, so the test can look at the
files between epochs without racing the training loop.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.project import BIN, copy_project, run, synthetic_data

pytestmark = pytest.mark.slow

EPOCHS = 3
WAIT_S = 180
SERIES = [
    f"metrics/train/plots/metrics/{split}/{metric}.tsv" for split in ("train", "val") for metric in ("loss", "accuracy")
]

PAUSED_TRAIN = textwrap.dedent(
    """
    import pathlib, runpy, sys, time
    import dvclive

    go, deadline = pathlib.Path(sys.argv[1]), time.monotonic() + {wait}
    logged = dvclive.Live.next_step

    def next_step(self):
        logged(self)
        epoch = self.step - 1  # next_step has moved on to the next step
        (go / f"paused-{{epoch}}").touch()  # every file of this epoch is written
        while not (go / f"go-{{epoch}}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    dvclive.Live.next_step = next_step
    sys.argv = ["stages.train"]
    runpy.run_module("stages.train", run_name="__main__", alter_sys=True)
    """
)


def rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def wait_for_pause(go: Path, epoch: int, process: subprocess.Popen) -> None:
    """Until training has written everything of `epoch` and waits for the test."""
    deadline = time.monotonic() + WAIT_S
    while not (go / f"paused-{epoch}").exists():
        assert process.poll() is None, f"train exited early: {process.communicate()}"
        assert time.monotonic() < deadline, f"no epoch {epoch} within {WAIT_S} s"
        time.sleep(0.05)


def loss_points(project: Path) -> dict[str, list[int]]:
    """The epochs `dvc plots show` draws in the Loss chart, per series."""
    shown = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
    points: dict[str, list[int]] = {}
    values = shown["data"]["Loss"][0]["content"]["data"]["values"]
    for point in values:
        points.setdefault(point["filename"], []).append(int(point["step"]))
    return points


def test_metrics_grow_epoch_by_epoch_while_train_runs(tmp_path: Path, dataset_dir: Path) -> None:
    project = copy_project(
        tmp_path / "project",
        {"data": synthetic_data(dataset_dir), "train": {"epochs": EPOCHS}},
    )
    run(["dvc", "repro", "prepare"], project)
    go = tmp_path / "go"
    go.mkdir()
    script = tmp_path / "paused_train.py"
    script.write_text(PAUSED_TRAIN.format(wait=WAIT_S))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(project)}
    env.pop("TF_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, str(script), str(go)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for epoch in range(1, EPOCHS + 1):
            wait_for_pause(go, epoch, process)
            for series in SERIES:
                assert [int(row["step"]) for row in rows(project / series)] == list(range(1, epoch + 1)), series
            summary = json.loads((project / "metrics/train/metrics.json").read_text())
            assert (
                float(rows(project / "metrics/train/plots/metrics/val/accuracy.tsv")[-1]["accuracy"])
                == summary["val"]["accuracy"]
            ), "the headline is the last epoch's"
            assert not (project / "models/model.keras").exists(), "the model is written only at the end"
            if epoch == 2:
                assert loss_points(project) == {"train/loss.tsv": [1, 2], "val/loss.tsv": [1, 2]}
            (go / f"go-{epoch}").touch()
        out, err = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert f"epoch {EPOCHS}:" in out
    assert (project / "models/model.keras").is_file()
    assert all(len(rows(project / series)) == EPOCHS for series in SERIES)
