"""Stage 5, bless: decide whether the evaluated model may ship, against the committed baseline.

Reads params `bless`, evaluate's per-image predictions (metrics/eval/confusion.csv),
models/model.keras (its hash), the test split and labels.txt of data/prepared/, and
baseline/; writes metrics/bless.json (blessed, accuracy change) and
metrics/bless/verdict.json and verdict.md (every rule with its figures), blessed or not.
Rules (mnist_pipeline/evaluation/blessing.py): the absolute floor `bless.min_accuracy`;
then, if baseline/ holds a baseline scored on the same test data, McNemar's exact test on
the per-image correctness, for the test accuracy and for each class's recall. A refused
model stops the pipeline here with one line, so export never runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline import params as params_module
from mnist_pipeline.artifacts import write_json, write_text
from mnist_pipeline.errors import GateError, report_errors
from mnist_pipeline.evaluation.baseline import BASELINE_DIR, EVAL_PREDICTIONS, load_candidate, read_baseline
from mnist_pipeline.evaluation.blessing import decide, headline, verdict_markdown


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--data", "data_dir", default="data/prepared", show_default=True, help="Prepared arrays folder.")
@click.option("--model", "model_path", default="models/model.keras", show_default=True, help="Candidate model.")
@click.option("--predictions", default=str(EVAL_PREDICTIONS), show_default=True, help="Evaluate's per-image output.")
@click.option("--baseline", "baseline_dir", default=str(BASELINE_DIR), show_default=True, help="Baseline folder.")
@click.option("--metrics", "metrics_path", default="metrics/bless.json", show_default=True, help="Headline figures.")
@click.option("--verdict", "verdict_dir", default="metrics/bless", show_default=True, help="Full verdict folder.")
@report_errors
def main(
    params_path: str,
    data_dir: str,
    model_path: str,
    predictions: str,
    baseline_dir: str,
    metrics_path: str,
    verdict_dir: str,
) -> None:
    p = params_module.load_params(params_path)
    candidate = load_candidate(Path(data_dir), Path(predictions), Path(model_path))
    verdict = decide(candidate, read_baseline(Path(baseline_dir)), p.bless)
    write_json(Path(verdict_dir) / "verdict.json", verdict)
    write_text(Path(verdict_dir) / "verdict.md", verdict_markdown(verdict))
    write_json(metrics_path, headline(verdict))
    if not verdict["blessed"]:
        raise GateError(
            f"blessing {verdict['summary']}; nothing exported (every rule: {verdict_dir}/verdict.md; "
            "to ship anyway set bless.force=true and bless.reason)"
        )
    click.echo(f"bless: {verdict['summary']} -> {metrics_path}")


if __name__ == "__main__":
    main()
