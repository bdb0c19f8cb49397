"""Every read declared: each stage reads exactly the params keys and data files dvc.yaml declares for it.

DVC re-runs a stage when, and only when, a declared input changes. An input read but not
declared leaves results silently stale; one declared but not read re-runs work for
nothing (moving the quality gate must not re-run TensorFlow inference). Each stage runs
on a small generated dataset under tests/record_reads.py, which records the params keys
it reads and the files it opens, and `undeclared` holds the record against dvc.yaml.

Every stage validates the whole params.yaml, so a typo anywhere fails fast; validation
is not a read and is not declared, since no other key can change what the stage
computes. Code dependencies are checked by tests/test_dvc_yaml.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mnist_pipeline import paths
from mnist_pipeline.artifacts import PARTIAL_MARKER
from mnist_pipeline.data.datasets import FILES, LABELS_FILE
from mnist_pipeline.evaluation.baseline import EVAL_PREDICTIONS, load_candidate, write_baseline
from tests.conftest import ROOT, copy_project, run, run_module, write_dataset
from tests.http_server import ScriptedServer, no_proxy, server  # noqa: F401 - fixtures

STAGES = tuple(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])  # dvc.yaml's order, not the run order
SLOW_STAGES = {"train", "evaluate", "bless", "export", "report"}  # TensorFlow, or what it outputs
PARAMS_FILE = "params.yaml"  # declared key by key under `params:`
# The repository's own files, not data: dvclive (train) and DVC's API (report) read DVC's configuration.
REPOSITORY_FILES = (PARAMS_FILE, ".dvcignore", ".dvc/")
# What a stage may do that dvc.yaml cannot declare, and why.
EXCEPTIONS = {
    "report": (
        {"opens dvc.yaml, which dvc.yaml declares neither as a dependency nor as an output"},
        "the plots' definitions are read from dvc.yaml, which DVC refuses as a dependency of its own stage",
    ),
}
CODE = ("stages", "mnist_pipeline")  # code is declared by folder; tests/test_dvc_yaml.py checks it covers the imports
PARTIAL = re.compile(rf"^\.(.+){re.escape(PARTIAL_MARKER)}(?:old-)?\d+(.*)$")  # artifacts.atomic_path's temporary


@dataclass(frozen=True)
class Declared:
    params: frozenset[str]  # keys; a group stands for all of its keys
    deps: tuple[str, ...]  # data dependencies (not code); a folder stands for every file in it
    outs: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    params: frozenset[str]
    reads: frozenset[str]  # relative to the project, or absolute outside it
    writes: frozenset[str]


def declared(stage: str, params: dict[str, Any]) -> Declared:
    """What dvc.yaml declares for `stage`, its `${...}` resolved from `params` as DVC resolves them."""
    text = re.sub(r"\$\{(\w+)\.(\w+)\}", lambda m: str(params[m[1]][m[2]]), (ROOT / "dvc.yaml").read_text())
    definition = yaml.safe_load(text)["stages"][stage]
    keys = set()
    for entry in definition.get("params", []):
        group, _, key = entry.partition(".")
        keys |= {entry} if key else {f"{group}.{name}" for name in params[group]}
    outs = [name for kind in ("outs", "metrics") for out in definition.get(kind, []) for name in _names(out)]
    deps = [dep for dep in definition["deps"] if dep not in CODE]
    return Declared(frozenset(keys), tuple(deps), tuple(outs))


def promote_the_evaluated_model(project: Path) -> None:
    """A baseline on the same test data, so that bless judges (and reads the threshold of) every rule."""
    candidate = load_candidate(project / paths.PREPARED, project / EVAL_PREDICTIONS, project / paths.MODEL)
    write_baseline(candidate, project / paths.BASELINE)


SETUP = {"bless": promote_the_evaluated_model}  # what a stage needs that no stage writes


def _names(out: str | dict[str, Any]) -> list[str]:
    return [out] if isinstance(out, str) else list(out)


def _final(path: str) -> str:
    """The path an atomic writer's temporary stands for: `models/.model.partial-42.keras` -> `models/model.keras`."""
    return "/".join(PARTIAL.sub(r"\1\2", part) for part in path.split("/"))


def _under(path: str, entries: tuple[str, ...]) -> bool:
    path = _final(path)
    return any(path == entry or path.startswith(entry.rstrip("/") + "/") for entry in entries)


