"""Load on `serve`: requests/s and latency at concurrency 1, 8 and 64, /healthz under big bodies, and a soak.

    python -m benchmarks.serving_load [--model models/export/model_float32.tflite] [--seconds 5] [--soak 60]
                                      [--big-bodies 10] [--client raw|httpx] [--out benchmarks/results/serving_load.md]

Starts `serve` on a free 127.0.0.1 port (nothing leaves the machine) and drives it from
asyncio in this process, one keep-alive connection per concurrent client, each sending its
next request as soon as the previous one is answered (closed loop), for `--seconds` per
cell (and at most `--max-requests`). The client is either `httpx`'s AsyncClient or, by
default, a minimal HTTP/1.1 client written here: on a 2-core machine the client shares the
cores with the server, and httpx spends more CPU per request than the server does, so it
measures itself. Requests:

- single: TF Serving row format, one 28x28 image (`{"instances": [...]}`);
- batch: 256 images in one request (columnar `{"inputs": ...}`);
- v2 binary: 256 and 1024 images in one Open Inference Protocol request, pixels as binary tensor data;
- png: a 280x280 PNG of a drawn digit (what the page sends) to `:classify-image`.

Then big bodies: for `--big-bodies` seconds, 8 clients each post 16 MiB JSON bodies (a
batch far over the image limit: parsed, then refused) while one client asks `/healthz`
in a loop; its p50, p99 and worst latency, and the peak RSS of the server and its
parsing processes.

Then the soak: `--soak` seconds at concurrency 8, one request in 10 malformed (bad JSON,
a wrong shape, pixels out of range, a text file as an image); every good request must
succeed and every bad one get a 4xx; the server's RSS after a warm-up and at the end.
Client and server share the machine's cores, so the figures are a floor for the server.
Writes benchmarks/results/serving_load.{json,md}. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

from benchmarks.common import ROOT, log, machine
from tests.support.process import Server, running_server

CONCURRENCY = (1, 8, 64)
BATCH = 256
BIG_BATCH = 1024
BIG_BODY = 16 * 2**20 - 64  # just under serve's default body limit
BIG_CLIENTS = 8
Request = tuple[str, bytes, dict[str, str]]  # path, body, extra headers


def requests_for(pixels: np.ndarray) -> dict[str, tuple[Request, int]]:
    """Scenario -> (request, images per request)."""
    canvas = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(canvas).line([(140, 40), (140, 240)], fill=0, width=18)
    png = io.BytesIO()
    canvas.save(png, format="PNG")
    predict = "/v1/models/mnist:predict"
    return {
        "single": ((predict, json.dumps({"instances": pixels[:1].tolist()}).encode(), {}), 1),
        "batch": ((predict, json.dumps({"inputs": pixels[:BATCH].tolist()}).encode(), {}), BATCH),
        "v2 binary": (v2_binary(pixels[:BATCH]), BATCH),
        "v2 binary 1024": (v2_binary(np.resize(pixels, (BIG_BATCH, 28, 28))), BIG_BATCH),
        "png": (("/v1/models/mnist:classify-image", png.getvalue(), {}), 1),
    }


def v2_binary(pixels: np.ndarray) -> Request:
    """An Open Inference Protocol request with the pixels as binary tensor data, asking for the classes in binary."""
    parameters = {"binary_data_size": pixels.nbytes}
    tensor = {"name": "pixels", "datatype": "UINT8", "shape": list(pixels.shape), "parameters": parameters}
    header = json.dumps({"inputs": [tensor], "outputs": [{"name": "class", "parameters": {"binary_data": True}}]})
    headers = {"Inference-Header-Content-Length": str(len(header))}
    return "/v2/models/mnist/infer", header.encode() + pixels.tobytes(), headers


def big_body() -> bytes:
    """16 MiB of valid JSON pixels: about 8 million numbers to parse and convert before the count is refused."""
    prefix, suffix = b'{"inputs": [[', b"]]}"
    row = b"[" + b",".join([b"0"] * 28) + b"]"
    rows = (BIG_BODY - len(prefix) - len(suffix)) // (len(row) + 1)
    return prefix + b",".join([row] * rows) + suffix


def malformed() -> list[Request]:
    return [
        ("/v1/models/mnist:predict", b'{"instances": [[1, 2', {}),
        ("/v1/models/mnist:predict", json.dumps({"instances": [[1, 2, 3]]}).encode(), {}),
        ("/v1/models/mnist:predict", json.dumps({"instances": [[[300] * 28] * 28]}).encode(), {}),
        ("/v1/models/mnist:classify-image", b"this is not an image", {}),
    ]


class RawConnection:
    """One keep-alive HTTP/1.1 connection, written by hand: a client that costs the shared cores far less than httpx."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, content: bytes, headers: dict[str, str]) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(content)}\r\n{extra}\r\n"
        writer.write(head.encode() + content)
        await writer.drain()
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        await reader.readexactly(int(headers["content-length"]))
        if headers.get("connection") == "close":
            await self.close()
        return int(lines[0].split()[1])

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def closed_loop(
    url: str, concurrency: int, seconds: float, max_requests: int, pick: Any, client: str
) -> tuple[list[float], int, int, float]:
    """Run `concurrency` clients until time or count is up: (latencies of good answers, failures, count, wall s)."""
    latencies: list[float] = []
    failures = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as shared:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal failures, sent
            raw = RawConnection(url)
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                (path, content, headers), good = pick(sent)
                begin = time.perf_counter()
                try:
                    if client == "raw":
                        status = await raw.request("POST", path, content, headers)
                    else:
                        status = (await shared.post(path, content=content, headers=headers)).status_code
                    ok = status == 200 if good else 400 <= status < 500
                except (httpx.HTTPError, OSError, asyncio.IncompleteReadError):
                    ok = False
                    await raw.close()
                if ok and good:
                    latencies.append(time.perf_counter() - begin)
                failures += not ok
            await raw.close()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, failures, sent, wall


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def rss_kib(server: Server) -> int:
    return process_rss_kib(server.process.pid)


