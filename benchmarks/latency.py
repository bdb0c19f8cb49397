"""Serving latency: every way to run the exported model, on the test split.

    python benchmarks/latency.py [--export models/export] [--data data/prepared] [--out benchmarks/results/latency.md]

For each runtime: per-image latency (batch of 1, p50 and p99 over `--calls` calls after
a warm-up, images taken in a fixed random order from the test split) and throughput at
batch 1024 (images/s over the whole test split), measured in `--rounds` rounds with the
runtimes in a rotated order each round. Runtimes: every TFLite flavour in the export run
by LiteRT (`mnist_pipeline.serving.litert.load_runner`, as export's verification and `predict`
run it), the SavedModel's `serving_default` signature (`tf.saved_model.load`), and the
Keras model called directly (`model(x)`) and through `model.predict`. Inputs are uint8
pixels `round(x_test * 255)`; the Keras model gets them as float32 / 255 (done inside
the timed call: a client has to do it), and returns logits where the exports return
probabilities. Plus the cold start of `predict <one PNG>`: the wall time of a fresh
process, median of `--cold` runs, alternating with a fresh process that classifies the
same PNG with the SavedModel in TensorFlow, for comparison.

If the export (or the prepared data) is not there, pass `--source DIR` (the four
MNIST-format .gz files, e.g. a copy of Fashion-MNIST): the pipeline is run with
`train.epochs=1` in a fresh copy of the project (`dvc repro`) and its outputs are used.
Not a test: nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BIN, ROOT, detect_dataset, log, machine, run, run_small, without_local_paths  # noqa: E402

from mnist_pipeline.data.pixels import to_pixels  # noqa: E402

BATCH = 1024
SIGNATURE = "serving_default"
FLAVOUR_ORDER = {"model_float32": 0, "model_dynamic": 1, "model_int8": 2}


# --------------------------------------------------------------------------- inputs


def build_export(source: Path, scratch: Path) -> Path:
    """Run the pipeline (1 epoch) on `source` in a fresh copy of the project; return the copy."""
    from tests.conftest import copy_project

    params = {"data": {"dataset": detect_dataset(source), "source": str(source)}, "train": {"epochs": 1}}
    project = copy_project(scratch / "project", params)
    log("no export given: running the pipeline (train.epochs=1) in a fresh copy")
    run(["dvc", "repro"], project)
    return project


def load_test_pixels(data: Path) -> tuple[np.ndarray, np.ndarray]:
    x_test = np.load(data / "x_test.npy")
    y_test = np.load(data / "y_test.npy")
    return to_pixels(x_test), y_test


# --------------------------------------------------------------------------- runtimes


class Runtime:
    """One way of serving: `one(pixels[1, H, W])` and `batch(pixels[N, H, W])` each return class scores."""

    def __init__(self, name: str, one: Callable[[np.ndarray], np.ndarray], batch: Callable[[np.ndarray], np.ndarray]):
        self.name, self.one, self.batch = name, one, batch


def signature_runner(path: Path):  # noqa: ANN201 - LiteRT's SignatureRunner
    """The bare `serving_default` runner of a TFLite file (`mnist_pipeline.serving.litert.load_runner` where it exists)."""
    try:
        from mnist_pipeline.serving.litert import load_runner
    except ImportError:
        from ai_edge_litert.interpreter import Interpreter

        def load_runner(model_path: Path):  # noqa: ANN202
            return Interpreter(model_path=str(model_path)).get_signature_runner(SIGNATURE)

    return load_runner(path)


def tflite_runtimes(path: Path) -> list[Runtime]:
    """The flavour run two ways: LiteRT's bare signature runner, and the classifier `predict` uses (if there is one)."""
    from mnist_pipeline.native_stderr import native_stderr_silenced

    flavour = path.stem.removeprefix("model_")
    with native_stderr_silenced():  # LiteRT announces its XNNPACK delegate
        single, batched = signature_runner(path), signature_runner(path)  # two, so neither resizes its input per call

    def one(pixels: np.ndarray) -> np.ndarray:
        return single(pixels=pixels)["probabilities"]

    def batch(pixels: np.ndarray) -> np.ndarray:
        return batched(pixels=pixels)["probabilities"]

    found = [Runtime(f"TFLite {flavour}: LiteRT signature runner", one, batch)]
    classifier = None
    for module in ("mnist_pipeline.serving.litert", "mnist_pipeline.serving.predict"):
        try:
            classifier = __import__(module, fromlist=["TFLiteClassifier"]).TFLiteClassifier
            break
        except (ImportError, AttributeError):
            continue
    if classifier is not None:
        single_classifier, batch_classifier = classifier(path), classifier(path)
        found.append(
            Runtime(
                f"TFLite {flavour}: `{classifier.__module__}.TFLiteClassifier.predict` (what `predict` runs)",
                single_classifier.predict,
                batch_classifier.predict,
            )
        )
    return found


