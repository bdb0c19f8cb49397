"""Stage report: metrics/report/report.md, the run's metrics, charts (SVG), gallery and model card.

For places that run no JavaScript (a pull request, a CI job's artifacts): the same
metrics and plots as `dvc metrics show` and `dvc plots show`, taken from dvc.yaml's
definitions, the charts drawn by vl-convert without a browser
(mnist_pipeline/evaluation/report.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline.errors import report_errors
from mnist_pipeline.evaluation.report import write_report


@click.command(help=__doc__)
@click.option(
    "--model-card", default="models/export/model_card.md", show_default=True, help="Model card (export stage)."
)
@click.option("--out", default="metrics/report", show_default=True, help="Report folder (replaced whole).")
@report_errors
def main(model_card: str, out: str) -> None:
    report = write_report(Path.cwd(), Path(model_card), Path(out))
    click.echo(f"report: {report}")


if __name__ == "__main__":
    main()
