"""The page template that makes `dvc plots show` render offline: Vega inlined, DVC's placeholders kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dvc_render import VegaRenderer, render_html
from dvc_render.vega_templates import TEMPLATES

from mnist_pipeline.evaluation.plots_template import (
    VEGA_LITE_MAJOR,
    check_inlinable,
    is_current,
    library_versions,
    offline_plots_template,
    page_template,
    vega_lite_version,
)
from tests.support.browser import find_chromium, rendered

EPOCHS = 6


@pytest.fixture(scope="module")
def template() -> str:
    return offline_plots_template()


def test_vega_lite_version_is_the_newest_of_the_major() -> None:
    assert vega_lite_version(["4.17", "5.8", "5.21", "5.9", "6.4"], major=5) == "5.21"
    with pytest.raises(ValueError, match="no Vega-Lite 5.x"):
        vega_lite_version(["6.1", "6.4"], major=5)


def test_dvc_templates_are_the_vega_lite_major_we_bundle() -> None:
    schemas = {template.DEFAULT_CONTENT["$schema"] for template in TEMPLATES}
    assert schemas == {f"https://vega.github.io/schema/vega-lite/v{VEGA_LITE_MAJOR}.json"}


@pytest.mark.parametrize("script", ["a = '</script>';", "a = '</SCRIPT >';", "a = '{plot_divs}';", "a = '{scripts}';"])
def test_a_script_that_would_break_the_page_is_refused(script: str) -> None:
    with pytest.raises(ValueError):
        check_inlinable(script)
    with pytest.raises(ValueError):
        page_template(script, "test")


def test_template_inlines_the_libraries_and_keeps_dvcs_placeholders(template: str) -> None:
    assert template.count("{plot_divs}") == 1 and template.count("{refresh_tag}") == 1
    assert "{scripts}" not in template, "DVC puts its CDN <script> tags there"
    assert re.findall(r"<script[^>]*>", template) == ["<script>"], "one inline script, nothing loaded by src"
    assert "window.vegaEmbed=" in template and "window.vega=" in template and "window.vegaLite=" in template
    assert not re.search(r"https?://cdn", template)


def test_a_current_page_is_kept_and_a_stale_one_rebuilt(template: str) -> None:
    _, versions = library_versions()
    assert is_current(template, versions)
    assert offline_plots_template(template) is template, "the same libraries and page code: not bundled again"
    stale = {
        "other libraries": template.replace(versions, "Vega 1, Vega-Lite 1, Vega-Embed 1 from vl-convert-python 0.1"),
        "other page code": template.replace("border-spacing: 15px", "border-spacing: 16px"),
        "cut short": template[: len(template) // 2],
        "a script that breaks the page": template.replace("window.vega=", "'</script>';window.vega="),
    }
    for why, page in stale.items():
        assert not is_current(page, versions), why
    assert offline_plots_template(stale["other page code"]) == template


def linear_page(folder: Path, template: str | None) -> Path:
    """A `dvc plots show` page of one linear plot with two series of EPOCHS points, as DVC renders it."""
    points = [
        {"step": step, "loss": 1 / step, "rev": "workspace", "filename": f"{split}/loss.tsv", "field": "loss"}
        for split in ("train", "val")
        for step in range(1, EPOCHS + 1)
    ]
    plot = VegaRenderer(points, "Loss", template="linear", x="step", y="loss", title="Loss")
    page = folder / "index.html"
    render_html([plot], page, html_template=template)
    return page


def test_template_page_renders_offline_with_its_data(tmp_path: Path, template: str) -> None:
    template_path = tmp_path / "template.html"
    template_path.write_text(template)
    page, specs = rendered(find_chromium(), linear_page(tmp_path / "offline", str(template_path)))
    (chart,) = specs
    assert len(page.labels(chart, "line mark")) == 2, "a curve per series"
    rules = page.labels(chart, "rule mark")  # the hover rule: one per x value
    assert sorted(int(re.search(r"step: (\d+)", rule).group(1)) for rule in rules) == list(range(1, EPOCHS + 1))
    assert any(f"values from 1 to {EPOCHS}" in axis for axis in page.labels(chart, "axis")), page.labels(chart, "axis")


def test_dvc_default_page_draws_nothing_offline(tmp_path: Path) -> None:
    """What the report test guards against: DVC's own page loads Vega from a CDN."""
    page = linear_page(tmp_path / "cdn", None)
    assert "cdn.jsdelivr.net" in page.read_text()
    with pytest.raises(AssertionError, match="Vega drew nothing"):
        rendered(find_chromium(), page)
