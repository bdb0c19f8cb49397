"""Load on `serve`: requests/s and latency at concurrency 1, 8 and 64, and a soak with malformed requests mixed in.

    python -m benchmarks.serving_load [--model models/export/model_float32.tflite] [--seconds 5] [--soak 60]
                                      [--client raw|httpx] [--out benchmarks/results/serving_load.md]

Starts `serve` on a free 127.0.0.1 port (nothing leaves the machine) and drives it from
asyncio in this process, one keep-alive connection per concurrent client, each sending its
next request as soon as the previous one is answered (closed loop), for `--seconds` per
cell (and at most `--max-requests`). The client is either `httpx`'s AsyncClient or, by
default, a minimal HTTP/1.1 client written here: on a 2-core machine the client shares the
cores with the server, and httpx spends more CPU per request than the server does, so it
measures itself. Requests:

- single: TF Serving row format, one 28x28 image (`{"instances": [...]}`);
- batch: 256 images in one request (columnar `{"inputs": ...}`);
- png: a 280x280 PNG of a drawn digit (what the page sends) to `:classify-image`.

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


def requests_for(pixels: np.ndarray) -> dict[str, tuple[str, bytes, int]]:
    """Scenario -> (path, body, images per request)."""
    canvas = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(canvas).line([(140, 40), (140, 240)], fill=0, width=18)
    png = io.BytesIO()
    canvas.save(png, format="PNG")
    return {
        "single": ("/v1/models/mnist:predict", json.dumps({"instances": pixels[:1].tolist()}).encode(), 1),
        "batch": ("/v1/models/mnist:predict", json.dumps({"inputs": pixels[:BATCH].tolist()}).encode(), BATCH),
        "png": ("/v1/models/mnist:classify-image", png.getvalue(), 1),
    }


def malformed() -> list[tuple[str, bytes]]:
    return [
        ("/v1/models/mnist:predict", b'{"instances": [[1, 2'),
        ("/v1/models/mnist:predict", json.dumps({"instances": [[1, 2, 3]]}).encode()),
        ("/v1/models/mnist:predict", json.dumps({"instances": [[[300] * 28] * 28]}).encode()),
        ("/v1/models/mnist:classify-image", b"this is not an image"),
    ]


class RawConnection:
    """One keep-alive HTTP/1.1 connection, written by hand: a client that costs the shared cores far less than httpx."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, content: bytes) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(content)}\r\n\r\n"
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
                path, content, good = pick(sent)
                begin = time.perf_counter()
                try:
                    if client == "raw":
                        status = await raw.post(path, content)
                    else:
                        status = (await shared.post(path, content=content)).status_code
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
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(server: Server) -> float:
    """CPU time (user + system) the server process has used so far."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, pixels: np.ndarray, seconds: float, max_requests: int, client: str) -> list[dict[str, Any]]:
    rows = []
    for scenario, (path, body, images) in requests_for(pixels).items():
        request = (path, body, True)
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
    good_list = [(path, body) for path, body, _ in good.values()]

    def pick(number: int) -> tuple[str, bytes, bool]:
        if number % 10 == 0:
            return (*bad[(number // 10) % len(bad)], False)
        return (*good_list[number % len(good_list)], True)

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


def markdown(rows: list[dict[str, Any]], soaked: dict[str, Any], context: dict[str, Any]) -> str:
    lines = [
        "# Serving load",
        "",
        f"`{context['command']}` on {context['machine']['cpu']} ({context['machine']['cores']} cores, shared with other work; "
        f"client and server on the same cores), {context['date']}.",
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
    args.out.with_suffix(".json").write_text(json.dumps({**context, "cells": rows, "soak": soaked}, indent=2) + "\n")
    if soaked:
        args.out.write_text(markdown(rows, soaked, context))
    print(args.out.read_text() if soaked else json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
