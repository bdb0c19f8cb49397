"""The Open Inference Protocol (KServe v2, Triton's HTTP API) for our signature, as pure functions.

https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol: one input
`pixels` (UINT8 `[N, H, W]`), outputs `probabilities` (FP32 `[N, K]`) and `class` (INT64
`[N]`), in JSON (`"data"`: the values, flat or nested) or with Triton's binary tensor data
extension: the body is a JSON header of `Inference-Header-Content-Length` bytes followed
by the raw tensors, each input naming its byte count in `parameters.binary_data_size`; an
output asked for with `parameters.binary_data` comes back the same way. Binary tensors
skip JSON number parsing, which is what limits a JSON batch's throughput.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from mnist_pipeline.serving.litert import CLASS, PIXELS, PROBABILITIES
from mnist_pipeline.serving.tf_serving import RequestError, as_array, check_pixels, parse_json

HEADER_LENGTH = "inference-header-content-length"
OUTPUTS = {PROBABILITIES: "FP32", CLASS: "INT64"}
EXTENSIONS = ["binary_tensor_data"]


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    pixels: np.ndarray  # uint8 [N, H, W]
    outputs: list[tuple[str, bool]]  # (output name, as binary), in the order asked


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensors after it (none without the length header)."""
    if header_length is None:
        return body, b""
    if not (header_length.isascii() and header_length.isdigit()) or int(header_length) > len(body):
        raise RequestError(400, f"Inference-Header-Content-Length {header_length!r} is not a length within the body")
    return body[: int(header_length)], body[int(header_length) :]


def parse_infer_request(
    body: bytes, header_length: str | None, image_shape: tuple[int, int], max_instances: int
) -> InferRequest:
    """The pixels and the wanted outputs of an `/infer` request (see the module doc)."""
    header, binary = split_body(body, header_length)
    document = parse_json(header)
    if not isinstance(document, dict):
        raise RequestError(400, "the inference request must be a JSON object with 'inputs'")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise RequestError(400, f"'inputs' must be a list of one tensor, {PIXELS!r}")
    pixels = input_pixels(inputs[0], binary, image_shape, max_instances)
    request_id = document.get("id")
    return InferRequest(request_id if isinstance(request_id, str) else None, pixels, wanted_outputs(document))


def input_pixels(tensor: dict, binary: bytes, image_shape: tuple[int, int], max_instances: int) -> np.ndarray:
    if tensor.get("name") != PIXELS:
        raise RequestError(400, f"unknown input {tensor.get('name')!r}; the only input is {PIXELS!r}")
    if tensor.get("datatype") != "UINT8":
        raise RequestError(400, f"input {PIXELS!r} has datatype UINT8, not {tensor.get('datatype')!r}")
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(side) is int for side in shape)):
        raise RequestError(400, f"input {PIXELS!r} needs a shape [N, {image_shape[0]}, {image_shape[1]}]")
    if not 1 <= shape[0] <= max_instances:
        raise RequestError(400, f"{shape[0]} images in one request; send 1 to {max_instances}")
    if tuple(shape[1:]) != image_shape:
        raise RequestError(
            400, f"input {PIXELS!r}: expected shape [N, {image_shape[0]}, {image_shape[1]}], got {shape}"
        )
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(400, "'parameters' must be an object")
    if "binary_data_size" in parameters:
        return binary_pixels(parameters["binary_data_size"], binary, shape, image_shape)
    if binary:
        raise RequestError(400, "binary data follows the header but no input names its binary_data_size")
    where = f"input {PIXELS!r} data"
    array = as_array(tensor.get("data"), image_shape, where)
    if array.ndim == 1 and array.size == np.prod(shape):  # flat, row-major, as Triton's clients send it
        array = array.reshape(shape)
    if array.shape != tuple(shape):
        raise RequestError(400, f"{where}: {array.size} values in shape {list(array.shape)}, not {shape}")
    return check_pixels(array, image_shape, where)


def binary_pixels(size: Any, binary: bytes, shape: list[int], image_shape: tuple[int, int]) -> np.ndarray:
    expected = int(np.prod(shape))
    if type(size) is not int or size != expected or len(binary) != size:
        raise RequestError(
            400, f"binary_data_size {size!r} with {len(binary)} bytes after the header; {shape} UINT8 is {expected}"
        )
    return check_pixels(np.frombuffer(binary, np.uint8).reshape(shape), image_shape, f"input {PIXELS!r}")


def wanted_outputs(document: dict) -> list[tuple[str, bool]]:
    """The outputs asked for (all of them by default), each binary if asked or if the request's default says so."""
    parameters = document.get("parameters")
    default_binary = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    asked = document.get("outputs")
    if asked is None:
        return [(name, default_binary) for name in OUTPUTS]
    if not isinstance(asked, list) or not all(isinstance(output, dict) for output in asked):
        raise RequestError(400, "'outputs' must be a list of objects with a 'name'")
    wanted = []
    for output in asked:
        if output.get("name") not in OUTPUTS:
            raise RequestError(400, f"unknown output {output.get('name')!r}; the outputs are {sorted(OUTPUTS)}")
        binary = (output.get("parameters") or {}).get("binary_data", default_binary) is True
        wanted.append((output["name"], binary))
    return wanted


def infer_response(
    name: str, version: str, request: InferRequest, probabilities: np.ndarray
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the length of its JSON header."""
    tensors = {PROBABILITIES: probabilities.astype(np.float32), CLASS: probabilities.argmax(axis=1).astype(np.int64)}
    described, blobs = [], []
    for output, binary in request.outputs:
        tensor = tensors[output]
        entry: dict[str, Any] = {"name": output, "datatype": OUTPUTS[output], "shape": list(tensor.shape)}
        if binary:
            blobs.append(tensor.tobytes())
            entry["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            entry["data"] = tensor.ravel().tolist()
        described.append(entry)
    document: dict[str, Any] = {"model_name": name, "model_version": version, "outputs": described}
    if request.id is not None:
        document["id"] = request.id
    header = orjson.dumps(document)
    return (header + b"".join(blobs), len(header)) if blobs else (header, None)


def model_metadata(name: str, version: str, image_shape: tuple[int, int], num_classes: int) -> dict[str, Any]:
    """`GET /v2/models/<name>`: the model's tensors, with -1 for the batch dimension."""
    return {
        "name": name,
        "versions": [version],
        "platform": "tflite",
        "inputs": [{"name": PIXELS, "datatype": "UINT8", "shape": [-1, *image_shape]}],
        "outputs": [
            {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, num_classes]},
            {"name": CLASS, "datatype": "INT64", "shape": [-1]},
        ],
    }
