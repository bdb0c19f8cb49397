"""A local HTTP server whose misbehaviour can be scripted per path, for download tests.

Real mirrors fail in ways that are hard to reproduce on demand (5xx bursts, dropped
connections, stalls, wrong content); this server does each of them on 127.0.0.1 only,
so tests never touch the network.

    with serve() as server:
        url = server.route("/a.gz", body=b"...", fail=2, fail_status=503)
        ...
        assert server.hits["/a.gz"] == 3
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Route:
    """How the server answers one path.

    body: the content served on success (serve wrong content by giving other bytes).
    fail, fail_status: answer the first `fail` requests with `fail_status` instead.
    cut_at: declare the full Content-Length but close the connection after this many bytes.
    stall, stall_after: wait `stall` seconds before answering (stall_after=None) or after
        sending the headers and the first `stall_after` bytes of the body.
    send_length: whether to send Content-Length (without it the body ends at close).
    """

    body: bytes = b""
    fail: int = 0
    fail_status: int = 500
    cut_at: int | None = None
    stall: float = 0.0
    stall_after: int | None = None
    send_length: bool = True


class ScriptedServer(ThreadingHTTPServer):
    """Serves the scripted `routes`, counts `hits` per path and records each User-Agent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.user_agents: list[str | None] = []
        self.closing = threading.Event()  # ends stalls early when the server shuts down
        self._lock = threading.Lock()

    def route(self, path: str, **behaviour: Any) -> str:
        """Script how `path` is answered (see `Route`) and return its URL."""
        self.routes[path] = Route(**behaviour)
        return self.url(path)

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"

    def record(self, path: str, user_agent: str | None) -> int:
        """Count a request to `path`; return how many requests it has had, this one included."""
        with self._lock:
            self.hits[path] += 1
            self.user_agents.append(user_agent)
            return self.hits[path]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients hanging up mid-answer is exactly what the tests provoke."""


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_GET(self) -> None:
        hit = self.server.record(self.path, self.headers.get("User-Agent"))
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
        elif hit <= route.fail:
            self.send_error(route.fail_status)
        else:
            self._answer(route)

    def _answer(self, route: Route) -> None:
        if route.stall_after is None:
            self._stall(route)
        self.send_response(200)
        if route.send_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        body = route.body if route.cut_at is None else route.body[: route.cut_at]
        if route.stall_after is not None:
            self._send(body[: route.stall_after])
            self._stall(route)
            body = body[route.stall_after :]
        self._send(body)
        self.close_connection = True  # the body (or what is sent of it) ends here

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _stall(self, route: Route) -> None:
        self.server.closing.wait(route.stall)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


@contextlib.contextmanager
def serve() -> Generator[ScriptedServer, None, None]:
    """Run a `ScriptedServer` on 127.0.0.1 (a free port) in a background thread."""
    server = ScriptedServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def closed_port_url(path: str = "/") -> Generator[str, None, None]:
    """A URL on 127.0.0.1 whose port refuses connections.

    The port stays bound (but not listening) for the duration, so nothing else can take
    it and a connection attempt is refused at once.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{path}"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy configured in the environment must not see (or answer for) the test URLs."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record backoff sleeps instead of sleeping: tests stay fast and can check the schedule."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with serve() as running:
        yield running
