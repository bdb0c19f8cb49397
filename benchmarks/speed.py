"""Speed: our pipeline against the seed program (the TensorFlow quickstart), on the seed's own ground.

    python benchmarks/speed.py --data DIR [--rounds 3] [--out benchmarks/results/speed.md]

DIR holds the four MNIST-format .gz files (MNIST, Fashion-MNIST or any other). Every
comparison is made in this one run, alternating ours and the reference round by round
(the order flips every round), and reported as the median and min-max over rounds; a
ratio ours/reference is computed within each round, then its median is taken. The
machine may be shared, so only same-run figures are compared, never figures from
another day.

What runs, per round:
- the reference: `benchmarks/seed_reference.py` at `--epochs` (10) and `--exp-epochs` (5),
  each a fresh process timed from outside (whole wall time) and reporting its `fit` time;
- the pipeline: a fresh copy of the project (what a clone has, `tests/conftest.py`'s
  `copy_project`) with `data.source` = DIR: `dvc repro` from the raw files to the export,
  then no-op `dvc repro`s alternating with those of a trivial two-stage DVC pipeline,
  then `dvc exp run --set-param train.epochs=<exp-epochs>`;
- the stages one by one (`python -m stages.<stage>`) in another copy, each process timed
  and its peak memory taken from `wait4`: download, prepare, train with
  `train.deterministic` true and false (alternating), evaluate, export; and, in the first
  `--cnn-rounds` rounds, the `cnn` model for `--cnn-epochs` epochs.

Writes the Markdown table to --out, the raw numbers to the same name with .json, and
prints the table. Not a test: nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BIN, ROOT, Proc, code_version, detect_dataset, log, machine, rss_floor_kib, run, without_local_paths  # noqa: E402

from tests.conftest import copy_project  # noqa: E402  (the test suite's project copy: what a clone has)

REFERENCE = ROOT / "benchmarks" / "seed_reference.py"
TRAIN_LINE = re.compile(r"train: (\w+) (\d+) epochs in ([0-9.]+) s")
EPOCH_LINE = re.compile(r"^epoch (\d+): ")

GOALS = {
    "train_speedup": 4.0,  # reference fit time / our training time, at least
    "accuracy_points": 0.5,  # ours may be at most this many points below the reference
    "pipeline_ratio": 0.5,  # whole pipeline / reference whole wall time, at most
    "experiment_ratio": 0.5,
    "noop_ratio": 1.3,
    "prepare_s": 2.0,
    "train_rss_gib": 1.2,
}


# --------------------------------------------------------------------------- set-up


def write_params_variant(project: Path, name: str, train: dict[str, Any]) -> str:
    """A second params file (same content, some `train` values changed) for a stage's `--params`."""
    content = yaml.safe_load((project / "params.yaml").read_text())
    content["train"].update(train)
    (project / name).write_text(yaml.safe_dump(content, sort_keys=False))
    return name


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


# --------------------------------------------------------------------------- measurements


def reference(data: Path, epochs: int, scratch: Path) -> dict[str, Any]:
    proc = run([sys.executable, str(REFERENCE), "--data", str(data), "--epochs", str(epochs)], scratch)
    report = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    return {**report, "wall_s": round(proc.wall_s, 3), "max_rss_kib": proc.max_rss_kib}


def train_seconds(proc: Proc) -> float:
    found = TRAIN_LINE.search(proc.stdout)
    if not found:
        raise RuntimeError(f"no `train: ... epochs in X s` line in:\n{proc.stdout[-2000:]}")
    return float(found.group(3))


def epoch_times(proc: Proc) -> list[float]:
    """When each `epoch N:` line came out, in seconds since the process started."""
    return [at for at, text in proc.lines if EPOCH_LINE.match(text)]


def stage_figures(proc: Proc) -> dict[str, Any]:
    return {"wall_s": round(proc.wall_s, 3), "max_rss_kib": proc.max_rss_kib}


