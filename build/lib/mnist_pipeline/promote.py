"""Make the workspace's evaluated model the baseline: later candidates are blessed only if no worse.

Writes baseline/baseline.json and baseline/predictions.csv; commit them. Run it when the
model goes into service, e.g. right after `gto assign mnist-classifier --stage prod`. Only
a blessed model is promoted: metrics/bless/verdict.json must bless this very model
(same model hash) on this very test split (same data hash), so run `dvc repro` first.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import click

from mnist_pipeline.artifacts import read_json
from mnist_pipeline.errors import DataError, report_errors
from mnist_pipeline.evaluation.baseline import BASELINE_DIR, EVAL_PREDICTIONS, load_candidate, write_baseline
from mnist_pipeline.evaluation.blessing import Evaluation


def check_promotable(candidate: Evaluation, verdict: dict, verdict_path: str) -> None:
    """The baseline must be a model that could ship, and the files must all be about it."""
    judged = verdict["candidate"]
    if judged["model_sha256"] != candidate.model_sha256 or judged["test_data_sha256"] != candidate.test_data_sha256:
        raise DataError(f"{verdict_path} is about another model or test split: run dvc repro, then promote")
    if not verdict["blessed"]:
        raise DataError(
            f"{verdict_path}: this model was refused ({verdict['summary']}); only a blessed model is promoted"
        )


def git_description(cwd: Path) -> str:
    """The commit (or tag, such as a GTO version) the workspace is at, `-dirty` if tracked files changed;
    empty outside git (the baseline then records only the note)."""
    try:
        result = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"], cwd=cwd, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def origin_text(description: str, note: str) -> str:
    parts = [f"git {description}" if description else "", note]
    return "; ".join(part for part in parts if part)


@click.command(help=__doc__)
@click.option("--data", "data_dir", default="data/prepared", show_default=True, help="Prepared arrays folder.")
@click.option("--model", "model_path", default="models/model.keras", show_default=True, help="The model to promote.")
@click.option("--predictions", default=str(EVAL_PREDICTIONS), show_default=True, help="Evaluate's per-image output.")
@click.option("--verdict", "verdict_path", default="metrics/bless/verdict.json", show_default=True, help="Blessing.")
@click.option("--baseline", "baseline_dir", default=str(BASELINE_DIR), show_default=True, help="Baseline folder.")
@click.option("--note", default="", help="Recorded with the baseline, e.g. the registered version or why.")
@report_errors
def main(data_dir: str, model_path: str, predictions: str, verdict_path: str, baseline_dir: str, note: str) -> None:
    candidate = load_candidate(Path(data_dir), Path(predictions), Path(model_path))
    check_promotable(candidate, read_json(verdict_path), verdict_path)
    baseline = dataclasses.replace(candidate, origin=origin_text(git_description(Path.cwd()), note))
    write_baseline(baseline, Path(baseline_dir))
    click.echo(
        f"promote: model {baseline.model_sha256[:12]} (test accuracy {baseline.accuracy:.4f}, {baseline.origin or 'no git'}) "
        f"is the baseline -> {baseline_dir}/; commit it: git add {baseline_dir} && git commit"
    )


if __name__ == "__main__":
    main()
