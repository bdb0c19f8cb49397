"""params.yaml, loaded into typed, validated pydantic models before a stage does any work.

DVC's `--set-param train.epoch=5` silently *adds* a key, so every stage checks the
whole file: unknown keys (with a did-you-mean), missing keys and groups, wrong types
and out-of-range values are all `ParamsError`s (exit status 2) whose one line names the
key, the value and what is allowed; pydantic's own multi-line report is never shown.
There are no defaults in code: params.yaml is the one place a value comes from.
The module is longer than most because it also turns pydantic's errors into those lines
(`_describe`); the models themselves are the first hundred lines.

`python -m mnist_pipeline.params --schema` prints the JSON Schema that editors use to
complete and check params.yaml (kept in `params.schema.json`).
"""

from __future__ import annotations

import difflib
import json
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import click
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema
from pydantic_core import ErrorDetails, PydanticCustomError
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.constructor import SafeConstructor

from mnist_pipeline.data.datasets import DATASETS
from mnist_pipeline.errors import ParamsError, report_errors
from mnist_pipeline.model.architectures import ARCHITECTURES, AUTO_THREADS, summary

DEFAULT_PATH = "params.yaml"
SEED_MAX = 2**32 - 1

Strategy = Literal["auto", "default", "mirrored", "multi_worker"]
TFLiteFlavour = Literal["float32", "dynamic", "int8"]
# The choices of data.dataset and train.model are the registries' names (mnist_pipeline/data/datasets.py,
# mnist_pipeline/model/architectures.py), as Literals: a typo gets a did-you-mean, the schema an enum.
if TYPE_CHECKING:
    DatasetName: TypeAlias = str
    ModelName: TypeAlias = str
else:
    DatasetName = Literal[tuple(DATASETS)]
    ModelName = Literal[tuple(ARCHITECTURES)]
STRATEGIES: tuple[str, ...] = typing.get_args(Strategy)
TFLITE_FLAVOURS: tuple[str, ...] = typing.get_args(TFLiteFlavour)


def _a_folder(source: str) -> str:
    """data.source is a dependency in dvc.yaml, so it must be a path DVC can hash without the network."""
    if not source:
        raise PydanticCustomError("not_allowed", "expected a folder: data/mirrors for the public mirrors")
    if "://" in source:
        raise PydanticCustomError(
            "not_allowed", "expected a folder, not a URL: put the URL prefix in a <dataset>.txt file in a folder"
        )
    return source


MAX_THREADS = 1024


def _threads(value: Any) -> int | str:
    """`auto` or a thread count; `true` is not a count."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_THREADS):
        return value
    raise PydanticCustomError("not_allowed", f"expected auto or an integer in [0, {MAX_THREADS}]")


Threads = Annotated[
    int | Literal["auto"],
    PlainValidator(_threads),
    WithJsonSchema({"anyOf": [{"const": "auto"}, {"type": "integer", "minimum": 0, "maximum": MAX_THREADS}]}),
]


def _no_repeats(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("repeated", "a value is listed twice")
    return values


class _Group(BaseModel):
    """Strict: YAML's `true` is not a number, `32.0` is not an integer; an integer is accepted as a float."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class DataParams(_Group):
    dataset: DatasetName = Field(description="mnist | fashion_mnist | custom (your own IDX files in data.source)")
    source: Annotated[str, AfterValidator(_a_folder)] = Field(
        description="a folder: the four .gz files, or <dataset>.txt listing URL prefixes (data/mirrors: the public ones)"
    )
    val_size: float = Field(gt=0.0, le=0.5, description="fraction of the training set held out for validation")
    seed: int = Field(ge=0, le=SEED_MAX, description="seeds the validation split")


