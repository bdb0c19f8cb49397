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

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

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


@dataclass(frozen=True)
class Floor:
    """The absolute floor: test accuracy of at least `bless.min_accuracy`, baseline or not."""

    kind: ClassVar[str] = "floor"
    rule: str
    param: str
    threshold: float
    candidate: float

    @classmethod
    def judge(cls, candidate: Evaluation, baseline: Evaluation | None, p: BlessParams) -> list[Rule]:
        return [cls(FLOOR, "bless.min_accuracy", p.min_accuracy, round(candidate.accuracy, 6))]

    @property
    def passed(self) -> bool:
        return self.candidate >= self.threshold

    def describe(self) -> str:
        relation = ">=" if self.passed else "is below"
        return f"{self.rule}: test accuracy {self.candidate:.4f} {relation} {self.param} {self.threshold:.4f}"

    def cells(self) -> list[str]:
        refused_if = f"accuracy < {self.threshold:.4f} (`{self.param}`)"
        return [self.rule, refused_if, f"{self.candidate:.4f}", "", "", "", ""]


@dataclass(frozen=True)
class Change:
    """A paired comparison with the baseline on the same images: refused only by a drop beyond `threshold`
    that McNemar's exact test finds significant at `level`."""

    kind: ClassVar[str] = "change"
    rule: str
    param: str
    threshold: float
    level: float
    candidate: float
    baseline: float
    difference: float
    lost: int
    gained: int
    p_value: float

    @classmethod
    def paired(
        cls, rule: str, param: str, threshold: float, level: float, ours: np.ndarray, theirs: np.ndarray
    ) -> Self:
        lost, gained, count = int(np.sum(theirs & ~ours)), int(np.sum(ours & ~theirs)), len(ours)
        return cls(
            rule,
            param,
            threshold,
            level,
            candidate=round(float(ours.mean()), 6) if count else 0.0,
            baseline=round(float(theirs.mean()), 6) if count else 0.0,
            difference=round((gained - lost) / count, 6) if count else 0.0,
            lost=lost,
            gained=gained,
            p_value=mcnemar_exact(lost, gained),
        )

    @property
    def passed(self) -> bool:
        return not (-self.difference > self.threshold and self.p_value < self.level)

    def describe(self) -> str:
        significant = "<" if self.p_value < self.level else ">="
        return (
            f"{self.rule}: candidate {self.candidate:.4f} vs baseline {self.baseline:.4f} "
            f"({self.difference:+.4f}; {self.lost} lost, {self.gained} gained; "
            f"McNemar p={self.p_value:.3g} {significant} {self.level:.3g}), "
            f"allowed drop {self.param} {self.threshold:.4f}"
        )

    def cells(self) -> list[str]:
        return [
            self.rule,
            f"drop > {self.threshold:.4f} (`{self.param}`) and p < {self.level:.3g}",
            f"{self.candidate:.4f}",
            f"{self.baseline:.4f}",
            f"{self.difference:+.4f}",
            f"{self.lost} / {self.gained}",
            f"{self.p_value:.3g}",
        ]


class AccuracyChange(Change):
    """The test accuracy against the baseline's, image by image."""

    kind: ClassVar[str] = "accuracy change"

    @classmethod
    def judge(cls, candidate: Evaluation, baseline: Evaluation | None, p: BlessParams) -> list[Rule]:
        if baseline is None:
            return []
        ours, theirs = candidate.correct, baseline.correct
        return [cls.paired(ACCURACY, "bless.max_accuracy_drop", p.max_accuracy_drop, p.significance, ours, theirs)]


class RecallChange(Change):
    """Each class's recall against the baseline's, on that class's images; at significance / classes (Bonferroni)."""

    kind: ClassVar[str] = "recall change"

    @classmethod
    def judge(cls, candidate: Evaluation, baseline: Evaluation | None, p: BlessParams) -> list[Rule]:
        if baseline is None:
            return []
        level = p.significance / len(candidate.classes)
        rules: list[Rule] = []
        for index, name in enumerate(candidate.classes):
            images = candidate.labels == index
            ours, theirs = candidate.correct[images], baseline.correct[images]
            rule = f"{RECALL}: {name}"
            rules.append(cls.paired(rule, "bless.max_class_recall_drop", p.max_class_recall_drop, level, ours, theirs))
        return rules


