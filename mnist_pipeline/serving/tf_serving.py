"""TensorFlow Serving's REST formats for our signature, as pure functions (no web framework here).

Our exports have one signature, `serving_default`: input `pixels` (uint8 `[N, H, W]`),
outputs `probabilities` (float32 `[N, K]`) and `class` (int64 `[N]`). TF Serving's REST
API (https://www.tensorflow.org/tfx/serving/api_rest) takes it in two formats:

- row: `{"instances": [<[H, W] pixels> | {"pixels": <[H, W]>}, ...]}`, answered with
  `{"predictions": [{"probabilities": [...], "class": c}, ...]}`;
- columnar: `{"inputs": <[N, H, W]> | {"pixels": <[N, H, W]>}}`, answered with
  `{"outputs": {"probabilities": [[...], ...], "class": [c, ...]}}`;

both with an optional `"signature_name"`. Errors are `{"error": "<message>"}`. Every
client mistake raises `RequestError` with the HTTP status and a one-line reason.

URLs are matched as TF Serving's `http_rest_api_handler.cc` matches them: case-insensitively,
the version a number (anything else is a malformed request, 400), a version label
accepted in its place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from mnist_pipeline.serving.hot_reload import LoadFailure
from mnist_pipeline.serving.litert import CLASS, PIXELS, PROBABILITIES, SIGNATURE

METHOD_NAME = "tensorflow/serving/predict"
VERBS = ("predict", "classify", "regress", "classify-image")  # TF Serving's three, then our image upload
_VERSION = r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
VERB_URL = re.compile(r"/v1/models/(?P<name>[^/:]+)" + _VERSION + r":(?P<verb>" + "|".join(VERBS) + ")", re.I)
STATUS_URL = re.compile(r"/v1/models(?:/(?P<name>[^/:]+))?" + _VERSION + r"(?P<metadata>/metadata)?", re.I)


class RequestError(Exception):
    """A client's mistake: answered with `status` and `{"error": message}`, never a traceback."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def __reduce__(self) -> tuple[type, tuple[int, str, dict[str, str] | None]]:
        """Pickled whole, so an error raised while parsing in a worker process reaches the client."""
        return RequestError, (self.status, self.message, self.headers)


@dataclass(frozen=True)
class Call:
    """What a /v1/ URL asks for: a verb (or "status", "metadata") on a model, at a version or label or the latest."""

    name: str
    version: str | None
    label: str | None
    verb: str


def route(method: str, path: str) -> Call:
    """The call a /v1/ request makes; a URL TF Serving would not match is a 400, a wrong method a 405 with Allow."""
    for pattern, allowed in ((VERB_URL, "POST"), (STATUS_URL, "GET")):
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if method != allowed:
            raise RequestError(405, f"{method} is not allowed on {path}; use {allowed}", {"Allow": allowed})
        found = match.groupdict()
        if found["name"] is None:
            raise RequestError(400, "Missing model name in request.")
        verb = found.get("verb") or ("metadata" if found["metadata"] else "status")
        return Call(found["name"], found["version"], found["label"], verb.lower())
    raise RequestError(400, f"Malformed request: {method} {path}")


def no_such_signature(verb: str) -> RequestError:
    """What TF Serving answers a classify or regress call on a model whose only signature is a predict one."""
    kind = "classification" if verb == "classify" else "regression"
    return RequestError(
        400, f"Expected {kind} signature method_name to be tensorflow/serving/{verb}. Was: {METHOD_NAME}"
    )


def unknown_label(label: str) -> RequestError:
    """TF Serving's words for a version label that no version carries (this server assigns none)."""
    return RequestError(400, f"Unrecognized servable version label: {label}")


@dataclass(frozen=True)
class PredictRequest:
    pixels: np.ndarray  # uint8 [N, H, W]
    columnar: bool  # answer with "outputs" (columnar) rather than "predictions" (row)


def parse_json(body: bytes) -> Any:
    """The request's JSON document; malformed JSON is a 400 with the parser's reason.

    orjson is fast but refuses `NaN`, which TF Serving's JSON accepts: the standard
    parser gets a second look so that such a body is refused for its values, not its syntax.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, f"malformed JSON: {error}") from None
    except RecursionError:
        raise RequestError(400, "malformed JSON: nested too deeply") from None


def parse_predict_request(body: bytes, image_shape: tuple[int, int], max_instances: int) -> PredictRequest:
    """Pixels `[N, H, W]` from a row or columnar predict request (see the module doc)."""
    document = parse_json(body)
    if not isinstance(document, dict):
        raise RequestError(400, "the request must be a JSON object with 'instances' or 'inputs'")
    check_signature_name(document.get("signature_name"))
    if ("instances" in document) == ("inputs" in document):
        raise RequestError(400, "give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    if "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise RequestError(400, "'instances' must be a list, one item per image")
        check_count(len(instances), max_instances)
        tensor = [_unwrap(instance, f"instances[{index}]") for index, instance in enumerate(instances)]
        return PredictRequest(to_pixels(tensor, image_shape, "instances"), columnar=False)
    pixels = to_pixels(_unwrap(document["inputs"], "inputs"), image_shape, "inputs")  # the shape first: [28, 28]
    check_count(len(pixels), max_instances)  # is one unbatched image, not 28 images
    return PredictRequest(pixels, columnar=True)


def check_signature_name(name: Any) -> None:
    """Only the default signature; "" names it too, as TF Serving's `GetInfoMap` reads an empty name."""
    if name not in (None, "", SIGNATURE):
        raise RequestError(400, f"Serving signature name: {json.dumps(name)} not found in signature def")


