"""Request bodies read within limits: a size cap (413), a time cap (408), and parsing that never stalls the loop.

The event loop answers every connection, so nothing slow may run on it: a body is read
in chunks as it arrives, within `body_timeout` seconds; JSON of `OFFLOAD_BYTES` or more is
parsed in a worker process (orjson and numpy hold the GIL, so a thread would still stall
the loop), at most `processes` at a time; image decoding runs in worker threads.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_process
import anyio.to_thread
import numpy as np
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from mnist_pipeline.serving.images import InputError, prepare_image, read_image
from mnist_pipeline.serving.tf_serving import RequestError

OFFLOAD_BYTES = 2**20  # smaller JSON parses in well under 10 ms: cheaper on the loop than a trip to a process
T = TypeVar("T")


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, refused (413) as soon as it passes `limit` bytes, or (408) when it takes over `timeout` s."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {int(declared)} bytes is over the {limit}-byte limit")
    chunks = []
    size = 0
    with anyio.move_on_after(timeout) as scope:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"request body is over the {limit}-byte limit")
            chunks.append(chunk)
    if scope.cancelled_caught:
        raise RequestError(408, f"the body did not arrive within {timeout:g} s", {"Connection": "close"})
    return b"".join(chunks)


async def parse_off_the_loop(size: int, limiter: anyio.CapacityLimiter, parse: Callable[..., T], *args: Any) -> T:
    """`parse(*args)`, in a worker process when the JSON is `size` >= OFFLOAD_BYTES bytes."""
    if size < OFFLOAD_BYTES:
        return parse(*args)
    return await anyio.to_process.run_sync(parse, *args, limiter=limiter)


async def read_upload(request: Request, limit: int, timeout: float) -> tuple[str, bytes]:
    """An uploaded file's name and bytes: the raw body, or the one file of a multipart form."""
    body = await read_body(request, limit, timeout)
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


async def decoded_image(data: bytes, name: str, size: int, limiter: anyio.CapacityLimiter) -> np.ndarray:
    """The same preparation as `predict`'s for an image file (decode, frame it like MNIST), in a worker thread."""
    return await anyio.to_thread.run_sync(_decode_and_prepare, data, name, size, limiter=limiter)


def _decode_and_prepare(data: bytes, name: str, size: int) -> np.ndarray:
    try:
        return prepare_image(read_image(io.BytesIO(data), name), name, size)
    except InputError as error:
        raise RequestError(400, error.reason) from None
