"""The HTTP app behind `serve`: TF Serving's REST API, the Open Inference Protocol v2, image uploads, health, a page.

Routes (NAME is the served model's name; V, when given, must be the served version):

    POST /v1/models/NAME[/versions/V]:predict          TF Serving row or columnar JSON (`tf_serving`)
    POST /v1/models/NAME[/versions/V]:classify-image   PNG/JPEG/BMP bytes, raw or multipart; ?k=3
    POST /v1/models/NAME[/versions/V]:classify|regress TF Serving's error for a model without those signatures
    GET  /v1/models/NAME[/versions/V][/metadata]       version status; signature, hash, classes, blessing
    GET  /v2, /v2/health/live, /v2/health/ready        Open Inference Protocol (`inference_v2`)
    GET  /v2/models/NAME[/versions/V][/ready]          its model metadata and readiness
    POST /v2/models/NAME[/versions/V]/infer            JSON or binary tensors
    GET  /healthz, /readyz                             live; what is served (and what failed to load)
    GET  /                                             the page to draw on

/v1/ URLs are matched as TF Serving matches them (`tf_serving.route`). Inference runs on
the event loop: one interpreter call takes microseconds to a millisecond, and LiteRT's
interpreter must not be called from two threads at once; reading, parsing and decoding
bodies never do (`bodies`). Every client mistake is a `RequestError`, answered
`{"error": "<one line>"}` with its 4xx (`responses`).
"""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles

from mnist_pipeline.serving import inference_v2, tf_serving
from mnist_pipeline.serving.bodies import decoded_image, parse_off_the_loop, read_body, read_upload
from mnist_pipeline.serving.connections import LIMITS_STATE, ConnectionLimits
from mnist_pipeline.serving.hot_reload import ModelWatcher
from mnist_pipeline.serving.model_loading import LoadedModel
from mnist_pipeline.serving.predictions import Prediction, top_k
from mnist_pipeline.serving.responses import EXCEPTION_HANDLERS, ResponseGuard, json_response
from mnist_pipeline.serving.settings import Settings
from mnist_pipeline.serving.tf_serving import Call, RequestError

SETTINGS_ENV = "MNIST_SERVE_SETTINGS"  # how `serve --workers N` hands the settings to each worker process
STATIC = resources.files("mnist_pipeline.serving") / "static"
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Handler = Callable[[Call, Request], Awaitable[Response]]


