"""The static report (report/report.md): real charts drawn from the plot data, metrics, gallery, model card.

A small DVC project is generated per test: plot data of known sizes, a metrics file, an
image and a model card. The SVG charts are read back mark by mark (Vega labels every mark
with its data), so a chart that does not show the input data fails.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from dvc.repo import Repo
from PIL import Image

from mnist_pipeline.errors import DataError
from mnist_pipeline.evaluation.plots import predictions_csv
from mnist_pipeline.evaluation.report import (
    REPORT_FILE,
    data_uri_bytes,
    demote,
    file_name,
    flatten,
    metrics_tables,
    write_report,
)
from tests.support.project import ROOT

IN_LABEL_ORDER = ("T-shirt/top", "Trouser", "Pullover", "Ankle boot")  # not alphabetical
LABELS = np.array([0, 1, 2, 3, 0, 1, 2, 3, 2])
PREDICTED = np.array([0, 1, 3, 3, 2, 1, 2, 0, 2])
TEMPLATES_PIPELINE = """
plots:
  - Loss:
      template: {epochs}
      x: step
      y:
        curves/train/loss.tsv: loss
        curves/val/loss.tsv: loss
  - Confusion:
      template: {confusion}
      x: actual
      y:
        confusion.csv: predicted
  - Bars:
      template: {bars}
      x: recall
      y:
        per_class.csv: class
"""
OURS = {"epochs": "epochs", "confusion": "confusion_by_label", "bars": "bars_by_label"}
DVCS = {"epochs": "linear", "confusion": "confusion", "bars": "bar_horizontal"}


STEPS, CLASSES = 7, ("shoe", "bag", "coat", "dress")
CONFUSION = [(CLASSES[i % 3], CLASSES[(i * i) % 4]) for i in range(23)]
METRICS = {"accuracy": 0.8125, "loss": 0.4375, "train": {"accuracy": 0.9, "loss": 0.25}}
MODEL_CARD = "# Model card: mlp on bars\n\n## Quality gate\n\nPassed: test accuracy 0.8125 ≥ 0.0000.\n"
PIPELINE = """
metrics:
  - metrics.json
plots:
  - Loss:
      x: step
      y:
        curves/loss.tsv: loss
  - Per-class accuracy (test):
      template: bar_horizontal
      x: accuracy
      y:
        per_class.csv: class
  - Confusion matrix (test):
      template: confusion
      x: actual
      y:
        confusion.csv: predicted
  - gallery.png
"""


def gallery() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 12), (200, 20, 20)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    Repo.init(str(tmp_path), no_scm=True).close()
    (tmp_path / "dvc.yaml").write_text(PIPELINE)
    (tmp_path / "curves").mkdir()
    (tmp_path / "curves/loss.tsv").write_text("step\tloss\n" + "".join(f"{s}\t{1 / s}\n" for s in range(1, STEPS + 1)))
    rows = "".join(f"{name},{i / 10}\n" for i, name in enumerate(CLASSES))
    (tmp_path / "per_class.csv").write_text("class,accuracy\n" + rows)
    (tmp_path / "confusion.csv").write_text("actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in CONFUSION))
    (tmp_path / "gallery.png").write_bytes(gallery())
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "model_card.md").write_text(MODEL_CARD)
    return tmp_path


def marks(svg: Path, role: str) -> list[ElementTree.Element]:
    """The SVG's marks of one kind (`bar`, `text mark`, ...), as Vega labels them."""
    return [e for e in ElementTree.parse(svg).iter() if e.get("aria-roledescription") == role]


def fields(mark: ElementTree.Element) -> dict[str, str]:
    """`actual: shoe; predicted: bag; xy_count: 3` -> a dict."""
    return dict(part.split(": ", 1) for part in mark.get("aria-label", "").split("; "))


def test_report_draws_every_plot_from_its_data(project: Path) -> None:
    report = write_report(project, project / "model_card.md", project / "report")
    assert report == project / "report" / REPORT_FILE
    text = report.read_text()
    images = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", text)
    assert [title for title, _ in images] == [
        "Loss",
        "Per-class accuracy (test)",
        "Confusion matrix (test)",
        "gallery.png",
    ]
    assert sorted(path.name for path in (project / "report").iterdir()) == sorted(
        [REPORT_FILE, *(f for _, f in images)]
    )
    files = {title: project / "report" / name for title, name in images}

    (line, *_) = marks(files["Loss"], "line mark")
    assert line.get("d").count("L") + 1 == STEPS, "the curve has a point per step"
    assert [int(fields(rule)["step"]) for rule in marks(files["Loss"], "rule mark")] == list(range(1, STEPS + 1))

    bars = {
        fields(bar)["class"]: float(fields(bar)["accuracy"]) for bar in marks(files["Per-class accuracy (test)"], "bar")
    }
    assert bars == {name: i / 10 for i, name in enumerate(CLASSES)}

    cells = [fields(cell) for cell in marks(files["Confusion matrix (test)"], "text mark")]
    assert {(c["actual"], c["predicted"]): int(c["xy_count"]) for c in cells} == Counter(CONFUSION)

    assert files["gallery.png"].read_bytes() == gallery()


