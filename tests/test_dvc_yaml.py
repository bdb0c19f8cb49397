"""dvc.yaml declares the code each stage runs: a change to any module it imports re-runs it.

Code is declared by folder (`stages`, `mnist_pipeline`) so that `dvc exp show` stays
narrow; every module a stage imports, transitively, must lie in a declared folder, and
every declared folder must hold one of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.support.project import ROOT

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


def code_problems(definition: dict) -> list[str]:
    """Imported modules outside the declared code folders, and declared code folders the stage never imports from."""
    module = definition["cmd"].removeprefix("python -m ")
    code = [dep for dep in definition["deps"] if dep.split("/")[0] in PACKAGES]
    modules = closure(module)
    problems = [
        f"imports {path}, which no code dependency covers" for path in sorted(modules) if not covered(path, code)
    ]
    problems += [
        f"declares {dep} but imports nothing from it" for dep in code if not any(covered(m, [dep]) for m in modules)
    ]
    return problems


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_code_deps_cover_every_imported_module(stage: str) -> None:
    assert len(set(STAGES[stage]["deps"])) == len(STAGES[stage]["deps"]), "a dep is listed twice"
    assert code_problems(STAGES[stage]) == []


def test_the_code_check_fails_on_an_undeclared_folder_and_an_unused_one() -> None:
    train = {**STAGES["train"], "deps": ["data/prepared", "mnist_pipeline"]}
    assert code_problems(train) == ["imports stages/train.py, which no code dependency covers"]
    plots_template = {**STAGES["plots_template"], "deps": ["stages", "mnist_pipeline", "mnist_pipeline/data"]}
    assert code_problems(plots_template) == ["declares mnist_pipeline/data but imports nothing from it"]


def test_the_paths_module_names_what_dvc_yaml_declares() -> None:
    """mnist_pipeline/paths.py is where code finds the artifacts; dvc.yaml is where DVC does: they agree."""
    from mnist_pipeline import paths

    text = (ROOT / "dvc.yaml").read_text()
    named = [value for value in vars(paths).values() if isinstance(value, Path)]
    assert named and all(str(path) in text for path in named), [str(p) for p in named if str(p) not in text]
    headlines = [str(paths.headline(folder)) for folder in (paths.TRAIN, paths.EVAL, paths.BLESS, paths.EXPORT_METRICS)]
    assert sorted(headlines) == sorted(PIPELINE["metrics"])


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
    pipeline = {**PIPELINE, "plots": [*PIPELINE["plots"], {"Precision": {"y": {"evaluation/precision.csv": "p"}}}]}
    assert not covered("evaluation/precision.csv", STAGES["report"]["deps"])
    assert "evaluation/precision.csv" in report_inputs(pipeline)


def test_test_metrics_come_first() -> None:
    """DVC orders metric columns by stage order in dvc.yaml, then by `metrics:`: the test figures lead."""
    stage_metrics = [next(iter(m)) for definition in STAGES.values() for m in definition.get("metrics", [])]
    assert stage_metrics[0] == PIPELINE["metrics"][0] == "metrics/eval/metrics.json"


def test_run_cache_can_restore_every_stage() -> None:
    """DVC skips the run cache for a stage with an uncached output that is neither a metric nor a plot."""
    for name, definition in STAGES.items():
        for out in definition.get("outs", []):
            options = next(iter(out.values())) if isinstance(out, dict) else {}
            assert options.get("cache", True), f"{name}: {out} is uncached"
