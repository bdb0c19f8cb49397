"""The HTML page `dvc plots show` and `dvc plots diff` fill in, made to render without network.

DVC's default page loads Vega, Vega-Lite and Vega-Embed from cdn.jsdelivr.net, so its
charts stay blank offline. DVC lets a project bring its own page (the `plots.html_template`
setting in `.dvc/config`). This one inlines the three libraries as vl-convert-python, a
pinned dependency, bundles them: no JavaScript is committed, fetched or installed with npm.
It has DVC's `{plot_divs}` and `{refresh_tag}` placeholders but not `{scripts}`, which is
where DVC would put its CDN `<script>` tags.
"""

from __future__ import annotations

from importlib.metadata import version

import vl_convert
from dvc_render.html import HTML

# DVC's plot templates are Vega-Lite v5 specs ($schema .../vega-lite/v5.json).
VEGA_LITE_MAJOR = 5
PLACEHOLDERS = tuple(
    "{" + name + "}" for name in (HTML.SCRIPTS_PLACEHOLDER, HTML.PLOTS_PLACEHOLDER, HTML.REFRESH_PLACEHOLDER)
)

# The bundle runs in its own function scope, so that its many one-letter top-level names
# cannot collide with the `var spec` each of DVC's chart scripts declares; it publishes
# `vegaEmbed`, `vega` and `vegaLite` on `window`, which is all DVC's scripts call.
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh}
    <title>DVC Plot</title>
    <!-- {versions}: inlined, this page loads nothing from the network -->
    <script>(() => {{
{bundle}
}})();</script>
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {plots}
</body>
</html>
"""


def vega_lite_version(available: list[str], major: int = VEGA_LITE_MAJOR) -> str:
    """The newest `major.minor` Vega-Lite among those vl-convert bundles, for DVC's v5 specs."""
    matching = [name for name in available if int(name.split(".")[0]) == major]
    if not matching:
        raise ValueError(f"vl-convert bundles no Vega-Lite {major}.x (only {', '.join(available)})")
    return max(matching, key=lambda name: tuple(int(part) for part in name.split(".")))


def check_inlinable(script: str) -> None:
    """A script inlined in the page must not end the `<script>` element early, nor hold text
    that DVC would replace (its placeholders)."""
    if "</script" in script.lower():
        raise ValueError("the JavaScript bundle contains '</script', which would end the inline <script> early")
    found = [placeholder for placeholder in PLACEHOLDERS if placeholder in script]
    if found:
        raise ValueError(f"the JavaScript bundle contains DVC's placeholder {found[0]}, which DVC would overwrite")


def page_template(bundle: str, versions: str) -> str:
    """The page: `bundle` inlined, DVC's placeholders for the charts and the auto-refresh tag."""
    check_inlinable(bundle)
    return PAGE.format(
        refresh="{" + HTML.REFRESH_PLACEHOLDER + "}",
        versions=versions,
        bundle=bundle,
        plots=HTML.PLOTS_PLACEHOLDER_FORMAT_STR,
    )


def library_versions() -> tuple[str, str]:
    """The Vega-Lite version to bundle, and the page comment naming every library's version."""
    vega_lite = vega_lite_version(vl_convert.get_vegalite_versions())
    versions = (
        f"Vega {vl_convert.get_vega_version()}, Vega-Lite {vega_lite}, Vega-Embed {vl_convert.get_vega_embed_version()} "
        f"from vl-convert-python {version('vl-convert-python')}"
    )
    return vega_lite, versions


def is_current(page: str, versions: str) -> bool:
    """Whether `page` is what `page_template` makes of some bundle and these `versions`: the bundle depends on
    nothing else (vl-convert-python bundles the versions it names), so bundling again would give this page."""
    marker = "/*bundle*/"
    head, tail = page_template(marker, versions).split(marker)
    if len(page) < len(head) + len(tail) or not (page.startswith(head) and page.endswith(tail)):
        return False
    try:
        check_inlinable(page[len(head) : len(page) - len(tail)])
    except ValueError:
        return False
    return True


def offline_plots_template(previous: str | None = None) -> str:
    """The page with the libraries of the installed vl-convert-python.

    `previous`, the page the stage wrote last (dvc.yaml keeps it: `persist`), is returned as it is when it is
    current: bundling takes ~2 s of CPU, and the stage re-runs on every change to the library's code.
    """
    vega_lite, versions = library_versions()
    if previous is not None and is_current(previous, versions):
        return previous
    # the package's stub marks `snippet` required; it is optional, with a default snippet (see its docstring)
    bundle = vl_convert.javascript_bundle(vl_version=vega_lite)  # type: ignore[call-arg]
    return page_template(bundle, versions)
