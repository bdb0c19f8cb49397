"""params.yaml validation: the real file loads, and every kind of bad file is one clear `ParamsError` line."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mnist_pipeline.data.datasets import DATASETS
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.model.architectures import ARCHITECTURES
from mnist_pipeline.params import (
    STRATEGIES,
    TFLITE_FLAVOURS,
    Params,
    json_schema,
    load_params,
    main,
    parse_params,
)
from tests.support.project import ROOT, run_module

PYTHONPATH = {**os.environ, "PYTHONPATH": str(ROOT)}
REAL_PARAMS = ROOT / "params.yaml"
DELETE = object()


@pytest.fixture(scope="module")
def real() -> dict[str, Any]:
    return yaml.safe_load(REAL_PARAMS.read_text(encoding="utf-8"))


def patched(real: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the real params with dotted keys set (or deleted with DELETE)."""
    doc = copy.deepcopy(real)
    for dotted, value in changes.items():
        *groups, key = dotted.split(".")
        target = doc
        for group in groups:
            target = target[group]
        if value is DELETE:
            del target[key]
        else:
            target[key] = value
    return doc


def write(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    message = str(caught.value)
    assert message, "a ParamsError must say something"
    assert "\n" not in message, f"the message must be one line: {message!r}"
    assert str(path) in message, f"the message must name the file: {message!r}"
    assert caught.value.exit_code == 2
    return message


# ---------------------------------------------------------------------------- the real file


def test_real_params_load_into_typed_groups(real: dict[str, Any]) -> None:
    params = load_params(REAL_PARAMS)
    assert isinstance(params, Params)
    for group in ("data", "train", "evaluate", "bless", "export"):
        for key, value in real[group].items():
            loaded = getattr(getattr(params, group), key)
            assert loaded == (value if value is not None else ""), f"{group}.{key}"
            assert type(loaded) is type(value) or isinstance(value, int) and type(loaded) is float
    assert params.data.dataset in DATASETS
    assert params.train.model in ARCHITECTURES
    assert params.train.strategy in STRATEGIES
    assert set(params.export.tflite) <= set(TFLITE_FLAVOURS)
    assert isinstance(params.train.epochs, int) and not isinstance(params.train.epochs, bool)
    assert isinstance(params.train.learning_rate, float)
    assert isinstance(params.train.deterministic, bool)


@pytest.mark.parametrize(
    ("model", "threads", "count"), [("mlp", "auto", 1), ("cnn", "auto", 0), ("mlp", 0, 0), ("cnn", 3, 3)]
)
def test_threads_auto_is_one_for_the_mlp_and_every_core_for_the_cnn(
    real: dict[str, Any], model: str, threads: int | str, count: int
) -> None:
    params = parse_params(patched(real, {"train.model": model, "train.threads": threads}))
    assert params.train.threads == threads and params.train.thread_count == count


def test_parse_params_accepts_the_parsed_document(real: dict[str, Any]) -> None:
    assert parse_params(copy.deepcopy(real)) == load_params(REAL_PARAMS)


def test_an_int_is_accepted_for_a_float(real: dict[str, Any], tmp_path: Path) -> None:
    params = load_params(write(tmp_path / "params.yaml", patched(real, {"train.learning_rate": 1})))
    assert params.train.learning_rate == 1.0 and isinstance(params.train.learning_rate, float)


def test_every_param_is_explained_in_the_parameters_page(real: dict[str, Any]) -> None:
    table = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("|")]
    documented = set(re.findall(r"`(\w+\.\w+)`", " ".join(first_cells)))
    declared = {
        f"{group}.{key}" for group, model in Params.model_fields.items() for key in model.annotation.model_fields
    }
    assert declared - documented == set(), "params missing from docs/parameters.md's table"
    assert documented - declared == set(), "docs/parameters.md's table names params that do not exist"


# ---------------------------------------------------------------------------- the battery of bad values

