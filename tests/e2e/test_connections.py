"""`serve` as a real process against slow and idle clients: they are dropped, and a good client always gets through.

Timeouts and the connection cap are set short through `serve`'s options, so this takes seconds.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.process import Server, running_server
from tests.support.serving_fixtures import ExportDir, export_dir, tiny_setup  # noqa: F401 - fixtures

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 100
IDLE = 500

pytestmark = pytest.mark.slow  # a real server and real timeouts: about 10 s


@pytest.fixture(scope="module")
def server(export_dir: ExportDir, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    options = ("--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT))
    options += ("--max-connections", str(MAX_CONNECTIONS), "--keep-alive-timeout", "1", "--no-access-log")
    log = tmp_path_factory.mktemp("connections") / "serve.log"
    with running_server(export_dir.model(), log, *options) as running:
        yield running


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_by_server(connection: socket.socket, within: float) -> bool:
    """Whether the server closes the connection (EOF or reset) within `within` seconds."""
    connection.settimeout(within)
    try:
        while connection.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def open_fds(server: Server) -> int:
    return len(list(Path(f"/proc/{server.process.pid}/fd").iterdir()))


def test_idle_connections_are_capped_and_a_good_client_still_gets_through(server: Server) -> None:
    before = open_fds(server)
    with contextlib.ExitStack() as stack:
        idle = [stack.enter_context(connect(server)) for _ in range(IDLE)]
        time.sleep(0.3)
        assert open_fds(server) <= before + MAX_CONNECTIONS + 5  # the rest were closed to make room
        started = time.perf_counter()
        response = httpx.get(server.url + "/readyz", timeout=5)
        assert response.status_code == 200 and time.perf_counter() - started < HEADER_TIMEOUT
        assert all(closed_by_server(connection, HEADER_TIMEOUT + 2) for connection in idle[-10:])
    deadline = time.perf_counter() + 5
    while open_fds(server) > before + 2 and time.perf_counter() < deadline:  # the server sees the last closes
        time.sleep(0.1)
    assert open_fds(server) <= before + 2


def test_a_client_sending_headers_a_byte_at_a_time_is_dropped(server: Server) -> None:
    with connect(server) as slow:
        request = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        deadline = time.perf_counter() + HEADER_TIMEOUT + 2
        with pytest.raises((BrokenPipeError, ConnectionResetError)):  # noqa: PT012 - the write that fails is the check
            for byte in request:
                slow.send(bytes([byte]))
                time.sleep(0.05)
                assert time.perf_counter() < deadline, "still connected after the header timeout"


def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_is_closed(server: Server) -> None:
    with connect(server) as slow:
        slow.sendall(b'POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"inst')
        slow.settimeout(BODY_TIMEOUT + 3)
        answer = b"".join(iter(lambda: slow.recv(4096), b""))  # until the server closes the connection
        assert answer.startswith(b"HTTP/1.1 408 ") and b'{"error":"the body did not arrive within 1 s"}' in answer


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(server: Server) -> None:
    with connect(server) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(client, 3)
