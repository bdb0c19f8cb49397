"""Speed, summarising: the raw rounds of `speed_measure` reduced to the lists of figures the table shows.

Pure functions of the rounds. A figure that a round should have and does not is an error
(`MissingFigure`), never a blank cell: a published table is complete or not written.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from benchmarks.common import MissingFigure

if TYPE_CHECKING:
    from benchmarks.speed_measure import Settings

STAGE_PROCESSES = (  # (row name, key in a round's "stages")
    ("download", "download"),
    ("prepare", "prepare"),
    ("train (mlp)", "train_deterministic"),
    ("train (mlp, deterministic: false)", "train_nondeterministic"),
    ("evaluate", "evaluate"),
    ("bless", "bless"),
    ("export", "export"),
)
CNN_PROCESSES = (("train (cnn)", "train_cnn"), ("evaluate (cnn)", "evaluate_cnn"))
STAGE_WALLS = (
    ("download", "download"),
    ("prepare", "prepare"),
    ("train (mlp, includes import and save)", "train_deterministic"),
    ("evaluate", "evaluate"),
    ("bless", "bless"),
    ("export", "export"),
)
KIB_PER_GIB = 1024**2


def figure(item: dict[str, Any], *path: str) -> Any:
    """The value at `path` in one round."""
    node: Any = item
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            where = "/".join(path[: depth + 1])
            raise MissingFigure(f"round {item.get('round', '?')}: no {where} in the measurements")
        node = node[key]
    return node


def number(item: dict[str, Any], *path: str) -> float:
    """The number at `path` in one round."""
    value = figure(item, *path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MissingFigure(f"round {item.get('round', '?')}: {'/'.join(path)} is {value!r}, not a number")
    return float(value)


def numbers(rounds: list[dict[str, Any]], *path: str) -> list[float]:
    """The number at `path` in every round."""
    return [number(item, *path) for item in rounds]


def ratios(rounds: list[dict[str, Any]], ours: tuple[str, ...], theirs: tuple[str, ...]) -> list[float]:
    """ours / theirs within each round."""
    return [number(item, *ours) / number(item, *theirs) for item in rounds]


def noop_medians(rounds: list[dict[str, Any]], key: str) -> list[float]:
    """Each round's median no-op time."""
    medians = []
    for item in rounds:
        times = figure(item, "noop", key)
        if not times:
            raise MissingFigure(f"round {item.get('round', '?')}: no noop/{key} times in the measurements")
        medians.append(statistics.median(times))
    return medians


