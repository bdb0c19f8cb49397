"""Classification figures from predictions, in plain NumPy so they are easy to test and trust."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy from logits (what Keras's loss computes)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    for name, values in (("labels", labels), ("predictions", predicted)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}")
    return np.bincount(labels * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise division that gives 0 where the denominator is 0 (scikit-learn's convention)."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def per_class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = _ratio(hits, confusion.sum(axis=0).astype(np.float64))
    recall = _ratio(hits, support.astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def summarize(labels: np.ndarray, logits: np.ndarray, names: tuple[str, ...]) -> tuple[dict, dict[str, dict]]:
    """The headline of metrics/eval.json, accuracy then loss (DVC keeps a file's key order in its
    columns), and the per-class table: precision, recall (the per-class accuracy), F1 and support.
    """
    predicted = logits.argmax(axis=-1)
    scores = per_class_scores(confusion_matrix(labels, predicted, len(names)))
    figures = {
        "accuracy": round(float(np.mean(predicted == labels)), 6),
        "loss": round(cross_entropy(logits, labels), 6),
    }
    table = {
        name: {
            "precision": round(float(scores["precision"][i]), 6),
            "recall": round(float(scores["recall"][i]), 6),
            "f1": round(float(scores["f1"][i]), 6),
            "support": int(scores["support"][i]),
        }
        for i, name in enumerate(names)
    }
    return figures, table


def macro_f1(table: dict[str, dict]) -> float:
    """The unweighted mean of the classes' F1 scores in a per-class table."""
    return float(np.mean([figures["f1"] for figures in table.values()]))
