"""The drawing page in a real browser: headless Chromium draws a stroke with pointer events and reads the answer.

Debian's `chromium` driven through Selenium with Debian's `chromium-driver` (no browser
download). The screenshot is kept as test-artifacts/draw-page.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import find_chromium, unavailable
from tests.support.process import ROOT, Server, running_server
from tests.support.serving_fixtures import ExportDir, export_dir, tiny_setup  # noqa: F401 - fixtures

ARTIFACTS = ROOT / "test-artifacts"
# no host name resolves, so nothing from a CDN could load: the page must bring everything it needs
ONLY_LOCAL = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",)
INSTALL_DRIVER = "chromedriver not found: install it (Debian/Ubuntu: `apt-get install -y chromium-driver`)"


@pytest.fixture(scope="module")
def server(export_dir: ExportDir, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(export_dir.model(), tmp_path_factory.mktemp("page") / "serve.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not Path(driver_path).is_file():
        unavailable(INSTALL_DRIVER)
    options = webdriver.ChromeOptions()
    options.binary_location = find_chromium()
    # nothing but the server is reachable, so the page must bring everything it needs (no CDN)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=480,900", *ONLY_LOCAL):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def draw(driver: object, canvas: object, points: list[tuple[float, float]]) -> None:
    """One stroke through `points` (fractions of the canvas), with pointer down, moves and up."""
    from selenium.webdriver.common.action_chains import ActionChains

    size = canvas.size
    to_offset = [((x - 0.5) * size["width"], (y - 0.5) * size["height"]) for x, y in points]
    actions = ActionChains(driver, duration=20).move_to_element_with_offset(canvas, *to_offset[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(to_offset, to_offset[1:]):
        actions.move_by_offset(x1 - x0, y1 - y0)
    actions.release().perform()


def guesses(driver: object) -> list[str]:
    """The lines of the guess list, read in one go (the page replaces them while it updates)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#guesses li'), li => li.textContent.trim());"
    )


@pytest.mark.parametrize(
    ("label", "points"),
    [
        ("vertical", [(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)]),  # a vertical stroke
        ("horizontal", [(0.15, 0.5), (0.5, 0.5), (0.85, 0.5)]),  # a horizontal one
    ],
)
def test_drawing_a_stroke_shows_its_class(browser: object, server: Server, label: str, points: list) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/")
    draw(browser, browser.find_element(By.ID, "pad"), points)
    WebDriverWait(browser, 20).until(lambda d: (shown := guesses(d)) and shown[0].startswith(label))
    shown = guesses(browser)
    assert len(shown) == 3 and all(line.endswith("%") for line in shown)  # the three best, with probabilities
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"draw-page-{label}.png"))
    browser.find_element(By.ID, "clear").click()
    assert guesses(browser) == []