class TrainParams(_Group):
    model: ModelName = Field(description=" | ".join(f"{name} ({summary(name)})" for name in ARCHITECTURES))
    hidden_units: int = Field(ge=1, le=8192, description="units of the hidden dense layer")
    dropout: float = Field(ge=0.0, lt=1.0, description="dropout rate after the hidden layer")
    batch_size: int = Field(ge=1, le=65536, description="examples per training step")
    epochs: int = Field(ge=1, le=10000, description="passes over the training set")
    learning_rate: float = Field(gt=0.0, le=10.0, description="Adam's learning rate")
    seed: int = Field(ge=0, le=SEED_MAX, description="weights initialisation, dropout and shuffling")
    strategy: Strategy = Field(description="tf.distribute strategy")
    threads: Threads = Field(
        description="TensorFlow intra-op threads; 0 = all cores; auto = 1 for mlp, all cores for cnn"
    )
    deterministic: bool = Field(description="bit-for-bit identical results on the same CPU")

    @property
    def thread_count(self) -> int:
        """The threads to use: `threads`, or for `auto` the fastest for `model` (0 = all cores)."""
        return AUTO_THREADS[self.model] if self.threads == "auto" else int(self.threads)  # the registry's choice


class EvaluateParams(_Group):
    gallery_size: int = Field(ge=1, le=400, description="most confident mistakes shown in misclassified.png")


class ExportParams(_Group):
    tflite: Annotated[list[TFLiteFlavour], AfterValidator(_no_repeats)] = Field(
        min_length=1, description="TFLite flavours to export"
    )
    representative_samples: int = Field(ge=1, le=100000, description="training images calibrating int8")
    min_agreement: float = Field(
        ge=0.0,
        le=1.0,
        description="fraction of test images float exports must agree on with Keras (quantised: max_int8_drop)",
    )
    max_int8_drop: float = Field(ge=0.0, le=1.0, description="test accuracy int8 may lose versus Keras")


class BlessParams(_Group):
    min_accuracy: float = Field(
        ge=0.0, le=1.0, description="absolute floor: the lowest test accuracy blessed (0 = off)"
    )
    max_accuracy_drop: float = Field(
        ge=0.0, le=1.0, description="largest test-accuracy drop versus the baseline, unless not significant"
    )
    max_class_recall_drop: float = Field(
        ge=0.0, le=1.0, description="largest recall drop of any one class versus the baseline, unless not significant"
    )
    significance: float = Field(
        gt=0.0, lt=1.0, description="level of McNemar's exact test (per class: divided by the number of classes)"
    )
    override: str = Field(
        description="why a refused model ships anyway (empty: no override); recorded in the verdict and model card"
    )


class Params(_Group):
    """Every tunable value of the pipeline, grouped by the stage that reads it."""

    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    bless: BlessParams
    export: ExportParams


class _UniqueKeys(SafeConstructor):
    """A key given twice is an error (DVC refuses such a file too), reported with the key's name."""

    def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
        if key in mapping:
            mark = key_node.start_mark
            raise ParamsError(f"line {mark.line + 1}, column {mark.column + 1}: key {key!r} appears twice")
        return True


