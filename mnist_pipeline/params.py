"""params.yaml, loaded into typed, validated dataclasses before a stage does any work.

DVC's `--set-param train.epoch=5` silently *adds* a key, so every stage checks the
whole file: unknown keys (with a did-you-mean), missing keys and groups, wrong types
and out-of-range values are all `ParamsError`s (exit status 2) naming the key, the
value and what is allowed. There are no defaults in code: params.yaml is the one place
a value comes from.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mnist_pipeline.errors import ParamsError

DEFAULT_PATH = "params.yaml"


def _spec(
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    return field(
        metadata={
            "low": low,
            "high": high,
            "low_open": low_open,
            "high_open": high_open,
            "choices": choices,
        }
    )


DATASETS = ("mnist", "fashion_mnist", "custom")
MODELS = ("mlp", "cnn")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
TFLITE_FLAVOURS = ("float32", "dynamic", "int8")


@dataclass(frozen=True)
class DataParams:
    dataset: str = _spec(choices=DATASETS)
    source: str = _spec()
    val_size: float = _spec(low=0.0, high=0.5, low_open=True)
    seed: int = _spec(low=0, high=2**32 - 1)


@dataclass(frozen=True)
class TrainParams:
    model: str = _spec(choices=MODELS)
    hidden_units: int = _spec(low=1, high=8192)
    dropout: float = _spec(low=0.0, high=1.0, high_open=True)
    batch_size: int = _spec(low=1, high=65536)
    epochs: int = _spec(low=1, high=10000)
    learning_rate: float = _spec(low=0.0, high=10.0, low_open=True)
    seed: int = _spec(low=0, high=2**32 - 1)
    strategy: str = _spec(choices=STRATEGIES)
    threads: int = _spec(low=0, high=1024)
    deterministic: bool = _spec()


@dataclass(frozen=True)
class EvaluateParams:
    min_accuracy: float = _spec(low=0.0, high=1.0)
    gallery_size: int = _spec(low=1, high=400)


@dataclass(frozen=True)
class ExportParams:
    tflite: list[str] = _spec(choices=TFLITE_FLAVOURS)
    representative_samples: int = _spec(low=1, high=100000)
    min_agreement: float = _spec(low=0.0, high=1.0)
    max_int8_drop: float = _spec(low=0.0, high=1.0)


@dataclass(frozen=True)
class Params:
    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    export: ExportParams


def load_params(path: str | Path = DEFAULT_PATH) -> Params:
    """Read and validate params.yaml; raise `ParamsError` with one explanatory line."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ParamsError(f"cannot read {source}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ParamsError(f"{source} is not UTF-8 text (byte {error.start}): save it as UTF-8") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ParamsError(f"{source}: YAML syntax error{where}: {problem}") from None
    return parse_params(raw, str(source))


class _StrictLoader(yaml.SafeLoader):
    """`yaml.safe_load`, but a key given twice is an error (PyYAML silently keeps the last one,
    DVC refuses the file), and `1e-3` is a number as in YAML 1.2 (PyYAML reads it as a string)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_params(raw: Any, origin: str = DEFAULT_PATH) -> Params:
    """Validate an already-parsed YAML document against `Params`."""
    if raw is None:
        raise ParamsError(f"{origin} is empty: expected the groups {_names(Params)}")
    return _build(Params, raw, origin, prefix="")


def _names(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _build(cls: type, raw: Any, origin: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ParamsError(f"{origin}: {where} must be a mapping of keys to values, got {_show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ParamsError(_unknown_key(origin, prefix, str(key), list(fields)))
    values = {}
    hints = typing.get_type_hints(cls)
    for name, spec in fields.items():
        key = prefix + name
        if name not in raw:
            kind = "group" if dataclasses.is_dataclass(hints[name]) else "key"
            raise ParamsError(f"{origin}: missing {kind} {key} (see the README for its meaning)")
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], origin, prefix=key + ".")
        else:
            values[name] = _check_value(key, raw[name], hint, spec.metadata, origin)
    return cls(**values)


def _unknown_key(origin: str, prefix: str, key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return (
        f"{origin}: unknown key {prefix}{key}{hint}; "
        f"allowed keys{' in ' + prefix.rstrip('.') if prefix else ''}: {', '.join(allowed)}"
    )


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _check_value(key: str, value: Any, hint: Any, meta: dict[str, Any], origin: str) -> Any:
    if typing.get_origin(hint) is list:
        return _check_list(key, value, meta, origin)
    value = _check_type(key, value, hint, origin)
    _check_range(key, value, meta, origin)
    return value


def _check_type(key: str, value: Any, hint: type, origin: str) -> Any:
    """Accept exactly the YAML types that mean the right thing (an int for a float, never a bool for a number)."""
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str) or value is None,
    }[hint]
    if not ok:
        expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
        raise ParamsError(f"{origin}: {key} = {_show(value)} is not allowed: expected {expected[hint]}")
    if hint is float:
        if not math.isfinite(value):
            raise ParamsError(f"{origin}: {key} = {value} is not allowed: expected a finite number")
        return float(value)
    if hint is str:
        return value or ""
    return value


def _check_range(key: str, value: Any, meta: dict[str, Any], origin: str) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ParamsError(
            f"{origin}: {key} = {_show(value)} is not allowed{hint}: expected one of {', '.join(choices)}"
        )
    low, high = meta.get("low"), meta.get("high")
    if low is None or high is None:
        return
    too_low = value <= low if meta["low_open"] else value < low
    too_high = value >= high if meta["high_open"] else value > high
    if too_low or too_high:
        left = "(" if meta["low_open"] else "["
        right = ")" if meta["high_open"] else "]"
        raise ParamsError(
            f"{origin}: {key} = {_show(value)} is out of range: expected a value in {left}{low}, {high}{right}"
        )


def _check_list(key: str, value: Any, meta: dict[str, Any], origin: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ParamsError(
            f"{origin}: {key} = {_show(value)} is not allowed: expected a non-empty list of {', '.join(meta['choices'])}"
        )
    for item in value:
        _check_range(key, _check_type(key, item, str, origin), meta, origin)
    if len(set(value)) != len(value):
        raise ParamsError(f"{origin}: {key} = {value} lists a value twice")
    return list(value)