class Rule(Protocol):
    """What a bless rule is: judged from the two evaluations and the params, it says whether it passed, in one
    phrase and in the verdict table's cells. A new rule is one such class in RULES, and its params."""

    kind: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Any]]  # a dataclass: its fields are its record in verdict.json

    @property
    def rule(self) -> str: ...

    @classmethod
    def judge(cls, candidate: Evaluation, baseline: Evaluation | None, p: BlessParams) -> list[Rule]: ...

    @property
    def passed(self) -> bool: ...

    def describe(self) -> str: ...

    def cells(self) -> list[str]: ...


RULES: tuple[type[Rule], ...] = (Floor, AccuracyChange, RecallChange)


def as_record(rule: Rule) -> dict:
    """A rule as verdict.json holds it: its kind, its figures, and whether it passed."""
    return {"kind": rule.kind, **dataclasses.asdict(rule), "passed": rule.passed}


def from_record(record: dict) -> Rule:
    """A rule back from verdict.json (the export stage renders a verdict it reads from disk)."""
    kind = next(cls for cls in RULES if cls.kind == record["kind"])
    names = [field.name for field in dataclasses.fields(kind)]
    return kind(**{name: record[name] for name in names})


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


def decide(candidate: Evaluation, baseline: Evaluation | None, p: BlessParams) -> dict:
    """The full verdict: every rule with its figures, whether the candidate ships, and why."""
    skipped = comparable(candidate, baseline)
    paired = baseline if not skipped else None
    rules = [rule for kind in RULES for rule in kind.judge(candidate, paired, p)]
    failed = [rule for rule in rules if not rule.passed]
    verdict = {
        "blessed": not failed,
        "refused_by": [rule.rule for rule in failed],
        "override": {"reason": p.override, "used": bool(failed) and bool(p.override.strip())},
        "comparison": skipped or "against the baseline, image by image",
        "candidate": _identity(candidate),
        "baseline": _identity(baseline) if baseline is not None else None,
        "rules": [as_record(rule) for rule in rules],
    }
    verdict["summary"] = summary(verdict)
    return verdict


def ships(verdict: dict) -> bool:
    """A model ships if it was blessed, or refused and then shipped by a recorded override (`bless.override`)."""
    return bool(verdict["blessed"] or verdict["override"]["used"])


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
    rules = [from_record(record) for record in verdict["rules"]]
    failed = [rule for rule in rules if not rule.passed]
    if not failed:
        accuracy = next((rule for rule in rules if rule.rule == ACCURACY), None)
        figures = accuracy.describe() if accuracy else verdict["comparison"]
        return f"blessed: {figures}"
    more = f" (and {len(failed) - 1} more rule{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else ""
    if verdict["override"]["used"]:
        return f"shipped by override (bless.override: {verdict['override']['reason']}) although refused by {failed[0].describe()}{more}"
    return f"refused by {failed[0].describe()}{more}"


def headline(verdict: dict) -> dict:
    """The columns `dvc metrics show` and `dvc exp show` get: blessed (1 or 0, a number that `dvc metrics diff`
    can compare), the accuracy change against the baseline (left out without one), and `override: 1` only when a
    refused model ships by `bless.override`, so a forced model never reads as blessed. Its p-value and every other
    figure are in the full verdict: DVC makes a column of every key, and all stages' headlines share one table."""
    accuracy = next((rule for rule in verdict["rules"] if rule["rule"] == ACCURACY), None)
    figures = {"blessed": int(verdict["blessed"])}
    if accuracy:
        figures["accuracy_change"] = accuracy["difference"]
    if verdict["override"]["used"]:
        figures["override"] = 1
    return figures


def _state_line(verdict: dict) -> str:
    refused_by = ", ".join(verdict["refused_by"])
    if verdict["override"]["used"]:
        return (
            f"**Shipped by override** (`bless.override`): {verdict['override']['reason']}. "
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
    rows = [[*rule.cells(), "pass" if rule.passed else "**FAIL**"] for rule in map(from_record, verdict["rules"])]
    lines.append(table(header, rows))
    return "\n\n".join(lines) + "\n"