def process_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:  # it ended meanwhile
        pass
    return 0


def family_rss_kib(pid: int) -> int:
    """RSS of a process and of its children (the server's JSON parsing processes), recursively."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return process_rss_kib(pid) + sum(family_rss_kib(int(child)) for child in children)


async def big_bodies(server: Server, seconds: float) -> dict[str, Any]:
    """/healthz latency while BIG_CLIENTS clients keep posting 16 MiB bodies; peak RSS of the server's processes."""
    body = big_body()
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    peaks = {"server": 0, "with_parsers": 0}

    async def poster() -> None:
        raw = RawConnection(server.url)
        while time.perf_counter() < deadline:
            try:
                status = await raw.request("POST", "/v1/models/mnist:predict", body, {})
            except (OSError, asyncio.IncompleteReadError):
                status = 0
                await raw.close()
            statuses[status] = statuses.get(status, 0) + 1
        await raw.close()

    async def prober() -> None:
        raw = RawConnection(server.url)
        while time.perf_counter() < deadline:
            begin = time.perf_counter()
            if await raw.request("GET", "/healthz", b"", {}) == 200:
                latencies.append(time.perf_counter() - begin)
            peaks["server"] = max(peaks["server"], rss_kib(server))
            peaks["with_parsers"] = max(peaks["with_parsers"], family_rss_kib(server.process.pid))
            await asyncio.sleep(0.01)
        await raw.close()

    await asyncio.gather(prober(), *(poster() for _ in range(BIG_CLIENTS)))
    result = {
        "seconds": seconds,
        "clients": BIG_CLIENTS,
        "body_mib": len(body) / 2**20,
        "bodies_answered": statuses,
        "healthz_requests": len(latencies),
        "healthz_p50_ms": 1000 * percentile(latencies, 50),
        "healthz_p99_ms": 1000 * percentile(latencies, 99),
        "healthz_max_ms": 1000 * max(latencies, default=float("nan")),
        "peak_rss_server_mib": peaks["server"] / 1024,
        "peak_rss_with_parsers_mib": peaks["with_parsers"] / 1024,
    }
    log(json.dumps(result))
    return result


