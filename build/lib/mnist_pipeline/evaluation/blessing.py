"""The blessing: does a candidate model ship? An absolute floor, then image-by-image comparisons with the baseline.

Candidate and baseline are scored on the same test images, so every image gives a pair
(baseline right?, candidate right?). Only the discordant pairs say which model is better:
`lost` images the baseline got right and the candidate wrong, `gained` the reverse.
McNemar's exact test asks whether lost and gained differ more than fair coin flips would.
A drop blocks only if it is larger than its threshold *and* significant, so seed noise
passes while a real regression, also one hidden in a single class, does not. Pure
functions: the stage reads the files and writes what `decide` returns. Longer than most
modules because every rule (floor, accuracy change, per class, test-data match, override)
is its own small function that returns its own record for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_pipeline.evaluation.markdown import table
from mnist_pipeline.params import BlessParams

FLOOR = "absolute floor"
ACCURACY = "accuracy change"
RECALL = "recall change"


@dataclass(frozen=True)
class Evaluation:
    """One model's predictions on the test split, and the hashes that say which model and which data."""

    labels: np.ndarray
    predicted: np.ndarray
    classes: tuple[str, ...]
    model_sha256: str
    test_data_sha256: str
    origin: str = ""

    @property
    def correct(self) -> np.ndarray:
        return np.asarray(self.predicted) == np.asarray(self.labels)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self.labels) else 0.0

    def recall(self) -> dict[str, float]:
        """Per-class recall: the accuracy on the images of each true class."""
        correct = self.correct
        return {
            name: float(correct[self.labels == index].mean()) if np.any(self.labels == index) else 0.0
            for index, name in enumerate(self.classes)
        }


def mcnemar_exact(lost: int, gained: int) -> float:
    """Two-sided p-value of McNemar's exact test: a binomial test of the discordant pairs at p = 1/2.

    p = min(1, 2 * P(X <= min(lost, gained))) with X ~ Binomial(lost + gained, 1/2), the
    convention of statsmodels' `mcnemar(exact=True)`. The tail is summed in exact integers and
    divided once (Python rounds big-integer division correctly), so there is no overflow or
    cancellation at any size; it underflows to 0.0 only below ~1e-308.
    """
    if lost < 0 or gained < 0:
        raise ValueError(f"discordant counts must be >= 0, got {lost} and {gained}")
    total, smaller = lost + gained, min(lost, gained)
    term = tail = 1  # C(total, 0)
    for k in range(smaller):
        term = term * (total - k) // (k + 1)
        tail += term
    return min(1.0, 2 * tail / 2**total)


def paired_rule(
    name: str, param: str, candidate: np.ndarray, baseline: np.ndarray, max_drop: float, level: float
) -> dict:
    """Compare paired correctness vectors: refused only by a drop beyond `max_drop` that is significant at `level`."""
    lost = int(np.sum(baseline & ~candidate))
    gained = int(np.sum(candidate & ~baseline))
    count = len(candidate)
    difference = (gained - lost) / count if count else 0.0
    p_value = mcnemar_exact(lost, gained)
    return {
        "rule": name,
        "param": param,
        "threshold": max_drop,
        "candidate": round(float(candidate.mean()), 6) if count else 0.0,
        "baseline": round(float(baseline.mean()), 6) if count else 0.0,
        "difference": round(difference, 6),
        "lost": lost,
        "gained": gained,
        "p_value": p_value,
        "level": level,
        "passed": not (-difference > max_drop and p_value < level),
    }


def floor_rule(candidate: Evaluation, min_accuracy: float) -> dict:
    accuracy = candidate.accuracy
    return {
        "rule": FLOOR,
        "param": "bless.min_accuracy",
        "threshold": min_accuracy,
        "candidate": round(accuracy, 6),
        "passed": accuracy >= min_accuracy,
    }


def change_rules(candidate: Evaluation, baseline: Evaluation, p: BlessParams) -> list[dict]:
    """The accuracy rule, then one recall rule per class (each at significance / classes: Bonferroni)."""
    ours, theirs = candidate.correct, baseline.correct
    rules = [paired_rule(ACCURACY, "bless.max_accuracy_drop", ours, theirs, p.max_accuracy_drop, p.significance)]
    level = p.significance / len(candidate.classes)
    for index, name in enumerate(candidate.classes):
        images = candidate.labels == index
        rule = paired_rule(
            f"{RECALL}: {name}",
            "bless.max_class_recall_drop",
            ours[images],
            theirs[images],
            p.max_class_recall_drop,
            level,
        )
        rules.append(rule)
    return rules


def comparable(candidate: Evaluation, baseline: Evaluation | None) -> str:
    """Empty if the baseline can be paired with the candidate image by image, else the one-line reason why not."""
    if baseline is None:
        return "no baseline yet (python -m mnist_pipeline.promote makes one): absolute floor only"
    if baseline.test_data_sha256 != candidate.test_data_sha256:
        return (
            f"baseline skipped: it was scored on other test data (sha256 {baseline.test_data_sha256[:12]}, "
            f"this run {candidate.test_data_sha256[:12]}): absolute floor only"
        )
    if not np.array_equal(baseline.labels, candidate.labels):
        return "baseline skipped: its test labels differ from this run's although the data hash matches: absolute floor only"
    return ""


