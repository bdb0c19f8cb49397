"""What people see of experiments: the misclassified gallery, the plot data, and the
`dvc plots show` / `dvc plots diff` report rendered by a real browser.

The report test trains two experiments (hidden_units 128, then 64), renders the HTML in
headless Chromium with the network switched off (tests/support/browser.py) and checks the
*rendered* page: every Vega chart drew its marks, the curves have a series per
experiment, the confusion matrices add up to the test split, the gallery images load.
The page draws nothing offline unless its Vega comes inlined from the project's
`plots.html_template` (metrics/plots_template.html). The screenshot is kept as
test-artifacts/plots-report.png.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageStat

from mnist_pipeline.data.labels import read_labels
from mnist_pipeline.evaluation.gallery import (
    gallery_png,
    most_confident_mistakes,
    png_bytes,
    render_gallery,
)
from tests.support.browser import RenderedPage, chromium, find_chromium, rendered, vega_specs
from tests.support.project import FAST_EXPORT, ROOT, copy_project, run, synthetic_data, synthetic_digits

ARTIFACTS = ROOT / "test-artifacts"
EPOCHS = 3
BASELINE, SMALL = "HEAD", "small"  # the two revisions the diff report compares


# --- the gallery, on its own (fast) ---


def probabilities_for(predicted: list[int], confidence: list[float], classes: int = 3) -> np.ndarray:
    rows = np.full((len(predicted), classes), 0.0)
    for row, (label, value) in enumerate(zip(predicted, confidence)):
        rows[row] = (1.0 - value) / (classes - 1)
        rows[row, label] = value
    return rows


def test_most_confident_mistakes_orders_wrong_predictions_by_confidence() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2])
    probabilities = probabilities_for([0, 2, 2, 1, 0, 0], [0.9, 0.6, 0.99, 0.8, 0.6, 0.7])
    assert most_confident_mistakes(probabilities, labels, 10).tolist() == [3, 5, 1, 4]  # ties: lower index first
    assert most_confident_mistakes(probabilities, labels, 2).tolist() == [3, 5]
    assert most_confident_mistakes(probabilities, labels, 0).tolist() == []
    assert most_confident_mistakes(probabilities, np.array([0, 2, 2, 1, 0, 0]), 5).tolist() == []
    with pytest.raises(ValueError):
        most_confident_mistakes(probabilities, labels[:3], 1)


def test_render_gallery_draws_upscaled_captioned_tiles_on_white() -> None:
    images, _ = synthetic_digits(5, seed=3)
    picture = render_gallery(images, ["bar1"] * 5, ["bar2"] * 5, [0.97] * 5, columns=3)
    assert picture.mode == "RGB"
    assert picture.width >= 3 * 3 * 28 and picture.height >= 2 * 3 * 28  # 3 columns, 2 rows, 3x upscaled
    assert picture.getpixel((0, 0)) == (255, 255, 255)
    colours = {colour for _, colour in picture.getcolors(maxcolors=1 << 20)}
    assert any(r > 150 and g < 80 and b < 80 for r, g, b in colours), "the wrong prediction is not drawn in red"
    wider = render_gallery(images, ["T-shirt/top"] * 5, ["Ankle boot"] * 5, [0.5] * 5, columns=3)
    assert wider.width > picture.width, "long class names must widen the cells, not overlap"


def test_gallery_png_is_deterministic_and_says_so_when_there_are_no_mistakes() -> None:
    images, labels = synthetic_digits(60, seed=4)
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=60)
    names = tuple(f"class{i}" for i in range(10))
    first = gallery_png(images, labels, probabilities, names, count=12)
    assert first == gallery_png(images, labels, probabilities, names, count=12)
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_chunk_types(first) <= {b"IHDR", b"IDAT", b"IEND"}, "no timestamp or text chunks"
    assert Image.open(io.BytesIO(first)).size[0] > 4 * 3 * 28  # 4 columns of 3x tiles

    perfect = gallery_png(images, labels, np.eye(10)[labels], names, count=12)
    picture = Image.open(io.BytesIO(perfect))
    picture.load()
    assert picture.width > 100 and ImageStat.Stat(picture.convert("L")).var[0] > 0
    assert render_gallery(np.zeros((0, 28, 28), np.uint8), [], [], [], columns=4).size == picture.size
    assert png_bytes(render_gallery(np.zeros((0, 28, 28), np.uint8), [], [], [], columns=4)) == perfect


def png_chunk_types(data: bytes) -> set[bytes]:
    types, offset = set(), 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        types.add(kind)
        offset += 12 + length
    return types


# --- two experiments and their report (slow) ---


@pytest.fixture(scope="module")
def experiments(tmp_path_factory: pytest.TempPathFactory, dataset_dir: Path) -> Path:
    """A project with a committed baseline run and an experiment `small` (hidden_units 64) in the workspace."""
    project = copy_project(
        tmp_path_factory.mktemp("report") / "project",
        {
            "data": synthetic_data(dataset_dir),
            "train": {"epochs": EPOCHS, "batch_size": 32},
            "export": {**FAST_EXPORT, "tflite": ["float32"]},
        },
    )
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline run"], project)
    run(["dvc", "exp", "run", "--name", SMALL, "--set-param", "train.hidden_units=64"], project)
    run(["dvc", "plots", "show", "--out", "report/show"], project)
    run(["dvc", "plots", "diff", BASELINE, SMALL, "--out", "report/diff"], project)
    return project


@pytest.mark.slow
def test_plot_data_has_a_row_per_test_image_and_per_epoch(experiments: Path) -> None:
    test_count = len(np.load(experiments / "data/prepared/y_test.npy"))
    with open(experiments / "metrics/eval/confusion.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["actual", "predicted", "actual_index", "predicted_index"]
    assert len(rows) - 1 == test_count
    names = read_labels(experiments / "data/prepared/labels.txt")
    assert all(names[int(row[2])] == row[0] and names[int(row[3])] == row[1] for row in rows[1:])

    for split in ("train", "val"):
        for metric in ("loss", "accuracy"):
            path = experiments / f"metrics/train/plots/metrics/{split}/{metric}.tsv"
            with open(path, newline="") as handle:
                table = list(csv.DictReader(handle, delimiter="\t"))
            assert [int(row["step"]) for row in table] == list(range(1, EPOCHS + 1)), path
            assert all(np.isfinite(float(row[metric])) for row in table)

    gallery = Image.open(experiments / "metrics/eval/misclassified.png")
    assert gallery.format == "PNG" and gallery.width > 3 * 28


@pytest.mark.slow
def test_exp_show_columns_have_the_params_and_test_figures(experiments: Path) -> None:
    table = run(["dvc", "exp", "show", "--csv"], experiments).stdout
    rows = list(csv.DictReader(io.StringIO(table)))
    for column in ("train.model", "train.hidden_units", "train.epochs", "train.learning_rate", "data.dataset"):
        assert column in rows[0], f"dvc exp show has no {column} column"
    for column in ("accuracy", "loss", "val.accuracy", "blessed", "tflite_kb"):
        assert column in rows[0], f"dvc exp show has no {column} column"
    by_name = {row["Experiment"] or row["rev"]: row for row in rows}
    assert by_name[SMALL]["train.hidden_units"] == "64"
    assert by_name["main"]["train.hidden_units"] == "128"
    evaluation = json.loads((experiments / "metrics/eval/metrics.json").read_text())
    assert float(by_name[SMALL]["accuracy"]) == pytest.approx(evaluation["accuracy"])
    assert float(by_name[SMALL]["loss"]) == pytest.approx(evaluation["loss"])


def chart_id(specs: dict[str, dict], title: str) -> str:
    for name, spec in specs.items():
        if (spec.get("title") or {}).get("text") == title:
            return name
    raise AssertionError(f"no chart titled {title!r} in the report: {sorted(specs)}")


@pytest.mark.slow
def test_report_html_has_every_plot_with_both_experiments(experiments: Path) -> None:
    test_count = len(np.load(experiments / "data/prepared/y_test.npy"))
    diff = vega_specs((experiments / "report/diff/index.html").read_text())
    for title in ("Loss", "Accuracy", "Confusion matrix (test)", "Confusion matrix, normalized (test)"):
        values = diff[chart_id(diff, title)]["data"]["values"]
        assert {row["rev"] for row in values} == {BASELINE, SMALL}, title
    confusion = diff[chart_id(diff, "Confusion matrix (test)")]["data"]["values"]
    assert Counter(row["rev"] for row in confusion) == {BASELINE: test_count, SMALL: test_count}
    loss = diff[chart_id(diff, "Loss")]["data"]["values"]
    assert len(loss) == 2 * 2 * EPOCHS  # experiments x (train, val) x epochs
    per_class = diff[chart_id(diff, "Per-class accuracy (test)")]["data"]["values"]
    assert len(per_class) == 2 * 10

    show = vega_specs((experiments / "report/show/index.html").read_text())
    assert {row["rev"] for row in show[chart_id(show, "Loss")]["data"]["values"]} == {"workspace"}
    page = RenderedPage(set())  # the page as written, not rendered: its <img> tags, not the scripts' text
    page.feed((experiments / "report/show/index.html").read_text())
    images = page.images
    assert [Path(src).name for src in images] == ["workspace_metrics_eval_misclassified.png"]
    shown = experiments / "report/show" / images[0]
    assert shown.read_bytes() == (experiments / "metrics/eval/misclassified.png").read_bytes()


# --- the report in a browser, offline ---


@pytest.mark.slow
def test_report_renders_both_experiments_in_a_browser(experiments: Path) -> None:
    browser = find_chromium()
    test_count = len(np.load(experiments / "data/prepared/y_test.npy"))
    diff = experiments / "report/diff/index.html"
    page, specs = rendered(browser, diff)

    for title, metric in (("Loss", "loss"), ("Accuracy", "accuracy")):
        lines = page.labels(chart_id(specs, title), "line mark")
        series = {(rev, f"{split}/{metric}.tsv") for rev in (BASELINE, SMALL) for split in ("train", "val")}
        drawn = {(rev, name) for rev, name in series if any(f"rev: {rev}; filename: {name}" in x for x in lines)}
        assert drawn == series, f"{title}: expected a curve per experiment and split, drew {sorted(drawn)}"
        legends = " ".join(page.labels(chart_id(specs, title), "legend"))
        assert f"2 values: {BASELINE}, {SMALL}" in legends, legends

    for title in ("Confusion matrix (test)", "Confusion matrix, normalized (test)"):
        chart = chart_id(specs, title)
        titles = page.labels(chart, "title")
        assert f"Title text '{BASELINE}'" in titles and f"Title text '{SMALL}'" in titles, titles
    cells = page.labels(chart_id(specs, "Confusion matrix (test)"), "text mark")
    counts = [int(re.search(r"xy_count: (\d+)", cell).group(1)) for cell in cells]
    assert len(cells) == 2 * 10 * 10, "a 10x10 matrix per experiment"
    assert sum(counts) == 2 * test_count, "each matrix must add up to the test split"
    assert len(page.labels(chart_id(specs, "Per-class accuracy (test)"), "bar")) == 2 * 10

    gallery = [src for src in page.images if src.endswith("_metrics_eval_misclassified.png")]
    assert sorted(Path(src).name.split("_")[0] for src in gallery) == [BASELINE, SMALL]
    for src in gallery:
        assert Image.open(diff.parent / src).format == "PNG"

    screenshot = diff.with_name("report.png")
    chromium(browser, diff, "--hide-scrollbars", f"--screenshot={screenshot}", "--window-size=1400,4000")
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(screenshot, ARTIFACTS / "plots-report.png")
    picture = Image.open(screenshot).convert("L")
    assert picture.size == (1400, 4000)
    assert ImageStat.Stat(picture).var[0] > 200, "the screenshot is (nearly) blank"
    histogram = picture.histogram()
    assert sum(histogram[:200]) > 0.02 * picture.width * picture.height, "almost nothing drawn in the screenshot"

    single, _ = rendered(browser, experiments / "report/show/index.html")
    assert [Path(src).name for src in single.images] == ["workspace_metrics_eval_misclassified.png"]
