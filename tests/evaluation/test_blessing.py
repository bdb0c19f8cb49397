"""The blessing on constructed predictions: McNemar's exact test, every rule, the verdict, its renderings and files."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import yaml

from mnist_pipeline.artifacts import save_array, sha256_of
from mnist_pipeline.data.datasets import LABELS_FILE
from mnist_pipeline.data.labels import write_labels
from mnist_pipeline.errors import DataError, GateError, ParamsError
from mnist_pipeline.evaluation.baseline import (
    hash_test_data,
    load_candidate,
    read_baseline,
    write_baseline,
)
from mnist_pipeline.evaluation.blessing import (
    ACCURACY,
    FLOOR,
    Evaluation,
    decide,
    headline,
    mcnemar_exact,
    ships,
    verdict_markdown,
)
from mnist_pipeline.evaluation.plots import predictions_csv
from mnist_pipeline.model.architectures import build_model, predict_logits
from mnist_pipeline.model.quiet_tensorflow import tf
from mnist_pipeline.model.training import Trainer, configure_runtime, fit
from mnist_pipeline.params import BlessParams, TrainParams, load_params, parse_params
from mnist_pipeline.promote import check_promotable, git_description, origin_text
from tests.support.project import ROOT, synthetic_digits

BARS = tuple(f"bar{i}" for i in range(10))  # the synthetic images' classes, for the real small models
# No tolerance on the drop: whether a difference counts is left to McNemar's test alone.
STRICT = BlessParams(min_accuracy=0.0, max_accuracy_drop=0.0, max_class_recall_drop=0.0, significance=0.05, override="")


CLASSES = tuple(f"c{i}" for i in range(10))
PARAMS = BlessParams(
    min_accuracy=0.0, max_accuracy_drop=0.002, max_class_recall_drop=0.02, significance=0.05, override=""
)


def reference_mcnemar(lost: int, gained: int) -> float:
    """An independent computation in log space: 2 * P(X <= min) for X ~ Binomial(n, 1/2), capped at 1."""
    n, k = lost + gained, min(lost, gained)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    return min(1.0, 2 * math.exp(top) * sum(math.exp(value - top) for value in logs))


# ---------------------------------------------------------------------------- McNemar's exact test


def test_mcnemar_matches_armitage_and_berry() -> None:
    """Armitage & Berry (1994, p. 127), two culture media on 50 sputum specimens: 12 grew on A only, 2 on B only.
    StatsDirect's exact McNemar (Liddell) reports P (two sided) = 0.0129; exactly 2 * (1 + 14 + 91) / 2**14."""
    assert mcnemar_exact(12, 2) == pytest.approx(0.0129, abs=5e-5)
    assert mcnemar_exact(12, 2) == float(Fraction(2 * (1 + 14 + 91), 2**14))


def test_mcnemar_matches_fagerland_lydersen_laake() -> None:
    """Fagerland, Lydersen & Laake, BMC Med Res Methodol 13:91 (2013), Table 1 (Bentur et al.): airway
    hyper-responsiveness before/after stem cell transplantation, discordant pairs 1 and 7; exact conditional
    p = 0.070, which is statsmodels' mcnemar([[1, 1], [7, 12]], exact=True).pvalue = 18/256."""
    assert mcnemar_exact(1, 7) == pytest.approx(0.070, abs=5e-4)
    assert mcnemar_exact(1, 7) == 18 / 256


def test_mcnemar_edge_cases() -> None:
    assert mcnemar_exact(0, 0) == 1.0, "no discordant pairs: no evidence of any difference"
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 1) == 1.0, "one discordant pair proves nothing"
    assert mcnemar_exact(0, 5) == 2 / 2**5, "all discordant one way: 2 * 0.5**n"
    assert mcnemar_exact(20, 0) == 2 / 2**20
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


