"""`serve` as a child process on a free 127.0.0.1 port, waited on until it is ready.

What the server tests and the load benchmark start; the child imports this same copy of
the package (its folder goes first on PYTHONPATH), so a checkout is tested as it is.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen
    ready_s: float  # from starting the process to the first 200 of /readyz
    log: Path  # stdout and stderr

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(model: Path, log: Path, *options: str, timeout: float = 30.0) -> Generator[Server, None, None]:
    """Start `serve --model MODEL OPTIONS...`, wait until /readyz answers, stop it on exit."""
    port = free_port()
    command = [sys.executable, "-m", "mnist_pipeline.serving.serve", "--model", str(model), "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen([*command, *options], stdout=output, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        ready_s = wait_ready(url, process, started, timeout, log)
        yield Server(url, process, ready_s, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(url: str, process: subprocess.Popen, started: float, timeout: float, log: Path) -> float:
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}: {log.read_text()[-2000:]}")
        if answers(f"{url}/readyz"):
            return time.perf_counter() - started
        time.sleep(0.01)
    raise RuntimeError(f"serve was not ready after {timeout} s: {log.read_text()[-2000:]}")


def answers(url: str) -> bool:
    """Whether GET `url` gives 200 now (a refused connection or a 503 while loading is "not yet")."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
