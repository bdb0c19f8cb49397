"""Stage 5, bless: decide whether the evaluated model may ship, against the committed baseline.

Reads params `bless`, evaluate's per-image predictions (metrics/eval/confusion.csv),
models/model.keras (its hash), the test split and labels.txt of data/prepared/, and
baseline/; writes metrics/bless/: metrics.json (the headline: blessed, accuracy change,
override), verdict.json and verdict.md (every rule with its figures), blessed or not.
Rules (mnist_pipeline/evaluation/blessing.py): the absolute floor `bless.min_accuracy`;
then, if baseline/ holds a baseline scored on the same test data, McNemar's exact test on
the per-image correctness, for the test accuracy and for each class's recall. A refusal is
a result, not a failure: the verdict is recorded (blessed 0), the pipeline goes on, and the
gate is where a model ships: `python -m mnist_pipeline.checks` and promote refuse it.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline import params as params_module
from mnist_pipeline import paths
from mnist_pipeline.artifacts import write_json, write_text
from mnist_pipeline.errors import report_errors
from mnist_pipeline.evaluation.baseline import EVAL_PREDICTIONS, load_candidate, read_baseline
from mnist_pipeline.evaluation.blessing import decide, headline, ships, verdict_markdown


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--data", "data_dir", default=str(paths.PREPARED), show_default=True, help="Prepared arrays folder.")
@click.option("--model", "model_path", default=str(paths.MODEL), show_default=True, help="Candidate model.")
@click.option("--predictions", default=str(EVAL_PREDICTIONS), show_default=True, help="Evaluate's per-image output.")
@click.option("--baseline", "baseline_dir", default=str(paths.BASELINE), show_default=True, help="Baseline folder.")
@click.option("--out", "verdict_dir", default=str(paths.BLESS), show_default=True, help="Verdict and headline folder.")
@report_errors
def main(
    params_path: str,
    data_dir: str,
    model_path: str,
    predictions: str,
    baseline_dir: str,
    verdict_dir: str,
) -> None:
    p = params_module.load_params(params_path)
    candidate = load_candidate(Path(data_dir), Path(predictions), Path(model_path))
    verdict = decide(candidate, read_baseline(Path(baseline_dir)), p.bless)
    write_json(Path(verdict_dir) / "verdict.json", verdict)
    write_text(Path(verdict_dir) / "verdict.md", verdict_markdown(verdict))
    metrics_path = paths.headline(Path(verdict_dir))
    write_json(metrics_path, headline(verdict))
    click.echo(f"bless: {verdict['summary']} -> {metrics_path}")
    if not ships(verdict):
        click.echo(f"bless: recorded, not shipped (every rule: {verdict_dir}/verdict.md); checks and promote refuse it")


if __name__ == "__main__":
    main()