# (id, changes to the real params, fragments the message must contain: key, value, what is allowed)
BAD_VALUES: list[tuple[str, dict[str, Any], list[str]]] = [
    # unknown keys and groups, with a did-you-mean
    ("unknown-key", {"train.epoch": 5}, ["unknown key train.epoch", "did you mean train.epochs?", "hidden_units"]),
    (
        "renamed-key",
        {"train.epochs": DELETE, "train.epoch": 5},
        ["unknown key train.epoch", "did you mean train.epochs?"],
    ),
    ("unknown-key-no-match", {"data.zzz": 1}, ["unknown key data.zzz", "allowed keys in data", "val_size"]),
    ("typo-group", {"trian": {"epochs": 3}}, ["unknown key trian", "did you mean train?"]),
    # wrong types
    ("string-for-int", {"train.epochs": "ten"}, ["train.epochs = 'ten'", "an integer"]),
    ("float-for-int", {"train.epochs": 2.5}, ["train.epochs = 2.5", "an integer"]),
    ("integral-float-for-int", {"train.batch_size": 32.0}, ["train.batch_size = 32.0", "an integer"]),
    ("bool-for-int", {"train.batch_size": True}, ["train.batch_size = true", "an integer"]),
    ("bool-for-float", {"train.learning_rate": False}, ["train.learning_rate = false", "a number"]),
    ("string-for-float", {"data.val_size": "10%"}, ["data.val_size = '10%'", "a number"]),
    ("int-for-bool", {"train.deterministic": 1}, ["train.deterministic = 1", "true or false"]),
    ("string-for-bool", {"train.deterministic": "maybe"}, ["train.deterministic = 'maybe'", "true or false"]),
    ("number-for-choice", {"train.model": 5}, ["train.model = 5", "a string"]),
    ("number-for-dataset", {"data.dataset": 10}, ["data.dataset = 10", "a string"]),
    ("list-for-string", {"data.source": ["a", "b"]}, ["data.source = ['a', 'b']", "a string"]),
    # data.source is a dvc.yaml dependency: a folder, never empty (once the mirrors) nor a URL DVC would query
    ("source-empty", {"data.source": ""}, ["data.source = ''", "expected a folder: data/mirrors"]),
    ("source-null", {"data.source": None}, ["data.source = None", "a string"]),
    ("source-url", {"data.source": "https://host/mnist/"}, ["data.source = 'https://host/mnist/'", "not a URL"]),
    ("mapping-for-int", {"train.epochs": {"value": 3}}, ["train.epochs = {'value': 3}", "an integer"]),
    ("null-for-int", {"train.epochs": None}, ["train.epochs = None", "an integer"]),
    # out of range
    ("zero-epochs", {"train.epochs": 0}, ["train.epochs = 0", "[1, 10000]"]),
    ("huge-epochs", {"train.epochs": 10**12}, ["train.epochs = 1000000000000", "[1, 10000]"]),
    ("negative-batch", {"train.batch_size": -1}, ["train.batch_size = -1", "[1, 65536]"]),
    ("zero-hidden", {"train.hidden_units": 0}, ["train.hidden_units = 0", "[1, 8192]"]),
    ("dropout-one", {"train.dropout": 1.0}, ["train.dropout = 1.0", "[0.0, 1.0)"]),
    ("negative-dropout", {"train.dropout": -0.1}, ["train.dropout = -0.1", "[0.0, 1.0)"]),
    ("zero-learning-rate", {"train.learning_rate": 0}, ["train.learning_rate = 0", "(0.0, 10.0]"]),
    ("huge-learning-rate", {"train.learning_rate": 1e6}, ["train.learning_rate = 1000000.0", "(0.0, 10.0]"]),
    ("inf-learning-rate", {"train.learning_rate": float("inf")}, ["train.learning_rate = inf", "finite"]),
    ("nan-learning-rate", {"train.learning_rate": float("nan")}, ["train.learning_rate = nan", "finite"]),
    ("big-val-size", {"data.val_size": 0.9}, ["data.val_size = 0.9", "(0.0, 0.5]"]),
    ("zero-val-size", {"data.val_size": 0}, ["data.val_size = 0", "(0.0, 0.5]"]),
    ("negative-seed", {"data.seed": -1}, ["data.seed = -1", "[0, 4294967295]"]),
    ("seed-over-32-bits", {"train.seed": 2**32}, ["train.seed = 4294967296", "[0, 4294967295]"]),
    ("negative-threads", {"train.threads": -1}, ["train.threads = -1", "auto or an integer in [0, 1024]"]),
    ("many-threads", {"train.threads": 1025}, ["train.threads = 1025", "auto or an integer in [0, 1024]"]),
    ("threads-typo", {"train.threads": "Auto"}, ["train.threads = 'Auto'", "auto or an integer in [0, 1024]"]),
    ("threads-bool", {"train.threads": True}, ["train.threads = true", "auto or an integer in [0, 1024]"]),
    ("accuracy-over-one", {"bless.min_accuracy": 1.5}, ["bless.min_accuracy = 1.5", "[0.0, 1.0]"]),
    ("zero-gallery", {"evaluate.gallery_size": 0}, ["evaluate.gallery_size = 0", "[1, 400]"]),
    ("zero-samples", {"export.representative_samples": 0}, ["export.representative_samples = 0", "[1, 100000]"]),
    ("negative-drop", {"export.max_int8_drop": -0.01}, ["export.max_int8_drop = -0.01", "[0.0, 1.0]"]),
    # unknown choices, with a did-you-mean
    (
        "dataset-dash",
        {"data.dataset": "fashion-mnist"},
        ["data.dataset = 'fashion-mnist'", "did you mean fashion_mnist?", "mnist, fashion_mnist, custom"],
    ),
    ("dataset-unknown", {"data.dataset": "imagenet"}, ["data.dataset = 'imagenet'", "mnist, fashion_mnist, custom"]),
    ("dataset-empty", {"data.dataset": ""}, ["data.dataset = ''", "mnist, fashion_mnist, custom"]),
    ("model-typo", {"train.model": "cnnn"}, ["train.model = 'cnnn'", "did you mean cnn?", "mlp, cnn"]),
    ("model-case", {"train.model": "MLP"}, ["train.model = 'MLP'", "mlp, cnn"]),
    (
        "strategy-typo",
        {"train.strategy": "mirror"},
        ["train.strategy = 'mirror'", "did you mean mirrored?", "auto, default, mirrored, multi_worker"],
    ),
    # export.tflite
    (
        "tflite-unknown",
        {"export.tflite": ["float32", "int4"]},
        ["export.tflite = 'int4'", "did you mean int8?", "float32, dynamic, int8"],
    ),
    ("tflite-empty", {"export.tflite": []}, ["export.tflite = []", "non-empty list", "float32, dynamic, int8"]),
    (
        "tflite-duplicate",
        {"export.tflite": ["int8", "float32", "int8"]},
        ["export.tflite = ['int8', 'float32', 'int8']", "twice"],
    ),
    ("tflite-not-a-list", {"export.tflite": "int8"}, ["export.tflite = 'int8'", "non-empty list"]),
    ("tflite-number", {"export.tflite": [8]}, ["export.tflite = 8", "a string"]),
    # structure
    ("missing-group", {"evaluate": DELETE}, ["missing group evaluate"]),
    ("missing-key", {"train.epochs": DELETE}, ["missing key train.epochs"]),
    ("missing-nested-key", {"export.tflite": DELETE}, ["missing key export.tflite"]),
    ("group-not-mapping", {"train": 5}, ["train must be a mapping", "got 5"]),
    ("group-is-list", {"data": ["mnist"]}, ["data must be a mapping", "['mnist']"]),
]


