"""The seed program, faithfully: the TensorFlow beginner quickstart, reading local IDX files.

The one change from https://www.tensorflow.org/tutorials/quickstart/beginner is where
the data comes from: `tf.keras.datasets.mnist.load_data()` needs the network, so the
same four arrays are read from the MNIST-format `.gz` files in `--data` (uint8 images
and labels, exactly what `load_data` returns). Everything else is the quickstart's code:
x / 255.0, Flatten -> Dense(128, relu) -> Dropout(0.2) -> Dense(10), from_logits loss,
Adam with its defaults, `fit(x_train, y_train, epochs=E)` (batch size 32, Keras' default)
and `evaluate(x_test, y_test)`, in TensorFlow's default threading.

The last line printed is one JSON object: fit time, evaluate time, test accuracy (the
whole wall time is measured by the benchmark that starts this process).

    python benchmarks/seed_reference.py --data DIR [--epochs 10]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np

STARTED = time.perf_counter()


def read_idx_gz(path: Path) -> np.ndarray:
    """An IDX file's array (uint8 images [N, 28, 28] or labels [N]), like `load_data` returns."""
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_data(folder: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    x_train, y_train, x_test, y_test = (read_idx_gz(folder / name) for name in names)
    return (x_train, y_train), (x_test, y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder with the four MNIST-format .gz files")
    parser.add_argument("--epochs", type=int, default=10, help="fit epochs (default: 10)")
    args = parser.parse_args()

    import tensorflow as tf

    imported = time.perf_counter()

    # --- the quickstart, line for line ---
    (x_train, y_train), (x_test, y_test) = load_data(args.data)
    x_train, x_test = x_train / 255.0, x_test / 255.0

    model = tf.keras.models.Sequential(
        [
            tf.keras.layers.Flatten(input_shape=(28, 28)),
            tf.keras.layers.Dense(128, activation="relu"),
            tf.keras.layers.Dropout(0.2),
            tf.keras.layers.Dense(10),
        ]
    )
    predictions = model(x_train[:1]).numpy()
    tf.nn.softmax(predictions).numpy()
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    loss_fn(y_train[:1], predictions).numpy()
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])

    fit_started = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs)
    fit_seconds = time.perf_counter() - fit_started

    evaluate_started = time.perf_counter()
    loss, accuracy = model.evaluate(x_test, y_test, verbose=2)
    evaluate_seconds = time.perf_counter() - evaluate_started

    probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
    probability_model(x_test[:5])
    # --- end of the quickstart ---

    print(
        json.dumps(
            {
                "epochs": args.epochs,
                "train_examples": len(x_train),
                "fit_s": round(fit_seconds, 3),
                "evaluate_s": round(evaluate_seconds, 3),
                "import_s": round(imported - STARTED, 3),
                "in_process_s": round(time.perf_counter() - STARTED, 3),
                "test_accuracy": round(float(accuracy), 6),
                "test_loss": round(float(loss), 6),
                "tensorflow": tf.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