def saved_model_runtime(path: Path) -> Runtime:
    from mnist_pipeline.model.quiet_tensorflow import tf

    signature = tf.saved_model.load(str(path)).signatures[SIGNATURE]

    def call(pixels: np.ndarray) -> np.ndarray:
        return signature(pixels=tf.constant(pixels))["probabilities"].numpy()

    return Runtime("SavedModel `serving_default` (TensorFlow)", call, call)


def keras_runtimes(path: Path) -> list[Runtime]:
    from mnist_pipeline.model.architectures import load_model

    model = load_model(path)

    def direct(pixels: np.ndarray) -> np.ndarray:
        return model(pixels.astype(np.float32) / np.float32(255.0), training=False).numpy()

    def predict(pixels: np.ndarray) -> np.ndarray:
        return model.predict(pixels.astype(np.float32) / np.float32(255.0), batch_size=BATCH, verbose=0)

    return [Runtime("Keras `model(x)`", direct, direct), Runtime("Keras `model.predict(x)`", predict, predict)]


# --------------------------------------------------------------------------- measuring


def per_image(runtime: Runtime, pixels: np.ndarray, order: np.ndarray) -> list[float]:
    """Seconds per call, one image per call, in `order`."""
    times = []
    for index in order:
        image = pixels[index : index + 1]
        started = time.perf_counter()
        runtime.one(image)
        times.append(time.perf_counter() - started)
    return times


