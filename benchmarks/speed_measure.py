"""Speed, measuring: runs the reference and the pipeline round by round and returns the raw figures.

Nothing here summarises or formats. A command that fails, or output without the line a
figure is read from, raises: a round is complete or the run stops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Proc, copy_project, log, run, write_params

REFERENCE = ROOT / "benchmarks" / "seed_reference.py"
TRAIN_LINE = re.compile(r"train: (\w+) (\d+) epochs in ([0-9.]+) s")
EPOCH_LINE = re.compile(r"^epoch (\d+): ")
STAGE_START = re.compile(r"^Running stage '(\w+)'")
STAGE_DONE = re.compile(r"^(download|prepare|train|evaluate|bless|export|plots_template|report): ")
STAGES = ("download", "prepare", "train", "evaluate", "bless", "export", "plots_template", "report")
TRAIN_VARIANTS = {"deterministic": "params-deterministic.yaml", "nondeterministic": "params-nondeterministic.yaml"}


@dataclass(frozen=True)
class Settings:
    """What a run measures (the command's options)."""

    data: Path
    rounds: int
    epochs: int
    exp_epochs: int
    noop_pairs: int
    cnn_epochs: int
    cnn_rounds: int


@dataclass(frozen=True)
class Workspace:
    """The projects a run measures in, made once: copies for `dvc repro` and for the stages, a trivial pipeline."""

    scratch: Path
    template: Path
    stages: Path
    trivial: Path


# --------------------------------------------------------------------------- set-up


def make_workspace(scratch: Path, dataset: str, settings: Settings) -> Workspace:
    params: dict[str, dict[str, Any]] = {
        "data": {"dataset": dataset, "source": str(settings.data)},
        "train": {"epochs": settings.epochs},
    }
    template = copy_project(scratch / "template", params)
    stages = copy_project(scratch / "stages", params)
    for name, train in (
        (TRAIN_VARIANTS["deterministic"], {"deterministic": True}),
        (TRAIN_VARIANTS["nondeterministic"], {"deterministic": False}),
        ("params-cnn.yaml", {"model": "cnn", "epochs": settings.cnn_epochs}),
    ):
        write_params(stages / name, {"train": train}, source=stages / "params.yaml")
    return Workspace(scratch, template, stages, make_trivial_pipeline(scratch / "trivial"))


def make_trivial_pipeline(folder: Path) -> Path:
    """A git + DVC repository with two one-line stages, already reproduced and committed."""
    folder.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], folder)
    run(["dvc", "init", "-q"], folder)
    (folder / "dvc.yaml").write_text(
        "stages:\n"
        "  first:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"
        "  second:\n    cmd: cp a.txt b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n"
    )
    run(["dvc", "repro", "-q"], folder)
    run(["git", "add", "-A"], folder)
    run(["git", "commit", "-qm", "trivial pipeline"], folder)
    return folder


# --------------------------------------------------------------------------- reading output


def train_seconds(proc: Proc) -> float:
    found = TRAIN_LINE.search(proc.stdout)
    if not found:
        raise RuntimeError(f"no `train: ... epochs in X s` line in:\n{proc.stdout[-2000:]}")
    return float(found.group(3))


def epoch_times(proc: Proc) -> list[float]:
    """When each `epoch N:` line came out, in seconds since the process started."""
    return [at for at, text in proc.lines if EPOCH_LINE.match(text)]


