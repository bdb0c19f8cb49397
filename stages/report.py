"""Stage 6, report: the run as Markdown and pictures, for places that run no JavaScript.

Reads dvc.yaml's metrics and plots (their data: metrics/*.json, metrics/train/plots/,
metrics/eval/) and models/export/model_card.md; writes report/: report.md with
the metrics as tables, every plot of `dvc plots show` as SVG drawn by vl-convert without
a browser, the images among the plots (the misclassified gallery), and the model card
with its verdicts (mnist_pipeline/evaluation/report.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline import paths
from mnist_pipeline.errors import report_errors
from mnist_pipeline.evaluation.report import write_report
from mnist_pipeline.process_exit import exit_now


@click.command(help=__doc__)
@click.option(
    "--model-card", default=str(paths.EXPORT / "model_card.md"), show_default=True, help="Model card (export stage)."
)
@click.option("--out", default=str(paths.REPORT), show_default=True, help="Report folder (replaced whole).")
@report_errors
def main(model_card: str, out: str) -> None:
    report = write_report(Path.cwd(), Path(model_card), Path(out))
    click.echo(f"report: {report}")
    exit_now()


if __name__ == "__main__":
    main()
