"""The project's plot templates (.dvc/plots/): whole epochs, whole legends, classes in label order.

Each is DVC's own template with one change. A tiny DVC project draws the same data with
ours and with DVC's built-ins through the static report (vl-convert, as `dvc plots show`
draws it in a browser); the SVGs are read back, and the built-ins show what ours fix.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from dvc.repo import Repo

from mnist_pipeline.evaluation.plots import predictions_csv
from mnist_pipeline.evaluation.report import write_report
from tests.conftest import ROOT

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Ankle boot")  # label order, not alphabetical
LABELS = np.array([0, 1, 2, 3, 0, 1, 2, 3, 2])
PREDICTED = np.array([0, 1, 3, 3, 2, 1, 2, 0, 2])
PIPELINE = """
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


def drawn(tmp_path: Path, templates: dict[str, str]) -> dict[str, ElementTree.Element]:
    """The report's SVGs, by chart, for a two-epoch run and a four-class confusion matrix."""
    Repo.init(str(tmp_path), no_scm=True).close()
    shutil.copytree(ROOT / ".dvc" / "plots", tmp_path / ".dvc" / "plots")
    (tmp_path / "dvc.yaml").write_text(PIPELINE.format(**templates))
    for split, losses in (("train", (0.5, 0.4)), ("val", (0.45, 0.42))):
        (tmp_path / "curves" / split).mkdir(parents=True)
        rows = "".join(f"{step}\t{loss}\n" for step, loss in enumerate(losses, start=1))
        (tmp_path / "curves" / split / "loss.tsv").write_text("step\tloss\n" + rows)
    (tmp_path / "confusion.csv").write_text(predictions_csv(LABELS, PREDICTED, CLASSES))
    (tmp_path / "per_class.csv").write_text("class,recall\n" + "".join(f"{name},0.5\n" for name in CLASSES))
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
    assert axis_labels(ours["confusion"], "X") == list(CLASSES)
    assert axis_labels(ours["confusion"], "Y") == list(CLASSES)
    assert axis_labels(ours["bars"], "Y") == list(CLASSES)
    assert axis_labels(dvcs["confusion"], "X") == sorted(CLASSES), "DVC's confusion template sorts by name"
    assert axis_labels(dvcs["bars"], "Y") == sorted(CLASSES)