def train_variant(project: Path, tag: str, params_file: str) -> dict[str, Any]:
    proc = run(
        [
            sys.executable,
            "-m",
            "stages.train",
            "--params",
            params_file,
            "--no-progress",
            "--model",
            f"models/{tag}.keras",
            "--live-dir",
            f"metrics/{tag}-train",
        ],
        project,
    )
    times = epoch_times(proc)
    figures = {**stage_figures(proc), "train_s": train_seconds(proc), "epoch_line_at_s": [round(t, 3) for t in times]}
    if len(times) >= 2:
        figures["steady_epoch_s"] = round((times[-1] - times[0]) / (len(times) - 1), 3)
    return figures


def evaluate_variant(project: Path, tag: str, params_file: str) -> dict[str, Any]:
    proc = run(
        [
            sys.executable,
            "-m",
            "stages.evaluate",
            "--params",
            params_file,
            "--model",
            f"models/{tag}.keras",
            "--metrics",
            f"metrics/{tag}-eval.json",
            "--plots",
            f"metrics/{tag}-eval",
        ],
        project,
    )
    accuracy = json.loads((project / f"metrics/{tag}-eval.json").read_text())["accuracy"]
    return {**stage_figures(proc), "test_accuracy": accuracy}


def stages_one_by_one(project: Path, first: str, cnn: bool) -> dict[str, Any]:
    """Every stage as its own process, in pipeline order; the two train variants in the order `first`."""
    out: dict[str, Any] = {}
    out["download"] = stage_figures(run([sys.executable, "-m", "stages.download", "--no-progress"], project))
    out["prepare"] = stage_figures(run([sys.executable, "-m", "stages.prepare"], project))
    out["prepare"]["counts"] = json.loads((project / "metrics/data.json").read_text())["counts"]
    variants = {"deterministic": "params-deterministic.yaml", "nondeterministic": "params-nondeterministic.yaml"}
    order = ["deterministic", "nondeterministic"] if first == "deterministic" else ["nondeterministic", "deterministic"]
    for tag in order:
        out[f"train_{tag}"] = train_variant(project, tag, variants[tag])
    out["evaluate"] = evaluate_variant(project, "deterministic", variants["deterministic"])
    # export reads models/model.keras and metrics/eval.json, the stage's defaults: give it the deterministic model
    shutil.copy2(project / "models/deterministic.keras", project / "models/model.keras")
    shutil.copy2(project / "metrics/deterministic-eval.json", project / "metrics/eval.json")
    out["export"] = stage_figures(run([sys.executable, "-m", "stages.export"], project))
    if cnn:
        out["train_cnn"] = train_variant(project, "cnn", "params-cnn.yaml")
        out["evaluate_cnn"] = evaluate_variant(project, "cnn", "params-cnn.yaml")
    return out


STAGE_START = re.compile(r"^Running stage '(\w+)'")
STAGE_DONE = re.compile(r"^(download|prepare|train|evaluate|export): ")


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


def tensorflow_import() -> dict[str, Any]:
    """What every stage that uses TensorFlow pays before doing anything: a fresh `import tensorflow`."""
    proc = run([sys.executable, "-c", "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'; import tensorflow"], ROOT)
    return stage_figures(proc)


def pipeline_full(template: Path, target: Path) -> dict[str, Any]:
    shutil.copytree(template, target, symlinks=True)
    proc = run(["dvc", "repro"], target)
    run(["git", "add", "-A"], target)
    run(["git", "commit", "-qm", "dvc repro"], target)
    accuracy = json.loads((target / "metrics/eval.json").read_text())["accuracy"]
    found = TRAIN_LINE.search(proc.stdout)
    return {
        "wall_s": round(proc.wall_s, 3),
        "max_rss_kib": proc.max_rss_kib,
        "train_s": float(found.group(3)) if found else None,
        "test_accuracy": accuracy,
        "breakdown": dvc_breakdown(proc),
    }


