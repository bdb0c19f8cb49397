"""The blessing on real small models: an undertrained candidate is refused, a seed-only change is not."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_pipeline.evaluation.blessing import ACCURACY, Evaluation, decide
from mnist_pipeline.model.architectures import build_model, predict_logits
from mnist_pipeline.model.quiet_tensorflow import tf
from mnist_pipeline.model.training import Trainer, configure_runtime, fit
from mnist_pipeline.params import BlessParams, TrainParams
from tests.conftest import synthetic_digits

pytestmark = pytest.mark.slow

CLASSES = tuple(f"bar{i}" for i in range(10))
# No tolerance on the drop: whether a difference counts is left to McNemar's test alone.
STRICT = BlessParams(min_accuracy=0.0, max_accuracy_drop=0.0, max_class_recall_drop=0.0, significance=0.05, override="")


def scaled(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = synthetic_digits(count, seed)
    return images.astype(np.float32) / 255.0, labels.astype(np.int32)


@pytest.fixture(scope="module")
def splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": scaled(1200, seed=1), "val": scaled(200, seed=4), "test": scaled(2000, seed=2)}


def evaluated(splits: dict, epochs: int, seed: int) -> Evaluation:
    """Train the pipeline's MLP (16 units) for `epochs` with `seed`, and score it on the test split."""
    p = TrainParams(
        model="mlp",
        hidden_units=16,
        dropout=0.2,
        batch_size=32,
        epochs=epochs,
        learning_rate=1e-3,
        seed=seed,
        strategy="default",
        threads=0,
        deterministic=True,
    )
    configure_runtime(threads=0, deterministic=True, seed=seed)
    model = build_model(p, (28, 28), len(CLASSES))
    trainer = Trainer(model, tf.distribute.get_strategy(), p.learning_rate, p.batch_size)
    fit(trainer, splits["train"], splits["val"], epochs, seed, lambda _: None, progress=False)
    x_test, y_test = splits["test"]
    predicted = predict_logits(model, x_test).argmax(axis=-1)
    return Evaluation(y_test.astype(np.int64), predicted, CLASSES, f"{epochs}-{seed}", "the same test data")


@pytest.fixture(scope="module")
def baseline(splits: dict) -> Evaluation:
    return evaluated(splits, epochs=10, seed=1)


def test_a_one_epoch_candidate_is_refused_against_a_ten_epoch_baseline(splits: dict, baseline: Evaluation) -> None:
    verdict = decide(evaluated(splits, epochs=1, seed=1), baseline, STRICT)
    accuracy = next(rule for rule in verdict["rules"] if rule["rule"] == ACCURACY)
    assert not verdict["blessed"] and verdict["refused_by"][0] == ACCURACY, verdict["summary"]
    assert accuracy["lost"] > accuracy["gained"] and accuracy["p_value"] < 1e-6, accuracy


def test_a_seed_only_change_passes_because_its_difference_is_not_significant(
    splits: dict, baseline: Evaluation
) -> None:
    candidate = evaluated(splits, epochs=10, seed=2)
    verdict = decide(candidate, baseline, STRICT)
    accuracy = next(rule for rule in verdict["rules"] if rule["rule"] == ACCURACY)
    assert not np.array_equal(candidate.predicted, baseline.predicted), "the seed must change some predictions"
    assert accuracy["difference"] < 0, "a worse candidate: only the test's verdict (not significant) lets it pass"
    assert accuracy["p_value"] >= STRICT.significance, accuracy
    assert verdict["blessed"], verdict["summary"]