@pytest.mark.parametrize(("changes", "fragments"), [case[1:] for case in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_bad_value_is_one_line_naming_key_value_and_allowed(
    real: dict[str, Any], tmp_path: Path, changes: dict[str, Any], fragments: list[str]
) -> None:
    message = load_error(write(tmp_path / "params.yaml", patched(real, changes)))
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize(("changes", "fragments"), [case[1:] for case in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_parse_params_gives_the_same_errors(
    real: dict[str, Any], changes: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ParamsError) as caught:
        parse_params(patched(real, changes), "my-params.yaml")
    message = str(caught.value)
    assert message.startswith("my-params.yaml")
    for fragment in fragments:
        assert fragment in message


# ---------------------------------------------------------------------------- bad files


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    lines = REAL_PARAMS.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("epochs:"))
    lines[number - 1] = "  epochs: 10: 3"
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = load_error(path)
    assert "YAML syntax error" in message
    assert f"line {number}," in message


@pytest.mark.parametrize(
    ("text", "line"),
    [("data: [1, 2\ntrain: 3\n", 2), ("data:\n\tdataset: mnist\n", 2), ('data: "unterminated\n', 2)],
    ids=["unclosed-list", "tab-indent", "unterminated-string"],
)
def test_yaml_syntax_errors(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    message = load_error(path)
    assert "YAML syntax error" in message and f"line {line}" in message


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n", "---\n"], ids=["empty", "blank", "comment", "doc-start"]
)
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    message = load_error(path)
    assert "is empty" in message and "data, train, evaluate, bless, export" in message


@pytest.mark.parametrize("text", ["- data\n- train\n", "42\n", "just text\n"], ids=["list", "number", "string"])
def test_top_level_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    assert "the top level must be a mapping" in load_error(path)


def test_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.yaml")
    assert "cannot read" in message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").mkdir()
    assert "cannot read" in load_error(tmp_path / "params.yaml")


def test_not_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_bytes(REAL_PARAMS.read_bytes() + "# caf\u00e9\n".encode("latin-1"))
    load_error(path)


def test_duplicate_key_is_refused(real: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path / "params.yaml", real)
    text = path.read_text(encoding="utf-8").replace("\ntrain:\n", "\ntrain:\n  epochs: 5\n", 1)
    path.write_text(text, encoding="utf-8")
    second = [number for number, line in enumerate(text.splitlines(), 1) if line.startswith("  epochs:")][1]
    message = load_error(path)
    assert f"line {second}, column 3: key 'epochs' appears twice" in message


def test_exponent_without_dot_is_a_number(real: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path / "params.yaml", patched(real, {"train.learning_rate": "LR"}))
    path.write_text(path.read_text(encoding="utf-8").replace("LR", "1e-3"), encoding="utf-8")
    assert load_params(path).train.learning_rate == pytest.approx(0.001)


def test_yes_is_a_string_as_dvc_reads_it(real: dict[str, Any], tmp_path: Path) -> None:
    """YAML 1.1 (PyYAML) reads `yes` as true; DVC reads YAML 1.2, where it is the string 'yes', and so must we."""
    path = write(tmp_path / "params.yaml", patched(real, {"train.deterministic": "YES"}))
    path.write_text(path.read_text(encoding="utf-8").replace("'YES'", "yes"), encoding="utf-8")
    assert "train.deterministic = 'yes' is not allowed: expected true or false" in load_error(path)


# ---------------------------------------------------------------------------- the JSON Schema


def test_schema_file_is_what_the_command_prints() -> None:
    """params.schema.json is generated: `python -m mnist_pipeline.params --schema > params.schema.json`."""
    printed = CliRunner().invoke(main, ["--schema"])
    assert printed.exit_code == 0, printed.output
    assert (ROOT / "params.schema.json").read_text(encoding="utf-8") == printed.output, "regenerate params.schema.json"


def test_params_yaml_points_editors_at_the_schema() -> None:
    assert (
        REAL_PARAMS.read_text(encoding="utf-8").splitlines()[0] == "# yaml-language-server: $schema=params.schema.json"
    )


def test_schema_describes_every_key_with_its_bounds_and_choices() -> None:
    groups = json_schema()["$defs"]
    train, export = groups["TrainParams"], groups["ExportParams"]
    assert train["additionalProperties"] is False, "an editor must flag train.epoch"
    assert train["properties"]["dropout"]["exclusiveMaximum"] == 1.0
    assert train["properties"]["model"]["enum"] == list(ARCHITECTURES)
    assert export["properties"]["tflite"]["items"]["enum"] == list(TFLITE_FLAVOURS)
    for group in groups.values():
        for key, spec in group["properties"].items():
            assert spec.get("description"), f"{group['title']}.{key} has no description for the editor to show"


# ---------------------------------------------------------------------------- the command line


def test_check_command(real: dict[str, Any], tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", real)
    bad = write(tmp_path / "bad.yaml", patched(real, {"train.epoch": 5}))
    assert CliRunner().invoke(main, ["--params", str(good)]).output == f"{good}: valid\n"
    refused = CliRunner().invoke(main, ["--params", str(bad)])
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1 and "did you mean train.epochs?" in refused.output


def test_the_pre_commit_hook_and_the_checks_command_catch_a_typo_before_anything_runs(
    real: dict[str, Any], tmp_path: Path
) -> None:
    """A mistyped key in a hand-edited params.yaml fails at the commit and in CI, not only at the next stage run."""
    import shlex

    from mnist_pipeline.checks import main as checks

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (hook,) = [hook for repo in config["repos"] for hook in repo["hooks"] if hook["id"] == "params"]
    assert re.fullmatch(hook["files"], "params.yaml") and hook.get("pass_filenames", True)
    write(tmp_path / "params.yaml", patched(real, {"train.epoch": 5}))
    command = [sys.executable if word == "python" else word for word in shlex.split(hook["entry"])]
    typo = subprocess.run([*command, "params.yaml"], cwd=tmp_path, capture_output=True, text=True, env=PYTHONPATH)
    assert typo.returncode == 2 and "did you mean train.epochs?" in typo.stderr, typo.stderr
    write(tmp_path / "params.yaml", real)
    good = subprocess.run([*command, "params.yaml"], cwd=tmp_path, capture_output=True, text=True, env=PYTHONPATH)
    assert good.returncode == 0, good.stderr

    write(tmp_path / "params.yaml", patched(real, {"train.epoch": 5}))
    refused = CliRunner().invoke(checks, ["--params", str(tmp_path / "params.yaml")])
    assert refused.exit_code == 2 and "did you mean train.epochs?" in refused.output, refused.output


def run_prepare(tmp_path: Path, params: Path) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "out" / "prepared"
    options = ["--params", str(params), "--raw", str(tmp_path / "raw"), "--out", str(out)]
    return run_module("stages.prepare", options, tmp_path), out


CLI_CASES = {
    "unknown-key": ({"train.epoch": 5}, "did you mean train.epochs?"),
    "dropout-one": ({"train.dropout": 1.0}, "train.dropout = 1.0"),
    "dataset-dash": ({"data.dataset": "fashion-mnist"}, "did you mean fashion_mnist?"),
    "tflite-duplicate": ({"export.tflite": ["int8", "int8"]}, "twice"),
}


@pytest.mark.parametrize("case", [*CLI_CASES, "syntax", "empty", "missing"])
def test_cli_reports_one_line_and_exit_status_2(real: dict[str, Any], tmp_path: Path, case: str) -> None:
    params = tmp_path / "bad.yaml"
    if case in CLI_CASES:
        changes, fragment = CLI_CASES[case]
        write(params, patched(real, changes))
    elif case == "syntax":
        params.write_text("data: [1, 2\ntrain: 3\n", encoding="utf-8")
        fragment = "line 2"
    elif case == "empty":
        params.write_text("", encoding="utf-8")
        fragment = "is empty"
    else:
        fragment = "cannot read"
    result, out = run_prepare(tmp_path, params)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert re.search(re.escape(str(params)), lines[0])
    assert result.stdout == ""
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