def undeclared(record: Record, declared: Declared) -> list[str]:
    """Every difference between what a stage did and what dvc.yaml declares, one line each."""
    problems = [
        f"reads param {key}, which dvc.yaml does not declare" for key in sorted(record.params - declared.params)
    ]
    problems += [f"declares param {key} but never reads it" for key in sorted(declared.params - record.params)]
    problems += [
        f"opens {path}, which dvc.yaml declares neither as a dependency nor as an output"
        for path in sorted(record.reads)
        if not path.startswith(REPOSITORY_FILES) and not _under(path, declared.deps + declared.outs)
    ]
    problems += [
        f"writes {path}, not a declared output"
        for path in sorted(record.writes)
        if not path.startswith(REPOSITORY_FILES) and not _under(path, declared.outs)
    ]
    problems += [
        f"declares {dep} but never opens it"
        for dep in declared.deps
        if not any(_under(path, (dep,)) for path in record.reads)
    ]
    return problems


# ---------------------------------------------------------------------------- the checker fails on bad records

EVALUATE = Declared(
    params=frozenset({"evaluate.gallery_size"}),
    deps=("models/model.keras", "data/prepared/x_test.npy"),
    outs=("metrics/eval/confusion.csv", "metrics/eval/metrics.json"),
)
EVALUATE_RECORD = Record(
    params=frozenset({"evaluate.gallery_size"}),
    reads=frozenset({"params.yaml", "models/model.keras", "data/prepared/x_test.npy"}),
    writes=frozenset({"metrics/eval/.confusion.partial-77.csv", "metrics/eval/.metrics.partial-77.json"}),
)


def with_changes(record: Record, **changes: set[str]) -> Record:
    return Record(
        **{field: getattr(record, field) | changes.get(field, set()) for field in ("params", "reads", "writes")}
    )


def test_a_faithful_record_passes() -> None:
    assert undeclared(EVALUATE_RECORD, EVALUATE) == []


def test_an_undeclared_param_read_fails() -> None:
    record = with_changes(EVALUATE_RECORD, params={"data.seed"})
    assert undeclared(record, EVALUATE) == ["reads param data.seed, which dvc.yaml does not declare"]


def test_an_undeclared_file_read_fails() -> None:
    record = with_changes(EVALUATE_RECORD, reads={"data/prepared/x_train.npy"})
    assert undeclared(record, EVALUATE) == [
        "opens data/prepared/x_train.npy, which dvc.yaml declares neither as a dependency nor as an output"
    ]


def test_a_write_outside_the_outputs_fails() -> None:
    record = with_changes(EVALUATE_RECORD, writes={"metrics/eval/.other.partial-77.json"})
    assert undeclared(record, EVALUATE) == ["writes metrics/eval/.other.partial-77.json, not a declared output"]


def test_a_param_or_file_declared_but_never_read_fails() -> None:
    whole_group = Declared(
        EVALUATE.params | {"evaluate.min_accuracy"}, (*EVALUATE.deps, "data/prepared/y_test.npy"), EVALUATE.outs
    )
    assert undeclared(EVALUATE_RECORD, whole_group) == [
        "declares param evaluate.min_accuracy but never reads it",
        "declares data/prepared/y_test.npy but never opens it",
    ]


def test_declared_expands_groups_and_resolves_templates() -> None:
    params = {"data": {"dataset": "custom", "source": "/srv/digits", "val_size": 0.1, "seed": 1}}
    download = declared("download", {**params, "train": {}})
    assert download.params == {"data.dataset", "data.source"}
    assert download.deps == ("/srv/digits",)
    assert download.outs == ("data/raw/custom",)


# ---------------------------------------------------------------------------- every stage, recorded


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(tmp_path_factory.mktemp("declared"))