@pytest.mark.parametrize(("lost", "gained"), [(3, 9), (40, 61), (480, 520), (4900, 5100), (300, 700)])
def test_mcnemar_is_symmetric_and_agrees_with_log_space(lost: int, gained: int) -> None:
    assert mcnemar_exact(lost, gained) == mcnemar_exact(gained, lost)
    assert mcnemar_exact(lost, gained) == pytest.approx(reference_mcnemar(lost, gained), rel=1e-9, abs=1e-300)


def test_mcnemar_is_safe_at_test_set_sizes() -> None:
    """10,000 discordant pairs: no overflow, a p-value in [0, 1], 0.0 only where it truly is below 1e-308."""
    assert mcnemar_exact(5000, 5000) == 1.0
    assert 0.0 < mcnemar_exact(4800, 5200) < 1e-4
    assert mcnemar_exact(10000, 0) == 0.0
    assert mcnemar_exact(2, 1000) == pytest.approx(reference_mcnemar(2, 1000), rel=1e-9)


# ---------------------------------------------------------------------------- the rules


def evaluation(labels: np.ndarray, correct: np.ndarray, data: str = "data-hash", model: str = "m") -> Evaluation:
    """Predictions right where `correct` is true (wrong ones predict the next class)."""
    predicted = np.where(correct, labels, (labels + 1) % len(CLASSES))
    return Evaluation(labels, predicted, CLASSES, model_sha256=model * 64, test_data_sha256=data)


def labels_for(count: int) -> np.ndarray:
    return np.arange(count) % len(CLASSES)