def noop_pairs(project: Path, trivial: Path, pairs: int, ours_first: bool) -> dict[str, Any]:
    for repo in (project, trivial):  # one unmeasured warm-up each
        run(["dvc", "repro"], repo)
    ours, theirs = [], []
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
    ran = [
        stage
        for stage in ("download", "prepare", "train", "evaluate", "export")
        if f"Running stage '{stage}'" in proc.stdout + proc.stderr
    ]
    return {
        "wall_s": round(proc.wall_s, 3),
        "max_rss_kib": proc.max_rss_kib,
        "stages_run": ran,
        "breakdown": dvc_breakdown(proc),
    }


# --------------------------------------------------------------------------- the run


def one_round(
    index: int, args: argparse.Namespace, template: Path, stages_project: Path, trivial: Path, scratch: Path
) -> dict[str, Any]:
    ours_first = index % 2 == 0
    result: dict[str, Any] = {"round": index + 1, "ours_first": ours_first, "load_before": os.getloadavg()}
    pipeline = scratch / f"pipeline-{index + 1}"

    def measure(key: str, what: Callable[[], Any]) -> None:
        log(f"round {index + 1}: {key}")
        try:
            result[key] = what()
        except Exception as error:  # noqa: BLE001 - a failed item is reported, the rest still runs
            result[key] = {"error": f"{type(error).__name__}: {error}"[:3000]}
            log(f"round {index + 1}: {key} FAILED\n{traceback.format_exc()}")

    pair = [
        ("reference_full", lambda: reference(args.data, args.epochs, scratch)),
        ("pipeline_full", lambda: pipeline_full(template, pipeline)),
    ]
    for key, what in pair[::-1] if ours_first else pair:
        measure(key, what)
    if "error" not in result["pipeline_full"]:
        measure("noop", lambda: noop_pairs(pipeline, trivial, args.noop_pairs, ours_first))
        pair = [
            ("reference_experiment", lambda: reference(args.data, args.exp_epochs, scratch)),
            ("experiment", lambda: experiment(pipeline, args.exp_epochs)),
        ]
    else:
        pair = [("reference_experiment", lambda: reference(args.data, args.exp_epochs, scratch))]
    for key, what in pair[::-1] if ours_first else pair:
        measure(key, what)
    measure("tensorflow_import", tensorflow_import)
    first = "deterministic" if ours_first else "nondeterministic"
    measure("stages", lambda: stages_one_by_one(stages_project, first, cnn=index < args.cnn_rounds))
    shutil.rmtree(pipeline, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    return result


# --------------------------------------------------------------------------- summary


def get(rounds: list[dict], *path: str) -> list[float]:
    """The value at `path` in every round that has it (failed items are skipped)."""
    values = []
    for item in rounds:
        node: Any = item
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            values.append(float(node))
    return values


def paired(
    rounds: list[dict], ours: Callable[[dict], float | None], theirs: Callable[[dict], float | None]
) -> list[float]:
    """ours/theirs within each round that has both."""
    ratios = []
    for item in rounds:
        try:
            a, b = ours(item), theirs(item)
        except (KeyError, TypeError, ZeroDivisionError, statistics.StatisticsError):
            continue
        if a is not None and b:
            ratios.append(a / b)
    return ratios


def spread(values: list[float], unit: str = "", digits: int = 1, scale: float = 1.0) -> str:
    if not values:
        return "n/a"
    values = [v * scale for v in values]
    form = f",.{digits}f" if digits == 0 else f".{digits}f"  # thousands separators for counts
    median = f"{statistics.median(values):{form}}{unit}"
    if len(values) == 1:
        return f"{median} (1 round)"
    return f"{median} ({min(values):{form}}–{max(values):{form}})"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def verdict(value: float | None, ok: bool | None, text: str) -> str:
    if value is None or ok is None:
        return "n/a"
    return ("**met**: " if ok else "**missed**: ") + text


def summarize(rounds: list[dict], args: argparse.Namespace) -> dict[str, Any]:
    s: dict[str, Any] = {}
    # 1. training throughput
    ref_fit = get(rounds, "reference_full", "fit_s")
    our_train = get(rounds, "stages", "train_deterministic", "train_s")
    speedups = paired(
        rounds, lambda r: r["reference_full"]["fit_s"], lambda r: r["stages"]["train_deterministic"]["train_s"]
    )
    ratio = paired(
        rounds, lambda r: r["stages"]["train_deterministic"]["train_s"], lambda r: r["reference_full"]["fit_s"]
    )
    ref_acc = get(rounds, "reference_full", "test_accuracy")
    our_acc = get(rounds, "stages", "evaluate", "test_accuracy")
    acc_diff = paired(
        rounds, lambda r: r["stages"]["evaluate"]["test_accuracy"] - r["reference_full"]["test_accuracy"], lambda r: 1.0
    )
    s["train"] = {"ours_s": our_train, "reference_fit_s": ref_fit, "ratio": ratio, "speedup": speedups}

    def examples_per_s(r: dict, ours: bool) -> float:
        if ours:
            return (
                r["stages"]["prepare"]["counts"]["train"] * args.epochs / r["stages"]["train_deterministic"]["train_s"]
            )
        return r["reference_full"]["train_examples"] * args.epochs / r["reference_full"]["fit_s"]

    s["throughput"] = {
        "ours_examples_per_s": paired(rounds, lambda r: examples_per_s(r, True), lambda r: 1.0),
        "reference_examples_per_s": paired(rounds, lambda r: examples_per_s(r, False), lambda r: 1.0),
        "ratio": paired(rounds, lambda r: examples_per_s(r, True), lambda r: examples_per_s(r, False)),
    }
    s["accuracy"] = {"ours": our_acc, "reference": ref_acc, "difference_points": [d * 100 for d in acc_diff]}
    # 2. whole pipeline
    s["pipeline"] = {
        "ours_s": get(rounds, "pipeline_full", "wall_s"),
        "reference_s": get(rounds, "reference_full", "wall_s"),
        "ratio": paired(rounds, lambda r: r["pipeline_full"]["wall_s"], lambda r: r["reference_full"]["wall_s"]),
    }
    # 3. experiment
    s["experiment"] = {
        "ours_s": get(rounds, "experiment", "wall_s"),
        "reference_s": get(rounds, "reference_experiment", "wall_s"),
        "ratio": paired(rounds, lambda r: r["experiment"]["wall_s"], lambda r: r["reference_experiment"]["wall_s"]),
    }
    # 4. no-op
    s["noop"] = {
        "ours_s": [statistics.median(r["noop"]["ours_s"]) for r in rounds if "ours_s" in r.get("noop", {})],
        "trivial_s": [statistics.median(r["noop"]["trivial_s"]) for r in rounds if "trivial_s" in r.get("noop", {})],
        "ratio": paired(
            rounds,
            lambda r: statistics.median(r["noop"]["ours_s"]),
            lambda r: statistics.median(r["noop"]["trivial_s"]),
        ),
    }
    # 5. prepare
    s["prepare_s"] = get(rounds, "stages", "prepare", "wall_s")
    # 6. memory
    s["rss_gib"] = {
        name: [v / 1024**2 for v in get(rounds, "stages", key, "max_rss_kib")]
        for name, key in (
            ("download", "download"),
            ("prepare", "prepare"),
            ("train (mlp)", "train_deterministic"),
            ("train (mlp, deterministic: false)", "train_nondeterministic"),
            ("evaluate", "evaluate"),
            ("export", "export"),
            ("train (cnn)", "train_cnn"),
            ("evaluate (cnn)", "evaluate_cnn"),
        )
    }
    s["rss_gib"]["reference program (seed)"] = [v / 1024**2 for v in get(rounds, "reference_full", "max_rss_kib")]
    s["rss_gib"]["dvc repro, whole tree (largest process)"] = [
        v / 1024**2 for v in get(rounds, "pipeline_full", "max_rss_kib")
    ]
    # 7. cnn
    cnn_epoch = [
        (r["stages"]["train_cnn"]["epoch_line_at_s"][1] - r["stages"]["train_cnn"]["epoch_line_at_s"][0])
        for r in rounds
        if len(r.get("stages", {}).get("train_cnn", {}).get("epoch_line_at_s", [])) >= 2
    ]
    s["cnn"] = {
        "epochs": args.cnn_epochs,
        "train_s": get(rounds, "stages", "train_cnn", "train_s"),
        "epoch_after_first_s": cnn_epoch,
        "test_accuracy": get(rounds, "stages", "evaluate_cnn", "test_accuracy"),
        "mlp_epoch_after_first_s": get(rounds, "stages", "train_deterministic", "steady_epoch_s"),
    }
    # where the time goes
    s["breakdown"] = {}
    for key in ("pipeline_full", "experiment"):
        rows: dict[str, list[float]] = {
            "dvc before the first stage": get(rounds, key, "breakdown", "dvc_before_first_stage_s")
        }
        for stage in ("download", "prepare", "train", "evaluate", "export"):
            rows[f"{stage}: its process, up to its last line"] = get(
                rounds, key, "breakdown", "stages", stage, "process_s"
            )
            rows[f"{stage}: its exit, then dvc (hash, cache, lock)"] = get(
                rounds, key, "breakdown", "stages", stage, "dvc_after_s"
            )
        rows["dvc's own time and the stages' exits, in all"] = get(rounds, key, "breakdown", "dvc_total_s")
        rows["whole command"] = get(rounds, key, "wall_s")
        s["breakdown"][key] = {name: values for name, values in rows.items() if values}
    s["tensorflow_import_s"] = get(rounds, "tensorflow_import", "wall_s")
    # 8. determinism
    s["determinism"] = {
        "deterministic_s": get(rounds, "stages", "train_deterministic", "train_s"),
        "nondeterministic_s": get(rounds, "stages", "train_nondeterministic", "train_s"),
        "ratio": paired(
            rounds,
            lambda r: r["stages"]["train_deterministic"]["train_s"],
            lambda r: r["stages"]["train_nondeterministic"]["train_s"],
        ),
    }
    return s


def code_line(info: dict[str, Any]) -> list[str]:
    code = info.get("code")
    if not code:
        return []
    extra = f", with uncommitted changes to {', '.join(code['uncommitted'])}" if code["uncommitted"] else ""
    return [f"Code measured: commit {code['commit']}{extra}.", ""]


def markdown(info: dict[str, Any], s: dict[str, Any], args: argparse.Namespace) -> str:
    g = GOALS
    m = info["machine"]
    rounds = info["rounds_done"]
    E, X = args.epochs, args.exp_epochs

    def ok_at_most(values: list[float], goal: float) -> bool | None:
        return None if not values else median(values) <= goal

    lines = [
        "# Speed: the pipeline against the seed program",
        "",
        f"Measured {info['date']} with `python benchmarks/speed.py --data <{info['data_name']} folder> --rounds {args.rounds}`"
        f" ({info['dataset']} files, {rounds} round(s), ours and the reference alternating, order flipped each round;"
        f" {info['elapsed_min']:.0f} min in all).",
        "",
        *code_line(info),
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['memory_gib']} GiB RAM; "
        f"Python {m['python']}, TensorFlow {m['tensorflow']}, Keras {m['keras']}, DVC {m['dvc']}. "
        f"Load average (1 min) over the run: {info['load_min']:.1f}–{info['load_max']:.1f} "
        "(the machine is shared with other jobs, so absolute times are noisy; compare within this run only).",
        "",
        "Each cell: median (min–max) over rounds. Ratios are ours/reference computed within each round, then the median.",
        "The reference is `benchmarks/seed_reference.py`: the quickstart's code with its default TensorFlow threading (all cores);"
        " our `train` stage uses `train.threads: 1`.",
        "",
        "| # | figure | ours | reference | ours/reference | goal | result |",
        "|---|---|---|---|---|---|---|",
    ]
    t = s["train"]
    speed = median(t["speedup"])
    lines.append(
        f"| 1 | training time, MLP 128, batch 32, Adam 1e-3, {E} epochs (ours: `train: ... in X s`; reference: `fit`) "
        f"| {spread(t['ours_s'], ' s')} | {spread(t['reference_fit_s'], ' s')} | {spread(t['ratio'], '', 2)} "
        f"(speed-up {spread(t['speedup'], '×', 1)}) | ≥ {g['train_speedup']:.0f}× faster "
        f"| {verdict(speed, speed is not None and speed >= g['train_speedup'], f'{speed:.1f}× faster' if speed else '')} |"
    )
    tp = s["throughput"]
    lines.append(
        f"| 1 | the same as throughput, training examples per second (ours: 90 % of the training set, "
        f"the rest is validation; the reference: all of it) | {spread(tp['ours_examples_per_s'], '', 0)} "
        f"| {spread(tp['reference_examples_per_s'], '', 0)} | {spread(tp['ratio'], '×', 2)} (ours/reference) | | |"
    )
    a = s["accuracy"]
    diff = median(a["difference_points"])
    lines.append(
        f"| 1 | test accuracy after {E} epochs (%) | {spread(a['ours'], '', 2, 100)} | {spread(a['reference'], '', 2, 100)} "
        f"| {spread(a['difference_points'], ' pt', 2)} (difference) | ≥ reference − {g['accuracy_points']} pt "
        f"| {verdict(diff, diff is not None and diff >= -g['accuracy_points'], f'{diff:+.2f} points' if diff is not None else '')} |"
    )
    for number, key, label, goal_key in (
        (
            2,
            "pipeline",
            f"whole pipeline: `dvc repro` from the raw IDX files to the export ({E} epochs) vs the reference's whole run",
            "pipeline_ratio",
        ),
        (
            3,
            "experiment",
            f"experiment: `dvc exp run --set-param train.epochs={X}` after a full run vs the reference at {X} epochs",
            "experiment_ratio",
        ),
    ):
        v = s[key]
        r = median(v["ratio"])
        lines.append(
            f"| {number} | {label} | {spread(v['ours_s'], ' s')} | {spread(v['reference_s'], ' s')} | {spread(v['ratio'], '', 2)} "
            f"| ≤ {g[goal_key]}× | {verdict(r, ok_at_most(v['ratio'], g[goal_key]), f'{r:.2f}×' if r else '')} |"
        )
    n = s["noop"]
    r = median(n["ratio"])
    lines.append(
        f"| 4 | no-op `dvc repro` (median of {args.noop_pairs} per round) vs a trivial two-stage DVC pipeline "
        f"| {spread(n['ours_s'], ' s', 2)} | {spread(n['trivial_s'], ' s', 2)} | {spread(n['ratio'], '', 2)} "
        f"| ≤ {g['noop_ratio']}× | {verdict(r, ok_at_most(n['ratio'], g['noop_ratio']), f'{r:.2f}×' if r else '')} |"
    )
    p = median(s["prepare_s"])
    lines.append(
        f"| 5 | prepare, 70,000 images (`python -m stages.prepare`, whole process) | {spread(s['prepare_s'], ' s', 2)} | | "
        f"| ≤ {g['prepare_s']} s | {verdict(p, p is not None and p <= g['prepare_s'], f'{p:.2f} s' if p else '')} |"
    )
    train_rss = s["rss_gib"]["train (mlp)"]
    peak = max(train_rss) if train_rss else None
    lines.append(
        f"| 6 | peak memory of the train stage (max RSS) | {spread(train_rss, ' GiB', 2)} "
        f"| {spread(s['rss_gib']['reference program (seed)'], ' GiB', 2)} | | ≤ {g['train_rss_gib']} GiB "
        f"| {verdict(peak, peak is not None and peak <= g['train_rss_gib'], f'{peak:.2f} GiB at most' if peak else '')} |"
    )
    c = s["cnn"]
    lines.append(
        f"| 7 | `cnn` model: seconds per epoch after the first (epoch 1 includes tracing); {c['epochs']} epochs "
        f"| {spread(c['epoch_after_first_s'], ' s/epoch')} (MLP: {spread(c['mlp_epoch_after_first_s'], ' s/epoch', 2)}) | | | | "
        f"test accuracy {spread(c['test_accuracy'], ' %', 2, 100)} after {c['epochs']} epochs; whole training {spread(c['train_s'], ' s')} |"
    )
    d = s["determinism"]
    lines.append(
        f"| 8 | determinism cost: training time with `train.deterministic: true` / `false` "
        f"| {spread(d['deterministic_s'], ' s')} vs {spread(d['nondeterministic_s'], ' s')} | | {spread(d['ratio'], '', 2)} | | "
        f"{'deterministic costs ' + format((median(d['ratio']) - 1) * 100, '+.0f') + ' %' if d['ratio'] else 'n/a'} |"
    )
    lines += [
        "",
        "## Peak memory of every stage (max RSS of the process, GiB)",
        "",
        "| process | max RSS |",
        "|---|---|",
    ]
    for name, values in s["rss_gib"].items():
        lines.append(f"| {name} | {spread(values, '', 2)} |")
    lines += ["", "## Every stage as its own process (wall time, s)", "", "| stage | wall |", "|---|---|"]
    for name, values in info["stage_walls"].items():
        lines.append(f"| {name} | {spread(values, ' s', 1)} |")
    lines.append(
        f"| for scale: a fresh `python -c 'import tensorflow'` (train, evaluate and export each pay it) "
        f"| {spread(s['tensorflow_import_s'], ' s', 1)} |"
    )
    lines += [
        "",
        "## Where the time goes inside `dvc repro` (item 2) and `dvc exp run` (item 3), s",
        "",
        "From when each line of dvc's output came out: a stage's process runs from `Running stage 'x'` to the stage's "
        "last line; the rest is the stage process's exit (interpreter and TensorFlow teardown) and dvc's own work "
        "(start-up, checking, hashing and caching outputs, dvc.lock, the experiment's commit).",
        "",
        "| part | `dvc repro` | `dvc exp run` |",
        "|---|---|---|",
    ]
    full, exp = s["breakdown"].get("pipeline_full", {}), s["breakdown"].get("experiment", {})
    for name in dict.fromkeys([*full, *exp]):
        lines.append(
            f"| {name} | {spread(full.get(name, []), '', 1)} | {spread(exp.get(name, []), '', 1) if name in exp else '–'} |"
        )
    lines += [
        "",
        f"Max RSS is `ru_maxrss` of each process from `wait4`; Linux starts a child's figure from its parent's peak at exec, "
        f"so nothing below the benchmark process's own peak ({info['rss_floor_mib']:.0f} MiB) could show.",
    ]
    if info.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in info["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="folder with the four MNIST-format .gz files (required)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every comparison (default 3)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/speed.md", help="Markdown results (JSON beside it)"
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the full runs (the seed's 10)")
    parser.add_argument("--exp-epochs", type=int, default=5, help="train.epochs of the experiment (default 5)")
    parser.add_argument("--noop-pairs", type=int, default=3, help="no-op dvc repro pairs per round (default 3)")
    parser.add_argument("--cnn-epochs", type=int, default=2, help="epochs of the cnn run (default 2)")
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
        render(args)
        return
    if args.data is None:
        parser.error("--data is required")
    args.data = args.data.expanduser().resolve()
    if not all((args.data / name).is_file() for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")):
        parser.error(f"--data {args.data}: expected the four MNIST-format .gz files there")

    started = time.perf_counter()
    code = code_version()
    scratch = Path(tempfile.mkdtemp(prefix="speed-", dir=args.work))
    dataset = detect_dataset(args.data)
    log(f"dataset {dataset}; scratch {scratch}")
    data_params = {"dataset": dataset, "source": str(args.data)}
    template = copy_project(scratch / "template", {"data": data_params, "train": {"epochs": args.epochs}})
    stages_project = copy_project(scratch / "stages", {"data": data_params, "train": {"epochs": args.epochs}})
    write_params_variant(stages_project, "params-deterministic.yaml", {"deterministic": True})
    write_params_variant(stages_project, "params-nondeterministic.yaml", {"deterministic": False})
    write_params_variant(stages_project, "params-cnn.yaml", {"model": "cnn", "epochs": args.cnn_epochs})
    trivial = make_trivial_pipeline(scratch / "trivial")

    rounds = []
    loads = [os.getloadavg()[0]]
    try:
        for index in range(args.rounds):
            rounds.append(one_round(index, args, template, stages_project, trivial, scratch))
            loads += [rounds[-1]["load_before"][0], rounds[-1]["load_after"][0]]
            log(f"round {index + 1} done after {(time.perf_counter() - started) / 60:.1f} min")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    summary = summarize(rounds, args)
    stage_walls = {
        name: get(rounds, "stages", key, "wall_s")
        for name, key in (
            ("download", "download"),
            ("prepare", "prepare"),
            ("train (mlp, includes import and save)", "train_deterministic"),
            ("evaluate", "evaluate"),
            ("export", "export"),
        )
    }
    failures = [
        f"round {r['round']}: {key}: {value['error'].splitlines()[0]}"
        for r in rounds
        for key, value in r.items()
        if isinstance(value, dict) and "error" in value
    ]
    notes = list(args.note) + failures
    if args.cnn_rounds < args.rounds:
        notes.append(
            f"the cnn ran in {min(args.cnn_rounds, args.rounds)} of the {args.rounds} rounds (it is the slowest item), for {args.cnn_epochs} epochs."
        )
    ran = [r.get("experiment", {}).get("stages_run") for r in rounds if "stages_run" in r.get("experiment", {})]
    if ran:
        notes.append(f"the experiment re-ran the stages: {', '.join(ran[0]) or 'none'}.")
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
        "stage_walls": stage_walls,
        "rss_floor_mib": rss_floor_kib() / 1024,
        "notes": notes,
    }
    local = {
        str(scratch): "<scratch>",
        str(args.data): f"<{args.data.name}>",
        str(ROOT): "<project>",
        str(BIN): "<venv>/bin",
    }
    text = without_local_paths(markdown(info, summary, args), local)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    settings = {k: (v.name if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out", "work")}
    raw = {"info": info, "settings": settings, "goals": GOALS, "summary": summary, "rounds": rounds}
    document = without_local_paths(json.dumps(raw, indent=2, default=str), local)
    args.out.with_suffix(".json").write_text(document + "\n", encoding="utf-8")
    print(text)


def render(args: argparse.Namespace) -> None:
    """Rewrite the Markdown (and the JSON's summary and notes) from the raw rounds of an earlier run."""
    raw = json.loads(args.render.read_text(encoding="utf-8"))
    settings = argparse.Namespace(**{**raw["settings"], "note": args.note})
    info = raw["info"]
    info["notes"] = list(dict.fromkeys([*args.note, *info.get("notes", [])]))
    raw["summary"] = summarize(raw["rounds"], settings)
    text = markdown(info, raw["summary"], settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=2, default=str) + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