class Api:
    """The handlers, over the settings and the model watcher they share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.watcher = ModelWatcher(Path(settings.model), interval=settings.reload_interval)
        self.image_threads = anyio.CapacityLimiter(settings.image_threads)
        self.parse_processes = anyio.CapacityLimiter(settings.parse_processes)

    def routes(self) -> list[BaseRoute]:
        v2 = "/v2/models/{name}"
        return [
            Route("/", self.page),
            Route("/healthz", self.healthz),
            Route("/readyz", self.readyz),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
            Route("/v2", self.v2_server),
            Route("/v2/health/live", self.healthz),
            Route("/v2/health/ready", self.healthz),
            *(Route(prefix, self.v2_metadata) for prefix in (v2, v2 + "/versions/{version}")),
            *(Route(prefix + "/ready", self.v2_ready) for prefix in (v2, v2 + "/versions/{version}")),
            *(Route(prefix + "/infer", self.v2_infer, methods=["POST"]) for prefix in (v2, v2 + "/versions/{version}")),
            Route("/{path:path}", self.other, methods=ANY_METHOD),
        ]

    def model_for(self, name: str, version: str | None = None, label: str | None = None) -> LoadedModel:
        """The model a request names; taken once, so the request uses this model to its end."""
        model = self.watcher.current
        if name != self.settings.name or (version is not None and version != model.version):
            raise tf_serving.servable_not_found(name, version)
        if label is not None:
            raise tf_serving.unknown_label(label)
        return model

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready while a model serves; what it is, and what failed to replace it and why."""
        model, failure = self.watcher.current, self.watcher.failure
        return json_response(
            {
                "status": "ready",
                "model": self.settings.name,
                "version": model.version,
                "sha256": model.sha256,
                "dataset": model.dataset,
                **model.blessing.as_json(),
                "reload_error": None if failure is None else {"version": failure.version, "error": failure.error},
            }
        )

    async def page(self, request: Request) -> Response:
        return HTMLResponse(
            render_page((STATIC / "index.html").read_text(encoding="utf-8"), self.settings.name, self.watcher.current)
        )

    async def other(self, request: Request) -> Response:
        """/v1/... as TF Serving matches it (any case); anything else is not found."""
        if not request.url.path.lower().startswith("/v1/"):
            raise not_routed(request)
        call = tf_serving.route(request.method, request.url.path)
        handlers: dict[str, Handler] = {
            "status": self.status,
            "metadata": self.metadata,
            "predict": self.predict,
            "classify-image": self.classify_image,
            "classify": self.no_signature,
            "regress": self.no_signature,
        }
        return await handlers[call.verb](call, request)

    async def status(self, call: Call, request: Request) -> Response:
        model = self.model_for(call.name, call.version, call.label)
        return json_response(tf_serving.model_status(model.version, self.watcher.failure))

    async def metadata(self, call: Call, request: Request) -> Response:
        model = self.model_for(call.name, call.version, call.label)
        classifier = model.classifier
        document = tf_serving.model_metadata(
            self.settings.name, model.version, classifier.image_shape, classifier.num_classes
        )
        document["model"] = about(model)
        return json_response(document)

    async def no_signature(self, call: Call, request: Request) -> Response:
        self.model_for(call.name, call.version, call.label)
        raise tf_serving.no_such_signature(call.verb)

    async def predict(self, call: Call, request: Request) -> Response:
        model = self.model_for(call.name, call.version, call.label)
        body = await read_body(request, self.settings.max_body_bytes, self.settings.body_timeout)
        parse = tf_serving.parse_predict_request
        parsed = await parse_off_the_loop(
            len(body), self.parse_processes, parse, body, model.classifier.image_shape, self.settings.max_instances
        )
        probabilities = model.classifier.predict(parsed.pixels)
        return json_response(tf_serving.predict_response(probabilities, parsed.columnar))

    async def classify_image(self, call: Call, request: Request) -> Response:
        model = self.model_for(call.name, call.version, call.label)
        k = top_k_parameter(request.query_params.get("k", "3"))
        upload_name, data = await read_upload(request, self.settings.max_body_bytes, self.settings.body_timeout)
        pixels = await decoded_image(data, upload_name, model.classifier.image_shape[0], self.image_threads)
        probabilities = model.classifier.predict(pixels[None])[0]
        prediction = Prediction(upload_name, None, top_k(probabilities, model.labels, min(k, len(model.labels))))
        return json_response({**prediction.as_json(), "model": {"version": model.version, "sha256": model.sha256}})

    async def v2_server(self, request: Request) -> Response:
        return json_response({"name": "mnist-pipeline serve", "version": "2", "extensions": inference_v2.EXTENSIONS})

    async def v2_metadata(self, request: Request) -> Response:
        model = self.model_for(request.path_params["name"], request.path_params.get("version"))
        classifier = model.classifier
        document = inference_v2.model_metadata(
            self.settings.name, model.version, classifier.image_shape, classifier.num_classes
        )
        return json_response({**document, "parameters": about(model)})

    async def v2_ready(self, request: Request) -> Response:
        self.model_for(request.path_params["name"], request.path_params.get("version"))
        return json_response({"ready": True})

    async def v2_infer(self, request: Request) -> Response:
        model = self.model_for(request.path_params["name"], request.path_params.get("version"))
        body = await read_body(request, self.settings.max_body_bytes, self.settings.body_timeout)
        parsed = await parse_off_the_loop(
            len(body),
            self.parse_processes,
            inference_v2.parse_infer_request,
            body,
            request.headers.get(inference_v2.HEADER_LENGTH),
            model.classifier.image_shape,
            self.settings.max_instances,
        )
        probabilities = model.classifier.predict(parsed.pixels)
        content, header = inference_v2.infer_response(self.settings.name, model.version, parsed, probabilities)
        if header is None:
            return Response(content, media_type="application/json")
        headers = {"Inference-Header-Content-Length": str(header)}
        return Response(content, headers=headers, media_type="application/octet-stream")


def about(model: LoadedModel) -> dict[str, Any]:
    """What a client may want to know of the served model beyond its signature (never a filesystem path)."""
    return {"sha256": model.sha256, "labels": list(model.labels), "dataset": model.dataset, **model.blessing.as_json()}


def render_page(template: str, name: str, model: LoadedModel) -> str:
    """The drawing page, naming the served model, its dataset and classes, and warning when it is not blessed."""
    blessing = model.blessing
    warning = ""
    if blessing.blessed is False:
        forced = " It was shipped by override." if blessing.override else ""
        why = f" ({blessing.summary})" if blessing.summary else ""
        warning = f'<p class="warning" id="blessing">This model is <b>not blessed</b>{html.escape(why)}.{forced}</p>'
    values = {
        "MODEL_NAME": html.escape(name),
        "VERSION": html.escape(model.version),
        "DATASET": html.escape(model.dataset or "an unknown dataset"),
        "CLASSES": html.escape(", ".join(model.labels)),
        "BLESSING": warning,
    }
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def not_routed(request: Request) -> RequestError:
    """405 with Allow for a route that takes other methods, else 404."""
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL and isinstance(route, Route) and route.methods:
            allowed = ", ".join(sorted(route.methods))
            return RequestError(
                405, f"{request.method} is not allowed on {request.url.path}; use {allowed}", {"Allow": allowed}
            )
    return RequestError(404, f"Not Found: {request.url.path}")


def top_k_parameter(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise RequestError(400, f"k must be a whole number of at least 1, got {value!r}")
    return int(value)


def create_app(settings: Settings) -> Starlette:
    """The app, serving the model at `settings.model` (loaded now: a broken model fails here, not later)."""
    api = Api(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[dict[str, Any], None]:
        api.watcher.start()
        yield {LIMITS_STATE: ConnectionLimits(settings.header_timeout, settings.max_connections)}
        api.watcher.stop()

    middleware = [Middleware(ResponseGuard)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "Inference-Header-Content-Length"],
                expose_headers=["Inference-Header-Content-Length"],
            )
        )
    return Starlette(
        routes=api.routes(), middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan
    )


def app_from_environment() -> Starlette:
    """The app for each of `serve --workers N`'s processes (uvicorn imports it by name)."""
    return create_app(Settings.from_json(os.environ[SETTINGS_ENV]))
