"""The training loop: one code path for every tf.distribute strategy, and fast on a CPU.

Why not `model.fit`? Two reasons measured on this project's machines:
- at the seed's batch size of 32, `fit` spends ~2 ms per step in Python and tf.data
  overhead, several times the arithmetic. Here a whole slice of an epoch runs inside one
  compiled `tf.while_loop` over an in-memory tensor, so a step costs ~0.3 ms;
- Keras 3 `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), while
  a loop with `strategy.run` and `tf.nn.compute_average_loss` works.

Semantics match `fit(batch_size=B, epochs=E, shuffle=True)`: every epoch visits a fresh
permutation of the training set in batches of B (the last one smaller), one Adam step
per batch on the mean loss of the *global* batch. Each replica takes its slice of the
global batch, so the result does not depend on how many replicas share the work.
Adam is Keras' Adam (same defaults, same update), applied by TensorFlow's fused kernel:
Keras 3 updates each variable with about ten small ops, a quarter of a step's time here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from tqdm import tqdm

from mnist_pipeline.model.architectures import compiled_forward, model_input, pixel_spec, predict_logits
from mnist_pipeline.model.quiet_tensorflow import keras, tf

PROGRESS_UPDATES_PER_EPOCH = 20


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float


def configure_runtime(threads: int, deterministic: bool, seed: int) -> None:
    """Must run before TensorFlow executes anything: thread pools cannot change afterwards."""
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`auto` mirrors over GPUs when there are several, else uses the default (one device)."""
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored" or (name == "auto" and len(tf.config.list_logical_devices("GPU")) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """In a TF_CONFIG cluster only the chief (or worker 0 when there is no chief) writes artifacts."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    if not task:
        return True
    has_chief = "chief" in (config.get("cluster") or {})
    return task.get("type") == "chief" or (not has_chief and task.get("type") == "worker" and task.get("index") == 0)


def _sum_variable() -> tf.Variable:
    """A per-replica accumulator that reads as the sum over replicas (what Keras metrics use)."""
    return tf.Variable(
        0.0,
        trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.SUM,
    )


class FusedAdam:
    """Keras' Adam (beta 0.9 and 0.999, epsilon 1e-7, the bias-corrected step size) as one fused kernel per variable.

    Call `apply` inside `strategy.run`: gradients are summed over replicas first (the loss is
    already divided by the global batch), then every replica updates its own copy alike.
    """

    BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7

    def __init__(self, variables: list, learning_rate: float) -> None:
        self.variables = [getattr(variable, "value", variable) for variable in variables]  # Keras 3 wraps tf.Variable
        self.learning_rate = learning_rate
        self.moments = [(self._zeros(v), self._zeros(v)) for v in self.variables]
        self.iterations = tf.Variable(0.0, trainable=False)

    @staticmethod
    def _zeros(variable: tf.Variable) -> tf.Variable:
        return tf.Variable(tf.zeros(variable.shape, variable.dtype), trainable=False)

    def apply(self, grads: list[tf.Tensor]) -> None:
        grads = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)
        tf.raw_ops.AssignAddVariableOp(resource=self.iterations.handle, value=1.0)
        step = tf.raw_ops.ReadVariableOp(resource=self.iterations.handle, dtype=tf.float32)
        beta1_power, beta2_power = tf.pow(self.BETA_1, step), tf.pow(self.BETA_2, step)
        for variable, (m, v), grad in zip(self.variables, self.moments, grads, strict=True):
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle,
                m=m.handle,
                v=v.handle,
                beta1_power=beta1_power,
                beta2_power=beta2_power,
                lr=self.learning_rate,
                beta1=self.BETA_1,
                beta2=self.BETA_2,
                epsilon=self.EPSILON,
                grad=grad,
            )


