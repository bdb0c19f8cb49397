"""Classification figures against small hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_pipeline.evaluation.metrics import confusion_matrix, cross_entropy, per_class_scores, softmax

# ---------------------------------------------------------------------------- confusion matrix

# true:      0  0  1  1  2      (class 2 is never predicted)
# predicted: 0  1  1  1  0
LABELS = np.array([0, 0, 1, 1, 2])
PREDICTED = np.array([0, 1, 1, 1, 0])
CONFUSION = np.array(
    [
        [1, 1, 0],
        [0, 2, 0],
        [1, 0, 0],
    ]
)


def test_confusion_matrix_rows_are_true_columns_predicted() -> None:
    matrix = confusion_matrix(LABELS, PREDICTED, 3)
    assert np.array_equal(matrix, CONFUSION)
    assert np.issubdtype(matrix.dtype, np.integer)
    assert matrix.sum() == len(LABELS)
    assert np.array_equal(matrix.sum(axis=1), [2, 2, 1])  # support


def test_confusion_matrix_keeps_classes_absent_from_both() -> None:
    matrix = confusion_matrix(np.array([0, 1]), np.array([1, 1]), 4)
    assert matrix.shape == (4, 4)
    assert np.array_equal(matrix, [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


def test_confusion_matrix_of_nothing() -> None:
    matrix = confusion_matrix(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3)
    assert matrix.shape == (3, 3) and matrix.sum() == 0


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=200),
        )
    )
)
def test_confusion_matrix_counts_every_pair(case: tuple[int, list[tuple[int, int]]]) -> None:
    num_classes, pairs = case
    labels = np.array([a for a, _ in pairs], dtype=np.int32)
    predicted = np.array([p for _, p in pairs], dtype=np.int64)
    expected = np.zeros((num_classes, num_classes), dtype=np.int64)
    for a, p in pairs:
        expected[a, p] += 1
    assert np.array_equal(confusion_matrix(labels, predicted, num_classes), expected)


def test_confusion_matrix_with_uint8_labels_and_many_classes() -> None:
    labels = np.array([16, 16, 3], dtype=np.uint8)
    predicted = np.array([16, 0, 3], dtype=np.uint8)
    matrix = confusion_matrix(labels, predicted, 17)
    assert matrix[16, 16] == 1 and matrix[16, 0] == 1 and matrix[3, 3] == 1 and matrix.sum() == 3


def test_confusion_matrix_refuses_out_of_range_predictions() -> None:
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 1]), np.array([3, 1]), 3)


# ---------------------------------------------------------------------------- precision, recall, F1


def test_per_class_scores_by_hand() -> None:
    scores = per_class_scores(CONFUSION)
    # precision = hits / predicted as the class: 1/2, 2/3, 0/0 -> 0
    np.testing.assert_allclose(scores["precision"], [1 / 2, 2 / 3, 0.0])
    # recall = hits / support: 1/2, 2/2, 0/1
    np.testing.assert_allclose(scores["recall"], [1 / 2, 1.0, 0.0])
    # f1 = 2pr / (p + r): 0.5, 2 * (2/3) / (5/3) = 0.8, 0
    np.testing.assert_allclose(scores["f1"], [0.5, 0.8, 0.0])
    assert np.array_equal(scores["support"], [2, 2, 1])


def test_a_class_never_predicted_has_precision_zero_not_nan() -> None:
    scores = per_class_scores(CONFUSION)
    for name in ("precision", "recall", "f1"):
        assert np.all(np.isfinite(scores[name])), name
    assert scores["precision"][2] == 0.0 and scores["f1"][2] == 0.0


def test_a_class_predicted_but_absent_has_recall_zero() -> None:
    # true: 0 0 1 ; predicted: 0 2 1 -> class 2 predicted once, never true
    scores = per_class_scores(confusion_matrix(np.array([0, 0, 1]), np.array([0, 2, 1]), 3))
    np.testing.assert_allclose(scores["precision"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(scores["recall"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(scores["f1"], [2 / 3, 1.0, 0.0])
    assert np.array_equal(scores["support"], [2, 1, 0])


def test_a_class_absent_everywhere_scores_zero() -> None:
    scores = per_class_scores(np.array([[3, 0], [0, 0]]))
    np.testing.assert_allclose(scores["precision"], [1.0, 0.0])
    np.testing.assert_allclose(scores["recall"], [1.0, 0.0])
    np.testing.assert_allclose(scores["f1"], [1.0, 0.0])


def test_perfect_predictions_score_one() -> None:
    labels = np.arange(10).repeat(3)
    scores = per_class_scores(confusion_matrix(labels, labels, 10))
    for name in ("precision", "recall", "f1"):
        np.testing.assert_allclose(scores[name], np.ones(10))
    assert np.array_equal(scores["support"], np.full(10, 3))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 50), min_size=4, max_size=4), min_size=4, max_size=4),
    st.permutations(range(4)),
)
def test_scores_are_rates_that_follow_their_class(rows: list[list[int]], order: list[int]) -> None:
    """Properties any correct precision/recall/F1 has, without restating their formulas."""
    confusion = np.array(rows)
    scores = per_class_scores(confusion)
    for name in ("precision", "recall", "f1"):
        assert np.all((scores[name] >= 0) & (scores[name] <= 1)), name
    # F1 is the harmonic mean of precision and recall: at least the smaller of the two, at
    # most their geometric mean (so 0 if either is 0, unlike an arithmetic mean)
    low = np.minimum(scores["precision"], scores["recall"])
    geometric = np.sqrt(np.asarray(scores["precision"]) * np.asarray(scores["recall"]))
    assert np.all(scores["f1"] >= low - 1e-12) and np.all(scores["f1"] <= geometric + 1e-12)
    # rates, not counts: three times as many of every outcome changes nothing
    tripled = per_class_scores(3 * confusion)
    for name in ("precision", "recall", "f1"):
        np.testing.assert_allclose(tripled[name], scores[name])
    # renumbering the classes renumbers their scores, whatever the order
    renumbered = per_class_scores(confusion[np.ix_(order, order)])
    for name in ("precision", "recall", "f1", "support"):
        np.testing.assert_allclose(renumbered[name], np.asarray(scores[name])[order])


# ---------------------------------------------------------------------------- softmax and cross-entropy


def test_softmax_by_hand() -> None:
    probabilities = softmax(np.array([[0.0, math.log(3.0)], [1.0, 1.0]]))
    np.testing.assert_allclose(probabilities, [[0.25, 0.75], [0.5, 0.5]])


def test_softmax_rows_sum_to_one() -> None:
    logits = np.random.default_rng(0).normal(0, 5, (50, 10))
    probabilities = softmax(logits)
    assert probabilities.shape == logits.shape
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(probabilities >= 0)
    assert np.array_equal(probabilities.argmax(axis=-1), logits.argmax(axis=-1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_for_huge_logits(dtype: type) -> None:
    logits = np.array([[1000.0, 1000.0, -1000.0], [1e30, 0.0, -1e30], [-1e4, -1e4 + math.log(3.0), -1e30]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        probabilities = softmax(logits)
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities[0], [0.5, 0.5, 0.0], atol=1e-7)
    np.testing.assert_allclose(probabilities[1], [1.0, 0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(probabilities[2], [0.25, 0.75, 0.0], atol=1e-3 if dtype is np.float32 else 1e-9)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-6)


def test_softmax_ignores_a_constant_shift() -> None:
    logits = np.random.default_rng(1).normal(0, 3, (8, 5))
    np.testing.assert_allclose(softmax(logits), softmax(logits + 700.0), rtol=1e-12)


def test_softmax_of_one_vector() -> None:
    np.testing.assert_allclose(softmax(np.array([2.0, 2.0, 2.0, 2.0])), np.full(4, 0.25))


def test_cross_entropy_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 2, (40, 10))
    labels = rng.integers(0, 10, 40)
    direct = -np.mean([math.log(math.exp(row[y]) / sum(math.exp(v) for v in row)) for row, y in zip(logits, labels)])
    assert cross_entropy(logits, labels) == pytest.approx(direct, rel=1e-12)
    assert isinstance(cross_entropy(logits, labels), float)


def test_cross_entropy_by_hand() -> None:
    # uniform over 4 classes: -log(1/4); a certain right answer: ~0
    assert cross_entropy(np.zeros((3, 4)), np.array([0, 1, 3])) == pytest.approx(math.log(4.0))
    assert cross_entropy(np.array([[0.0, math.log(3.0)]]), np.array([1])) == pytest.approx(-math.log(0.75))
    assert cross_entropy(np.array([[50.0, 0.0]]), np.array([0])) == pytest.approx(0.0, abs=1e-20)


def test_cross_entropy_is_finite_for_huge_logits() -> None:
    logits = np.array([[1000.0, 0.0], [0.0, 1e6]], dtype=np.float64)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = cross_entropy(logits, np.array([1, 0]))
    assert loss == pytest.approx((1000.0 + 1e6) / 2)


def test_cross_entropy_agrees_with_softmax() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, (25, 6))
    labels = rng.integers(0, 6, 25)
    probabilities = softmax(logits)
    assert cross_entropy(logits, labels) == pytest.approx(-np.log(probabilities[np.arange(25), labels]).mean())
