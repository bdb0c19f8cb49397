"""Photos that work: `predict`'s accuracy on synthetic phone photos against the plain 28x28 test images.

    python -m benchmarks.photo_accuracy --data <folder of the four .gz files> [--count 1000] [--baseline main]

The real MNIST is not here, so Fashion-MNIST items stand in for digits, drawn dark on a
page and photographed (`tests/support/photos.py`: 8-15 % of the page width, anywhere, rotated
up to 12 degrees, marker or pencil, paper 200-245, a lighting gradient of 10-50 levels,
blur, noise, JPEG 50-95). A quickstart MLP is trained (`--epochs`) on the training images
framed the MNIST way (largest side 20 px, centred by mass in 28x28: how MNIST's digits
were made and what `predict` does to a photo), so that the only difference between the
columns is the photo. For the first `--count` test items it reports the accuracy on

- the plain images: the framed 28x28 arrays given to the model directly;
- the plain images rotated as in their photo (no photo): what the model loses to rotation alone;
- clean renders: black on white PNGs, 8x enlarged, through `predict`'s image path;
- photos: one synthetic photo per item, through `predict`'s image path;

for the working tree's `mnist_pipeline/serving/images.py` and, with `--baseline REV`, for
that revision's. An input refused ("no digit found") counts as wrong. Not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from benchmarks.common import ROOT, log, machine
from mnist_pipeline.data.idx import gunzip, read_idx
from mnist_pipeline.serving import images as current_images
from mnist_pipeline.serving.litert import TFLiteClassifier
from tests.support.photos import clean_render, random_spec, render_photo


def read_split(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    def load(name: str) -> np.ndarray:
        path = folder / name
        return read_idx(gunzip(path.read_bytes(), name=str(path), max_bytes=2**30), name=str(path))

    return load(f"{prefix}-images-idx3-ubyte.gz"), load(f"{prefix}-labels-idx1-ubyte.gz")


def frame(item: np.ndarray) -> np.ndarray:
    """A clean 28x28 light-on-dark image framed the MNIST way (the library's own steps)."""
    box = current_images.crop_to_ink(item)
    return current_images.center_by_mass(current_images.fit_in_box(box, 20)) if box.size else item


def train_model(x_train: np.ndarray, y_train: np.ndarray, epochs: int, seed: int) -> bytes:
    """The quickstart MLP on the framed training images, as a float32 TFLite export."""
    from mnist_pipeline.export.build import convert_tflite
    from mnist_pipeline.model.quiet_tensorflow import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train / 255.0, y_train, epochs=epochs, batch_size=32, verbose=0)
    return convert_tflite(model, "float32", x_train[:100])


def module_at(revision: str, scratch: Path) -> ModuleType:
    """`mnist_pipeline/serving/images.py` as it is at a git revision, imported under its own name."""
    source = subprocess.run(
        ["git", "show", f"{revision}:mnist_pipeline/serving/images.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = scratch / f"images_{revision.replace('/', '_')}.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def accuracy_of_files(module: ModuleType, classifier: TFLiteClassifier, paths: list[Path], labels: np.ndarray) -> dict:
    """`predict`'s image path (`load_inputs`) on each file; a refused file counts as wrong."""
    correct = refused = 0
    started = time.perf_counter()
    for path, label in zip(paths, labels):
        try:
            pixels = module.load_inputs(path)
        except module.InputError:
            refused += 1
            continue
        correct += int(classifier.predict(pixels)[0].argmax() == label)
    seconds = time.perf_counter() - started
    return {"accuracy": correct / len(paths), "refused": refused, "ms_per_image": 1000 * seconds / len(paths)}


def write_files(folder: Path, items: np.ndarray, seed: int) -> tuple[list[Path], list[Path], np.ndarray]:
    """Photos and clean renders of `items`, and each item rotated as in its photo and framed (no photo)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    photos, cleans, rotated = [], [], []
    for index, item in enumerate(items):
        spec = random_spec(rng)
        photos.append(folder / f"photo-{index:04d}.jpg")
        photos[-1].write_bytes(render_photo(item, spec, rng))
        cleans.append(folder / f"clean-{index:04d}.png")
        cleans[-1].write_bytes(clean_render(item))
        turned = Image.fromarray(item).rotate(spec.rotation, resample=Image.Resampling.BILINEAR, expand=True)
        rotated.append(frame(np.asarray(turned)))
    return photos, cleans, np.stack(rotated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with the four Fashion-MNIST .gz files")
    parser.add_argument("--count", type=int, default=1000, help="test items photographed")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", default=None, help="also measure images.py at this git revision (e.g. main)")
    parser.add_argument("--model-cache", type=Path, default=None, help="reuse (or save) the trained TFLite model here")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "photo_accuracy.json")
    args = parser.parse_args()

    x_train, y_train = read_split(args.data, "train")
    x_test, y_test = read_split(args.data, "t10k")
    x_test, y_test = x_test[: args.count], y_test[: args.count]
    if args.model_cache and args.model_cache.is_file():
        model = args.model_cache.read_bytes()
    else:
        log(f"framing {len(x_train)} training images and training the MLP ({args.epochs} epochs)")
        model = train_model(np.stack([frame(item) for item in x_train]), y_train, args.epochs, args.seed)
        if args.model_cache:
            args.model_cache.write_bytes(model)
    classifier = TFLiteClassifier(model)
    plain = float((classifier.predict(np.stack([frame(item) for item in x_test])).argmax(axis=1) == y_test).mean())
    results: dict = {"count": args.count, "epochs": args.epochs, "plain_28x28": plain, "versions": {}}
    with tempfile.TemporaryDirectory() as scratch:
        log(f"rendering {args.count} photos and clean scans")
        photos, cleans, rotated = write_files(Path(scratch) / "files", x_test, args.seed)
        results["rotated_28x28"] = float((classifier.predict(rotated).argmax(axis=1) == y_test).mean())
        modules = {"working tree": current_images}
        if args.baseline:
            modules[args.baseline] = module_at(args.baseline, Path(scratch))
        for name, module in modules.items():
            results["versions"][name] = {
                "clean_renders": accuracy_of_files(module, classifier, cleans, y_test),
                "photos": accuracy_of_files(module, classifier, photos, y_test),
            }
            log(f"{name}: {json.dumps(results['versions'][name])}")
    results["plain_28x28"] = plain
    results["machine"] = machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({key: results[key] for key in ("plain_28x28", "rotated_28x28", "versions")}, indent=2))


if __name__ == "__main__":
    main()