class Pipeline:
    """A project folder where the stages run in order, each at most once, under the recorder."""

    def __init__(self, base: Path) -> None:
        self.source = write_dataset(base / "source", train=400, test=100, names=[f"bar{i}" for i in range(10)])
        self.project = base / "project"
        self.project.mkdir()
        self.records_dir = base / "records"
        self.records_dir.mkdir()
        self.params = self._params()
        (self.project / PARAMS_FILE).write_text(yaml.safe_dump(self.params, sort_keys=False), encoding="utf-8")
        for name in ("dvc.yaml", "pyproject.toml"):
            (self.project / name).write_bytes((ROOT / name).read_bytes())
        run(["dvc", "init", "--no-scm", "-q"], self.project)  # the report stage reads dvc.yaml through DVC
        shutil.copytree(ROOT / ".dvc" / "plots", self.project / ".dvc" / "plots")  # dvc.yaml's plot templates
        self.records: dict[str, Record] = {}

    def _params(self) -> dict[str, Any]:
        """The workspace's keys, with every value that picks a code path set here (any experiment may be there)."""
        params = yaml.safe_load((ROOT / PARAMS_FILE).read_text(encoding="utf-8"))
        params["data"].update(dataset="custom", source=str(self.source), val_size=0.1, seed=3)
        params["train"].update(model="mlp", epochs=1, strategy="default")
        params["evaluate"].update(gallery_size=4)
        params["bless"].update(min_accuracy=0.0, override="")
        params["export"].update(tflite=["float32", "dynamic", "int8"], representative_samples=20)
        return params

    def record(self, stage: str) -> Record:
        needs = declared(stage, self.params).deps
        for other in STAGES:  # the stages that make what this one reads run first (the graph has no cycle)
            if other != stage and any(_under(dep, declared(other, self.params).outs) for dep in needs):
                self.record(other)
        if stage not in self.records:
            SETUP.get(stage, lambda project: None)(self.project)
            self.records[stage] = self._run(stage)
        return self.records[stage]

    def _run(self, stage: str) -> Record:
        record = self.records_dir / f"{stage}.json"
        roots = os.pathsep.join(str(root) for root in (self.project, self.source))
        options = ["--no-progress"] if stage in ("download", "train") else []
        result = run_module("tests.record_reads", [str(record), roots, f"stages.{stage}", *options], self.project, 600)
        assert result.returncode == 0, result.stderr
        raw = json.loads(record.read_text(encoding="utf-8"))
        return Record(frozenset(raw["params"]), self._relative(raw["reads"]), self._relative(raw["writes"]))

    def _relative(self, paths: list[str]) -> frozenset[str]:
        project = self.project.resolve()
        return frozenset(
            Path(path).relative_to(project).as_posix() if Path(path).is_relative_to(project) else path for path in paths
        )


@pytest.mark.parametrize(
    "stage", [pytest.param(stage, marks=[pytest.mark.slow] if stage in SLOW_STAGES else []) for stage in STAGES]
)
def test_stage_reads_exactly_what_dvc_yaml_declares(pipeline: Pipeline, stage: str) -> None:
    record, expected = pipeline.record(stage), declared(stage, pipeline.params)
    assert record.params or not expected.params, "the recorder saw no params read: is it still wired to the models?"
    assert record.writes, "the recorder saw no file written"
    allowed, _why = EXCEPTIONS.get(stage, (set(), ""))
    problems = [problem for problem in undeclared(record, expected) if problem not in allowed]
    assert not problems, f"stage {stage}: " + "; ".join(problems)


# ---------------------------------------------------------------------------- data.source is a dependency, with real dvc


def dvc_status(project: Path) -> dict[str, Any]:
    return json.loads(run(["dvc", "status", "--json"], project).stdout)


@pytest.mark.slow
def test_a_changed_file_in_the_source_folder_reruns_download(tmp_path: Path) -> None:
    source = write_dataset(tmp_path / "source", train=100, test=30, names=[f"bar{i}" for i in range(10)])
    project = copy_project(tmp_path / "project", {"data": {"dataset": "custom", "source": str(source)}})
    run(["dvc", "repro", "download"], project)
    assert "download" not in dvc_status(project)
    (source / LABELS_FILE).write_text("".join(f"renamed{i}\n" for i in range(10)), encoding="utf-8")
    assert dvc_status(project)["download"] == [{"changed deps": {str(source): "modified"}}]
    rerun = run(["dvc", "repro", "download"], project)
    assert "Running stage 'download'" in rerun.stdout
    assert (project / "data" / "raw" / "custom" / LABELS_FILE).read_text(encoding="utf-8").startswith("renamed0\n")


@pytest.mark.slow
def test_a_mirror_list_source_is_not_fetched_again_by_a_no_op_repro(tmp_path: Path, server: ScriptedServer) -> None:
    files = write_dataset(tmp_path / "served", train=100, test=30, names=[f"bar{i}" for i in range(10)])
    for name in [*FILES, LABELS_FILE]:
        server.route(f"/digits/{name}", body=(files / name).read_bytes())
    source = tmp_path / "mirror-list"
    source.mkdir()
    (source / "custom.txt").write_text(server.url("/digits/") + "\n", encoding="utf-8")
    project = copy_project(tmp_path / "project", {"data": {"dataset": "custom", "source": str(source)}})
    run(["dvc", "repro", "download"], project)
    fetched = dict(server.hits)
    assert all(fetched[f"/digits/{name}"] == 1 for name in FILES)
    noop = run(["dvc", "repro", "download"], project)
    assert "Stage 'download' didn't change, skipping" in noop.stdout
    assert dict(server.hits) == fetched, "a no-op repro must not touch the mirror"
    assert "download" not in dvc_status(project)
