"""`serve` as a real process on 127.0.0.1: TF Serving's formats, image uploads, health, bad requests, hot reload."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mnist_pipeline.artifacts import atomic_path
from mnist_pipeline.serving.litert import TFLiteClassifier
from mnist_pipeline.serving.serve import main as serve_main
from tests.support.images import png_claiming
from tests.support.process import ROOT, Server, running_server
from tests.support.serving_fixtures import LABELS, ExportDir, TinySetup, export_dir, tiny_setup  # noqa: F401 - fixtures

MAX_INSTANCES = 64
MAX_BODY_MB = 1


@pytest.fixture(scope="module")
def server(export_dir: ExportDir, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    options = ("--max-instances", str(MAX_INSTANCES), "--max-body-mb", str(MAX_BODY_MB))
    with running_server(export_dir.model(), log, *options) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def photo_png(digit: np.ndarray) -> bytes:
    """A 28x28 light-on-dark digit as a 140x120 dark-on-light scan: `predict` frames it the MNIST way."""
    page = Image.new("L", (140, 120), 235)
    page.paste(Image.fromarray(255 - digit).resize((84, 84), Image.Resampling.BILINEAR), (30, 20))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def predict_body(pixels: np.ndarray) -> dict:
    return {"instances": pixels.tolist()}


# -- the process -------------------------------------------------------------------------------


def test_ready_within_a_second_of_starting(server: Server) -> None:
    # the budget is 1 s on a quiet machine; the margin absorbs other work sharing the cores
    assert server.ready_s <= 2.0, server.ready_s


def test_the_app_never_imports_tensorflow(export_dir: ExportDir) -> None:
    code = f"""
        import sys
        from mnist_pipeline.serving.serve import main
        from mnist_pipeline.serving.server import Settings, create_app
        create_app(Settings(model={str(export_dir.model())!r}))
        print(sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras", "scipy")))
        """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_help_and_a_missing_model() -> None:
    assert all(option in CliRunner().invoke(serve_main, ["--help"]).stdout for option in ("--model", "--port"))
    result = CliRunner().invoke(serve_main, ["--model", "nowhere/model.tflite"])
    assert result.exit_code == 1 and "model not found" in result.stderr and "Traceback" not in result.output


def test_health(client: httpx.Client, tiny_setup: TinySetup) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and len(ready["sha256"]) == 64


# -- TF Serving's REST API ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_model_outputs(tiny_setup: TinySetup, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """What the SavedModel's serving_default returns for the first 40 test images."""
    from mnist_pipeline.export import build as export

    path = tmp_path_factory.mktemp("saved") / "saved_model"
    export.save_saved_model(tiny_setup.model, path)
    return export.saved_model_predict(path, tiny_setup.x_test[:40])


def test_row_format_matches_the_saved_model(
    client: httpx.Client, tiny_setup: TinySetup, saved_model_outputs: np.ndarray
) -> None:
    response = client.post("/v1/models/mnist:predict", json=predict_body(tiny_setup.x_test[:40]))
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [sorted(row) for row in predictions] == [["class", "probabilities"]] * 40
    np.testing.assert_allclose([row["probabilities"] for row in predictions], saved_model_outputs, atol=1e-5)
    assert [row["class"] for row in predictions] == saved_model_outputs.argmax(axis=1).tolist()


def test_columnar_format_and_named_inputs_match_the_saved_model(
    client: httpx.Client, tiny_setup: TinySetup, saved_model_outputs: np.ndarray
) -> None:
    pixels = tiny_setup.x_test[:40].tolist()
    for body in ({"inputs": pixels}, {"inputs": {"pixels": pixels}, "signature_name": "serving_default"}):
        outputs = client.post("/v1/models/mnist:predict", json=body).json()["outputs"]
        np.testing.assert_allclose(outputs["probabilities"], saved_model_outputs, atol=1e-5)
        assert outputs["class"] == saved_model_outputs.argmax(axis=1).tolist()
    named = client.post("/v1/models/mnist:predict", json={"instances": [{"pixels": row} for row in pixels[:3]]})
    np.testing.assert_allclose(
        [row["probabilities"] for row in named.json()["predictions"]], saved_model_outputs[:3], atol=1e-5
    )


def test_status_and_metadata_name_the_version_hash_and_signature(client: httpx.Client, export_dir: ExportDir) -> None:
    version = client.get("/v1/models/mnist").json()["model_version_status"][0]["version"]
    assert client.get(f"/v1/models/mnist/versions/{version}").status_code == 200
    metadata = client.get(f"/v1/models/mnist/versions/{version}/metadata").json()
    assert metadata["model_spec"] == {"name": "mnist", "signature_name": "", "version": version}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["pixels"]["dtype"] == "DT_UINT8"
    assert [d["size"] for d in signature["inputs"]["pixels"]["tensor_shape"]["dim"]] == ["-1", "28", "28"]
    assert set(signature["outputs"]) == {"probabilities", "class"}
    assert metadata["model"]["sha256"] == hashlib.sha256(export_dir.model().read_bytes()).hexdigest()
    assert metadata["model"]["labels"] == list(LABELS)
    pixels = predict_body(np.zeros((1, 28, 28), np.uint8))
    assert client.post(f"/v1/models/mnist/versions/{version}:predict", json=pixels).status_code == 200


# -- images ------------------------------------------------------------------------------------


def test_image_endpoint_agrees_with_predict_on_the_same_files(
    client: httpx.Client, tiny_setup: TinySetup, export_dir: ExportDir, tmp_path: Path
) -> None:
    from mnist_pipeline.serving.predict import main as predict_main

    paths = []
    for index, digit in enumerate(tiny_setup.x_test[:12]):
        paths.append(tmp_path / f"scan-{index}.png")
        paths[-1].write_bytes(photo_png(digit))
    result = CliRunner().invoke(
        predict_main, ["--model", str(export_dir.model()), "--json", "--top-k", "3", *map(str, paths)]
    )
    expected = json.loads(result.stdout)["predictions"]
    for path, wanted in zip(paths, expected, strict=True):
        raw = client.post("/v1/models/mnist:classify-image", content=path.read_bytes()).json()
        form = client.post("/v1/models/mnist:classify-image", files={"file": (path.name, path.read_bytes())}).json()
        assert raw["top"] == form["top"] == wanted["top"]
        assert form["input"] == path.name and raw["label"] == wanted["label"]


def test_the_page_is_served_with_its_assets(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and 'content="mnist"' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from a CDN: works offline


# -- bad requests ------------------------------------------------------------------------------


def bad_requests() -> list[tuple[str, str, dict, int, str]]:
    """(name, path, httpx arguments, expected status, words of the reason)."""
    image = np.zeros((28, 28), np.uint8).tolist()
    nan_image = json.dumps({"instances": [image]}).replace("0", "NaN", 1)
    png = photo_png(np.zeros((28, 28), np.uint8))
    predict, classify = "/v1/models/mnist:predict", "/v1/models/mnist:classify-image"
    return [
        ("malformed JSON", predict, {"content": b'{"instances": [[1, 2'}, 400, "malformed JSON"),
        ("not an object", predict, {"json": [1, 2]}, 400, "JSON object"),
        ("no inputs", predict, {"json": {"signature_name": "serving_default"}}, 400, "exactly one of"),
        ("both formats", predict, {"json": {"instances": [image], "inputs": [image]}}, 400, "exactly one of"),
        ("wrong shape", predict, {"json": {"instances": [[1, 2, 3]]}}, 400, "[N, 28, 28]"),
        ("ragged", predict, {"json": {"instances": [image, image[:5]]}}, 400, "ragged"),
        ("fractions", predict, {"json": {"inputs": [[[0.5] * 28] * 28]}}, 400, "whole numbers"),
        ("NaN", predict, {"content": nan_image.encode()}, 400, "NaN"),
        ("over 255", predict, {"json": {"instances": [[[256] * 28] * 28]}}, 400, "0-255"),
        ("negative", predict, {"json": {"instances": [[[-1] * 28] * 28]}}, 400, "0-255"),
        ("strings", predict, {"json": {"instances": [[["7"] * 28] * 28]}}, 400, "strings"),
        ("no images", predict, {"json": {"instances": []}}, 400, "no images"),
        ("too many", predict, {"json": {"instances": [image] * (MAX_INSTANCES + 1)}}, 400, "split it"),
        ("body too large", predict, {"content": b" " * (MAX_BODY_MB * 2**20 + 1)}, 413, "limit"),
        ("signature", predict, {"json": {"signature_name": "other", "instances": [image]}}, 400, "signature"),
        ("unknown input", predict, {"json": {"instances": [{"image": image}]}}, 400, "only input"),
        ("model name", "/v1/models/other:predict", {"json": {"instances": [image]}}, 404, "Servable not found"),
        ("version", "/v1/models/mnist/versions/1:predict", {"json": {"instances": [image]}}, 404, "Servable"),
        ("empty upload", classify, {"content": b""}, 400, "empty"),
        ("not an image", classify, {"content": b"hello, this is text"}, 400, "not an image"),
        ("cut image", classify, {"content": png[: len(png) // 2]}, 400, "truncated"),
        ("bomb", classify, {"content": png_claiming(30_000, 30_000)}, 400, "bomb"),
        ("form without file", classify, {"files": {"note": (None, b"x")}}, 400, "no file"),
        ("k", classify + "?k=0", {"content": png}, 400, "k must be"),
        ("not found", "/v2/nothing", {"content": b""}, 404, "Not Found"),
    ]


@pytest.mark.parametrize(
    ("name", "path", "arguments", "status", "reason"), bad_requests(), ids=[c[0] for c in bad_requests()]
)
def test_a_bad_request_gets_its_4xx_and_the_next_good_one_succeeds(
    client: httpx.Client, name: str, path: str, arguments: dict, status: int, reason: str
) -> None:
    response = client.post(path, **arguments)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert reason in error and "\n" not in error
    good = client.post("/v1/models/mnist:predict", json=predict_body(np.zeros((2, 28, 28), np.uint8)))
    assert good.status_code == 200


def test_a_wrong_method_is_refused(client: httpx.Client) -> None:
    response = client.get("/v1/models/mnist:predict")
    assert response.status_code in (404, 405) and "error" in response.json()


def test_client_mistakes_are_logged_as_access_lines_without_tracebacks(client: httpx.Client, server: Server) -> None:
    for _, path, arguments, _, _ in bad_requests():
        client.post(path, **arguments)
    client.get("/healthz")
    time.sleep(0.2)  # let the log line reach the file
    log = server.log_text()
    assert "Traceback" not in log and "ERROR" not in log
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert log.count('"POST /v1/models/mnist%3Apredict HTTP/1.1" 400') >= 10


# -- hot reload --------------------------------------------------------------------------------


def test_a_new_export_is_served_without_failing_a_request(
    export_dir: ExportDir, tiny_setup: TinySetup, tmp_path: Path
) -> None:
    """Replace the model file (slowly, in place, as a copy does), then the whole export folder, while a client asks."""
    model = tmp_path / "export" / "model_float32.tflite"
    shutil.copytree(export_dir.path, model.parent)
    pixels = tiny_setup.x_test[:8]
    old = TFLiteClassifier(model).predict(pixels)
    new_bytes = export_dir.model("int8").read_bytes()
    new = TFLiteClassifier(new_bytes).predict(pixels)
    assert np.abs(old - new).max() > 1e-4  # the two models are told apart by their answers
    answers: list[tuple[int, list]] = []
    stop = threading.Event()

    def keep_asking(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/v1/models/mnist:predict", json={"inputs": pixels.tolist()})
                answers.append((response.status_code, response.json().get("outputs", {}).get("probabilities")))

    with running_server(model, tmp_path / "serve.log", "--reload-interval", "0.1") as server:
        asker = threading.Thread(target=keep_asking, args=(server.url,))
        asker.start()
        time.sleep(0.5)
        with open(model, "r+b") as handle:  # in place, half now and half later: a slow copy
            handle.truncate(0)
            handle.write(new_bytes[: len(new_bytes) // 2])
            handle.flush()
            time.sleep(1.0)
            handle.write(new_bytes[len(new_bytes) // 2 :])
        wait_for_answers(answers, new)
        switched = len(answers)
        with atomic_path(model.parent) as folder:  # then back, the way a whole export is replaced
            shutil.copytree(export_dir.path, folder)
        wait_for_answers(answers, old)
        stop.set()
        asker.join()
        log = server.log_text()
    assert answers and all(status == 200 for status, _ in answers)
    assert np.allclose(answers[0][1], old, atol=1e-6) and np.allclose(answers[switched - 1][1], new, atol=1e-6)
    assert np.allclose(answers[-1][1], old, atol=1e-6)
    assert all(np.allclose(a, old, atol=1e-6) or np.allclose(a, new, atol=1e-6) for _, a in answers)
    assert log.count("switched to model") == 2 and "Traceback" not in log


def wait_for_answers(answers: list[tuple[int, list]], expected: np.ndarray, timeout: float = 15) -> None:
    """Until the client's latest answer is `expected` (or `timeout`), then a little longer."""
    deadline = time.perf_counter() + timeout
    while not (answers and np.allclose(answers[-1][1], expected, atol=1e-6)) and time.perf_counter() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)


def test_several_workers_serve_the_same_model(export_dir: ExportDir, tiny_setup: TinySetup, tmp_path: Path) -> None:
    with running_server(export_dir.model(), tmp_path / "serve.log", "--workers", "2") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            hashes = {client.get("/readyz").json()["sha256"] for _ in range(10)}
            response = client.post("/v1/models/mnist:predict", json=predict_body(tiny_setup.x_test[:3]))
    assert hashes == {hashlib.sha256(export_dir.model().read_bytes()).hexdigest()}
    assert response.status_code == 200 and len(response.json()["predictions"]) == 3
