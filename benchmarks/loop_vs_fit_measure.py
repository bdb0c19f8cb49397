"""Loop against `fit`, measuring: the same model trained both ways, seed by seed, and its test accuracy.

Everything but the loop is the pipeline's: the raw files read and checked by the library,
its stratified validation split held out, its model builder, its params. `fit` gets what a
`fit`-based train stage would: the same images as floats (`x / 255.0`, where the loop scales
the uint8 pixels itself), batch size, epochs, Adam learning rate and validation data, with
`shuffle=True`. `seed` is the seed program's conditions: `fit` on
the whole training set, nothing held out. Each run starts from `configure_runtime(seed)`,
so every method starts from the same weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import detect_dataset, log
from mnist_pipeline.data.datasets import DATASETS, LABELS_FILE
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.data.pixels import to_floats
from mnist_pipeline.data.raw import Split, load_splits
from mnist_pipeline.data.split import make_splits, stratified_split
from mnist_pipeline.model.architectures import build_model, predict_logits
from mnist_pipeline.model.quiet_tensorflow import keras, tf
from mnist_pipeline.model.training import Trainer, configure_runtime, fit
from mnist_pipeline.params import Params

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]
METHODS = ("loop", "fit", "seed")


@dataclass(frozen=True)
class Settings:
    data: Path
    sizes: list[int]
    seeds: list[int]


def read_raw(folder: Path) -> dict[str, Split]:
    dataset = DATASETS[detect_dataset(folder)]
    names = dataset.class_names or read_labels(folder / LABELS_FILE)
    return load_splits(folder, dataset, names)[0]


def training_subset(train: Split, size: int, seed: int) -> Split:
    """`size` training images, each class in its share: the library's stratified split, its small side kept."""
    if size >= len(train.labels):
        return train
    chosen = stratified_split(train.labels, size / len(train.labels), seed)[1]
    return Split(train.images[chosen], train.labels[chosen])


def splits_of(raw: dict[str, Split], size: int, p: Params) -> Arrays:
    """What prepare would write from a training set of `size` images: train, val (held out) and test."""
    subset = {"train": training_subset(raw["train"], size, p.data.seed), "test": raw["test"]}
    return make_splits(subset, p.data.val_size, p.data.seed)


def new_model(p: Params, splits: Arrays, seed: int) -> keras.Model:
    keras.backend.clear_session()
    configure_runtime(0, p.train.deterministic, seed)  # threads were set once, before TensorFlow ran
    return build_model(p.train, splits["train"][0].shape[1:], int(splits["train"][1].max()) + 1)


def train_loop(model: keras.Model, p: Params, splits: Arrays, seed: int) -> None:
    trainer = Trainer(model, tf.distribute.get_strategy(), p.train.learning_rate, p.train.batch_size)
    fit(trainer, splits["train"], splits["val"], p.train.epochs, seed, lambda _: None, progress=False)


def compiled(model: keras.Model, p: Params) -> keras.Model:
    """As the seed program compiles it, with the params' learning rate."""
    model.compile(
        optimizer=keras.optimizers.Adam(p.train.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train_fit(model: keras.Model, p: Params, splits: Arrays, seed: int) -> None:
    """`fit` gets floats, `x / 255.0` as the seed program makes them; the loop scales the pixels itself."""
    (x, y), (x_val, y_val) = splits["train"], splits["val"]
    compiled(model, p).fit(
        to_floats(x),
        y,
        p.train.batch_size,
        p.train.epochs,
        verbose=0,
        validation_data=(to_floats(x_val), y_val),
        shuffle=True,
    )


def train_seed(model: keras.Model, p: Params, splits: Arrays, seed: int) -> None:
    """The seed program trains on every training image: the validation split goes back in."""
    x, y = (np.concatenate(pair) for pair in zip(splits["train"], splits["val"]))
    compiled(model, p).fit(to_floats(x), y, p.train.batch_size, p.train.epochs, verbose=0, shuffle=True)


TRAIN = {"loop": train_loop, "fit": train_fit, "seed": train_seed}


def one_run(method: str, p: Params, splits: Arrays, seed: int) -> dict[str, Any]:
    model = new_model(p, splits, seed)
    started = time.perf_counter()
    TRAIN[method](model, p, splits, seed)
    train_s = time.perf_counter() - started
    x, y = splits["test"]
    accuracy = float(np.mean(predict_logits(model, x).argmax(axis=-1) == y))
    return {"method": method, "seed": seed, "test_accuracy": accuracy, "train_s": train_s, "epochs": p.train.epochs}


def measure(settings: Settings, p: Params) -> list[dict[str, Any]]:
    """Every (size, seed) pair, every method, the order reversed every other seed so load drift hits all alike."""
    raw = read_raw(settings.data)
    runs = []
    for size in settings.sizes:
        splits = splits_of(raw, size, p)
        counts = {split: len(labels) for split, (_, labels) in splits.items()}
        for index, seed in enumerate(settings.seeds):
            for method in METHODS[:: 1 if index % 2 == 0 else -1]:
                runs.append({"size": size, "counts": counts, **one_run(method, p, splits, seed)})
                log(
                    f"{size} images, seed {seed}, {method}: {runs[-1]['test_accuracy']:.4f} in {runs[-1]['train_s']:.0f} s"
                )
    return runs