def test_report_has_the_metrics_and_the_model_card(project: Path) -> None:
    text = write_report(project, project / "model_card.md", project / "report").read_text()
    for key, value in flatten(METRICS):
        assert f"| {key} | {value} |" in text
    assert "| train.loss | 0.25 |" in text
    assert "## Model card: mlp on bars\n\n### Quality gate\n\nPassed: test accuracy 0.8125" in text
    assert text.index("## Metrics") < text.index("## Plots") < text.index("## Model card")


def test_report_refuses_missing_inputs_and_leaves_the_old_one(project: Path) -> None:
    out = project / "report"
    write_report(project, project / "model_card.md", out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    (project / "confusion.csv").unlink()
    with pytest.raises(DataError, match=r"confusion\.csv.*dvc repro"):
        write_report(project, project / "model_card.md", out)
    with pytest.raises(DataError, match=r"missing\.md: cannot read the model card"):
        write_report(project, project / "missing.md", out)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_report_refuses_unreadable_metrics(project: Path) -> None:
    (project / "metrics.json").write_text("{not json")
    with pytest.raises(DataError, match=r"metrics\.json"):
        write_report(project, project / "model_card.md", project / "report")


def test_small_pieces() -> None:
    assert file_name(3, "Confusion matrix (test)", ".svg") == "03-confusion-matrix-test.svg"
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": "x"}}}) == [("a", 1), ("b.c", 2), ("b.d.e", "x")]
    assert metrics_tables({"m.json": {"a|b": 1}}).endswith("| a\\|b | 1 |")
    assert demote("# A\ntext # not a heading\n## B\n") == "## A\ntext # not a heading\n### B\n"
    assert data_uri_bytes("data:image;base64," + base64.b64encode(b"\x89PNG").decode()) == b"\x89PNG"
    with pytest.raises(ValueError):
        data_uri_bytes("metrics/eval/misclassified.png")


# ---------------------------------------------------------------------------- The project's plot templates (.dvc/plots/): whole epochs, wh


def drawn(tmp_path: Path, templates: dict[str, str]) -> dict[str, ElementTree.Element]:
    """The report's SVGs, by chart, for a two-epoch run and a four-class confusion matrix."""
    Repo.init(str(tmp_path), no_scm=True).close()
    shutil.copytree(ROOT / ".dvc" / "plots", tmp_path / ".dvc" / "plots")
    (tmp_path / "dvc.yaml").write_text(TEMPLATES_PIPELINE.format(**templates))
    for split, losses in (("train", (0.5, 0.4)), ("val", (0.45, 0.42))):
        (tmp_path / "curves" / split).mkdir(parents=True)
        rows = "".join(f"{step}\t{loss}\n" for step, loss in enumerate(losses, start=1))
        (tmp_path / "curves" / split / "loss.tsv").write_text("step\tloss\n" + rows)
    (tmp_path / "confusion.csv").write_text(predictions_csv(LABELS, PREDICTED, IN_LABEL_ORDER))
    (tmp_path / "per_class.csv").write_text("class,recall\n" + "".join(f"{name},0.5\n" for name in IN_LABEL_ORDER))
    (tmp_path / "card.md").write_text("# Model card\n")
    report = write_report(tmp_path, tmp_path / "card.md", tmp_path / "report")
    svgs = sorted(report.parent.glob("*.svg"))
    return {name: ElementTree.parse(svg).getroot() for name, svg in zip(("loss", "confusion", "bars"), svgs)}


def axis_labels(svg: ElementTree.Element, axis: str) -> list[str]:
    """The tick labels of the chart's X or Y axis, in drawing order."""
    groups = [e for e in svg.iter() if (e.get("aria-label") or "").startswith(f"{axis}-axis")]
    return [text.text or "" for group in groups for text in group.iter() if text.tag.endswith("text")][:-1]


def texts(svg: ElementTree.Element) -> set[str]:
    return {element.text or "" for element in svg.iter() if element.tag.endswith("text")}


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ElementTree.Element]:
    return drawn(tmp_path_factory.mktemp("ours"), OURS)


@pytest.fixture(scope="module")
def dvcs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ElementTree.Element]:
    return drawn(tmp_path_factory.mktemp("dvcs"), DVCS)


def test_epochs_are_whole_numbers(ours: dict, dvcs: dict) -> None:
    assert axis_labels(ours["loss"], "X") == ["1", "2"]
    assert axis_labels(dvcs["loss"], "X") != ["1", "2"], "DVC's linear template ticks 1.0, 1.1 ... 2.0"


def test_legends_are_whole(ours: dict) -> None:
    assert {"train/loss.tsv", "val/loss.tsv"} <= texts(ours["loss"])


def test_confusion_matrix_and_bars_list_classes_in_label_order(ours: dict, dvcs: dict) -> None:
    assert axis_labels(ours["confusion"], "X") == list(IN_LABEL_ORDER)
    assert axis_labels(ours["confusion"], "Y") == list(IN_LABEL_ORDER)
    assert axis_labels(ours["bars"], "Y") == list(IN_LABEL_ORDER)
    assert axis_labels(dvcs["confusion"], "X") == sorted(IN_LABEL_ORDER), "DVC's confusion template sorts by name"
    assert axis_labels(dvcs["bars"], "Y") == sorted(IN_LABEL_ORDER)
