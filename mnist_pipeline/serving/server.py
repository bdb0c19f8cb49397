"""The HTTP app behind `serve`: TF Serving's REST API, an image endpoint, health, and the drawing page.

Routes (NAME is the served model's name, `[/versions/V]` optional, V must be the loaded version):

    POST /v1/models/NAME[/versions/V]:predict          TF Serving row or columnar JSON (`tf_serving`)
    POST /v1/models/NAME[/versions/V]:classify-image   PNG/JPEG/BMP bytes, raw or multipart; ?k=3
    GET  /v1/models/NAME[/versions/V]                  status
    GET  /v1/models/NAME[/versions/V]/metadata         signature, version, sha256, class names
    GET  /healthz, /readyz                             live; model loaded (with its version and hash)
    GET  /                                             the page to draw a digit on

Inference runs on the event loop: one interpreter call takes microseconds, and LiteRT's
interpreter must not be called from two threads at once. Image decoding can take
milliseconds on a phone photo, so it runs in worker threads, at most `image_threads`
at a time, which also bounds the memory decoded images can take. Every client mistake
is answered `{"error": "<one line>"}` with a 4xx status and logged as a normal access line.
Longer than most modules because the routes share that error mapping and the limits; the
request formats themselves are pure functions in `tf_serving`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import AsyncGenerator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mnist_pipeline.serving import tf_serving
from mnist_pipeline.serving.images import InputError, prepare_image, read_image
from mnist_pipeline.serving.models import LoadedModel, ModelWatcher
from mnist_pipeline.serving.predict import Prediction, top_k
from mnist_pipeline.serving.tf_serving import RequestError

SETTINGS_ENV = "MNIST_SERVE_SETTINGS"  # how `serve --workers N` hands the settings to each worker process
STATIC = resources.files("mnist_pipeline.serving") / "static"


@dataclass(frozen=True)
class Settings:
    model: str  # path of the TFLite export
    name: str = "mnist"
    max_body_bytes: int = 16 * 2**20  # a phone photo fits; a 1024-image JSON batch takes ~3 MB
    max_instances: int = 1024
    reload_interval: float = 1.0  # seconds between looks at the export on disk; 0: never reload
    image_threads: int = 2


def json_response(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def create_app(settings: Settings) -> Starlette:
    """The app, serving the model at `settings.model` (loaded now: a broken model fails here, not later)."""
    watcher = ModelWatcher(Path(settings.model), interval=settings.reload_interval)
    limiter = anyio.CapacityLimiter(settings.image_threads)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None, None]:
        watcher.start()
        yield
        watcher.stop()

    def model_for(request: Request) -> LoadedModel:
        """The model a request names; taken once, so the request uses this model to its end."""
        model = watcher.current
        name, version = request.path_params["name"], request.path_params.get("version")
        if name != settings.name or (version is not None and version != model.version):
            raise tf_serving.servable_not_found(name, version)
        return model

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        model = watcher.current
        return json_response(
            {"status": "ready", "model": settings.name, "version": model.version, "sha256": model.sha256}
        )

    async def page(request: Request) -> Response:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html.replace("{{MODEL_NAME}}", json.dumps(settings.name)[1:-1]))

    async def status(request: Request) -> Response:
        return json_response(tf_serving.model_status(model_for(request).version))

    async def metadata(request: Request) -> Response:
        model = model_for(request)
        classifier = model.classifier
        document = tf_serving.model_metadata(
            settings.name, model.version, classifier.image_shape, classifier.num_classes
        )
        document["model"] = {"sha256": model.sha256, "path": str(model.path), "labels": list(model.labels)}
        return json_response(document)

    async def predict(request: Request) -> Response:
        model = model_for(request)
        body = await read_body(request, settings.max_body_bytes)
        parsed = tf_serving.parse_predict_request(body, model.classifier.image_shape, settings.max_instances)
        probabilities = model.classifier.predict(parsed.pixels)
        return json_response(tf_serving.predict_response(probabilities, parsed.columnar))

    async def classify_image(request: Request) -> Response:
        model = model_for(request)
        k = top_k_parameter(request.query_params.get("k", "3"))
        upload_name, data = await read_upload(request, settings.max_body_bytes)
        size = model.classifier.image_shape[0]
        pixels = await anyio.to_thread.run_sync(decode_and_prepare, data, upload_name, size, limiter=limiter)
        probabilities = model.classifier.predict(pixels[np.newaxis])[0]
        prediction = Prediction(upload_name, None, top_k(probabilities, model.labels, min(k, len(model.labels))))
        return json_response({**prediction.as_json(), "model": {"version": model.version, "sha256": model.sha256}})

    routes = [
        Route("/", page),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    for prefix in ("/v1/models/{name}", "/v1/models/{name}/versions/{version}"):
        routes += [
            Route(prefix, status),
            Route(prefix + "/metadata", metadata),
            Route(prefix + ":predict", predict, methods=["POST"]),
            Route(prefix + ":classify-image", classify_image, methods=["POST"]),
        ]
    handlers = {RequestError: request_error, HTTPException: http_error, ClientDisconnect: disconnected}
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)


async def request_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestError)
    return error_response(error.status, error.message)


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return error_response(error.status_code, str(error.detail))


async def disconnected(request: Request, error: Exception) -> Response:
    return error_response(400, "the client closed the connection before sending the whole body")


def top_k_parameter(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise RequestError(400, f"k must be a whole number of at least 1, got {value!r}")
    return int(value)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it passes `limit` bytes: memory stays bounded."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {int(declared)} bytes is over the {limit}-byte limit")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload(request: Request, limit: int) -> tuple[str, bytes]:
    """An uploaded file's name and bytes: the raw body, or the one file of a multipart form."""
    body = await read_body(request, limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        if not body:
            raise RequestError(400, "empty upload: send the image's bytes as the body, or as a multipart file")
        return "upload", body

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except HTTPException as error:  # malformed multipart data
        raise RequestError(400, f"malformed multipart form: {error.detail}") from None
    files = [value for value in form.values() if isinstance(value, UploadFile)]
    if not files:
        raise RequestError(400, "the multipart form holds no file; send the image as a file field")
    data = await files[0].read()
    if not data:
        raise RequestError(400, f"empty upload {files[0].filename or ''}".rstrip())
    return files[0].filename or "upload", data


def decode_and_prepare(data: bytes, name: str, size: int) -> np.ndarray:
    """The same preparation as `predict`'s for an image file: decode, then frame it like MNIST."""
    try:
        return prepare_image(read_image(io.BytesIO(data), name), name, size)
    except InputError as error:
        raise RequestError(400, error.reason) from None


def app_from_environment() -> Starlette:
    """The app for each of `serve --workers N`'s processes (uvicorn imports it by name)."""
    return create_app(Settings(**json.loads(os.environ[SETTINGS_ENV])))


def settings_to_environment(settings: Settings) -> str:
    return json.dumps(asdict(settings))
