"""Stage plots_template: the page `dvc plots show` and `dvc plots diff` fill in, with Vega inlined.

Reads no data, only the installed vl-convert-python (pinned in pyproject.toml); writes
metrics/plots_template.html, which `.dvc/config` names as DVC's `plots.html_template`,
so that the plots report renders without network (mnist_pipeline/evaluation/plots_template.py).
"""

from __future__ import annotations

import click

from mnist_pipeline import paths
from mnist_pipeline.artifacts import write_text
from mnist_pipeline.errors import report_errors
from mnist_pipeline.evaluation.plots_template import offline_plots_template
from mnist_pipeline.process_exit import exit_now


@click.command(help=__doc__)
@click.option(
    "--out", default=str(paths.PLOTS_TEMPLATE), show_default=True, help="Page template (plots.html_template)."
)
@report_errors
def main(out: str) -> None:
    write_text(out, offline_plots_template())
    click.echo(f"plots_template: {out} (Vega, Vega-Lite and Vega-Embed inlined)")
    exit_now()


if __name__ == "__main__":
    main()
