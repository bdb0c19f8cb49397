"""The benchmarks' pure parts: summaries and tables from made-up measurements.

A figure missing from the measurements must stop the run (`MissingFigure`), never turn
into a blank or "n/a" cell of a published table.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common import ROOT, MissingFigure, Proc
from benchmarks.latency_measure import Settings as LatencySettings
from benchmarks.latency_render import markdown as latency_markdown
from benchmarks.latency_render import ms
from benchmarks.latency_summary import cold_summary
from benchmarks.latency_summary import summarize as summarize_latency
from benchmarks.speed_measure import Settings, dvc_breakdown
from benchmarks.speed_render import markdown, spread
from benchmarks.speed_summary import summarize
from tests.support.imports import imported_modules

SETTINGS = Settings(data=Path("data"), rounds=2, epochs=10, exp_epochs=5, noop_pairs=3, cnn_epochs=2, cnn_rounds=1)
MACHINE = {"cpu": "CPU", "cores": 2, "cores_usable": 2, "memory_gib": 8, "python": "3.11", "tensorflow": "2.21.0"}
MACHINE |= {"keras": "3", "dvc": "3", "numpy": "2", "kernel": "6"}
INFO = {
    "date": "2026-01-01",
    "machine": MACHINE,
    "dataset": "fashion_mnist",
    "data_name": "fashion-mnist",
    "rounds_done": 2,
    "elapsed_min": 9.0,
    "load_min": 0.5,
    "load_max": 1.5,
    "rss_floor_mib": 40.0,
    "notes": [],
}


def breakdown(stages: tuple[str, ...]) -> dict[str, Any]:
    parts = {stage: {"started_at_s": 1.0, "process_s": 2.0, "dvc_after_s": 0.5} for stage in stages}
    return {"dvc_before_first_stage_s": 1.0, "stages": parts, "dvc_total_s": 1.0 + 0.5 * len(stages)}


def a_round(number: int, our_train_s: float, cnn: bool) -> dict[str, Any]:
    """One complete round, as `speed_measure.one_round` returns it (GiB figures in KiB)."""
    process = {"wall_s": 1.5, "max_rss_kib": 512 * 1024}
    train = {**process, "max_rss_kib": 1024**2, "train_s": our_train_s, "steady_epoch_s": 0.8}
    stages: dict[str, Any] = {
        "download": process,
        "prepare": {**process, "counts": {"train": 54_000}},
        "train_deterministic": train,
        "train_nondeterministic": {**train, "train_s": our_train_s / 1.25},
        "evaluate": {**process, "test_accuracy": 0.8820},
        "bless": process,
        "export": process,
    }
    if cnn:
        stages["train_cnn"] = {**train, "train_s": 30.0, "epoch_line_at_s": [20.0, 35.0]}
        stages["evaluate_cnn"] = {**process, "test_accuracy": 0.90}
    reference = {
        "fit_s": 40.0,
        "train_examples": 60_000,
        "test_accuracy": 0.8800,
        "wall_s": 44.0,
        "max_rss_kib": 1024**2,
    }
    return {
        "round": number,
        "reference_full": reference,
        "reference_experiment": {**reference, "wall_s": 24.0},
        "pipeline_full": {"wall_s": 22.0, "max_rss_kib": 1024**2, "breakdown": breakdown(("download", "train"))},
        "experiment": {
            "wall_s": 12.0,
            "max_rss_kib": 1024**2,
            "stages_run": ["train"],
            "breakdown": breakdown(("train",)),
        },
        "noop": {"ours_s": [0.7, 0.6, 0.8], "trivial_s": [0.5, 0.5, 0.6]},
        "tensorflow_import": {"wall_s": 2.5},
        "stages": stages,
    }


@pytest.fixture
def rounds() -> list[dict[str, Any]]:
    return [a_round(1, 10.0, cnn=True), a_round(2, 8.0, cnn=False)]


def test_ratios_are_taken_within_each_round(rounds: list[dict[str, Any]]) -> None:
    summary = summarize(rounds, SETTINGS)
    assert summary["train"]["speedup"] == [4.0, 5.0]
    assert summary["train"]["ratio"] == [0.25, 0.2]
    assert summary["accuracy"]["difference_points"] == pytest.approx([0.2, 0.2])
    assert summary["noop"]["ratio"] == pytest.approx([0.7 / 0.5, 0.7 / 0.5])
    assert summary["throughput"]["ours_examples_per_s"] == [54_000.0, 67_500.0]
    assert summary["rss_gib"]["train (mlp)"] == [1.0, 1.0]


def test_the_cnn_is_summarised_over_the_rounds_that_trained_it(rounds: list[dict[str, Any]]) -> None:
    summary = summarize(rounds, SETTINGS)
    assert summary["cnn"]["epoch_after_first_s"] == [15.0]
    assert summary["rss_gib"]["train (cnn)"] == [1.0]


def test_the_experiment_breakdown_lists_only_the_stages_it_ran(rounds: list[dict[str, Any]]) -> None:
    rows = summarize(rounds, SETTINGS)["breakdown"]["experiment"]
    assert [name for name in rows if name.startswith("download")] == []
    assert rows["train: its process, up to its last line"] == [2.0, 2.0]


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (("stages", "evaluate", "test_accuracy"), "stages/evaluate/test_accuracy"),
        (("reference_full",), "reference_full"),
        (("stages", "train_nondeterministic", "train_s"), "stages/train_nondeterministic/train_s"),
        (("experiment", "breakdown", "stages", "train", "process_s"), "experiment/breakdown/stages/train/process_s"),
    ],
)
def test_a_figure_missing_from_a_round_stops_the_summary(
    rounds: list[dict[str, Any]], path: tuple[str, ...], where: str
) -> None:
    node = rounds[1]
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    with pytest.raises(MissingFigure, match=f"round 2: no {where}"):
        summarize(rounds, SETTINGS)


def test_a_figure_that_is_not_a_number_stops_the_summary(rounds: list[dict[str, Any]]) -> None:
    rounds[0]["pipeline_full"]["wall_s"] = None
    with pytest.raises(MissingFigure, match="round 1: pipeline_full/wall_s is None, not a number"):
        summarize(rounds, SETTINGS)


def test_a_round_without_no_op_times_stops_the_summary(rounds: list[dict[str, Any]]) -> None:
    rounds[0]["noop"]["trivial_s"] = []
    with pytest.raises(MissingFigure, match="round 1: no noop/trivial_s times"):
        summarize(rounds, SETTINGS)


def test_a_cnn_round_without_the_cnn_stops_the_summary(rounds: list[dict[str, Any]]) -> None:
    both_cnn = Settings(**{**SETTINGS.__dict__, "cnn_rounds": 2})
    with pytest.raises(MissingFigure, match="round 2: no stages/train_cnn"):
        summarize(rounds, both_cnn)


def test_no_rounds_is_an_error() -> None:
    with pytest.raises(MissingFigure):
        summarize([], SETTINGS)


def test_the_table_has_every_figure_and_no_blank_cell(rounds: list[dict[str, Any]]) -> None:
    text = markdown(INFO, summarize(rounds, SETTINGS), SETTINGS)
    numbered = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert numbered == ["1", "1", "1", "2", "3", "4", "5", "6", "7", "8"]
    assert "n/a" not in text
    assert "| **met**: 4.5× faster |" in text
    assert "| **missed**: 1.40× |" in text  # the no-op against its 1.3× goal


def test_an_empty_figure_cannot_be_rendered(rounds: list[dict[str, Any]]) -> None:
    summary = summarize(rounds, SETTINGS)
    summary["prepare_s"] = []
    with pytest.raises(MissingFigure):
        markdown(INFO, summary, SETTINGS)


def test_spread_shows_the_median_and_range_over_rounds() -> None:
    assert spread([9.1, 8.0, 8.8], " s") == "8.8 s (8.0–9.1)"
    assert spread([0.8814], "", 2, 100) == "88.14 (1 round)"
    assert spread([54_000.0, 67_500.0], "", 0) == "60,750 (54,000–67,500)"


def test_the_dvc_breakdown_reads_stage_boundaries_from_the_output() -> None:
    lines = [
        (0.5, "Running stage 'train':"),
        (0.6, "> python -m stages.train"),
        (3.0, "train: mlp 2 epochs in 1.0 s (1 replica(s)) -> models/model.keras"),
        (3.4, "Running stage 'evaluate':"),
        (5.0, "evaluate: accuracy 0.88 -> metrics/eval.json"),
    ]
    proc = Proc(["dvc", "repro"], 5.5, 0, 0, "", "", lines)
    found = dvc_breakdown(proc)
    assert found["dvc_before_first_stage_s"] == 0.5
    assert found["stages"]["train"] == {"started_at_s": 0.5, "process_s": 2.5, "dvc_after_s": 0.4}
    assert found["stages"]["evaluate"] == {"started_at_s": 3.4, "process_s": 1.6, "dvc_after_s": 0.5}
    assert found["dvc_total_s"] == 1.4


# --------------------------------------------------------------------------- latency

LATENCY = {
    "TFLite float32: LiteRT signature runner": {
        "latency_s": [0.000009] * 98 + [0.00002, 0.00003],
        "round_p50_s": [0.000009, 0.000010],
        "images_per_s": [400_000.0, 440_000.0],
        "accuracy": 0.8287,
    }
}
COLD = {
    "predict": [0.2, 0.3],
    "predict_rss_kib": [51 * 1024],
    "tensorflow": [3.0, 3.5],
    "tensorflow_rss_kib": [516 * 1024],
}
COLD |= {"output": "one.png: Ankle boot (0.733)"}


def test_the_latency_table_shows_percentiles_throughput_and_cold_starts() -> None:
    info = {"date": "2026-01-01", "machine": MACHINE, "litert": "2.3.0", "what_model": "a model", "command_args": ""}
    info |= {"calls_per_runtime": 100, "test_images": 10_000}
    settings = LatencySettings(calls=100, warmup=5, rounds=2, cold=2)
    text = latency_markdown(info, summarize_latency(LATENCY), cold_summary(COLD), settings)
    row = "| TFLite float32: LiteRT signature runner | 0.009 | 0.020 | 0.009–0.010 | 420,000 (400,000–440,000) | 82.87 % |"
    assert row in text
    assert "| 0.25 (0.20–0.30) | 51 |" in text


def test_a_runtime_without_timings_stops_the_latency_summary() -> None:
    broken = copy.deepcopy(LATENCY)
    broken["TFLite float32: LiteRT signature runner"]["latency_s"] = []
    with pytest.raises(MissingFigure, match="LiteRT signature runner: no latency_s"):
        summarize_latency(broken)


def test_a_missing_cold_start_stops_the_latency_summary() -> None:
    with pytest.raises(MissingFigure, match="no cold start of tensorflow"):
        cold_summary({**COLD, "tensorflow": []})


def test_milliseconds_get_fewer_decimals_as_they_grow() -> None:
    assert [ms(0.0091), ms(0.0434), ms(1.8172), ms(51.934), ms(123.45)] == ["0.009", "0.043", "1.817", "51.93", "123.5"]


def test_benchmarks_import_the_library_and_the_test_support_never_the_tests_or_the_stages() -> None:
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        wrong = {
            module
            for module in imported_modules(path)
            if module.split(".")[0] == "stages"
            or (module.split(".")[0] == "tests" and not module.startswith("tests.support"))
        }
        assert not wrong, f"{path.name} imports {wrong}"
