"""Headless Chromium with the network switched off, to render `dvc plots` pages as a user offline would.

Every request but file:// fails: the proxy is a closed port on 127.0.0.1 (loopback
included, `<-loopback>`) and every host name resolves to nothing. A page that needs a CDN
draws no chart here.

Chromium missing: a failure under CI (the `CI` variable set), which says how to install
it, and a skip elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_CHROMIUM = (
    "headless Chromium is needed to render the `dvc plots` report: install it "
    "(Debian/Ubuntu: `apt-get update && apt-get install -y chromium`) or put its path in $CHROMIUM"
)
OFFLINE = ("--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND")


def unavailable(message: str) -> None:
    """A missing browser is a failure in CI, where it must be there, and a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def find_chromium() -> str:
    candidates = [os.environ.get("CHROMIUM", "")] + [shutil.which(name) or "" for name in CHROMIUM_NAMES]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    unavailable(INSTALL_CHROMIUM)
    raise AssertionError("unreachable")


def vega_specs(html: str) -> dict[str, dict]:
    """The Vega-Lite spec of every chart in a `dvc plots` page, by the id of its div."""
    specs = {}
    for match in re.finditer(r"var spec = (\{.*?\});\s*vegaEmbed\('#([^']+)'", html, re.S):
        specs[match.group(2)] = json.loads(match.group(1))
    return specs


def svg_copy(page: Path) -> Path:
    """A copy of a `dvc plots` page that draws its Vega charts as SVG instead of vega-embed's canvas.

    SVG puts every mark in the DOM with an ARIA label naming its data, so the test can read
    what was drawn. Nothing else changes: the scripts are the page's own.
    """
    html, charts = re.subn(
        r"vegaEmbed\('(#[^']+)', spec\);", r"vegaEmbed('\1', spec, {renderer: 'svg'});", page.read_text()
    )
    assert charts, "no vegaEmbed calls found: has the dvc plots HTML changed?"
    copy = page.with_name("rendered.html")
    copy.write_text(html)
    return copy


def chromium(browser: str, page: Path, *options: str) -> subprocess.CompletedProcess:
    """Open `page` in headless Chromium, offline, with `options` (e.g. --dump-dom)."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        args = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            *OFFLINE,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            *options,
            page.resolve().as_uri(),
        ]
        result = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}"
    return result


class RenderedPage(HTMLParser):
    """What the browser drew, by chart: SVG/canvas elements, ARIA-labelled marks, images."""

    def __init__(self, chart_ids: set[str]) -> None:
        super().__init__()
        self.chart_ids = chart_ids
        self.current = ""
        self.surfaces: Counter[str] = Counter()
        self.marks: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "div" and attributes.get("id") in self.chart_ids:
            self.current = attributes["id"] or ""
        if tag in ("svg", "canvas") and self.current:
            self.surfaces[self.current] += 1
        if "aria-roledescription" in attributes and self.current:
            role, label = attributes["aria-roledescription"] or "", attributes.get("aria-label") or ""
            self.marks[self.current].append((role, label))
        if tag == "img":
            self.images.append(attributes.get("src") or "")

    def labels(self, chart: str, role: str) -> list[str]:
        return [label for kind, label in self.marks[chart] if kind == role]


def rendered(browser: str, page: Path) -> tuple[RenderedPage, dict[str, dict]]:
    """Render a `dvc plots` page offline; fail unless every chart drew something."""
    html = page.read_text()
    specs = vega_specs(html)
    dom = chromium(browser, svg_copy(page), "--dump-dom").stdout
    parsed = RenderedPage(set(specs))
    parsed.feed(dom)
    not_drawn = [name for name in specs if not parsed.surfaces[name]]
    remote = re.findall(r'<script src="(https?://[^"]+)"', html)
    assert not not_drawn, (
        f"Vega drew nothing for {not_drawn} with the network off (scripts from the network: {remote}); "
        f"browser output ends:\n{dom[-2000:]}"
    )
    return parsed, specs
