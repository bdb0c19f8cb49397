"""The training loop does what `model.fit` does, only faster: same batches, same Adam steps, same figures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mnist_pipeline.data.pixels import to_floats
from mnist_pipeline.model.architectures import build_model, predict_logits
from mnist_pipeline.model.quiet_tensorflow import keras, tf
from mnist_pipeline.model.training import EpochResult, Trainer, configure_runtime, fit
from mnist_pipeline.params import TrainParams
from tests.support.project import synthetic_digits
from tests.support.training import train_params as params

pytestmark = pytest.mark.slow


def data(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images, as the loop takes them (Keras' `fit` gets `to_floats` of them)."""
    images, labels = synthetic_digits(count, seed)
    return images, labels.astype(np.int32)


@pytest.fixture(scope="module", autouse=True)
def runtime() -> None:
    configure_runtime(threads=0, deterministic=True, seed=7)


def twin_models(p: TrainParams) -> tuple[keras.Model, keras.Model]:
    first = build_model(p, (28, 28), 10)
    second = build_model(p, (28, 28), 10)
    second.set_weights(first.get_weights())
    return first, second


def test_one_epoch_matches_keras_fit_step_for_step() -> None:
    """Same start, same batch order (a short last batch included), no dropout: the same weights."""
    p = params()
    x, y = data(1000, seed=1)  # 31 full batches of 32 and one of 8
    ours, reference = twin_models(p)
    trainer = Trainer(ours, tf.distribute.get_strategy(), p.learning_rate, p.batch_size)
    with tqdm_stub() as bar:
        loss, accuracy = trainer.train_epoch(tf.constant(x), tf.constant(y), np.arange(len(y)), bar)
    reference.compile(
        optimizer=keras.optimizers.Adam(p.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = reference.fit(to_floats(x), y, batch_size=p.batch_size, epochs=1, shuffle=False, verbose=0)
    for mine, theirs in zip(ours.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(history.history["loss"][0], rel=1e-4)
    assert accuracy == pytest.approx(history.history["accuracy"][0], abs=1e-6)
    assert bar.steps == 32


def test_fit_learns_reports_each_epoch_and_is_reproducible() -> None:
    p = params(dropout=0.2, epochs=3)
    train, val = data(1200, seed=1), data(300, seed=2)
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(p.seed)
        model = build_model(p, (28, 28), 10)
        seen: list[EpochResult] = []
        history = fit(
            Trainer(model, tf.distribute.get_strategy(), p.learning_rate, p.batch_size),
            train,
            val,
            p.epochs,
            p.seed,
            seen.append,
            progress=False,
        )
        runs.append((history, [w.copy() for w in model.get_weights()], model))
        assert [r.epoch for r in seen] == [1, 2, 3] and seen == history
    (first, weights_a, model), (second, weights_b, _) = runs
    assert first == second
    for a, b in zip(weights_a, weights_b, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first[-1].val_accuracy > 0.9
    assert first[-1].loss < first[0].loss
    accuracy = np.mean(predict_logits(model, val[0]).argmax(-1) == val[1])
    assert accuracy == pytest.approx(first[-1].val_accuracy)


def dropout_seed_advance(model: keras.Model, train: Callable[[], object]) -> list[int]:
    """How far the dropout layer's seed moves while `train` runs: one draw per step."""
    seeds = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)).seed_generator
    before = seeds.state.numpy()
    train()
    return (seeds.state.numpy() - before).tolist()


def test_dropout_draws_a_fresh_mask_every_step_as_fit_does() -> None:
    """Inside the compiled loop the dropout seed still advances per step (no mask replayed), short last batch included."""
    p = params(dropout=0.2)
    x, y = data(100, seed=1)  # 3 full batches and one of 4
    ours, reference = twin_models(p)
    trainer = Trainer(ours, tf.distribute.get_strategy(), p.learning_rate, p.batch_size)
    with tqdm_stub() as bar:
        loop = dropout_seed_advance(
            ours, lambda: trainer.train_epoch(tf.constant(x), tf.constant(y), np.arange(100), bar)
        )
    reference.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fitted = dropout_seed_advance(reference, lambda: reference.fit(to_floats(x), y, batch_size=p.batch_size, verbose=0))
    assert loop == fitted == [0, 4]


class tqdm_stub:  # noqa: N801 - stands in for a tqdm bar
    """Counts the steps reported, as a progress bar would show them."""

    def __enter__(self) -> tqdm_stub:
        self.steps = 0
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, steps: int) -> None:
        self.steps += steps
