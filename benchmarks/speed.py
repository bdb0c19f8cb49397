"""Speed: our pipeline against the seed program (the TensorFlow quickstart), on the seed's own ground.

    python -m benchmarks.speed --data DIR [--rounds 3] [--out benchmarks/results/speed.md]
    python -m benchmarks.speed --render benchmarks/results/speed.json   # re-render an earlier run's table

DIR holds the four MNIST-format .gz files (MNIST, Fashion-MNIST or any other). Every
comparison is made in this one run, alternating ours and the reference round by round
(the order flips every round), and reported as the median and min-max over rounds; a
ratio ours/reference is computed within each round, then its median is taken. The
machine may be shared, so only same-run figures are compared, never figures from
another day.

What runs, per round:
- the reference: `benchmarks/seed_reference.py` at `--epochs` (10) and `--exp-epochs` (5),
  each a fresh process timed from outside (whole wall time) and reporting its `fit` time;
- the pipeline: a fresh copy of the project (what a clone has, with the working tree's
  changes) with `data.source` = DIR: `dvc repro` from the raw files to the report,
  then no-op `dvc repro`s alternating with those of a trivial two-stage DVC pipeline,
  then `dvc exp run --set-param train.epochs=<exp-epochs>`;
- the stages one by one (`python -m stages.<stage>`) in another copy, each process timed
  and its peak memory taken from `wait4`: download, prepare, train with
  `train.deterministic` true and false (alternating), evaluate, export; and, in the first
  `--cnn-rounds` rounds, the `cnn` model for `--cnn-epochs` epochs.

Measuring (`speed_measure`), summarising (`speed_summary`) and rendering (`speed_render`)
are separate steps. A failed command or a missing figure stops the run with an error and
writes nothing. Writes the Markdown table to --out, the raw numbers to the same name with
.json, and prints the table. Not a test: nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, code_version, detect_dataset, log, machine, rss_floor_kib, without_local_paths
from benchmarks.speed_measure import Settings, make_workspace, one_round
from benchmarks.speed_render import GOALS, markdown
from benchmarks.speed_summary import summarize
from tests.support.project import BIN


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="folder with the four MNIST-format .gz files (required)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every comparison (default 3)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/speed.md", help="Markdown results (JSON beside it)"
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the full runs (the seed's 10)")
    parser.add_argument("--exp-epochs", type=int, default=5, help="train.epochs of the experiment (default 5)")
    parser.add_argument("--noop-pairs", type=int, default=3, help="no-op dvc repro pairs per round (default 3)")
    parser.add_argument("--cnn-epochs", type=int, default=2, help="epochs of the cnn run (default 2, at least 2)")
    parser.add_argument(
        "--cnn-rounds", type=int, default=1, help="rounds that also train the cnn (default 1: it is slow)"
    )
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--note", action="append", default=[], help="a line added to the results' notes")
    parser.add_argument(
        "--render", type=Path, default=None, help="only rewrite --out from the raw numbers of an earlier run's JSON"
    )
    args = parser.parse_args()
    if args.render:
        return args
    if args.data is None:
        parser.error("--data is required")
    args.data = args.data.expanduser().resolve()
    if not all((args.data / name).is_file() for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")):
        parser.error(f"--data {args.data}: expected the four MNIST-format .gz files there")
    if args.epochs < 2 or args.cnn_epochs < 2:
        parser.error(
            "--epochs and --cnn-epochs must be at least 2: the table shows the time of an epoch after the first"
        )
    if not 1 <= args.cnn_rounds <= args.rounds:
        parser.error("--cnn-rounds must be between 1 and --rounds")
    return args


def settings_of(values: dict[str, Any]) -> Settings:
    """The measuring settings among the command's options (or an earlier run's JSON)."""
    return Settings(**{f.name: values[f.name] for f in dataclasses.fields(Settings)})


def notes(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> list[str]:
    found = list(args.note)
    if args.cnn_rounds < args.rounds:
        found.append(
            f"the cnn ran in {args.cnn_rounds} of the {args.rounds} rounds (it is the slowest item), for {args.cnn_epochs} epochs."
        )
    found.append(f"the experiment re-ran the stages: {', '.join(rounds[0]['experiment']['stages_run']) or 'none'}.")
    return found


def measure(args: argparse.Namespace) -> None:
    """Run every round, then summarise and render; nothing is written unless all of it succeeds."""
    settings = settings_of(vars(args))
    started = time.perf_counter()
    code = code_version()
    scratch = Path(tempfile.mkdtemp(prefix="speed-", dir=args.work))
    dataset = detect_dataset(args.data)
    log(f"dataset {dataset}; scratch {scratch}")
    rounds = []
    loads = [os.getloadavg()[0]]
    try:
        workspace = make_workspace(scratch, dataset, settings)
        for index in range(args.rounds):
            rounds.append(one_round(index, settings, workspace))
            loads += [rounds[-1]["load_before"][0], rounds[-1]["load_after"][0]]
            log(f"round {index + 1} done after {(time.perf_counter() - started) / 60:.1f} min")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    summary = summarize(rounds, settings)
    info = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "code": code,
        "dataset": dataset,
        "data_name": args.data.name,
        "rounds_done": len(rounds),
        "elapsed_min": (time.perf_counter() - started) / 60,
        "load_min": min(loads),
        "load_max": max(loads),
        "rss_floor_mib": rss_floor_kib() / 1024,
        "notes": notes(args, rounds),
    }
    local = {
        str(scratch): "<scratch>",
        str(args.data): f"<{args.data.name}>",
        str(ROOT): "<project>",
        str(BIN): "<venv>/bin",
    }
    text = without_local_paths(markdown(info, summary, settings), local)
    saved = {k: (v.name if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out", "work")}
    raw = {"info": info, "settings": saved, "goals": GOALS, "summary": summary, "rounds": rounds}
    write(args.out, text, without_local_paths(json.dumps(raw, indent=2, default=str), local))


def render(args: argparse.Namespace) -> None:
    """Rewrite the Markdown (and the JSON's summary and notes) from the raw rounds of an earlier run."""
    raw = json.loads(args.render.read_text(encoding="utf-8"))
    settings = settings_of(raw["settings"])
    info = raw["info"]
    info["notes"] = list(dict.fromkeys([*args.note, *info.get("notes", [])]))
    raw["summary"] = summarize(raw["rounds"], settings)
    write(args.out, markdown(info, raw["summary"], settings), json.dumps(raw, indent=2, default=str))


def write(out: Path, text: str, document: str) -> None:
    # imported here, after measuring: it brings NumPy, which would raise every child's RSS floor
    from mnist_pipeline.artifacts import write_text

    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)
    write_text(out.with_suffix(".json"), document + "\n")
    print(text)


def main() -> None:
    args = parse_args()
    if args.render:
        render(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