def dvc_breakdown(proc: Proc) -> dict[str, Any]:
    """Where a `dvc repro` / `dvc exp run` spent its time, from when its output lines came out.

    A stage's process runs from dvc's `Running stage 'x'` line to the stage's own last line
    (`x: ... -> out`); what follows until the next stage starts (hashing and caching the
    outputs, writing dvc.lock) and what precedes the first stage is dvc's own time.
    """
    stages: dict[str, dict[str, float]] = {}
    first = None
    current = None
    done_at = None
    for at, text in proc.lines:
        started = STAGE_START.match(text)
        if started:
            if current is not None:
                stages[current]["dvc_after_s"] = round(at - (done_at or at), 3)
            first = at if first is None else first
            current, done_at = started.group(1), None
            stages[current] = {"started_at_s": round(at, 3)}
        elif current is not None and STAGE_DONE.match(text) and text.startswith(current + ":"):
            done_at = at
            stages[current]["process_s"] = round(at - stages[current]["started_at_s"], 3)
    if current is not None:
        stages[current]["dvc_after_s"] = round(proc.wall_s - (done_at or proc.wall_s), 3)
    before = round(first if first is not None else proc.wall_s, 3)
    return {
        "dvc_before_first_stage_s": before,
        "stages": stages,
        "dvc_total_s": round(before + sum(v.get("dvc_after_s", 0.0) for v in stages.values()), 3),
    }


def stage_figures(proc: Proc) -> dict[str, Any]:
    return {"wall_s": round(proc.wall_s, 3), "max_rss_kib": proc.max_rss_kib}


def split_size(project: Path, split: str) -> int:
    """Images in a prepared split, counted by another process so that this one stays small (`rss_floor_kib`)."""
    count = "import sys, numpy; print(len(numpy.load(sys.argv[1], mmap_mode='r')))"
    return int(run([sys.executable, "-c", count, f"data/prepared/y_{split}.npy"], project).stdout)


# --------------------------------------------------------------------------- measurements


def reference(data: Path, epochs: int, scratch: Path) -> dict[str, Any]:
    proc = run([sys.executable, str(REFERENCE), "--data", str(data), "--epochs", str(epochs)], scratch)
    report = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    return {**report, "wall_s": round(proc.wall_s, 3), "max_rss_kib": proc.max_rss_kib}


def train_variant(project: Path, tag: str, params_file: str) -> dict[str, Any]:
    model, live = f"models/{tag}.keras", f"metrics/{tag}-train"
    command = ["-m", "stages.train", "--params", params_file, "--no-progress", "--model", model, "--live-dir", live]
    proc = run([sys.executable, *command], project)
    times = epoch_times(proc)
    figures = {**stage_figures(proc), "train_s": train_seconds(proc), "epoch_line_at_s": [round(t, 3) for t in times]}
    if len(times) >= 2:
        figures["steady_epoch_s"] = round((times[-1] - times[0]) / (len(times) - 1), 3)
    return figures


def evaluate_variant(project: Path, tag: str, params_file: str) -> dict[str, Any]:
    model, out = f"models/{tag}.keras", f"metrics/{tag}-eval"
    command = ["-m", "stages.evaluate", "--params", params_file, "--model", model, "--out", out]
    proc = run([sys.executable, *command], project)
    accuracy = json.loads((project / out / "metrics.json").read_text())["accuracy"]
    return {**stage_figures(proc), "test_accuracy": accuracy}


def stages_one_by_one(project: Path, first: str, cnn: bool) -> dict[str, Any]:
    """Every stage as its own process, in pipeline order; the two train variants in the order `first`."""
    out: dict[str, Any] = {}
    out["download"] = stage_figures(run([sys.executable, "-m", "stages.download", "--no-progress"], project))
    out["prepare"] = stage_figures(run([sys.executable, "-m", "stages.prepare"], project))
    out["prepare"]["counts"] = {"train": split_size(project, "train")}
    order = sorted(TRAIN_VARIANTS, key=lambda tag: tag != first)
    for tag in order:
        out[f"train_{tag}"] = train_variant(project, tag, TRAIN_VARIANTS[tag])
    out["evaluate"] = evaluate_variant(project, "deterministic", TRAIN_VARIANTS["deterministic"])
    # bless and export read models/model.keras and evaluate's outputs, the stages' defaults: give them the
    # deterministic model
    shutil.copy2(project / "models/deterministic.keras", project / "models/model.keras")
    evaluated = "metrics/deterministic-eval"
    predictions = f"{evaluated}/confusion.csv"
    out["bless"] = stage_figures(run([sys.executable, "-m", "stages.bless", "--predictions", predictions], project))
    out["export"] = stage_figures(run([sys.executable, "-m", "stages.export", "--eval", evaluated], project))
    if cnn:
        out["train_cnn"] = train_variant(project, "cnn", "params-cnn.yaml")
        out["evaluate_cnn"] = evaluate_variant(project, "cnn", "params-cnn.yaml")
    return out


