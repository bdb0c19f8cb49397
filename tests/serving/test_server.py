"""The app in process, through httpx's ASGI transport: no 5xx from any input, hardening, TF Serving to the letter.

Each TF Serving test quotes the line of `tensorflow_serving/g3doc/api_rest.md` (or of
`http_rest_api_handler.cc`, where the doc is silent) that it checks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from mnist_pipeline.serving.server import create_app
from mnist_pipeline.serving.settings import Settings
from tests.support.serving_fixtures import LABELS, ExportDir, TinySetup, export_dir, tiny_setup  # noqa: F401 - fixtures

PREDICT = "/v1/models/mnist:predict"


@pytest.fixture(scope="module")
def app(export_dir: ExportDir) -> Starlette:
    return create_app(Settings(model=str(export_dir.model()), max_instances=8, max_body_bytes=2**20))


def assert_no_5xx_and_json_errors(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400 and response.request.method != "HEAD":
        assert isinstance(response.json()["error"], str)


def call(app: Starlette, method: str, path: str, **arguments: object) -> httpx.Response:
    """One request to the app, in process."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, **arguments)

    return anyio.run(send)


def image(value: int = 0) -> list:
    return np.full((28, 28), value, np.uint8).tolist()


# -- no 5xx from client input ------------------------------------------------------------------

METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
SEGMENTS = st.sampled_from(
    ["v1", "V1", "v2", "models", "MODELS", "mnist", "other", "versions", "labels", "1", "abc", "metadata", "health",
     "ready", "live", "infer", "static", "app.js", "..", "%2e%2e", "readyz", "healthz", ":predict", ":classify",
     ":regress", ":classify-image", "ü", "²", "%00", ""]
)  # fmt: skip
ROUTES = st.sampled_from(
    [PREDICT, "/v1/models/mnist:classify-image", "/v1/models/mnist:classify", "/v1/models/mnist/metadata",
     "/v1/models/mnist", "/v2/models/mnist/infer", "/v2/models/mnist", "/readyz", "/"]
)  # fmt: skip
ANY_PATH = st.lists(SEGMENTS, max_size=6).map(lambda parts: "/" + "/".join(parts).replace("/:", ":"))
PATHS = ROUTES | ANY_PATH.filter(lambda path: not path.startswith("//"))  # httpx reads //x as a host, not a path
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 300) | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(
        ["instances", "inputs", "pixels", "signature_name", "outputs", "name", "shape", "datatype", "data",
         "parameters", "binary_data_size", "binary_data", "id"]), children, max_size=4),
    max_leaves=30,
)  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON.map(lambda document: json.dumps(document).encode()),
    st.sampled_from([2, 999, 1024, 1025, 5000]).map(lambda depth: b"[" * depth + b"]" * depth),
)
HEADERS = st.dictionaries(
    st.sampled_from(["content-type", "content-length", "inference-header-content-length", "accept", "origin", "host"]),
    st.sampled_from(
        ["", "0", "1", "-1", "abc", "²", "multipart/form-data; boundary=x", "application/json", "9" * 30]
    ).map(str.encode),
    max_size=3,
)
QUERIES = st.dictionaries(st.sampled_from(["k", "x"]), st.sampled_from(["", "0", "3", "²", "-1", "9" * 40]), max_size=2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS | st.just("POST"), path=PATHS, body=BODIES, headers=HEADERS, query=QUERIES)
def test_no_input_gets_a_5xx_and_every_error_is_json(
    app: Starlette, method: str, path: str, body: bytes, headers: dict, query: dict
) -> None:
    headers.pop("content-length", None)  # httpx sets the true length; a false one is a protocol error, not the app's
    assert_no_5xx_and_json_errors(call(app, method, path, content=body, headers=headers, params=query))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([PREDICT, "/v2/models/mnist/infer"]), body=BODIES)
def test_no_body_posted_to_a_model_gets_a_5xx(app: Starlette, path: str, body: bytes) -> None:
    """The same, aimed at the routes that parse bodies, where one path in many would rarely land."""
    assert_no_5xx_and_json_errors(call(app, "POST", path, content=body))