class Trainer:
    """Owns the optimizer, the compiled step loop and the epoch bookkeeping for one model."""

    def __init__(self, model: keras.Model, strategy: tf.distribute.Strategy, learning_rate: float, batch_size: int):
        self.model = model
        self.strategy = strategy
        self.batch_size = batch_size
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
        with strategy.scope():
            self.optimizer = FusedAdam(model.trainable_variables, learning_rate)
            self.loss_sum = _sum_variable()
            self.correct = _sum_variable()
        self._signature = [
            pixel_spec(model),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.int64),
        ]
        self._loops: dict[int, Callable] = {}
        self._forward = compiled_forward(model)

    def _step(self, x: tf.Tensor, y: tf.Tensor) -> None:
        """One optimizer step, run on every replica with its slice of the global batch."""
        context = tf.distribute.get_replica_context()
        global_size = tf.shape(x)[0]
        share = -(-global_size // context.num_replicas_in_sync)
        start = context.replica_id_in_sync_group * share
        x, y = x[start : start + share], y[start : start + share]
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            per_example = self.loss_fn(y, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_size)
        self.optimizer.apply(tape.gradient(loss, self.model.trainable_variables))
        self.loss_sum.assign_add(tf.reduce_sum(per_example))
        hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), y)
        self.correct.assign_add(tf.reduce_sum(tf.cast(hits, tf.float32)))

    def _steps(self, x: tf.Tensor, y: tf.Tensor, order: tf.Tensor, batch: int) -> None:
        """The batches of `batch` images in `order`, all in one compiled loop.

        The slice is gathered (and its pixels scaled) once, since per step costs more than the
        step, and only a slice at a time, to bound memory.
        """
        steps = tf.shape(order)[0] // batch
        xs = tf.reshape(model_input(tf.gather(x, order)), tf.concat([[steps, batch], tf.shape(x)[1:]], 0))
        ys = tf.reshape(tf.gather(y, order), (steps, batch))

        def step(i: tf.Tensor) -> tf.Tensor:
            self.strategy.run(self._step, args=(xs[i], ys[i]))
            return i + 1

        tf.while_loop(lambda i: i < steps, step, [tf.constant(0)])

    def _reset_sums(self) -> None:
        for accumulator in (self.loss_sum, self.correct):
            for replica_value in self.strategy.experimental_local_results(accumulator):
                replica_value.assign(0.0)

    def train_epoch(self, x: tf.Tensor, y: tf.Tensor, order: np.ndarray, bar: tqdm) -> tuple[float, float]:
        """One pass over `order`; returns the mean training loss and accuracy (dropout on, as Keras reports)."""
        self._reset_sums()
        steps = len(order) // self.batch_size
        chunk = max(1, -(-steps // PROGRESS_UPDATES_PER_EPOCH))
        for start in range(0, steps, chunk):
            stop = min(steps, start + chunk)
            self._run(x, y, order[start * self.batch_size : stop * self.batch_size], self.batch_size)
            bar.update(stop - start)
        rest = order[steps * self.batch_size :]
        if len(rest):  # the short last batch, as fit has it
            self._run(x, y, rest, len(rest))
            bar.update(1)
        count = float(len(order))
        return float(self.loss_sum.read_value()) / count, float(self.correct.read_value()) / count

    def _run(self, x: tf.Tensor, y: tf.Tensor, order: np.ndarray, batch: int) -> None:
        """Compiled once per batch size, for any length of `order` (the batch size stays static: 8 % faster steps).

        An epoch has two: `batch_size` and its short last batch. Tracing a Keras step costs ~0.25 s, and
        autograph would double that: the loop is a plain `tf.while_loop` instead.
        """
        if batch not in self._loops:
            self._loops[batch] = tf.function(
                partial(self._steps, batch=batch), input_signature=self._signature, autograph=False
            )
        self._loops[batch](x, y, tf.constant(order, tf.int64))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Mean loss and accuracy on uint8 images `x`, without dropout."""
        logits = predict_logits(self.model, x, self._forward)
        loss = float(np.mean(self.loss_fn(y, logits)))
        return loss, float(np.mean(np.argmax(logits, axis=-1) == y))


def fit(
    trainer: Trainer,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    epochs: int,
    seed: int,
    on_epoch_end: Callable[[EpochResult], None],
    progress: bool = True,
) -> list[EpochResult]:
    """Train on (uint8 images, labels) for `epochs`, calling `on_epoch_end` after each with train and
    validation figures. The images stay uint8 in memory, a quarter of their floats."""
    rng = np.random.default_rng(seed)
    x, y = tf.constant(train[0]), tf.constant(train[1])
    steps = -(-len(train[1]) // trainer.batch_size)
    history = []
    for epoch in range(1, epochs + 1):
        with tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="step", disable=not progress, leave=False) as bar:
            loss, accuracy = trainer.train_epoch(x, y, rng.permutation(len(train[1])), bar)
        val_loss, val_accuracy = trainer.evaluate(*val)
        result = EpochResult(epoch, loss, accuracy, val_loss, val_accuracy)
        history.append(result)
        on_epoch_end(result)
    return history
