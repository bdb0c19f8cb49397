"""Serving latency: every way to run the exported model, on the test split.

    python -m benchmarks.latency [--export models/export] [--data data/prepared] [--out benchmarks/results/latency.md]

For each runtime: per-image latency (batch of 1, p50 and p99 over `--calls` calls after
a warm-up, images taken in a fixed random order from the test split) and throughput at
batch 1024 (images/s over the whole test split), measured in `--rounds` rounds with the
runtimes in a rotated order each round. Runtimes: every TFLite flavour in the export run
by LiteRT two ways (its bare `serving_default` signature runner, and
`mnist_pipeline.serving.litert.TFLiteClassifier`, which export's verification and
`predict` run), the SavedModel's `serving_default` signature (`tf.saved_model.load`),
and the Keras model called directly (`model(x)`) and through `model.predict`. Inputs are
the uint8 pixels of x_test.npy; the Keras model gets them as float32 / 255 (done
inside the timed call: a client has to do it), and returns logits where the exports
return probabilities. Plus the cold start of `predict <one PNG>`: the wall time of a
fresh process, median of `--cold` runs, alternating with a fresh process that classifies
the same PNG with the SavedModel in TensorFlow, for comparison.

If the export (or the prepared data) is not there, pass `--source DIR` (the four
MNIST-format .gz files, e.g. a copy of Fashion-MNIST): the pipeline is run with
`train.epochs=1` in a fresh copy of the project (`dvc repro`) and its outputs are used.

Measuring (`latency_measure`), summarising (`latency_summary`) and rendering
(`latency_render`) are separate steps; a failure in any of them stops the run and writes
nothing. Not a test: nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, copy_project, detect_dataset, log, machine, run, without_local_paths
from benchmarks.latency_measure import Settings, all_runtimes, cold_starts, load_test_pixels, measure
from benchmarks.latency_render import markdown
from benchmarks.latency_summary import cold_summary, summarize
from mnist_pipeline.artifacts import write_text
from tests.support.project import BIN


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--export", type=Path, default=Path("models/export"), help="export folder (default models/export)"
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="Keras model (default: models/model.keras beside the export)"
    )
    parser.add_argument(
        "--data", type=Path, default=Path("data/prepared"), help="prepared arrays (default data/prepared)"
    )
    parser.add_argument(
        "--source", type=Path, default=None, help="raw .gz files: build the export here if it is missing"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/latency.md", help="Markdown results (JSON beside it)"
    )
    parser.add_argument(
        "--calls", type=int, default=3000, help="per-image calls per runtime, all rounds together (default 3000)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="warm-up calls per runtime (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--cold", type=int, default=5, help="fresh processes for the cold start (default 5)")
    args = parser.parse_args()
    if args.source is None and not complete(*inputs(args)):
        parser.error(
            f"no export at {args.export} (or no prepared data, or no Keras model): run `dvc repro`, or pass --source DIR"
        )
    return args


def inputs(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The export, the prepared data and the Keras model the options name."""
    export = args.export.resolve()
    return export, args.data.resolve(), (args.model or export.parent / "model.keras").resolve()


def complete(export: Path, data: Path, model: Path) -> bool:
    return (export / "saved_model").is_dir() and (data / "x_test.npy").is_file() and model.is_file()


def build_export(source: Path, scratch: Path) -> Path:
    """Run the pipeline (1 epoch) on `source` in a fresh copy of the project; return the copy."""
    params: dict[str, dict[str, Any]] = {
        "data": {"dataset": detect_dataset(source), "source": str(source)},
        "train": {"epochs": 1},
    }
    project = copy_project(scratch / "project", params)
    log("no export given: running the pipeline (train.epochs=1) in a fresh copy")
    run(["dvc", "repro"], project)
    return project


def main() -> None:
    args = parse_args()
    settings = Settings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)})
    scratch = Path(tempfile.mkdtemp(prefix="latency-"))
    try:
        export, data, model = inputs(args)
        if not complete(export, data, model):
            source = args.source.expanduser().resolve()
            project = build_export(source, scratch)
            export, data, model = project / "models/export", project / "data/prepared", project / "models/model.keras"
            what = f"the model of a fresh `dvc repro` with train.epochs=1 on {detect_dataset(source)}"
        else:
            what = f"the export in {args.export}" + (
                " (see its model_card.md)" if (export / "model_card.md").is_file() else ""
            )
        log("cold starts")
        first_image = np.load(data / "x_test.npy", mmap_mode="r")[0]
        cold = cold_summary(cold_starts(export, first_image, settings.cold, scratch))
        pixels, labels = load_test_pixels(data)
        log("loading the runtimes")
        runtimes = summarize(measure(all_runtimes(export, model), pixels, labels, settings, log))
        info = {
            "date": datetime.date.today().isoformat(),
            "machine": machine(),
            "litert": importlib.metadata.version("ai-edge-litert"),
            "what_model": what,
            "command_args": "" if args.source is None else f" --source <{args.source.name} folder>",
            "calls_per_runtime": max(1, settings.calls // settings.rounds) * settings.rounds,
            "test_images": len(pixels),
        }
        local = {
            str(scratch): "<scratch>",
            str(ROOT): "<project>",
            str(BIN): "<venv>/bin",
            str(export): "<export>",
            str(data): "<data>",
            str(model): "<model>",
        }
        text = without_local_paths(markdown(info, runtimes, cold, settings), local)
        saved = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("out", "source")}
        raw = {"info": info, "settings": saved, "summary": runtimes, "cold_start": cold}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out, text)
        write_text(args.out.with_suffix(".json"), without_local_paths(json.dumps(raw, indent=2), local) + "\n")
        print(text)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
