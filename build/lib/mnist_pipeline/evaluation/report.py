"""A static report of the workspace's run, readable where no JavaScript runs: a pull request, a CI artifact.

One Markdown file with its pictures beside it: the metrics `dvc metrics show` prints,
every chart `dvc plots show` draws, rendered to SVG by vl-convert (no browser), the
images among the plots (the misclassified gallery), and the model card with its verdicts.
The charts and metrics are whatever `dvc.yaml` declares: DVC reads the definitions and
fills its templates, exactly as for `dvc plots show`, so the report cannot drift from it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vl_convert
from dvc.render.match import match_defs_renderers
from dvc.repo import Repo
from dvc_render import ImageRenderer

from mnist_pipeline.artifacts import atomic_path
from mnist_pipeline.errors import DataError
from mnist_pipeline.evaluation.plots_template import vega_lite_version

REPORT_FILE = "report.md"


@dataclass(frozen=True)
class Picture:
    """One picture of the report: its title, its file name in the report folder, its bytes."""

    title: str
    file: str
    content: bytes


def workspace_plots(repo: Repo) -> tuple[list[tuple[str, dict]], list[tuple[str, bytes]]]:
    """The workspace's plots as DVC draws them: (title, filled Vega-Lite spec) per chart, and
    (source path, bytes) per image, in dvc.yaml's order."""
    matched = match_defs_renderers(repo.plots.show(), templates_dir=repo.plots.templates_dir)
    failed = [
        f"{src}: {error}" for m in matched for errors in m.source_errors.values() for src, error in errors.items()
    ]
    failed += [str(error) for m in matched for error in m.definition_errors.values()]
    if failed:
        raise DataError(f"cannot draw every plot of dvc.yaml ({'; '.join(failed)}); run the pipeline first (dvc repro)")
    charts, images = [], []
    for renderer in (m.renderer for m in matched):
        if isinstance(renderer, ImageRenderer):
            images += [(point["filename"], data_uri_bytes(point["src"])) for point in renderer.datapoints]
        else:
            spec = renderer.get_filled_template()
            charts.append((chart_title(spec, renderer.name), spec))
    return charts, images


def workspace_metrics(repo: Repo) -> dict[str, dict]:
    """The metrics files `dvc metrics show` prints, by path."""
    (shown,) = repo.metrics.show(hide_workspace=False).values()  # the workspace only (named "" without git)
    if "error" in shown:
        raise DataError(f"cannot read the metrics ({shown['error']}); run the pipeline first (dvc repro)")
    files = shown["data"]
    failed = [f"{path}: {content['error']}" for path, content in files.items() if "error" in content]
    if failed:
        raise DataError(f"cannot read every metrics file ({'; '.join(failed)}); run the pipeline first (dvc repro)")
    return {path: content["data"] for path, content in sorted(files.items())}


def data_uri_bytes(uri: str) -> bytes:
    """The bytes of a base64 `data:` URI (how DVC hands over an image plot)."""
    header, _, payload = uri.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise ValueError(f"not a base64 data URI: {uri[:40]!r}")
    return base64.b64decode(payload)


def chart_title(spec: dict, fallback: str) -> str:
    title = spec.get("title")
    text = title.get("text") if isinstance(title, dict) else title
    return str(text or fallback)


def file_name(number: int, name: str, suffix: str) -> str:
    """The report's `number`th picture's file: `3, "Confusion matrix (test)", ".svg"` -> `03-confusion-matrix-test.svg`.

    The number keeps names unique and in the report's order whatever the titles."""
    return f"{number:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}{suffix}"


def flatten(metrics: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested metrics as (dotted key, value) rows, the names `dvc metrics show` gives them."""
    if not isinstance(metrics, dict):
        return [(prefix, metrics)]
    return [row for key, value in metrics.items() for row in flatten(value, f"{prefix}.{key}" if prefix else str(key))]


def cell(value: Any) -> str:
    """A Markdown table cell: a `|` in a class name must not split it."""
    return str(value).replace("|", "\\|")


def metrics_tables(files: dict[str, dict]) -> str:
    """One Markdown table per metrics file."""
    sections = []
    for path, metrics in files.items():
        rows = "\n".join(f"| {cell(key)} | {cell(value)} |" for key, value in flatten(metrics))
        sections.append(f"### `{path}`\n\n| metric | value |\n|---|---|\n{rows}")
    return "\n\n".join(sections)


def demote(markdown: str) -> str:
    """Headings one level down: the model card's title becomes a section of the report."""
    return re.sub(r"^(#+) ", r"#\1 ", markdown, flags=re.M)


def report_markdown(metrics: dict[str, dict], pictures: list[Picture], model_card: str) -> str:
    """The report: metrics, plots, then the model card (data, training, verdicts) as its last section."""
    sections = [
        "# Run report",
        "What `dvc metrics show` and `dvc plots show` give for this run, as Markdown and pictures.",
        "## Metrics",
        metrics_tables(metrics),
        "## Plots",
        *[f"### {picture.title}\n\n![{picture.title}]({picture.file})" for picture in pictures],
        demote(model_card.strip()),
    ]
    return "\n\n".join(sections) + "\n"


def pictures(charts: list[tuple[str, dict]], images: list[tuple[str, bytes]]) -> list[Picture]:
    """The charts drawn as SVG by the Vega-Lite `dvc plots show` uses, then the images as they are."""
    version = vega_lite_version(vl_convert.get_vegalite_versions())
    drawn = [
        (title, title, ".svg", vl_convert.vegalite_to_svg(spec, vl_version=version).encode()) for title, spec in charts
    ]
    kept = [(source, Path(source).stem, Path(source).suffix, content) for source, content in images]
    return [
        Picture(title, file_name(number, name, suffix), content)
        for number, (title, name, suffix, content) in enumerate(drawn + kept, start=1)
    ]


def write_report(root: Path, model_card: Path, out: Path) -> Path:
    """Write the report of the project at `root` into the folder `out` (replaced whole); return the Markdown file."""
    try:
        card = model_card.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(
            f"{model_card}: cannot read the model card ({error.strerror}); run the pipeline first (dvc repro)"
        ) from None
    with Repo(str(root)) as repo:
        charts, images = workspace_plots(repo)
        metrics = workspace_metrics(repo)
    drawn = pictures(charts, images)
    with atomic_path(out) as folder:
        folder.mkdir(parents=True)
        for picture in drawn:
            (folder / picture.file).write_bytes(picture.content)
        (folder / REPORT_FILE).write_text(report_markdown(metrics, drawn, card), encoding="utf-8")
    return out / REPORT_FILE
