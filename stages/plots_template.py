"""Stage plots_template: the page `dvc plots show` and `dvc plots diff` fill in, with Vega inlined.

Reads no data, only the installed vl-convert-python (pinned in pyproject.toml); writes
metrics/plots_template.html, which `.dvc/config` names as DVC's `plots.html_template`,
so that the plots report renders without network (mnist_pipeline/evaluation/plots_template.py).
DVC keeps the page while the stage runs (`persist`), and a page made from the same
libraries by the same code is kept as it is: bundling them takes ~2 s, and the stage
re-runs on any change to the library's code or on `dvc repro --force`.
"""

from __future__ import annotations

from pathlib import Path

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
    target = Path(out)
    previous = target.read_text(encoding="utf-8") if target.is_file() else None
    page = offline_plots_template(previous)
    if page == previous:
        click.echo(f"plots_template: {out} is current (the same libraries and page), kept")
    else:
        write_text(target, page)
        click.echo(f"plots_template: {out} (Vega, Vega-Lite and Vega-Embed inlined)")
    exit_now()


if __name__ == "__main__":
    main()
