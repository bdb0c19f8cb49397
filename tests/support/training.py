"""Training params for tests: small and fast, every field given, one field overridden at a time."""

from __future__ import annotations

from mnist_pipeline.params import TrainParams

FAST = dict(
    model="mlp",
    hidden_units=32,
    dropout=0.0,
    batch_size=32,
    epochs=1,
    learning_rate=1e-3,
    seed=7,
    strategy="default",
    threads=0,
    deterministic=True,
)


def train_params(**overrides: object) -> TrainParams:
    return TrainParams(**{**FAST, **overrides})
