"""Fetching a file from a list of mirrors, with retries and a progress bar.

Downloads fail in two very different ways, and each deserves its own treatment:

* transient failures (a timeout, a reset connection, a body cut short, HTTP 5xx or
  429) may well succeed on a second try, so the same URL is retried with exponential
  backoff;
* permanent failures (HTTP 404 and other 4xx, a host that does not resolve, a refused
  connection, an oversized or corrupt body) will not, so the next mirror is tried at
  once. This is what makes an offline machine fail in milliseconds instead of
  sleeping through every retry.

`fetch` only returns a body that arrived complete and passed `verify`; it never writes
to disk (the caller writes atomically, see `mnist_pipeline.artifacts`). Its length is that
failure handling: each case is a small function, tested against a scripted local server.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import http.client
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from email.message import Message
from typing import Protocol

from tqdm import tqdm

from mnist_pipeline.errors import DataError, DownloadError

USER_AGENT = "mnist-dvc-pipeline/1.0 (Python urllib)"
CHUNK_SIZE = 64 * 1024
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH}


class OfflineError(DownloadError):
    """Every source failed at the network level (host lookup failed, connection refused,
    network unreachable): we are offline or the hosts are gone."""


class NotFoundError(DownloadError):
    """Every source answered that the file does not exist (HTTP 404/410, no such file)."""


class _Response(Protocol):
    """What `urlopen` returns for every scheme (`HTTPResponse`, or `addinfourl` for file://)."""

    headers: Message

    def read(self, amt: int, /) -> bytes: ...

    def close(self) -> None: ...


class _Failure(Exception):
    """One try at one URL failed.

    `retry` says whether trying the same URL again may help; `network` whether no host
    could even be reached (lookup failed, refused, unreachable): the sign of being offline.
    """

    def __init__(self, reason: str, *, retry: bool = False, network: bool = False, missing: bool = False) -> None:
        self.reason = " ".join(reason.split())  # the final message must stay on one line
        self.retry = retry
        self.network = network
        self.missing = missing
        super().__init__(self.reason)


def fetch(
    urls: Sequence[str],
    *,
    name: str,
    max_bytes: int,
    verify: Callable[[bytes], None] | None = None,
    attempts: int = 3,
    timeout: float = 30.0,
    backoff: float = 1.0,
    progress: bool = True,
) -> bytes:
    """Return the body of the first URL in `urls` that delivers it complete and verified.

    Transient failures are retried `attempts` times per URL, sleeping `backoff * 2**k`
    between tries; permanent ones move on to the next URL at once. `timeout` applies to
    each network operation (connect, each read), not to the whole download. A body over
    `max_bytes` is refused. `verify` raises a `DataError` to reject a body (e.g. on a
    checksum mismatch), which moves on to the next URL.

    Raises `OfflineError` if every URL failed at the network level, else `DownloadError`.
    """
    if isinstance(urls, str):
        raise TypeError("urls must be a sequence of URLs, not a single string")
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    failures: list[tuple[str, _Failure]] = []
    for url in urls:
        download = functools.partial(_download, url, name=name, max_bytes=max_bytes, timeout=timeout, progress=progress)
        try:
            body = _retrying(download, attempts=attempts, backoff=backoff)
            _verify(body, verify)
        except _Failure as failure:
            failures.append((url, failure))
        else:
            return body
    raise _give_up(name, failures)


def _retrying(download: Callable[[], bytes], *, attempts: int, backoff: float) -> bytes:
    """Call `download` up to `attempts` times, retrying only failures a retry may fix."""
    for attempt in range(attempts - 1):
        try:
            return download()
        except _Failure as failure:
            if not failure.retry:
                raise
        time.sleep(backoff * 2**attempt)
    return download()


def _verify(body: bytes, verify: Callable[[bytes], None] | None) -> None:
    """Turn a rejected body into a failure of this URL, so that the next mirror is tried."""
    if verify is None:
        return
    try:
        verify(body)
    except DataError as error:
        raise _Failure(str(error)) from error


def _download(url: str, *, name: str, max_bytes: int, timeout: float, progress: bool) -> bytes:
    """One try at `url`; every way it can fail becomes a classified `_Failure`."""
    try:
        with contextlib.closing(_open(url, timeout)) as response:
            return _read_body(response, name=name, max_bytes=max_bytes, progress=progress)
    except (OSError, http.client.HTTPException) as error:
        raise _classify(error) from error


def _open(url: str, timeout: float) -> _Response:
    """Send the request. A malformed URL comes from the user's configuration, not from a
    bug, so it is a (permanent) failure of that URL rather than a crash."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        return urllib.request.urlopen(request, timeout=timeout)
    except ValueError as error:
        raise _Failure(f"invalid URL ({error})") from error


def _read_body(response: _Response, *, name: str, max_bytes: int, progress: bool) -> bytes:
    """Stream the body into memory, refusing oversized ones and detecting truncation.

    `http.client` returns a short body without complaint when the server closes the
    connection early, so the length is checked against Content-Length here.
    """
    declared = _declared_length(response)
    if declared is not None and declared > max_bytes:
        raise _Failure(f"refused: declares {declared} bytes, over the limit of {max_bytes}")
    body = bytearray()
    with tqdm(
        total=declared,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not progress,
    ) as bar:
        while chunk := response.read(CHUNK_SIZE):
            body += chunk
            if len(body) > max_bytes:
                raise _Failure(f"refused: body exceeds the limit of {max_bytes} bytes")
            bar.update(len(chunk))
    if declared is not None and len(body) < declared:
        raise _Failure(f"cut short after {len(body)} of {declared} bytes", retry=True)
    return bytes(body)


def _declared_length(response: _Response) -> int | None:
    """The Content-Length header (HTTP and file:// both set it), or None if absent or bogus."""
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdecimal():
        return None
    return int(value)


def _classify(error: OSError | http.client.HTTPException) -> _Failure:
    """Decide whether a failed try is worth repeating, and whether it means 'offline'."""
    if isinstance(error, urllib.error.HTTPError):
        error.close()
        return _Failure(
            f"HTTP {error.code}", retry=error.code >= 500 or error.code == 429, missing=error.code in (404, 410)
        )
    cause: BaseException = error
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return _Failure(str(error.reason))
        cause = error.reason  # urllib wraps connection errors; the wrapped one says what happened
    return _classify_cause(cause)


def _classify_cause(cause: BaseException) -> _Failure:
    """Network-level causes mean offline (permanent); a dropped or slow server may recover."""
    if isinstance(cause, socket.gaierror):
        return _Failure("host lookup failed", network=True)
    if isinstance(cause, ConnectionRefusedError):
        return _Failure("connection refused", network=True)
    if isinstance(cause, OSError) and cause.errno in _UNREACHABLE:
        return _Failure("network unreachable", network=True)
    if isinstance(cause, TimeoutError):
        return _Failure("timed out", retry=True)
    if isinstance(cause, http.client.IncompleteRead):
        return _Failure("cut short", retry=True)
    if isinstance(cause, ConnectionError):
        return _Failure(f"connection lost ({cause.strerror or cause})", retry=True)
    if isinstance(cause, FileNotFoundError):
        return _Failure(cause.strerror or "no such file", missing=True)
    if isinstance(cause, OSError) and cause.strerror:
        return _Failure(cause.strerror)
    return _Failure(str(cause) or type(cause).__name__)


def _give_up(name: str, failures: list[tuple[str, _Failure]]) -> DownloadError:
    """One line naming the file and, per URL, why it failed."""
    if not failures:
        return DownloadError(f"could not download {name}: no URL to download it from")
    details = "; ".join(f"{url}: {failure.reason}" for url, failure in failures)
    if all(failure.network for _, failure in failures):
        return OfflineError(f"could not download {name}: {details} (are you offline?)")
    if all(failure.missing for _, failure in failures):
        return NotFoundError(f"could not download {name}: {details}")
    return DownloadError(f"could not download {name}: {details}")
