"""Stage 1, download: put the dataset's four IDX files into data/raw/<dataset>/, verified.

Reads params `data.dataset` and `data.source`, and the files of that source (the public
mirrors, a URL prefix or a folder); writes data/raw/<dataset>/: the four .gz files,
labels.txt and content-sha256.json (see mnist_pipeline/data/sources.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline import params as params_module
from mnist_pipeline.data.datasets import DATASETS
from mnist_pipeline.data.sources import download
from mnist_pipeline.errors import report_errors


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--out", default=None, help="Output folder  [default: data/raw/<data.dataset>]")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show download progress bars.")
@report_errors
def main(params_path: str, out: str | None, progress: bool) -> None:
    data = params_module.load_params(params_path).data
    dataset = DATASETS[data.dataset]
    target = Path(out or f"data/raw/{dataset.name}")
    download(dataset, data.source, target, progress)
    click.echo(f"download: {dataset.name} verified into {target}")


if __name__ == "__main__":
    main()