def check_count(count: int, max_instances: int) -> None:
    if count == 0:
        raise RequestError(400, "no images in the request")
    if count > max_instances:
        raise RequestError(400, f"{count} images in one request, more than the {max_instances} allowed; split it")


def _unwrap(value: Any, where: str) -> Any:
    """An input given by name (`{"pixels": ...}`) or bare (the signature has only one input)."""
    if not isinstance(value, dict):
        return value
    if set(value) != {PIXELS}:
        raise RequestError(
            400, f"{where}: unknown input(s) {sorted(set(value) - {PIXELS})}; the only input is {PIXELS!r}"
        )
    return value[PIXELS]


def to_pixels(tensor: Any, image_shape: tuple[int, int], where: str) -> np.ndarray:
    """Check a nested list is uint8 pixels `[N, H, W]` (whole numbers 0-255) and convert it."""
    return check_pixels(as_array(tensor, image_shape, where), image_shape, where)


def as_array(tensor: Any, image_shape: tuple[int, int], where: str) -> np.ndarray:
    try:
        return np.asarray(tensor)
    except (ValueError, TypeError, RecursionError):
        raise RequestError(400, f"{where}: ragged nested lists; expected {batch_shape(image_shape)}") from None


def batch_shape(image_shape: tuple[int, int]) -> str:
    height, width = image_shape
    return f"a [N, {height}, {width}] tensor (N images of {height}x{width} pixels)"


def check_pixels(array: np.ndarray, image_shape: tuple[int, int], where: str) -> np.ndarray:
    """`array` as uint8 `[N, H, W]`, refused unless it holds whole numbers 0-255 in that shape."""
    if array.shape[1:] != image_shape or array.ndim != 3:
        shape = ", ".join(str(side) for side in array.shape)
        raise RequestError(400, f"{where}: expected {batch_shape(image_shape)}, got [{shape}]")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise RequestError(400, f"{where}: pixel values must be whole numbers 0-255, got NaN or Infinity")
    if array.dtype.kind not in "iu":
        raise RequestError(400, f"{where}: pixel values must be whole numbers 0-255 (uint8), got {_kind(array)}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise RequestError(400, f"{where}: pixel values must be 0-255 (uint8), got {array.min()} to {array.max()}")
    return array.astype(np.uint8, copy=False)


def _kind(array: np.ndarray) -> str:
    return {"f": "fractions", "b": "booleans", "U": "strings", "O": "mixed values"}.get(
        array.dtype.kind, str(array.dtype)
    )


def predict_response(probabilities: np.ndarray, columnar: bool) -> dict[str, Any]:
    """The SavedModel's outputs by name, in the request's format."""
    classes = probabilities.argmax(axis=1).tolist()
    rows = probabilities.tolist()
    if columnar:
        return {"outputs": {PROBABILITIES: rows, CLASS: classes}}
    return {"predictions": [{PROBABILITIES: row, CLASS: c} for row, c in zip(rows, classes)]}


def model_status(version: str, failure: LoadFailure | None) -> dict[str, Any]:
    """`GET /v1/models/<name>` (GetModelStatusResponse): the served version AVAILABLE and, after a failed
    reload, the files that failed in state END with the reason, as TF Serving lists a version it could not
    load (newest first; version "0", proto3's unset value, when the model file is missing)."""
    served = _version_status(version, "AVAILABLE", "OK", "")
    if failure is None:
        return {"model_version_status": [served]}
    failed = _version_status(failure.version or "0", "END", "UNKNOWN", failure.error)
    return {"model_version_status": [failed, served]}


def _version_status(version: str, state: str, code: str, message: str) -> dict[str, Any]:
    return {"version": version, "state": state, "status": {"error_code": code, "error_message": message}}


def model_metadata(name: str, version: str, image_shape: tuple[int, int], num_classes: int) -> dict[str, Any]:
    """`GET /v1/models/<name>/metadata`: the signature as TF Serving describes a SavedModel's."""
    height, width = image_shape
    signature = {
        "inputs": {PIXELS: _tensor_info(PIXELS, "DT_UINT8", [-1, height, width])},
        "outputs": {
            PROBABILITIES: _tensor_info(PROBABILITIES, "DT_FLOAT", [-1, num_classes]),
            CLASS: _tensor_info(CLASS, "DT_INT64", [-1]),
        },
        "method_name": METHOD_NAME,
    }
    return {
        "model_spec": {"name": name, "signature_name": "", "version": version},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
    }


def _tensor_info(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {
        "dtype": dtype,
        "tensor_shape": {"dim": [{"size": str(size), "name": ""} for size in shape], "unknown_rank": False},
        "name": f"{SIGNATURE}_{name}:0",
    }


def servable_not_found(name: str, version: str | None) -> RequestError:
    """TF Serving's words for a model name or version it does not serve."""
    which = f"Latest({name})" if version is None else f"Specific({name}, {version})"
    return RequestError(404, f"Servable not found for request: {which}")