def cpu_seconds(server: Server) -> float:
    """CPU time (user + system) the server process has used so far."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, pixels: np.ndarray, seconds: float, max_requests: int, client: str) -> list[dict[str, Any]]:
    rows = []
    for scenario, (request_, images) in requests_for(pixels).items():
        request = (request_, True)
        for concurrency in CONCURRENCY:
            asyncio.run(
                closed_loop(server.url, concurrency, min(1.0, seconds), 200, lambda _, r=request: r, client)
            )  # warm-up
            cpu_before = cpu_seconds(server)
            latencies, failures, sent, wall = asyncio.run(
                closed_loop(server.url, concurrency, seconds, max_requests, lambda _, r=request: r, client)
            )
            server_cpu = cpu_seconds(server) - cpu_before
            row = {
                "scenario": scenario,
                "concurrency": concurrency,
                "requests": sent,
                "failed": failures,
                "requests_per_s": len(latencies) / wall,
                "images_per_s": len(latencies) * images / wall,
                "p50_ms": 1000 * percentile(latencies, 50),
                "p99_ms": 1000 * percentile(latencies, 99),
                # the server's own cost: what one core could serve were the client elsewhere
                "server_cpu_ms_per_request": 1000 * server_cpu / max(1, sent),
            }
            log(json.dumps(row))
            rows.append(row)
    return rows


def soak(server: Server, pixels: np.ndarray, seconds: float, client: str) -> dict[str, Any]:
    good = requests_for(pixels)
    bad = malformed()
    good_list = [request for request, _ in good.values()]

    def pick(number: int) -> tuple[Request, bool]:
        if number % 10 == 0:
            return bad[(number // 10) % len(bad)], False
        return good_list[number % len(good_list)], True

    warm_up = min(10.0, seconds / 6)
    asyncio.run(closed_loop(server.url, 8, warm_up, 10**9, pick, client))
    rss_start = rss_kib(server)
    latencies, failures, sent, wall = asyncio.run(closed_loop(server.url, 8, seconds, 10**9, pick, client))
    rss_end = rss_kib(server)
    result = {
        "seconds": wall,
        "requests": sent,
        "malformed": sent // 10,
        "failed": failures,
        "rss_after_warm_up_mib": rss_start / 1024,
        "rss_end_mib": rss_end / 1024,
        "rss_growth": rss_end / rss_start - 1,
        "p99_ms": 1000 * percentile(latencies, 99),
    }
    log(json.dumps(result))
    return result


def headline(rows: list[dict[str, Any]], big: dict[str, Any]) -> list[str]:
    """The issue's four figures side by side: each request kind at its best concurrency, and /healthz under big bodies."""
    lines = ["| figure | value | at |", "|---|---|---|"]
    for scenario, unit in (
        ("single", "requests/s"),
        ("batch", "images/s"),
        ("v2 binary", "images/s"),
        ("v2 binary 1024", "images/s"),
    ):
        cells = [row for row in rows if row["scenario"] == scenario]
        best = max(cells, key=lambda row: row["images_per_s"])
        value = best["requests_per_s"] if unit == "requests/s" else best["images_per_s"]
        lines.append(f"| {scenario} | {value:,.0f} {unit} | concurrency {best['concurrency']} |")
    lines.append(
        f"| /healthz under {big['clients']} clients posting {big['body_mib']:.0f} MiB bodies | "
        f"p99 {big['healthz_p99_ms']:.1f} ms (p50 {big['healthz_p50_ms']:.1f}, worst {big['healthz_max_ms']:.1f}) | "
        f"{big['healthz_requests']} probes in {big['seconds']:.0f} s; peak RSS {big['peak_rss_server_mib']:.0f} MiB "
        f"(with parsing processes {big['peak_rss_with_parsers_mib']:.0f} MiB) |"
    )
    return lines


def markdown(rows: list[dict[str, Any]], soaked: dict[str, Any], big: dict[str, Any], context: dict[str, Any]) -> str:
    lines = [
        "# Serving load",
        "",
        f"`{context['command']}` on {context['machine']['cpu']} ({context['machine']['cores']} cores, shared with other work; "
        f"client and server on the same cores), {context['date']}.",
        "",
        *headline(rows, big),
        "",
        "| request | concurrency | requests/s | images/s | p50 ms | p99 ms | failed | server CPU ms/request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['scenario']} | {row['concurrency']} | {row['requests_per_s']:.0f} | {row['images_per_s']:.0f} "
            f"| {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['failed']} | {row['server_cpu_ms_per_request']:.2f} |"
        )
    lines += [
        "",
        f"Soak: {soaked['seconds']:.0f} s at concurrency 8, {soaked['requests']} requests of which {soaked['malformed']} "
        f"malformed; failed: {soaked['failed']}; RSS {soaked['rss_after_warm_up_mib']:.1f} MiB after warm-up, "
        f"{soaked['rss_end_mib']:.1f} MiB at the end ({100 * soaked['rss_growth']:+.1f} %).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "export" / "model_float32.tflite")
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per cell")
    parser.add_argument("--soak", type=float, default=60.0, help="soak seconds (0: none)")
    parser.add_argument(
        "--big-bodies", type=float, default=10.0, help="seconds of 16 MiB bodies while probing /healthz"
    )
    parser.add_argument("--workers", type=int, default=1, help="serve --workers")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: a minimal keep-alive HTTP/1.1 client per connection (cheap); httpx: its AsyncClient",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serving_load.md")
    args = parser.parse_args()
    pixels = np.random.default_rng(0).integers(0, 256, (BATCH, 28, 28), dtype=np.uint8)
    if not args.model.is_file():
        sys.exit(f"error: no model at {args.model}: run `dvc repro` first, or pass --model PATH.tflite")
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        log(f"serving {model.name}")
        options = ("--workers", str(args.workers))
        with running_server(model, Path(scratch) / "serve.log", *options) as server:
            log(f"ready in {server.ready_s:.2f} s")
            rows = measure(server, pixels, args.seconds, args.max_requests, args.client)
            big = asyncio.run(big_bodies(server, args.big_bodies))
            soaked = soak(server, pixels, args.soak, args.client) if args.soak > 0 else {}
            traceback_logged = "Traceback" in server.log_text()
    context = {
        "command": " ".join(["python -m benchmarks.serving_load", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "model": model.name,
        "ready_s": server.ready_s,
        "traceback_logged": traceback_logged,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps({**context, "cells": rows, "big_bodies": big, "soak": soaked}, indent=2) + "\n"
    )
    if soaked:
        args.out.write_text(markdown(rows, soaked, big, context))
    print(args.out.read_text() if soaked else json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