def describe(rule: dict) -> str:
    """A rule's figures in one phrase."""
    if rule["rule"] == FLOOR:
        relation = ">=" if rule["passed"] else "is below"
        return f"{FLOOR}: test accuracy {rule['candidate']:.4f} {relation} {rule['param']} {rule['threshold']:.4f}"
    significant = "<" if rule["p_value"] < rule["level"] else ">="
    return (
        f"{rule['rule']}: candidate {rule['candidate']:.4f} vs baseline {rule['baseline']:.4f} "
        f"({rule['difference']:+.4f}; {rule['lost']} lost, {rule['gained']} gained; "
        f"McNemar p={rule['p_value']:.3g} {significant} {rule['level']:.3g}), "
        f"allowed drop {rule['param']} {rule['threshold']:.4f}"
    )


def decide(candidate: Evaluation, baseline: Evaluation | None, p: BlessParams) -> dict:
    """The full verdict: every rule with its figures, whether the candidate ships, and why."""
    skipped = comparable(candidate, baseline)
    rules = [floor_rule(candidate, p.min_accuracy)]
    if baseline is not None and not skipped:
        rules += change_rules(candidate, baseline, p)
    failed = [rule for rule in rules if not rule["passed"]]
    verdict = {
        "blessed": not failed or p.force,
        "refused_by": [rule["rule"] for rule in failed],
        "override": {"force": p.force, "reason": p.reason, "used": bool(failed) and p.force},
        "comparison": skipped or "against the baseline, image by image",
        "candidate": _identity(candidate),
        "baseline": _identity(baseline) if baseline is not None else None,
        "rules": rules,
    }
    verdict["summary"] = summary(verdict)
    return verdict


def _identity(evaluation: Evaluation) -> dict:
    return {
        "model_sha256": evaluation.model_sha256,
        "test_data_sha256": evaluation.test_data_sha256,
        "images": len(evaluation.labels),
        "accuracy": round(evaluation.accuracy, 6),
        "origin": evaluation.origin,
    }


def summary(verdict: dict) -> str:
    """The verdict in one line: what decided it, with the figures."""
    failed = [rule for rule in verdict["rules"] if not rule["passed"]]
    if not failed:
        accuracy = next((rule for rule in verdict["rules"] if rule["rule"] == ACCURACY), None)
        figures = describe(accuracy) if accuracy else verdict["comparison"]
        return f"blessed: {figures}"
    more = f" (and {len(failed) - 1} more rule{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else ""
    if verdict["override"]["used"]:
        return f"shipped by override (bless.force, reason: {verdict['override']['reason']}) although refused by {describe(failed[0])}{more}"
    return f"refused by {describe(failed[0])}{more}"


def headline(verdict: dict) -> dict:
    """The two columns `dvc metrics show` and `dvc exp show` get: blessed (1 or 0, a number that `dvc metrics diff`
    can compare), and the accuracy change against the baseline (left out without one). Its p-value and every other
    figure are in the full verdict: DVC makes a column of every key, and all stages' headlines share one table."""
    accuracy = next((rule for rule in verdict["rules"] if rule["rule"] == ACCURACY), None)
    figures = {"blessed": int(verdict["blessed"])}
    if accuracy:
        figures["accuracy_change"] = accuracy["difference"]
    return figures


def _cells(rule: dict) -> list[str]:
    result = "pass" if rule["passed"] else "**FAIL**"
    if rule["rule"] == FLOOR:
        refused_if = f"accuracy < {rule['threshold']:.4f} (`{rule['param']}`)"
        return [rule["rule"], refused_if, f"{rule['candidate']:.4f}", "", "", "", "", result]
    return [
        rule["rule"],
        f"drop > {rule['threshold']:.4f} (`{rule['param']}`) and p < {rule['level']:.3g}",
        f"{rule['candidate']:.4f}",
        f"{rule['baseline']:.4f}",
        f"{rule['difference']:+.4f}",
        f"{rule['lost']} / {rule['gained']}",
        f"{rule['p_value']:.3g}",
        result,
    ]


def _state_line(verdict: dict) -> str:
    refused_by = ", ".join(verdict["refused_by"])
    if verdict["override"]["used"]:
        return (
            f"**Shipped by override** (`bless.force: true`), reason: {verdict['override']['reason']}. "
            f"Without it: refused by {refused_by}."
        )
    return "**Blessed**." if verdict["blessed"] else f"**Refused** by {refused_by}."


def verdict_markdown(verdict: dict) -> str:
    """The verdict for people: the model card's section and the CI job summary."""
    lines = [_state_line(verdict), f"Comparison: {verdict['comparison']}."]
    if verdict["baseline"]:
        base = verdict["baseline"]
        lines.append(
            f"Baseline: model sha256 `{base['model_sha256'][:12]}`, test accuracy {base['accuracy']:.4f}"
            + (f", {base['origin']}" if base["origin"] else "")
            + "."
        )
    header = ["rule", "refused if", "candidate", "baseline", "difference", "lost / gained", "p-value", "result"]
    lines.append(table(header, [_cells(rule) for rule in verdict["rules"]]))
    return "\n\n".join(lines) + "\n"
