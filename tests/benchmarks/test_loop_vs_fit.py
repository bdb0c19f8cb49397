"""The loop-against-`fit` benchmark's pure parts: the paired t interval and the tables, on fixed numbers."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.common import MissingFigure
from benchmarks.loop_vs_fit_render import markdown
from benchmarks.loop_vs_fit_summary import MAX_PAIRS, summarize, t_interval

COUNTS = {"train": 7_200, "val": 800, "test": 10_000}


def test_t_interval_of_one_to_five() -> None:
    """Mean 3, standard error sqrt(2.5 / 5), t(0.975, 4) = 2.7764: 3 ± 1.9632."""
    mean, low, high = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0
    assert (low, high) == pytest.approx((3 - 1.96324, 3 + 1.96324), abs=1e-4)


def test_t_interval_of_two_pairs_uses_one_degree_of_freedom() -> None:
    """Standard deviation sqrt(2), standard error 1, t(0.975, 1) = 12.7062."""
    assert t_interval([-1.0, 1.0]) == pytest.approx((0.0, -12.7062, 12.7062))


def test_t_interval_of_equal_differences_is_a_point() -> None:
    assert t_interval([0.002] * 8) == pytest.approx((0.002, 0.002, 0.002))


@pytest.mark.parametrize("pairs", [1, MAX_PAIRS + 1])
def test_t_interval_refuses_counts_outside_its_table(pairs: int) -> None:
    with pytest.raises(ValueError, match="pairs"):
        t_interval([0.0] * pairs)


def run(method: str, seed: int, accuracy: float, size: int = 8_000) -> dict[str, Any]:
    return {"size": size, "counts": COUNTS, "method": method, "seed": seed, "test_accuracy": accuracy}


def runs() -> list[dict[str, Any]]:
    """Loop above fit by 1, 2 and 3 points over three seeds, and level with the seed program."""
    loop = [run("loop", seed, 0.80 + seed / 100) | {"train_s": 10.0 * seed, "epochs": 10} for seed in (1, 2, 3)]
    fit = [run("fit", seed, 0.80) | {"train_s": 30.0, "epochs": 10} for seed in (1, 2, 3)]
    seed_program = [run("seed", seed, 0.80 + seed / 100) | {"train_s": 40.0, "epochs": 10} for seed in (1, 2, 3)]
    return loop + fit + seed_program


def test_summary_pairs_the_runs_by_seed_for_each_method() -> None:
    fit, seed_program = summarize(runs(), [8_000], [3, 1, 2])
    assert fit["against"] == "fit"
    assert fit["differences"] == pytest.approx([0.03, 0.01, 0.02])
    assert fit["mean_difference"] == pytest.approx(0.02)
    assert fit["ci95"] == pytest.approx([0.02 - 0.024841, 0.02 + 0.024841], abs=1e-6)  # t(0.975, 2) = 4.3027
    assert (fit["loop_epoch_s"], fit["other_epoch_s"]) == (2.0, 3.0)
    assert seed_program["against"] == "seed"
    assert seed_program["ci95"] == pytest.approx([0.0, 0.0])


def test_summary_refuses_a_seed_without_both_methods() -> None:
    with pytest.raises(MissingFigure, match=r"seeds \[4\]"):
        summarize(runs(), [8_000], [1, 2, 3, 4])


def test_markdown_shows_the_interval_in_points_and_every_seed() -> None:
    info = {
        "date": "2026-01-01",
        "command_args": " --data <fashion-mnist> --seeds 3 --size 8000",
        "dataset": "fashion_mnist",
        "code": {"commit": "abc", "uncommitted": []},
        "settings": "model mlp",
        "seeds": [1, 2, 3],
        "elapsed_min": 1.0,
        "machine": {"cpu": "CPU", "cores_usable": 2, "python": "3.11", "tensorflow": "2.21.0", "keras": "3"},
    }
    text = markdown(info | {"sizes": [8_000]}, summarize(runs(), [8_000], [1, 2, 3]))
    assert (
        "| 8,000 | 7,200 / 800 / 10,000 | `fit` | 3 | 0.8200 | 0.8000 | +2.00 | -0.48 to +4.48 | 2.00 | 3.00 |" in text
    )
    assert "| 3 | 0.8300 | 0.8000 | 0.8300 | +3.00 | +0.00 |" in text


class RecordingModel:
    """Stands in for a Keras model: records what `compile` and `fit` were given."""

    def compile(self, **_: Any) -> None:
        return None

    def fit(self, x: Any, y: Any, *args: Any, **kwargs: Any) -> None:
        self.x, self.validation = x, kwargs.get("validation_data")


def test_fit_and_the_seed_program_get_the_floats_the_quickstart_makes() -> None:
    """The splits hold uint8 pixels (the loop scales them itself); Keras `fit` must get `x / 255.0`."""
    import numpy as np

    from benchmarks.loop_vs_fit_measure import train_fit, train_seed
    from mnist_pipeline.data.pixels import to_floats
    from mnist_pipeline.params import Params, load_params
    from tests.support.project import ROOT

    p: Params = load_params(ROOT / "params.yaml")
    pixels = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    labels = np.arange(4, dtype=np.int32)
    splits = {"train": (pixels[:3], labels[:3]), "val": (pixels[3:], labels[3:])}
    fitted, seeded = RecordingModel(), RecordingModel()
    train_fit(fitted, p, splits, seed=1)  # type: ignore[arg-type]
    train_seed(seeded, p, splits, seed=1)  # type: ignore[arg-type]
    assert np.array_equal(fitted.x, to_floats(pixels[:3])) and np.array_equal(
        fitted.validation[0], to_floats(pixels[3:])
    )
    assert np.array_equal(seeded.x, to_floats(pixels))
