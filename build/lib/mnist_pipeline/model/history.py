"""The per-epoch history of training: one line on stdout and one dvclive step per epoch (metrics/train/)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Generator

import click
from dvclive import Live

from mnist_pipeline.model.training import EpochResult


@contextlib.contextmanager
def training_log(live_dir: str, chief: bool) -> Generator[Live | None, None, None]:
    """dvclive writing each epoch into `live_dir` as it ends, so `dvc plots show` (and VS Code's live
    plots during `dvc exp run`) draw a run in progress; None on a worker that is not the chief, which
    writes nothing. A killed run leaves the folder part-written: DVC records a stage's outputs only
    once it succeeds, and removes them before running it again.
    """
    if not chief:
        yield None
        return
    live = Live(live_dir, save_dvc_exp=False, dvcyaml=None, report=None)
    yield live
    live.end()


def log_epoch(live: Live | None, result: EpochResult) -> None:
    """One dvclive step per epoch (step = epoch number, so plots read as epochs), on disk at once."""
    click.echo(
        f"epoch {result.epoch}: loss {result.loss:.4f} accuracy {result.accuracy:.4f} "
        f"val_loss {result.val_loss:.4f} val_accuracy {result.val_accuracy:.4f}"
    )
    if live is None:
        return
    live.step = result.epoch
    for name, value in dataclasses.asdict(result).items():
        if name != "epoch":
            split, metric = ("val", name[4:]) if name.startswith("val_") else ("train", name)
            live.log_metric(f"{split}/{metric}", round(value, 6))
    # The summary (metrics/train/metrics.json, a headline metric) keeps the validation figures
    # only: the training split's are in the curves, and `dvc metrics show` stays narrow.
    live.summary.pop("train")
    live.next_step()  # writes the summary and tells VS Code's live plots that the step is complete
