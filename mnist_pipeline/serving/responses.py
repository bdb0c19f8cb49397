"""JSON responses, and the guard every response passes: `nosniff`, and a JSON 500 with one log line for a bug.

Client mistakes never reach the guard: they raise `RequestError` and are answered with
their 4xx where they happen. Anything else that escapes a handler is a bug of ours; the
guard answers `{"error": ...}` with 500 and logs one line (no traceback per request, so a
client that keeps hitting the bug cannot fill the disk).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mnist_pipeline.serving.tf_serving import RequestError

log = logging.getLogger("mnist_pipeline.serving")


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status_code=status, headers=headers, media_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


async def request_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestError)
    return error_response(error.status, error.message, error.headers)


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's own 404 and 405 (with its Allow header), in TF Serving's error format."""
    assert isinstance(error, HTTPException)
    return error_response(error.status_code, str(error.detail), dict(error.headers or {}))


async def disconnected(request: Request, error: Exception) -> Response:
    return error_response(400, "the client closed the connection before sending the whole body")


EXCEPTION_HANDLERS = {RequestError: request_error, HTTPException: http_error, ClientDisconnect: disconnected}


class ResponseGuard:
    """ASGI middleware: `X-Content-Type-Options: nosniff` on every response, and a bug answered as a JSON 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["X-Content-Type-Options"] = "nosniff"
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as error:  # a bug of ours: one line, not a traceback per request
            log.error("internal error on %s %s: %s: %s", scope["method"], scope["path"], type(error).__name__, error)
            if not started:
                response = error_response(500, "internal server error (logged); the request may be retried")
                await response(scope, receive, guarded_send)