def tensorflow_import() -> dict[str, Any]:
    """What every stage that uses TensorFlow pays before doing anything: a fresh `import tensorflow`."""
    proc = run([sys.executable, "-c", "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'; import tensorflow"], ROOT)
    return stage_figures(proc)


def pipeline_full(template: Path, target: Path) -> dict[str, Any]:
    shutil.copytree(template, target, symlinks=True)
    proc = run(["dvc", "repro"], target)
    run(["git", "add", "-A"], target)
    run(["git", "commit", "-qm", "dvc repro"], target)
    return {
        "wall_s": round(proc.wall_s, 3),
        "max_rss_kib": proc.max_rss_kib,
        "train_s": train_seconds(proc),
        "test_accuracy": json.loads((target / "metrics/eval/metrics.json").read_text())["accuracy"],
        "breakdown": dvc_breakdown(proc),
    }


def noop_pairs(project: Path, trivial: Path, pairs: int, ours_first: bool) -> dict[str, Any]:
    for repo in (project, trivial):  # one unmeasured warm-up each
        run(["dvc", "repro"], repo)
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(pairs):
        order = [(project, ours), (trivial, theirs)]
        if (i % 2 == 0) != ours_first:
            order.reverse()
        for repo, sink in order:
            proc = run(["dvc", "repro"], repo)
            if "up to date" not in proc.stdout + proc.stderr:
                raise RuntimeError(f"dvc repro in {repo.name} was not a no-op:\n{proc.stdout[-2000:]}")
            sink.append(round(proc.wall_s, 3))
    return {"ours_s": ours, "trivial_s": theirs}


def experiment(project: Path, epochs: int) -> dict[str, Any]:
    proc = run(["dvc", "exp", "run", "--set-param", f"train.epochs={epochs}"], project)
    ran = [stage for stage in STAGES if f"Running stage '{stage}'" in proc.stdout + proc.stderr]
    return {
        "wall_s": round(proc.wall_s, 3),
        "max_rss_kib": proc.max_rss_kib,
        "stages_run": ran,
        "breakdown": dvc_breakdown(proc),
    }


# --------------------------------------------------------------------------- a round


def one_round(index: int, settings: Settings, where: Workspace) -> dict[str, Any]:
    """Every measurement once, ours and the reference in the order of this round (flipped every round)."""
    ours_first = index % 2 == 0
    result: dict[str, Any] = {"round": index + 1, "ours_first": ours_first, "load_before": os.getloadavg()}
    pipeline = where.scratch / f"pipeline-{index + 1}"

    def pair(ours: tuple[str, Callable[[], Any]], theirs: tuple[str, Callable[[], Any]]) -> None:
        for key, what in (ours, theirs) if ours_first else (theirs, ours):
            log(f"round {index + 1}: {key}")
            result[key] = what()

    pair(
        ("pipeline_full", lambda: pipeline_full(where.template, pipeline)),
        ("reference_full", lambda: reference(settings.data, settings.epochs, where.scratch)),
    )
    log(f"round {index + 1}: noop")
    result["noop"] = noop_pairs(pipeline, where.trivial, settings.noop_pairs, ours_first)
    pair(
        ("experiment", lambda: experiment(pipeline, settings.exp_epochs)),
        ("reference_experiment", lambda: reference(settings.data, settings.exp_epochs, where.scratch)),
    )
    log(f"round {index + 1}: tensorflow_import, stages")
    result["tensorflow_import"] = tensorflow_import()
    first = "deterministic" if ours_first else "nondeterministic"
    result["stages"] = stages_one_by_one(where.stages, first, cnn=index < settings.cnn_rounds)
    shutil.rmtree(pipeline, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    return result
