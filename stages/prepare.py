"""Stage 2, prepare: decode the raw IDX files and hold out a validation split (pixels stay uint8).

Reads params `data` (`dataset`, `val_size`, `seed`) and data/raw/<dataset>/; writes
data/prepared/ (x_/y_ train, val and test .npy: uint8 pixels, int32 labels; labels.txt; manifest.json: split
sizes, class balance, pixel statistics and the raw files' content hashes).
The validation split is carved out of the *training* set (stratified, seeded), so the
test split stays unseen until evaluate. Deliberately free of TensorFlow: this stage
should take a second or two, not the three TensorFlow takes just to import.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnist_pipeline import params as params_module
from mnist_pipeline import paths
from mnist_pipeline.data.datasets import DATASETS, LABELS_FILE
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.data.prepared import summarize, write_prepared
from mnist_pipeline.data.raw import load_splits
from mnist_pipeline.data.split import make_splits
from mnist_pipeline.errors import report_errors


@click.command(help=__doc__)
@click.option("--params", "params_path", default=params_module.DEFAULT_PATH, show_default=True, help="Params file.")
@click.option("--raw", "raw_dir", default=None, help="Raw IDX folder  [default: data/raw/<data.dataset>]")
@click.option("--out", default=str(paths.PREPARED), show_default=True, help="Prepared arrays folder.")
@report_errors
def main(params_path: str, raw_dir: str | None, out: str) -> None:
    data = params_module.load_params(params_path).data
    dataset = DATASETS[data.dataset]
    folder = Path(raw_dir) if raw_dir else paths.RAW / dataset.name
    names = read_labels(folder / LABELS_FILE)
    raw, hashes = load_splits(folder, dataset, names)
    splits = make_splits(raw, data.val_size, data.seed)
    write_prepared(Path(out), splits, names, summarize(splits, names, dataset.name, hashes))
    counts = ", ".join(f"{split} {len(y)}" for split, (_, y) in splits.items())
    click.echo(f"prepare: {dataset.name} {counts} -> {out}")


if __name__ == "__main__":
    main()