def summarize(rounds: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """Every figure of the table and its detail sections, one value per round that measured it."""
    if not rounds:
        raise MissingFigure("no rounds were measured")
    cnn_rounds = rounds[: settings.cnn_rounds]
    ours_train = ("stages", "train_deterministic", "train_s")
    ref_fit = ("reference_full", "fit_s")
    ours_per_s = [
        number(r, "stages", "prepare", "counts", "train") * settings.epochs / number(r, *ours_train) for r in rounds
    ]
    ref_per_s = [number(r, "reference_full", "train_examples") * settings.epochs / number(r, *ref_fit) for r in rounds]
    s: dict[str, Any] = {
        # 1. training throughput and accuracy
        "train": {
            "ours_s": numbers(rounds, *ours_train),
            "reference_fit_s": numbers(rounds, *ref_fit),
            "ratio": ratios(rounds, ours_train, ref_fit),
            "speedup": ratios(rounds, ref_fit, ours_train),
        },
        "throughput": {
            "ours_examples": number(rounds[0], "stages", "prepare", "counts", "train"),
            "reference_examples": number(rounds[0], "reference_full", "train_examples"),
            "ours_examples_per_s": ours_per_s,
            "reference_examples_per_s": ref_per_s,
            "ratio": [ours / ref for ours, ref in zip(ours_per_s, ref_per_s)],
        },
        "accuracy": {
            "ours": numbers(rounds, "stages", "evaluate", "test_accuracy"),
            "reference": numbers(rounds, "reference_full", "test_accuracy"),
            "difference_points": [
                (number(r, "stages", "evaluate", "test_accuracy") - number(r, "reference_full", "test_accuracy")) * 100
                for r in rounds
            ],
        },
        # 2. the whole pipeline, 3. an experiment
        "pipeline": {
            "ours_s": numbers(rounds, "pipeline_full", "wall_s"),
            "reference_s": numbers(rounds, "reference_full", "wall_s"),
            "ratio": ratios(rounds, ("pipeline_full", "wall_s"), ("reference_full", "wall_s")),
        },
        "experiment": {
            "ours_s": numbers(rounds, "experiment", "wall_s"),
            "reference_s": numbers(rounds, "reference_experiment", "wall_s"),
            "ratio": ratios(rounds, ("experiment", "wall_s"), ("reference_experiment", "wall_s")),
        },
        # 4. no-op
        "noop": {
            "ours_s": noop_medians(rounds, "ours_s"),
            "trivial_s": noop_medians(rounds, "trivial_s"),
            "ratio": [
                ours / trivial
                for ours, trivial in zip(noop_medians(rounds, "ours_s"), noop_medians(rounds, "trivial_s"))
            ],
        },
        # 5. prepare
        "prepare_s": numbers(rounds, "stages", "prepare", "wall_s"),
        # 6. memory
        "rss_gib": {
            **{name: gib(rounds, "stages", key, "max_rss_kib") for name, key in STAGE_PROCESSES},
            **{name: gib(cnn_rounds, "stages", key, "max_rss_kib") for name, key in CNN_PROCESSES},
            "reference program (seed)": gib(rounds, "reference_full", "max_rss_kib"),
            "dvc repro, whole tree (largest process)": gib(rounds, "pipeline_full", "max_rss_kib"),
        },
        # 7. cnn
        "cnn": {
            "epochs": settings.cnn_epochs,
            "train_s": numbers(cnn_rounds, "stages", "train_cnn", "train_s"),
            "epoch_after_first_s": [second_epoch_s(r) for r in cnn_rounds],
            "test_accuracy": numbers(cnn_rounds, "stages", "evaluate_cnn", "test_accuracy"),
            "mlp_epoch_after_first_s": numbers(rounds, "stages", "train_deterministic", "steady_epoch_s"),
        },
        # where the time goes
        "breakdown": {key: breakdown(rounds, key) for key in ("pipeline_full", "experiment")},
        "tensorflow_import_s": numbers(rounds, "tensorflow_import", "wall_s"),
        "stage_walls": {name: numbers(rounds, "stages", key, "wall_s") for name, key in STAGE_WALLS},
        # 8. determinism
        "determinism": {
            "deterministic_s": numbers(rounds, *ours_train),
            "nondeterministic_s": numbers(rounds, "stages", "train_nondeterministic", "train_s"),
            "ratio": ratios(rounds, ours_train, ("stages", "train_nondeterministic", "train_s")),
        },
    }
    return s


def gib(rounds: list[dict[str, Any]], *path: str) -> list[float]:
    return [value / KIB_PER_GIB for value in numbers(rounds, *path)]


def second_epoch_s(item: dict[str, Any]) -> float:
    """The cnn's second epoch: the first one includes tracing."""
    times = figure(item, "stages", "train_cnn", "epoch_line_at_s")
    if len(times) < 2:
        raise MissingFigure(f"round {item['round']}: the cnn logged {len(times)} epoch(s), the table needs 2")
    return float(times[1] - times[0])


def breakdown(rounds: list[dict[str, Any]], key: str) -> dict[str, list[float]]:
    """Where a `dvc repro` or `dvc exp run` spent its time; stages it did not run (the experiment's download) are left out."""
    rows = {"dvc before the first stage": numbers(rounds, key, "breakdown", "dvc_before_first_stage_s")}
    for stage in figure(rounds[0], key, "breakdown", "stages"):  # in the order they ran
        rows[f"{stage}: its process, up to its last line"] = numbers(
            rounds, key, "breakdown", "stages", stage, "process_s"
        )
        rows[f"{stage}: its exit, then dvc (hash, cache, lock)"] = numbers(
            rounds, key, "breakdown", "stages", stage, "dvc_after_s"
        )
    rows["dvc's own time and the stages' exits, in all"] = numbers(rounds, key, "breakdown", "dvc_total_s")
    rows["whole command"] = numbers(rounds, key, "wall_s")
    return rows
