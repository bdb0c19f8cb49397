"""How much do seeds alone move a model? The blessing's verdict for every pair of seed-only retrains.

    python -m benchmarks.blessing_seeds --data data/prepared --seeds 42 7 1 2 3

Trains the model of `params.yaml` once per seed (everything else as the params say) on a
prepared folder, then judges every ordered pair (baseline seed, candidate seed) with the
bless rules of `params.yaml`, and prints one Markdown row per pair: the accuracy change,
lost and gained images, McNemar's p, the worst single-class recall change, the verdict.
The README's "Shipping a model" defaults come from this table on Fashion-MNIST.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.data.prepared import load_split
from mnist_pipeline.evaluation.blessing import ACCURACY, RECALL, Evaluation, decide
from mnist_pipeline.evaluation.markdown import table
from mnist_pipeline.model.architectures import build_model, predict_logits
from mnist_pipeline.model.quiet_tensorflow import tf
from mnist_pipeline.model.training import Trainer, configure_runtime, fit
from mnist_pipeline.params import Params, load_params


def predictions(folder: Path, p: Params, seed: int) -> np.ndarray:
    """The test-split predictions of the params' model trained with `seed`."""
    train = p.train.model_copy(update={"seed": seed})
    configure_runtime(0, train.deterministic, seed)  # threads are set once, in main
    model = build_model(train, load_split(folder, "train")[0].shape[1:], len(read_labels(folder / LABELS_FILE)))
    trainer = Trainer(model, tf.distribute.get_strategy(), train.learning_rate, train.batch_size)
    fit(trainer, load_split(folder, "train"), load_split(folder, "val"), train.epochs, seed, lambda _: None, False)
    return predict_logits(model, load_split(folder, "test")[0]).argmax(axis=-1)


def row(baseline: int, candidate: int, verdict: dict) -> list[str]:
    accuracy = next(rule for rule in verdict["rules"] if rule["rule"] == ACCURACY)
    worst = min((rule for rule in verdict["rules"] if rule["rule"].startswith(RECALL)), key=lambda r: r["difference"])
    return [
        str(baseline),
        str(candidate),
        f"{accuracy['difference']:+.4f}",
        f"{accuracy['lost']} / {accuracy['gained']}",
        f"{accuracy['p_value']:.3g}",
        f"{worst['difference']:+.3f} ({worst['rule'].removeprefix(RECALL + ': ')})",
        "blessed" if verdict["blessed"] else "refused by " + ", ".join(verdict["refused_by"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/prepared"), help="prepared folder")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (train and bless)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1, 2, 3], help="train.seed values")
    args = parser.parse_args()
    p = load_params(args.params)
    tf.config.threading.set_intra_op_parallelism_threads(p.train.thread_count)
    tf.config.threading.set_inter_op_parallelism_threads(p.train.thread_count)
    labels = load_split(args.data, "test")[1].astype(np.int64)
    classes = read_labels(args.data / LABELS_FILE)
    runs = {
        seed: Evaluation(labels, predictions(args.data, p, seed), classes, f"seed {seed}", "same test data")
        for seed in args.seeds
    }
    header = ["baseline seed", "candidate seed", "accuracy change", "lost / gained", "p", "worst class", "verdict"]
    pairs = itertools.permutations(args.seeds, 2)
    print(table(header, [row(a, b, decide(runs[b], runs[a], p.bless)) for a, b in pairs]))


if __name__ == "__main__":
    main()