# -- hardening ---------------------------------------------------------------------------------


def test_no_response_holds_a_filesystem_path(app: Starlette, export_dir: ExportDir) -> None:
    for path in ("/readyz", "/v1/models/mnist", "/v1/models/mnist/metadata", "/v2/models/mnist", "/"):
        assert str(export_dir.path) not in call(app, "GET", path).text, path


def test_a_wrong_method_gets_405_with_allow(app: Starlette) -> None:
    assert call(app, "GET", PREDICT).headers["allow"] == "POST"
    assert call(app, "POST", "/v1/models/mnist").headers["allow"] == "GET"
    response = call(app, "DELETE", "/healthz")
    assert response.status_code == 405 and "GET" in response.headers["allow"] and response.json()["error"]


def test_every_response_says_nosniff(app: Starlette) -> None:
    for method, path in (("GET", "/"), ("GET", "/static/app.js"), ("POST", PREDICT), ("GET", "/nowhere")):
        assert call(app, method, path).headers["x-content-type-options"] == "nosniff"


def test_no_redirect_is_built_from_the_host_header(app: Starlette) -> None:
    response = call(app, "GET", "/healthz/", headers={"host": "evil.example:666"})
    assert "location" not in response.headers and "evil" not in response.text


def test_cors_is_off_unless_an_origin_is_given(export_dir: ExportDir, app: Starlette) -> None:
    origin = {"origin": "https://app.example"}
    assert "access-control-allow-origin" not in call(app, "GET", "/readyz", headers=origin).headers
    allowed = create_app(Settings(model=str(export_dir.model()), cors_origins=("https://app.example",)))
    preflight = {**origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    assert (
        call(allowed, "OPTIONS", PREDICT, headers=preflight).headers["access-control-allow-origin"] == origin["origin"]
    )
    assert call(allowed, "GET", "/readyz", headers=origin).headers["access-control-allow-origin"] == origin["origin"]


# -- TF Serving to the letter ------------------------------------------------------------------


def test_errors_are_a_json_object_with_error_as_key(app: Starlette) -> None:
    """api_rest.md: "In case of error, all APIs will return a JSON object in the response body with `error` as key"."""
    for method, path in (("GET", "/v1/nothing"), ("POST", "/v1/models/other:predict"), ("GET", "/v1/models")):
        response = call(app, method, path, json={})
        assert response.headers["content-type"] == "application/json" and set(response.json()) == {"error"}


def test_the_verbs_classify_and_regress_are_routed_and_refused_as_tf_serving_refuses_them(app: Starlette) -> None:
    """api_rest.md: "POST http://host:port/v1/models/${MODEL_NAME}[/versions/${MODEL_VERSION}]:(classify|regress)"."""
    for verb, kind in (("classify", "classification"), ("regress", "regression")):
        response = call(app, "POST", f"/v1/models/mnist:{verb}", json={"examples": [{"x": 1.0}]})
        assert response.status_code == 400
        assert response.json()["error"] == (
            f"Expected {kind} signature method_name to be tensorflow/serving/{verb}. Was: tensorflow/serving/predict"
        )


def test_a_version_label_is_answered_with_the_label_it_does_not_know(app: Starlette) -> None:
    """api_rest.md: "GET http://host:port/v1/models/${MODEL_NAME}[/versions/${VERSION}|/labels/${LABEL}]"."""
    for method, path in (("GET", "/v1/models/mnist/labels/stable"), ("POST", "/v1/models/mnist/labels/canary:predict")):
        response = call(app, method, path, json={"instances": [image()]})
        assert response.status_code == 400
        assert response.json()["error"].startswith("Unrecognized servable version label: ")


def test_an_empty_signature_name_is_the_default_signature(app: Starlette) -> None:
    """api_rest.md: "// If unspecifed default serving signature is used." (and GetInfoMap: empty name -> default)."""
    response = call(app, "POST", PREDICT, json={"signature_name": "", "instances": [image()]})
    assert response.status_code == 200, response.text


def test_too_many_instances_is_invalid_argument_400(app: Starlette) -> None:
    """http_rest_api_handler.cc: a request TF cannot take is `errors::InvalidArgument`, which maps to 400."""
    response = call(app, "POST", PREDICT, json={"instances": [image()] * 9})
    assert response.status_code == 400 and "more than the 8 allowed" in response.json()["error"]


def test_a_version_that_is_not_a_number_is_a_malformed_request(app: Starlette) -> None:
    """http_rest_api_handler.cc: `/versions/(\\d+)`, else `InvalidArgument("Malformed request: ", method, " ", path)`."""
    for method, path in (("GET", "/v1/models/mnist/versions/abc"), ("POST", "/v1/models/mnist/versions/abc:predict")):
        response = call(app, method, path, json={"instances": [image()]})
        assert response.status_code == 400 and response.json()["error"] == f"Malformed request: {method} {path}"


def test_paths_match_case_insensitively(app: Starlette) -> None:
    """http_rest_api_handler.cc: `kPathRegex = "(?i)/v1/.*"`; the model name itself keeps its case."""
    assert call(app, "POST", "/V1/Models/mnist:PREDICT", json={"instances": [image()]}).status_code == 200
    assert call(app, "GET", "/v1/MODELS/mnist/METADATA").status_code == 200
    assert call(app, "GET", "/v1/models/MNIST").status_code == 404


def test_an_unbatched_columnar_image_is_told_what_shape_to_send(app: Starlette) -> None:
    """api_rest.md: "The value for **inputs** key can either a single input tensor": ours is [N, 28, 28]."""
    error = call(app, "POST", PREDICT, json={"inputs": image()}).json()["error"]
    assert error == "inputs: expected a [N, 28, 28] tensor (N images of 28x28 pixels), got [28, 28]"


def test_the_status_lists_the_served_version_as_available(app: Starlette) -> None:
    """api_rest.md: `"state": "AVAILABLE"` with `"error_code": "OK"` in the model status example."""
    [status] = call(app, "GET", "/v1/models/mnist").json()["model_version_status"]
    assert status["state"] == "AVAILABLE" and status["status"] == {"error_code": "OK", "error_message": ""}


# -- what the served model is ------------------------------------------------------------------


@pytest.fixture(scope="module")
def refused_export(export_dir: ExportDir, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export the bless stage refused and shipped by override, trained on Fashion-MNIST."""
    folder = tmp_path_factory.mktemp("refused") / "export"
    shutil.copytree(export_dir.path, folder)
    gate = {"blessed": 0, "override": 1, "summary": "refused by accuracy change -0.0305"}
    (folder / "exports.json").write_text(json.dumps({"tflite_float32": {"agreement": 1.0}, "gate": gate}))
    (folder / "model_card.md").write_text("# Model card: mlp on fashion_mnist\n\n## Data\n")
    return folder / "model_float32.tflite"


def test_a_refused_model_says_so_on_readyz_metadata_and_the_page(refused_export: Path) -> None:
    app = create_app(Settings(model=str(refused_export)))
    ready = call(app, "GET", "/readyz").json()
    assert (ready["blessed"], ready["override"], ready["dataset"]) == (False, True, "fashion_mnist")
    metadata = call(app, "GET", "/v1/models/mnist/metadata").json()["model"]
    assert metadata["blessed"] is False and metadata["summary"] == "refused by accuracy change -0.0305"
    page = call(app, "GET", "/").text
    assert "not blessed" in page and "shipped by override" in page and "fashion_mnist" in page
    assert ", ".join(LABELS) in page and "digit" not in page.lower()


def test_without_a_verdict_the_blessing_is_unknown_and_the_page_warns_of_nothing(app: Starlette) -> None:
    ready = call(app, "GET", "/readyz").json()
    assert (ready["blessed"], ready["override"], ready["dataset"]) == (None, None, None)
    assert "not blessed" not in call(app, "GET", "/").text
