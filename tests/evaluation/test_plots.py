"""What evaluate and export write for people (headline metrics) and for readers (tables), and reading it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.errors import DataError
from mnist_pipeline.evaluation.metrics import macro_f1, softmax, summarize
from mnist_pipeline.evaluation.plots import per_class_csv, predictions_csv, read_per_class

NAMES = ("zero", "one", "two")
# true:      0  0  1  1  2      predicted: 0  1  1  1  0   (as in test_classification.py)
LABELS = np.array([0, 0, 1, 1, 2])
LOGITS = np.array([[2.0, 0, 0], [0, 1.0, 0], [0, 3.0, 0], [0, 1.0, 0], [1.0, 0, 0]])


def test_headline_holds_only_accuracy_then_loss() -> None:
    figures, _ = summarize(LABELS, LOGITS, NAMES)
    assert list(figures) == ["accuracy", "loss"]
    assert figures["accuracy"] == 0.6
    probabilities = softmax(LOGITS)[np.arange(len(LABELS)), LABELS]
    assert figures["loss"] == pytest.approx(float(-np.log(probabilities).mean()), abs=1e-6)


def test_macro_f1_is_the_mean_of_the_class_f1_scores() -> None:
    _, table = summarize(LABELS, LOGITS, NAMES)
    assert macro_f1(table) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_per_class_table_by_hand() -> None:
    _, table = summarize(LABELS, LOGITS, NAMES)
    assert table == {
        "zero": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        "one": {"precision": 0.666667, "recall": 1.0, "f1": 0.8, "support": 2},
        "two": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }


def test_per_class_csv_reads_back_equal(tmp_path: Path) -> None:
    _, table = summarize(LABELS, LOGITS, NAMES)
    text = per_class_csv(table)
    assert text.splitlines()[0] == "class,precision,recall,f1,support"
    assert text.splitlines()[2] == "one,0.666667,1.0,0.8,2"
    path = tmp_path / "per_class.csv"
    path.write_text(text)
    assert read_per_class(path) == table


def test_class_names_with_commas_survive_the_csv(tmp_path: Path) -> None:
    names = ("T-shirt, top", 'say "hi"', "two")
    _, table = summarize(LABELS, LOGITS, names)
    (tmp_path / "per_class.csv").write_text(per_class_csv(table))
    assert list(read_per_class(tmp_path / "per_class.csv")) == list(names)


def test_predictions_one_row_per_image_in_order() -> None:
    text = predictions_csv(LABELS, LOGITS.argmax(axis=-1), NAMES)
    assert text.splitlines() == [
        "actual,predicted,actual_index,predicted_index",
        "zero,zero,0,0",
        "zero,one,0,1",
        "one,one,1,1",
        "one,one,1,1",
        "two,zero,2,0",
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "is missing; run the evaluate stage first"),
        ("class,accuracy\nzero,0.5\n", "columns ['class', 'accuracy'], expected"),
        ("class,precision,recall,f1,support\nzero,high,0.5,0.5,2\n", "not a number"),
        (b"\xff\xfe\x00", "not a readable CSV file"),
    ],
    ids=["missing", "old-columns", "not-a-number", "not-utf8"],
)
def test_bad_per_class_file_is_a_data_error(tmp_path: Path, content: str | bytes | None, fragment: str) -> None:
    path = tmp_path / "per_class.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as caught:
        read_per_class(path)
    assert fragment in str(caught.value)
