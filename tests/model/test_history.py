"""The per-epoch history: a line per epoch, curves for every figure, and a headline of the validation accuracy alone."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mnist_pipeline.model.history import log_epoch, training_log
from mnist_pipeline.model.training import EpochResult

EPOCHS = [EpochResult(1, 0.5, 0.8, 0.45, 0.82), EpochResult(2, 0.4, 0.85, 0.41, 0.84)]


def curve(folder: Path, split: str, metric: str) -> list[dict[str, str]]:
    with open(folder / "plots" / "metrics" / split / f"{metric}.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_each_epoch_is_a_line_a_step_of_every_curve_and_the_headline(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "train"
    with training_log(str(folder), chief=True) as live:
        for result in EPOCHS:
            log_epoch(live, result)
            assert json.loads((folder / "metrics.json").read_text()) == {"val": {"accuracy": result.val_accuracy}}

    assert capsys.readouterr().out.splitlines() == [
        "epoch 1: loss 0.5000 accuracy 0.8000 val_loss 0.4500 val_accuracy 0.8200",
        "epoch 2: loss 0.4000 accuracy 0.8500 val_loss 0.4100 val_accuracy 0.8400",
    ]
    for split, metric, values in (("train", "loss", [0.5, 0.4]), ("val", "accuracy", [0.82, 0.84])):
        rows = curve(folder, split, metric)
        assert [row["step"] for row in rows] == ["1", "2"], "the x axis is whole epochs"
        assert [float(row[metric]) for row in rows] == values


def test_a_worker_that_is_not_the_chief_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with training_log(str(tmp_path / "train"), chief=False) as live:
        log_epoch(live, EPOCHS[0])
    assert live is None and not (tmp_path / "train").exists()
    assert capsys.readouterr().out.startswith("epoch 1: loss 0.5000")
