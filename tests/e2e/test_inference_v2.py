"""The Open Inference Protocol v2 through Triton's own HTTP client, JSON and binary, against a real `serve`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from mnist_pipeline.serving.inference_v2 import parse_infer_request
from mnist_pipeline.serving.tf_serving import RequestError
from tests.support.process import Server, running_server
from tests.support.serving_fixtures import ExportDir, TinySetup, export_dir, tiny_setup  # noqa: F401 - fixtures

tritonclient = pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def server(export_dir: ExportDir, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(export_dir.model(), tmp_path_factory.mktemp("v2") / "serve.log") as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[object]:
    client = tritonclient.InferenceServerClient(url=server.url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def saved_model_classes(tiny_setup: TinySetup, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    from mnist_pipeline.export import build as export

    path = tmp_path_factory.mktemp("saved") / "saved_model"
    export.save_saved_model(tiny_setup.model, path)
    return export.saved_model_predict(path, tiny_setup.x_test[:100]).argmax(axis=1)


def test_health_and_metadata(client: object) -> None:
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mnist")
    metadata = client.get_model_metadata("mnist")
    assert metadata["inputs"] == [{"name": "pixels", "datatype": "UINT8", "shape": [-1, 28, 28]}]
    assert [output["name"] for output in metadata["outputs"]] == ["probabilities", "class"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_classes_equal_the_saved_models_on_the_same_pixels(
    client: object, tiny_setup: TinySetup, saved_model_classes: np.ndarray, binary: bool
) -> None:
    pixels = tiny_setup.x_test[:100]
    tensor = tritonclient.InferInput("pixels", list(pixels.shape), "UINT8")
    tensor.set_data_from_numpy(pixels, binary_data=binary)
    outputs = [tritonclient.InferRequestedOutput(name, binary_data=binary) for name in ("class", "probabilities")]
    result = client.infer("mnist", [tensor], outputs=outputs)
    np.testing.assert_array_equal(result.as_numpy("class"), saved_model_classes)
    assert result.as_numpy("probabilities").shape == (100, 4) and result.as_numpy("probabilities").dtype == np.float32


def test_a_bad_request_is_a_400_with_the_reason(client: object) -> None:
    tensor = tritonclient.InferInput("pixels", [1, 27, 28], "UINT8")
    tensor.set_data_from_numpy(np.zeros((1, 27, 28), np.uint8))
    with pytest.raises(tritonclient.InferenceServerException, match=r"expected shape \[N, 28, 28\]") as raised:
        client.infer("mnist", [tensor])
    assert raised.value.status() == "400"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b'{"inputs": [{"name": "pixels", "datatype": "UINT8", "shape": [1, 28, 28], '
         b'"parameters": {"binary_data_size": 784}}]}', "binary_data_size 784 with 10 bytes"),
        (b'{"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28]}]}', "unknown input"),
        (b'{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 28, 28]}]}', "datatype UINT8"),
    ],
)  # fmt: skip
def test_binary_requests_that_do_not_add_up_are_refused(header: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        parse_infer_request(header + bytes(10), str(len(header)), (28, 28), 8)


def test_a_header_length_beyond_the_body_is_refused() -> None:
    with pytest.raises(RequestError, match="not a length within the body"):
        parse_infer_request(b"{}", "99", (28, 28), 8)
