"""Speed, rendering: the summary of `speed_summary` as the Markdown table in benchmarks/results/speed.md.

Pure formatting: every cell comes from the summary; an empty list of figures is an error
(`MissingFigure`), so no cell can read "n/a".
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from benchmarks.common import MissingFigure

if TYPE_CHECKING:
    from benchmarks.speed_measure import Settings

GOALS = {
    "train_speedup": 4.0,  # reference fit time / our training time, at least
    "accuracy_points": 0.5,  # ours may be at most this many points below the reference
    "pipeline_ratio": 0.5,  # whole pipeline / reference whole wall time, at most
    "experiment_ratio": 0.5,
    "noop_ratio": 1.3,
    "prepare_s": 2.0,
    "train_rss_gib": 1.2,
}


def median(values: list[float]) -> float:
    if not values:
        raise MissingFigure("a figure of the table has no value in any round")
    return statistics.median(values)


def spread(values: list[float], unit: str = "", digits: int = 1, scale: float = 1.0) -> str:
    """`median (min–max)` over rounds, or `median (1 round)`."""
    middle = median(values) * scale
    values = [v * scale for v in values]
    form = f",.{digits}f" if digits == 0 else f".{digits}f"  # thousands separators for counts
    text = f"{middle:{form}}{unit}"
    if len(values) == 1:
        return f"{text} (1 round)"
    return f"{text} ({min(values):{form}}–{max(values):{form}})"


def verdict(ok: bool, text: str) -> str:
    return ("**met**: " if ok else "**missed**: ") + text


def code_line(info: dict[str, Any]) -> list[str]:
    code = info.get("code")
    if not code:
        return []
    extra = f", with uncommitted changes to {', '.join(code['uncommitted'])}" if code["uncommitted"] else ""
    return [f"Code measured: commit {code['commit']}{extra}.", ""]


def header(info: dict[str, Any], settings: Settings) -> list[str]:
    m = info["machine"]
    return [
        "# Speed: the pipeline against the seed program",
        "",
        f"Measured {info['date']} with `python -m benchmarks.speed --data <{info['data_name']} folder> --rounds {settings.rounds}`"
        f" ({info['dataset']} files, {info['rounds_done']} round(s), ours and the reference alternating, order flipped each round;"
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
        " our `train` stage uses `train.threads: auto`, one thread for the MLP.",
        "",
    ]


def row(*cells: str) -> str:
    """One Markdown table row; an empty cell stays `| |`."""
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def ratio_row(
    number: int, label: str, ours: list[float], reference: list[float], ratio: list[float], goal: float, digits: int = 1
) -> str:
    """A figure whose goal is a ceiling on ours/reference (times in seconds)."""
    middle = median(ratio)
    return row(
        str(number),
        label,
        spread(ours, " s", digits),
        spread(reference, " s", digits),
        spread(ratio, "", 2),
        f"≤ {goal}×",
        verdict(middle <= goal, f"{middle:.2f}×"),
    )


def goal_rows(s: dict[str, Any], settings: Settings) -> list[str]:
    """The numbered figures against their goals."""
    g = GOALS
    E, X = settings.epochs, settings.exp_epochs
    t, tp, a = s["train"], s["throughput"], s["accuracy"]
    speed, diff = median(t["speedup"]), median(a["difference_points"])
    rows = [
        "| # | figure | ours | reference | ours/reference | goal | result |",
        "|---|---|---|---|---|---|---|",
        row(
            "1",
            f"training time, MLP 128, batch 32, Adam 1e-3, {E} epochs (ours: `train: ... in X s`; reference: `fit`)",
            spread(t["ours_s"], " s"),
            spread(t["reference_fit_s"], " s"),
            f"{spread(t['ratio'], '', 2)} (speed-up {spread(t['speedup'], '×', 1)})",
            f"≥ {g['train_speedup']:.0f}× faster",
            verdict(speed >= g["train_speedup"], f"{speed:.1f}× faster"),
        ),
        row(
            "1",
            f"the same as throughput, training examples per second (ours: the training split, "
            f"{tp['ours_examples']:,.0f} images, the rest is validation; the reference: all {tp['reference_examples']:,.0f})",
            spread(tp["ours_examples_per_s"], "", 0),
            spread(tp["reference_examples_per_s"], "", 0),
            f"{spread(tp['ratio'], '×', 2)} (ours/reference)",
            "",
            "",
        ),
        row(
            "1",
            f"test accuracy after {E} epochs (%)",
            spread(a["ours"], "", 2, 100),
            spread(a["reference"], "", 2, 100),
            f"{spread(a['difference_points'], ' pt', 2)} (difference)",
            f"≥ reference − {g['accuracy_points']} pt",
            verdict(diff >= -g["accuracy_points"], f"{diff:+.2f} points"),
        ),
    ]
    pipeline, experiment, noop = s["pipeline"], s["experiment"], s["noop"]
    rows += [
        ratio_row(
            2,
            f"whole pipeline: `dvc repro` from the raw IDX files to the report ({E} epochs) vs the reference's whole run",
            pipeline["ours_s"],
            pipeline["reference_s"],
            pipeline["ratio"],
            g["pipeline_ratio"],
        ),
        ratio_row(
            3,
            f"experiment: `dvc exp run --set-param train.epochs={X}` after a full run vs the reference at {X} epochs",
            experiment["ours_s"],
            experiment["reference_s"],
            experiment["ratio"],
            g["experiment_ratio"],
        ),
        ratio_row(
            4,
            f"no-op `dvc repro` (median of {settings.noop_pairs} per round) vs a trivial two-stage DVC pipeline",
            noop["ours_s"],
            noop["trivial_s"],
            noop["ratio"],
            g["noop_ratio"],
            digits=2,
        ),
    ]
    p = median(s["prepare_s"])
    train_rss = s["rss_gib"]["train (mlp)"]
    peak = max(train_rss, default=None)
    if peak is None:
        raise MissingFigure("no peak memory of the train stage in any round")
    c, d = s["cnn"], s["determinism"]
    cost = (median(d["ratio"]) - 1) * 100
    rows += [
        row(
            "5",
            "prepare, 70,000 images (`python -m stages.prepare`, whole process)",
            spread(s["prepare_s"], " s", 2),
            "",
            "",
            f"≤ {g['prepare_s']} s",
            verdict(p <= g["prepare_s"], f"{p:.2f} s"),
        ),
        row(
            "6",
            "peak memory of the train stage (max RSS)",
            spread(train_rss, " GiB", 2),
            spread(s["rss_gib"]["reference program (seed)"], " GiB", 2),
            "",
            f"≤ {g['train_rss_gib']} GiB",
            verdict(peak <= g["train_rss_gib"], f"{peak:.2f} GiB at most"),
        ),
        row(
            "7",
            f"`cnn` model: seconds per epoch after the first (epoch 1 includes tracing); {c['epochs']} epochs",
            f"{spread(c['epoch_after_first_s'], ' s/epoch')} (MLP: {spread(c['mlp_epoch_after_first_s'], ' s/epoch', 2)})",
            "",
            "",
            "",
            f"test accuracy {spread(c['test_accuracy'], ' %', 2, 100)} after {c['epochs']} epochs; "
            f"whole training {spread(c['train_s'], ' s')}",
        ),
        row(
            "8",
            "determinism cost: training time with `train.deterministic: true` / `false`",
            f"{spread(d['deterministic_s'], ' s')} vs {spread(d['nondeterministic_s'], ' s')}",
            "",
            spread(d["ratio"], "", 2),
            "",
            f"deterministic costs {cost:+.0f} %",
        ),
    ]
    return rows


def detail_sections(info: dict[str, Any], s: dict[str, Any]) -> list[str]:
    """Memory and wall time of every process, and where the time of the two dvc commands goes."""
    lines = [
        "",
        "## Peak memory of every stage (max RSS of the process, GiB)",
        "",
        "| process | max RSS |",
        "|---|---|",
    ]
    lines += [f"| {name} | {spread(values, '', 2)} |" for name, values in s["rss_gib"].items()]
    lines += ["", "## Every stage as its own process (wall time, s)", "", "| stage | wall |", "|---|---|"]
    lines += [f"| {name} | {spread(values, ' s', 1)} |" for name, values in s["stage_walls"].items()]
    lines.append(
        f"| for scale: a fresh `python -c 'import tensorflow'` (train and export each pay it; evaluate runs in NumPy) "
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
    full, exp = s["breakdown"]["pipeline_full"], s["breakdown"]["experiment"]
    for name in dict.fromkeys([*full, *exp]):
        in_full = spread(full[name], "", 1) if name in full else "–"
        lines.append(f"| {name} | {in_full} | {spread(exp[name], '', 1) if name in exp else '–'} |")
    lines += [
        "",
        f"Max RSS is `ru_maxrss` of each process from `wait4`; Linux starts a child's figure from its parent's peak at exec, "
        f"so nothing below the benchmark process's own peak ({info['rss_floor_mib']:.0f} MiB) could show.",
    ]
    if info.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in info["notes"]]
    return lines


def markdown(info: dict[str, Any], summary: dict[str, Any], settings: Settings) -> str:
    return "\n".join([*header(info, settings), *goal_rows(summary, settings), *detail_sections(info, summary)]) + "\n"
