"""dvc.yaml declares exactly the code each stage runs: a change to any module it imports re-runs it, and nothing else does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = PIPELINE["stages"]
PACKAGES = {"stages", "mnist_pipeline"}


def imported_modules(path: Path) -> set[str]:
    """Project modules (`stages.*`, `mnist_pipeline.*`) a file imports, at any depth, lazy imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if module_path(submodule).exists() else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] in PACKAGES}
    return found


def module_path(module: str) -> Path:
    return ROOT / f"{module.replace('.', '/')}.py"


def closure(module: str) -> set[str]:
    """The stage's module and everything it imports from the package, transitively, as file paths."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        path = f"{name.replace('.', '/')}.py"
        if path in seen:
            continue
        seen.add(path)
        todo.extend(imported_modules(ROOT / path))
    return seen


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_code_deps_are_exactly_the_imported_modules(stage: str) -> None:
    definition = STAGES[stage]
    module = definition["cmd"].removeprefix("python -m ")
    code = [dep for dep in definition["deps"] if dep.endswith(".py")]
    declared = set(code)
    assert len(declared) == len(code), "a dep is listed twice"
    assert declared == closure(module)


def test_every_stage_runs_a_module_of_the_package() -> None:
    assert sorted(STAGES) == ["bless", "download", "evaluate", "export", "plots_template", "prepare", "report", "train"]
    for definition in STAGES.values():
        assert definition["cmd"].startswith("python -m stages.")


def test_top_level_metrics_are_stage_outputs() -> None:
    outputs = {
        next(iter(out)) if isinstance(out, dict) else out
        for definition in STAGES.values()
        for kind in ("outs", "metrics", "plots")
        for out in definition.get(kind, [])
    }
    assert set(PIPELINE["metrics"]) <= outputs


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def report_inputs(pipeline: dict) -> set[str]:
    """What the report draws: every plot source and metrics file `dvc plots show` and `dvc metrics show` read."""
    from dvc.repo.plots import infer_data_sources

    plots = set()
    for entry in pipeline.get("plots", []):
        plot_id, config = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        plots |= set(infer_data_sources(plot_id, config))
    stage_metrics = {
        next(iter(out)) if isinstance(out, dict) else out
        for definition in pipeline["stages"].values()
        for out in definition.get("metrics", [])
    }
    return plots | set(pipeline.get("metrics", [])) | stage_metrics


def test_report_depends_on_every_plot_and_metric() -> None:
    deps = STAGES["report"]["deps"]
    missing = sorted(path for path in report_inputs(PIPELINE) if not covered(path, deps))
    assert not missing, f"the report stage draws these but does not depend on them: {missing}"


def test_report_inputs_check_sees_a_new_plot() -> None:
    pipeline = {**PIPELINE, "plots": [*PIPELINE["plots"], {"Precision": {"y": {"metrics/precision.csv": "p"}}}]}
    assert not covered("metrics/precision.csv", STAGES["report"]["deps"])
    assert "metrics/precision.csv" in report_inputs(pipeline)


def test_test_metrics_come_first() -> None:
    """DVC orders metric columns by stage order in dvc.yaml, then by `metrics:`: the test figures lead."""
    stage_metrics = [next(iter(m)) for definition in STAGES.values() for m in definition.get("metrics", [])]
    assert stage_metrics[0] == PIPELINE["metrics"][0] == "metrics/eval.json"


def test_run_cache_can_restore_every_stage() -> None:
    """DVC skips the run cache for a stage with an uncached output that is neither a metric nor a plot."""
    for name, definition in STAGES.items():
        for out in definition.get("outs", []):
            options = next(iter(out.values())) if isinstance(out, dict) else {}
            assert options.get("cache", True), f"{name}: {out} is uncached"
