"""Every registered architecture builds, trains a step with the pipeline's loop, and is what params offer."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_pipeline.data.pixels import to_floats
from mnist_pipeline.model.architectures import ARCHITECTURES, build_model, model_input, predict_logits, summary
from mnist_pipeline.params import json_schema
from tests.support.project import synthetic_digits
from tests.support.training import train_params


def test_params_offer_exactly_the_registered_architectures() -> None:
    assert "mlp" in ARCHITECTURES
    train = json_schema()["$defs"]["TrainParams"]["properties"]["model"]
    assert train["enum"] == list(ARCHITECTURES)
    assert all(f"{name} ({summary(name)})" in train["description"] for name in ARCHITECTURES)


def test_the_registry_loads_without_tensorflow() -> None:
    """params.py reads the registry, and params are read by commands that must not pay for TensorFlow."""
    import subprocess
    import sys

    code = "import sys, mnist_pipeline.params; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_graph_scales_pixels_to_the_floats_numpy_gives() -> None:
    """Training and the exports scale in TensorFlow, evaluate in NumPy: one model, so the same floats, bit for bit."""
    from mnist_pipeline.model.quiet_tensorflow import tf

    every_pixel = np.arange(256, dtype=np.uint8).reshape(16, 16)
    in_graph = tf.function(model_input)(tf.constant(every_pixel)).numpy()
    assert in_graph.dtype == np.float32 and np.array_equal(in_graph, to_floats(every_pixel))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_builds_and_trains_one_step(name: str) -> None:
    from mnist_pipeline.model.quiet_tensorflow import tf
    from mnist_pipeline.model.training import Trainer

    p = train_params(model=name, hidden_units=16, dropout=0.2, seed=3)
    images, labels = synthetic_digits(32, seed=3)
    x, y = images, labels.astype(np.int32)
    model = build_model(p, (28, 28), 10)
    before = [weights.copy() for weights in model.get_weights()]
    trainer = Trainer(model, tf.distribute.get_strategy(), p.learning_rate, p.batch_size)

    loss, _ = trainer.train_epoch(tf.constant(x), tf.constant(y), np.arange(32), Steps())

    assert model.output_shape == (None, 10) and np.isfinite(loss)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)), (
        "a layer did not learn"
    )
    assert predict_logits(model, x).shape == (32, 10)


class Steps:
    """Stands in for the progress bar the loop reports steps to."""

    def update(self, steps: int) -> None:
        self.count = steps