def load_params(path: str | Path = DEFAULT_PATH) -> Params:
    """Read and validate params.yaml (YAML 1.2, as DVC reads it); raise `ParamsError` with one explanatory line."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ParamsError(f"cannot read {source}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ParamsError(f"{source} is not UTF-8 text (byte {error.start}): save it as UTF-8") from None
    yaml = YAML(typ="safe")
    yaml.Constructor = _UniqueKeys
    try:
        raw = yaml.load(text)
    except ParamsError as error:
        raise ParamsError(f"{source}: YAML syntax error at {error}") from None
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ParamsError(f"{source}: YAML syntax error{where}: {problem}") from None
    return parse_params(raw, str(source))


def parse_params(raw: Any, origin: str = DEFAULT_PATH) -> Params:
    """Validate an already-parsed YAML document against `Params`; the first problem becomes the error."""
    if raw is None:
        raise ParamsError(f"{origin} is empty: expected the groups {', '.join(Params.model_fields)}")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        first = min(error.errors(), key=_document_order)
        raise ParamsError(f"{origin}: {_describe(first)}") from None


def _models_along(loc: tuple[int | str, ...]) -> list[type[BaseModel] | None]:
    """The model each part of `loc` is looked up in (None below a plain value)."""
    models: list[type[BaseModel] | None] = []
    model: type[BaseModel] | None = Params
    for part in loc:
        models.append(model)
        field = model.model_fields.get(str(part)) if model else None
        annotation = field.annotation if field else None
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return models


def _document_order(error: ErrorDetails) -> list[tuple[int, int]]:
    """Unknown keys before the keys of the same group, then keys in the order the models declare them."""
    order = []
    for part, model in zip(error["loc"], _models_along(error["loc"])):
        if model is None:  # inside a value: a list index
            order.append((1, part if isinstance(part, int) else 0))
        elif part in model.model_fields:
            order.append((1, list(model.model_fields).index(str(part))))
        else:
            order.append((0, 0))
    return order


def _describe(error: ErrorDetails) -> str:
    loc, kind, value = error["loc"], error["type"], error["input"]
    parent = _models_along(loc)[-1] if loc else None
    if kind in ("extra_forbidden", "invalid_key") and parent is not None:  # invalid_key: not a string
        return _unknown_key([str(part) for part in loc], list(parent.model_fields))
    names = [str(part) for part in loc if not isinstance(part, int)]  # an int is a list index here
    key = ".".join(names)
    owner = _models_along(loc)[len(names) - 1] if names else None  # the model declaring the key
    if kind == "missing":
        return f"missing {'key' if len(loc) > 1 else 'group'} {key} (see the README for its meaning)"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{key or 'the top level'} must be a mapping of keys to values, got {_show(value)}"
    assert owner is not None, error
    field = owner.model_fields[names[-1]]
    annotation = field.annotation
    item = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else annotation
    choices = typing.get_args(item)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{key} = {_show(value)} is out of range: expected a value in {_interval(field.metadata)}"
    if kind == "finite_number":
        return f"{key} = {_show(value)} is not allowed: expected a finite number"
    if kind in ("list_type", "too_short"):
        return f"{key} = {_show(value)} is not allowed: expected a non-empty list of {', '.join(choices)}"
    if kind == "not_allowed":
        return f"{key} = {_show(value)} is not allowed: {error['msg']}"
    if kind == "repeated":
        return f"{key} = {value} lists a value twice"
    if kind == "literal_error" and isinstance(value, str):
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"{key} = {_show(value)} is not allowed{hint}: expected one of {', '.join(choices)}"
    return f"{key} = {_show(value)} is not allowed: expected {_expected(item)}"


def _unknown_key(loc: list[str], allowed: list[str]) -> str:
    *group, name = loc
    prefix = "".join(part + "." for part in group)
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    where = f" in {'.'.join(group)}" if group else ""
    return f"unknown key {prefix}{name}{hint}; allowed keys{where}: {', '.join(allowed)}"


def _interval(bounds: list[Any]) -> str:
    """`[low, high)` and the like, from a field's annotated_types bounds."""
    found = {
        name: getattr(bound, name) for bound in bounds for name in ("gt", "ge", "lt", "le") if hasattr(bound, name)
    }
    low = f"({found['gt']}" if "gt" in found else f"[{found['ge']}"
    high = f"{found['lt']})" if "lt" in found else f"{found['le']}]"
    return f"{low}, {high}"


def _expected(annotation: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number"}.get(annotation, "a string")


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of params.yaml, as editors read it (`# yaml-language-server: $schema=...`)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **Params.model_json_schema()}


@click.command()
@click.option("--params", "params_path", default=DEFAULT_PATH, show_default=True, help="Params file to check.")
@click.option("--schema", is_flag=True, help="Print the JSON Schema of params.yaml instead (params.schema.json).")
@report_errors
def main(params_path: str, schema: bool) -> None:
    """Check a params file as every stage does (a problem is one line, exit status 2), or print its JSON Schema."""
    if schema:
        click.echo(json.dumps(json_schema(), indent=2))
        return
    load_params(params_path)
    click.echo(f"{params_path}: valid")


if __name__ == "__main__":
    main()