def with_flips(correct: np.ndarray, lose: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """A copy of `correct` made wrong at `lose` and right at `gain` (indices)."""
    changed = correct.copy()
    assert changed[lose].all() and not changed[gain].any()
    changed[lose], changed[gain] = False, True
    return changed


def baseline_correct(count: int, accuracy: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random(count) < accuracy


def rule(verdict: dict, name: str) -> dict:
    return next(r for r in verdict["rules"] if r["rule"] == name)


def test_a_large_significant_drop_is_refused_by_the_change_threshold() -> None:
    labels = labels_for(2000)
    base = baseline_correct(2000, 0.9)
    right = np.flatnonzero(base)
    worse = with_flips(base, lose=right[::8], gain=np.array([], dtype=int))  # ~225 lost, 0 gained
    verdict = decide(evaluation(labels, worse), evaluation(labels, base, model="b"), PARAMS)

    assert not verdict["blessed"]
    accuracy = rule(verdict, ACCURACY)
    assert not accuracy["passed"] and accuracy["gained"] == 0 and accuracy["lost"] == len(right[::8])
    assert accuracy["difference"] == pytest.approx(-len(right[::8]) / 2000)
    assert accuracy["p_value"] == mcnemar_exact(len(right[::8]), 0) < 1e-60
    assert verdict["refused_by"][0] == ACCURACY
    assert verdict["summary"].startswith(f"refused by {ACCURACY}: candidate ")
    assert "McNemar p=" in verdict["summary"] and "bless.max_accuracy_drop 0.0020" in verdict["summary"]
    assert headline(verdict) == {"blessed": 0, "accuracy_change": accuracy["difference"]}


def test_a_drop_beyond_the_threshold_that_is_not_significant_passes() -> None:
    """12 lost, 6 gained of 2000: -0.3 points, more than the 0.2 allowed, but p = 0.24: seed noise."""
    labels = labels_for(2000)
    base = baseline_correct(2000, 0.9)
    right, wrong = np.flatnonzero(base), np.flatnonzero(~base)
    candidate = with_flips(base, lose=right[:12], gain=wrong[:6])
    verdict = decide(evaluation(labels, candidate), evaluation(labels, base, model="b"), PARAMS)

    accuracy = rule(verdict, ACCURACY)
    assert accuracy["difference"] == pytest.approx(-0.003) and -accuracy["difference"] > PARAMS.max_accuracy_drop
    assert accuracy["p_value"] == pytest.approx(0.2379, abs=1e-4)
    assert verdict["blessed"] and accuracy["passed"] and verdict["refused_by"] == []
    assert verdict["summary"].startswith("blessed: accuracy change: candidate")


def test_a_significant_drop_within_the_threshold_passes() -> None:
    labels = labels_for(100_000)
    base = baseline_correct(100_000, 0.9)
    right = np.flatnonzero(base)
    candidate = with_flips(base, lose=right[:60], gain=np.array([], dtype=int))  # -0.06 points, p ~ 1e-18
    verdict = decide(evaluation(labels, candidate), evaluation(labels, base, model="b"), PARAMS)
    accuracy = rule(verdict, ACCURACY)
    assert accuracy["p_value"] < 1e-15 and accuracy["passed"] and verdict["blessed"]


def test_an_improvement_is_reported_with_its_p_value() -> None:
    labels = labels_for(1000)
    base = baseline_correct(1000, 0.8)
    candidate = with_flips(base, lose=np.array([], dtype=int), gain=np.flatnonzero(~base)[:50])
    verdict = decide(evaluation(labels, candidate), evaluation(labels, base, model="b"), PARAMS)
    accuracy = rule(verdict, ACCURACY)
    assert verdict["blessed"] and accuracy["difference"] == pytest.approx(0.05) and accuracy["gained"] == 50
    assert accuracy["p_value"] == mcnemar_exact(0, 50)
    assert headline(verdict)["accuracy_change"] == pytest.approx(0.05)


def test_a_candidate_worse_in_one_class_only_is_refused_by_the_per_class_rule() -> None:
    """Class c3 loses 40 of its 200 images, the other classes gain 40 between them: the accuracy is unchanged."""
    labels = labels_for(2000)
    base = baseline_correct(2000, 0.85)
    in_c3 = np.flatnonzero(base & (labels == 3))[:40]
    elsewhere = np.flatnonzero(~base & (labels != 3))[:40]
    candidate = with_flips(base, lose=in_c3, gain=elsewhere)
    verdict = decide(evaluation(labels, candidate), evaluation(labels, base, model="b"), PARAMS)

    assert rule(verdict, ACCURACY)["difference"] == 0 and rule(verdict, ACCURACY)["passed"]
    assert not verdict["blessed"]
    assert verdict["refused_by"] == ["recall change: c3"]
    c3 = rule(verdict, "recall change: c3")
    assert (c3["lost"], c3["gained"], c3["difference"]) == (40, 0, -0.2)
    assert c3["level"] == pytest.approx(PARAMS.significance / len(CLASSES)), "per class: Bonferroni over the classes"
    assert verdict["summary"].startswith("refused by recall change: c3: candidate ")
    assert verdict_markdown(verdict).startswith("**Refused** by recall change: c3.")


def test_per_class_drops_are_judged_at_the_bonferroni_level() -> None:
    """p = 0.0129 (12 lost, 2 gained) is significant at 0.05 but not at 0.05 / 10: a class may wobble that much."""
    labels = labels_for(2000)
    base = baseline_correct(2000, 0.85)
    lose = np.flatnonzero(base & (labels == 5))[:12]
    gain = np.concatenate([np.flatnonzero(~base & (labels == 5))[:2], np.flatnonzero(~base & (labels == 6))[:10]])
    verdict = decide(evaluation(labels, with_flips(base, lose, gain)), evaluation(labels, base, model="b"), PARAMS)
    c5 = rule(verdict, "recall change: c5")
    assert c5["p_value"] == mcnemar_exact(12, 2) and -c5["difference"] > PARAMS.max_class_recall_drop
    assert c5["passed"] and verdict["blessed"]


def test_a_baseline_on_other_test_data_is_skipped_with_the_reason() -> None:
    labels = labels_for(500)
    base = baseline_correct(500, 0.95)
    worse = baseline_correct(500, 0.5, seed=1)
    verdict = decide(evaluation(labels, worse, data="aaaa" * 16), evaluation(labels, base, data="bbbb" * 16), PARAMS)

    assert verdict["blessed"], "the absolute floor (0) still applies and passes"
    assert [r["rule"] for r in verdict["rules"]] == [FLOOR]
    assert verdict["comparison"].startswith("baseline skipped: it was scored on other test data")
    assert "bbbbbbbbbbbb" in verdict["comparison"] and "aaaaaaaaaaaa" in verdict["comparison"]
    assert verdict["summary"] == f"blessed: {verdict['comparison']}"
    assert headline(verdict) == {"blessed": 1}


def test_no_baseline_passes_on_the_absolute_rules_and_says_so() -> None:
    labels = labels_for(500)
    verdict = decide(evaluation(labels, baseline_correct(500, 0.7)), None, PARAMS)
    assert verdict["blessed"] and verdict["baseline"] is None
    assert verdict["comparison"].startswith("no baseline yet")
    assert "absolute floor only" in verdict["summary"]
    assert "no baseline yet" in verdict_markdown(verdict)


def test_the_absolute_floor_refuses_with_or_without_a_baseline() -> None:
    labels = labels_for(1000)
    candidate = evaluation(labels, baseline_correct(1000, 0.8))
    strict = PARAMS.model_copy(update={"min_accuracy": 0.9})
    for baseline in (None, candidate):
        verdict = decide(candidate, baseline, strict)
        assert not verdict["blessed"] and verdict["refused_by"] == [FLOOR]
        assert f"test accuracy {candidate.accuracy:.4f} is below bless.min_accuracy 0.9000" in verdict["summary"]


def test_the_override_ships_a_refused_model_and_records_itself() -> None:
    labels = labels_for(2000)
    base = baseline_correct(2000, 0.9)
    worse = with_flips(base, lose=np.flatnonzero(base)[::5], gain=np.array([], dtype=int))
    forced = PARAMS.model_copy(update={"override": "hotfix for the label bug, ticket 42"})
    verdict = decide(evaluation(labels, worse), evaluation(labels, base, model="b"), forced)

    assert not verdict["blessed"] and ships(verdict), "an override ships the model, it does not bless it"
    assert verdict["refused_by"] == [ACCURACY, *verdict["refused_by"][1:]]
    assert verdict["override"] == {"reason": "hotfix for the label bug, ticket 42", "used": True}
    assert headline(verdict) == {"blessed": 0, "accuracy_change": verdict["rules"][1]["difference"], "override": 1}
    assert verdict["summary"].startswith("shipped by override (bless.override: hotfix for the label bug, ticket 42)")
    assert f"although refused by {ACCURACY}" in verdict["summary"]
    markdown = verdict_markdown(verdict)
    assert markdown.startswith("**Shipped by override** (`bless.override`): hotfix for the label bug, ticket 42.")
    assert f"Without it: refused by {ACCURACY}" in markdown and "| **FAIL** |" in markdown


def test_an_unneeded_override_is_recorded_as_unused() -> None:
    labels = labels_for(500)
    forced = PARAMS.model_copy(update={"override": "just in case"})
    verdict = decide(evaluation(labels, baseline_correct(500, 0.9)), None, forced)
    assert verdict["override"]["used"] is False and verdict["summary"].startswith("blessed")
    assert verdict["blessed"] and ships(verdict) and "override" not in headline(verdict)


def test_the_markdown_has_one_row_per_rule_with_its_figures() -> None:
    labels = labels_for(1000)
    base = baseline_correct(1000, 0.9)
    candidate = with_flips(base, lose=np.flatnonzero(base)[:7], gain=np.flatnonzero(~base)[:3])
    verdict = decide(evaluation(labels, candidate), evaluation(labels, base, model="b"), PARAMS)
    markdown = verdict_markdown(verdict)
    rows = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 2 + len(CLASSES)
    accuracy = rule(verdict, ACCURACY)
    expected = f"| {ACCURACY} | drop > 0.0020 (`bless.max_accuracy_drop`) and p < 0.05 | {accuracy['candidate']:.4f} | "
    assert any(row.startswith(expected) and "| 7 / 3 | 0.344 | pass |" in row for row in rows), markdown
    assert markdown.startswith("**Blessed**.\n\nComparison: against the baseline, image by image.")
    assert f"Baseline: model sha256 `{'b' * 12}`" in markdown


# ---------------------------------------------------------------------------- params


def test_the_real_params_hold_the_bless_group() -> None:
    bless = load_params(ROOT / "params.yaml").bless
    assert isinstance(bless, BlessParams) and 0 < bless.significance < 1


def test_a_blank_override_is_no_override() -> None:
    """An override is its reason: without one (blank), a refused model stays refused and does not ship."""
    labels = labels_for(2000)
    base = baseline_correct(2000, 0.9)
    worse = with_flips(base, lose=np.flatnonzero(base)[::5], gain=np.array([], dtype=int))
    verdict = decide(
        evaluation(labels, worse), evaluation(labels, base, model="b"), PARAMS.model_copy(update={"override": " "})
    )
    assert verdict["override"]["used"] is False and not ships(verdict) and "override" not in headline(verdict)


@pytest.mark.parametrize("level", [0, 1, 1.5])
def test_the_significance_level_is_a_probability_strictly_between_0_and_1(level: float) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["bless"]["significance"] = level
    with pytest.raises(ParamsError, match="bless.significance"):
        parse_params(raw, "params.yaml")


# ---------------------------------------------------------------------------- the files


def prepared(folder: Path, labels: np.ndarray) -> Path:
    """A prepared folder holding what the blessing reads: the test split and labels.txt."""
    save_array(folder / "x_test.npy", np.zeros((len(labels), 2, 2), np.uint8))
    save_array(folder / "y_test.npy", labels.astype(np.int32))
    write_labels(folder / LABELS_FILE, CLASSES)
    return folder


def confusion_csv(path: Path, labels: np.ndarray, predicted: np.ndarray) -> Path:
    path.write_text(predictions_csv(labels, predicted, tuple(CLASSES)))
    return path


def test_the_candidate_is_read_from_evaluates_output_and_must_match_the_test_split(tmp_path: Path) -> None:
    labels = labels_for(50)
    folder = prepared(tmp_path / "prepared", labels)
    model = tmp_path / "model.keras"
    model.write_bytes(b"weights")
    predictions = confusion_csv(tmp_path / "confusion.csv", labels, (labels + 1) % 10)

    candidate = load_candidate(folder, predictions, model)

    assert np.array_equal(candidate.labels, labels) and candidate.accuracy == 0.0
    assert candidate.model_sha256 == sha256_of([model]) and candidate.test_data_sha256 == hash_test_data(folder)
    confusion_csv(predictions, np.roll(labels, 1), labels)
    with pytest.raises(DataError, match="is not about .* test split: run evaluate again"):
        load_candidate(folder, predictions, model)
    predictions.write_text("actual,guess\nc0,c1\n")
    with pytest.raises(
        DataError, match=r"columns \['actual', 'guess'\], expected \['actual', 'predicted', 'actual_index'"
    ):
        load_candidate(folder, predictions, model)
    predictions.write_text("actual,predicted,actual_index,predicted_index\nc0,sandal,0,1\n")
    with pytest.raises(DataError, match="class 'sandal' is not in labels.txt"):
        load_candidate(folder, predictions, model)
    with pytest.raises(DataError, match="is missing; run the evaluate stage first"):
        load_candidate(folder, tmp_path / "nowhere.csv", model)


def test_the_test_data_hash_changes_with_any_test_image_or_label(tmp_path: Path) -> None:
    labels = labels_for(20)
    before = hash_test_data(prepared(tmp_path / "a", labels))
    assert hash_test_data(prepared(tmp_path / "b", labels)) == before
    assert hash_test_data(prepared(tmp_path / "c", np.roll(labels, 1))) != before


def test_a_written_baseline_reads_back_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    labels = labels_for(30)
    original = dataclasses.replace(evaluation(labels, baseline_correct(30, 0.8)), origin="git v1; first release")
    assert read_baseline(tmp_path / "baseline") is None, "no baseline.json: no baseline yet"
    write_baseline(original, tmp_path / "baseline")

    again = read_baseline(tmp_path / "baseline")

    assert again is not None and again.origin == "git v1; first release" and again.classes == CLASSES
    assert np.array_equal(again.predicted, original.predicted) and again.test_data_sha256 == original.test_data_sha256
    record = json.loads((tmp_path / "baseline/baseline.json").read_text())
    assert record["accuracy"] == round(original.accuracy, 6) and set(record["recall"]) == set(CLASSES)
    lines = (tmp_path / "baseline/predictions.csv").read_text().splitlines()
    (tmp_path / "baseline/predictions.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataError, match="has 29 rows, .*baseline.json says 30"):
        read_baseline(tmp_path / "baseline")


def test_promote_takes_only_the_blessed_model_the_verdict_is_about() -> None:
    labels = labels_for(100)
    candidate = evaluation(labels, baseline_correct(100, 0.9))
    verdict = decide(candidate, None, PARAMS)
    check_promotable(candidate, verdict, "verdict.json")
    other = dataclasses.replace(candidate, model_sha256="0" * 64)
    with pytest.raises(DataError, match="is about another model or test split"):
        check_promotable(other, verdict, "verdict.json")
    refused = decide(candidate, None, PARAMS.model_copy(update={"min_accuracy": 0.95}))
    assert not ships(refused)
    with pytest.raises(GateError, match="this model was refused .*only a blessed model"):
        check_promotable(candidate, refused, "verdict.json")
    forced = PARAMS.model_copy(update={"min_accuracy": 0.95, "override": "demo"})
    check_promotable(candidate, decide(candidate, None, forced), "verdict.json")


def test_export_refuses_a_verdict_about_another_model_but_exports_a_refused_one(tmp_path: Path) -> None:
    from mnist_pipeline.export.verify import check_judged

    model = tmp_path / "model.keras"
    model.write_bytes(b"weights")
    labels = labels_for(100)
    candidate = dataclasses.replace(evaluation(labels, baseline_correct(100, 0.9)), model_sha256=sha256_of([model]))
    check_judged(decide(candidate, None, PARAMS), "verdict.json", model)
    check_judged(decide(candidate, None, PARAMS.model_copy(update={"min_accuracy": 0.95})), "verdict.json", model)
    model.write_bytes(b"retrained weights")
    with pytest.raises(GateError, match="is about another model than"):
        check_judged(decide(candidate, None, PARAMS), "verdict.json", model)


def test_the_baseline_says_where_it_came_from(tmp_path: Path) -> None:
    assert git_description(tmp_path) == "", "outside git there is no commit to name"
    assert origin_text("", "first release") == "first release"
    assert origin_text("mnist-classifier@v0.0.2", "") == "git mnist-classifier@v0.0.2"
    assert origin_text("a1b2c3d-dirty", "hotfix") == "git a1b2c3d-dirty; hotfix"


def test_a_new_rule_is_one_class_and_every_verdict_record_reads_back() -> None:
    """The extension point: a rule type judges, describes itself and fills its table row; decide and the verdict's
    renderings know nothing else of it, and each record in verdict.json reads back as the rule it was."""
    from mnist_pipeline.evaluation import blessing

    @dataclass(frozen=True)
    class EnoughImages:
        kind: ClassVar[str] = "enough images"
        rule: str
        candidate: int

        @classmethod
        def judge(cls, candidate: Evaluation, baseline: Evaluation | None, p: BlessParams) -> list:
            return [cls("enough test images", len(candidate.labels))]

        @property
        def passed(self) -> bool:
            return self.candidate >= 1000

        def describe(self) -> str:
            return f"{self.rule}: {self.candidate} < 1000"

        def cells(self) -> list[str]:
            return [self.rule, "fewer than 1000 images", str(self.candidate), "", "", "", ""]

    labels = labels_for(500)
    rules = (*blessing.RULES, EnoughImages)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(blessing, "RULES", rules)
        verdict = decide(evaluation(labels, baseline_correct(500, 0.9)), None, PARAMS)
        markdown = verdict_markdown(verdict)
        assert [blessing.from_record(record).passed for record in verdict["rules"]] == [True, False]
    assert verdict["refused_by"] == ["enough test images"] and not verdict["blessed"]
    assert verdict["summary"] == "refused by enough test images: 500 < 1000"
    assert "| enough test images | fewer than 1000 images | 500 |  |  |  |  | **FAIL** |" in markdown


# ---------------------------------------------------------------------------- The blessing on real small models: an undertrained candidate


def digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = synthetic_digits(count, seed)
    return images, labels.astype(np.int32)


@pytest.fixture(scope="module")
def splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": digits(1200, seed=1), "val": digits(200, seed=4), "test": digits(2000, seed=2)}


def evaluated(splits: dict, epochs: int, seed: int) -> Evaluation:
    """Train the pipeline's MLP (16 units) for `epochs` with `seed`, and score it on the test split."""
    p = TrainParams(
        model="mlp",
        hidden_units=16,
        dropout=0.2,
        batch_size=32,
        epochs=epochs,
        learning_rate=1e-3,
        seed=seed,
        strategy="default",
        threads=0,
        deterministic=True,
    )
    configure_runtime(threads=0, deterministic=True, seed=seed)
    model = build_model(p, (28, 28), len(BARS))
    trainer = Trainer(model, tf.distribute.get_strategy(), p.learning_rate, p.batch_size)
    fit(trainer, splits["train"], splits["val"], epochs, seed, lambda _: None, progress=False)
    x_test, y_test = splits["test"]
    predicted = predict_logits(model, x_test).argmax(axis=-1)
    return Evaluation(y_test.astype(np.int64), predicted, BARS, f"{epochs}-{seed}", "the same test data")


@pytest.fixture(scope="module")
def baseline(splits: dict) -> Evaluation:
    return evaluated(splits, epochs=10, seed=1)


@pytest.mark.slow
def test_a_one_epoch_candidate_is_refused_against_a_ten_epoch_baseline(splits: dict, baseline: Evaluation) -> None:
    verdict = decide(evaluated(splits, epochs=1, seed=1), baseline, STRICT)
    accuracy = next(rule for rule in verdict["rules"] if rule["rule"] == ACCURACY)
    assert not verdict["blessed"] and verdict["refused_by"][0] == ACCURACY, verdict["summary"]
    assert accuracy["lost"] > accuracy["gained"] and accuracy["p_value"] < 1e-6, accuracy


@pytest.mark.slow
def test_a_seed_only_change_passes_because_its_difference_is_not_significant(
    splits: dict, baseline: Evaluation
) -> None:
    candidate = evaluated(splits, epochs=10, seed=2)
    verdict = decide(candidate, baseline, STRICT)
    accuracy = next(rule for rule in verdict["rules"] if rule["rule"] == ACCURACY)
    assert not np.array_equal(candidate.predicted, baseline.predicted), "the seed must change some predictions"
    assert accuracy["difference"] < 0, "a worse candidate: only the test's verdict (not significant) lets it pass"
    assert accuracy["p_value"] >= STRICT.significance, accuracy
    assert verdict["blessed"], verdict["summary"]