def throughput(runtime: Runtime, pixels: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Images per second over the whole split in batches of BATCH (the last one smaller), and the accuracy."""
    started = time.perf_counter()
    scores = [runtime.batch(pixels[i : i + BATCH]) for i in range(0, len(pixels), BATCH)]
    seconds = time.perf_counter() - started
    return len(pixels) / seconds, float(np.mean(np.concatenate(scores).argmax(axis=-1) == labels))


def measure(
    runtimes: list[Runtime], pixels: np.ndarray, labels: np.ndarray, args: argparse.Namespace
) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    per_round = max(1, args.calls // args.rounds)
    results: dict[str, Any] = {
        r.name: {"latency_s": [], "round_p50_s": [], "images_per_s": [], "accuracy": None} for r in runtimes
    }
    for runtime in runtimes:  # warm-up: tracing, delegate set-up, first allocations
        log(f"warm-up: {runtime.name}")
        for index in rng.integers(0, len(pixels), args.warmup):
            runtime.one(pixels[index : index + 1])
        runtime.batch(pixels[:BATCH])
    for round_index in range(args.rounds):
        shift = round_index % len(runtimes)
        for runtime in runtimes[shift:] + runtimes[:shift]:
            log(f"round {round_index + 1}: {runtime.name}")
            order = rng.integers(0, len(pixels), per_round)
            times = per_image(runtime, pixels, order)
            rate, accuracy = throughput(runtime, pixels, labels)
            entry = results[runtime.name]
            entry["latency_s"] += times
            entry["round_p50_s"].append(float(np.percentile(times, 50)))
            entry["images_per_s"].append(rate)
            entry["accuracy"] = accuracy
    return results


def cold_starts(export: Path, image: np.ndarray, count: int, scratch: Path) -> dict[str, Any]:
    """Fresh-process wall times: `predict one.png` and, for comparison, the SavedModel in TensorFlow."""
    from PIL import Image

    png = scratch / "one.png"
    Image.fromarray(image).save(png)
    predict = (
        [str(BIN / "predict")]
        if (BIN / "predict").exists()
        else [sys.executable, "-m", "mnist_pipeline.serving.predict"]
    )
    ours = [*predict, "--model", str(export / "model_float32.tflite"), str(png)]
    tensorflow = [
        sys.executable,
        "-c",
        "import sys, numpy as np; from PIL import Image; import tensorflow as tf; "
        f"f = tf.saved_model.load(sys.argv[1]).signatures['{SIGNATURE}']; "
        "p = np.asarray(Image.open(sys.argv[2]).convert('L'))[None]; "
        "print(int(f(pixels=tf.constant(p))['class'][0]))",
        str(export / "saved_model"),
        str(png),
    ]
    found: dict[str, Any] = {
        "predict": [],
        "predict_rss_kib": [],
        "tensorflow": [],
        "tensorflow_rss_kib": [],
        "output": "",
    }
    for index in range(count):
        pair = [("predict", ours), ("tensorflow", tensorflow)]
        for name, command in pair if index % 2 == 0 else pair[::-1]:
            proc = run_small(command, ROOT)
            found[name].append(proc.wall_s)
            found[f"{name}_rss_kib"].append(proc.max_rss_kib)
            if name == "predict":
                found["output"] = proc.stdout.strip().replace(str(png), png.name)
    return found


# --------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return (
        f"{seconds * 1000:.3f}"
        if seconds < 0.01
        else f"{seconds * 1000:.2f}"
        if seconds < 0.1
        else f"{seconds * 1000:.1f}"
    )


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def markdown(info: dict[str, Any], results: dict[str, Any], cold: dict[str, Any], args: argparse.Namespace) -> str:
    m = info["machine"]
    lines = [
        "# Serving latency",
        "",
        f"Measured {info['date']} with `python benchmarks/latency.py{info['command_args']}`: {info['what_model']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable); Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, LiteRT {info['litert']}. Shared machine: times are noisy; "
        "compare rows of this table with each other.",
        "",
        f"Per image: batch of 1, {info['calls_per_runtime']} calls per runtime after {args.warmup} warm-up calls, in "
        f"{args.rounds} rounds (runtimes in a rotated order each round); p50 and p99 over all calls, and the range of "
        f"the per-round p50s. Throughput: the whole test split ({info['test_images']} images) in batches of {BATCH}, "
        "median (min–max) over rounds. Accuracy: on the test split, from the batch runs.",
        "",
        "| runtime | p50 (ms) | p99 (ms) | p50 per round (ms) | images/s at batch 1024 | test accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        latency = entry["latency_s"]
        lines.append(
            f"| {name} | {ms(float(np.percentile(latency, 50)))} | {ms(float(np.percentile(latency, 99)))} "
            f"| {ms(min(entry['round_p50_s']))}–{ms(max(entry['round_p50_s']))} "
            f"| {spread(entry['images_per_s'], lambda v: f'{v:,.0f}')} | {entry['accuracy'] * 100:.2f} % |"
        )
    lines += [
        "",
        f"Cold start, fresh process classifying one PNG (wall time, median (min–max) of {args.cold}, the two alternating):",
        "",
        "| command | wall time (s) | max RSS (MiB) |",
        "|---|---|---|",
        f"| `predict one.png` (TFLite float32 by LiteRT, no TensorFlow) | {spread(cold['predict'], lambda v: f'{v:.2f}')} "
        f"| {statistics.median(cold['predict_rss_kib']) / 1024:.0f} |",
        f"| for comparison: `python -c` loading the SavedModel in TensorFlow and classifying the same PNG "
        f"| {spread(cold['tensorflow'], lambda v: f'{v:.2f}')} | {statistics.median(cold['tensorflow_rss_kib']) / 1024:.0f} |",
        "",
        f"`predict` printed: `{cold['output']}`. Wall time and max RSS (`ru_maxrss`) of the process alone, "
        "taken by a minimal Python parent (`benchmarks/common.py`'s `run_small`).",
    ]
    if info.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {note}" for note in info["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--export", type=Path, default=Path("models/export"), help="export folder (default models/export)"
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="Keras model (default: models/model.keras beside the export)"
    )
    parser.add_argument(
        "--data", type=Path, default=Path("data/prepared"), help="prepared arrays (default data/prepared)"
    )
    parser.add_argument(
        "--source", type=Path, default=None, help="raw .gz files: build the export here if it is missing"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/latency.md", help="Markdown results (JSON beside it)"
    )
    parser.add_argument(
        "--calls", type=int, default=3000, help="per-image calls per runtime, all rounds together (default 3000)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="warm-up calls per runtime (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--cold", type=int, default=5, help="fresh processes for the cold start (default 5)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="latency-"))
    notes = []
    try:
        export, data = args.export.resolve(), args.data.resolve()
        model = (args.model or export.parent / "model.keras").resolve()
        if not (export / "saved_model").is_dir() or not (data / "x_test.npy").is_file() or not model.is_file():
            if args.source is None:
                parser.error(
                    f"no export at {args.export} (or no prepared data, or no Keras model): run `dvc repro`, or pass --source DIR"
                )
            project = build_export(args.source.expanduser().resolve(), scratch)
            export, data, model = project / "models/export", project / "data/prepared", project / "models/model.keras"
            what = f"the model of a fresh `dvc repro` with train.epochs=1 on {detect_dataset(args.source.expanduser().resolve())}"
        else:
            card = export / "model_card.md"
            what = f"the export in {args.export}" + (" (see its model_card.md)" if card.is_file() else "")
        log("cold starts")
        first_image = to_pixels(np.load(data / "x_test.npy", mmap_mode="r")[0])
        cold = cold_starts(export, first_image, args.cold, scratch)
        pixels, labels = load_test_pixels(data)

        log("loading the runtimes")
        flavours = sorted(export.glob("model_*.tflite"), key=lambda path: (FLAVOUR_ORDER.get(path.stem, 9), path.name))
        runtimes = [runtime for path in flavours for runtime in tflite_runtimes(path)]
        runtimes.append(saved_model_runtime(export / "saved_model"))
        runtimes += keras_runtimes(model)
        results = measure(runtimes, pixels, labels, args)

        import importlib.metadata

        info = {
            "date": datetime.date.today().isoformat(),
            "machine": machine(),
            "litert": importlib.metadata.version("ai-edge-litert"),
            "what_model": what,
            "command_args": "" if args.source is None else f" --source <{args.source.name} folder>",
            "calls_per_runtime": max(1, args.calls // args.rounds) * args.rounds,
            "test_images": len(pixels),
            "notes": notes,
        }
        local = {
            str(scratch): "<scratch>",
            str(ROOT): "<project>",
            str(BIN): "<venv>/bin",
            str(export): "<export>",
            str(data): "<data>",
            str(model): "<model>",
        }
        text = without_local_paths(markdown(info, results, cold, args), local)
        summary = {
            name: {
                "p50_ms": float(np.percentile(entry["latency_s"], 50)) * 1000,
                "p99_ms": float(np.percentile(entry["latency_s"], 99)) * 1000,
                "round_p50_ms": [v * 1000 for v in entry["round_p50_s"]],
                "images_per_s": entry["images_per_s"],
                "accuracy": entry["accuracy"],
            }
            for name, entry in results.items()
        }
        raw = {
            "info": info,
            "settings": {
                k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("out", "source")
            },
            "summary": summary,
            "cold_start": cold,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        args.out.with_suffix(".json").write_text(
            without_local_paths(json.dumps(raw, indent=2), local) + "\n", encoding="utf-8"
        )
        print(text)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
