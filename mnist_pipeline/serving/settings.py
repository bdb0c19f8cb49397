"""The server's settings: every limit and timeout, with the `serve` option that sets it and its help.

One place, so `serve --help`, the app and the connection guard cannot disagree on a limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import click

MIB = 2**20


@dataclass(frozen=True)
class Settings:
    model: str  # path of the TFLite export
    name: str = "mnist"
    max_body_bytes: int = 16 * MIB  # a phone photo fits; a 1024-image JSON batch takes ~3 MB
    max_instances: int = 1024
    reload_interval: float = 1.0  # seconds between looks at the export on disk; 0: never reload
    image_threads: int = 2
    parse_processes: int = 2  # worker processes that parse large JSON bodies off the event loop
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: int = 5
    max_connections: int = 512
    cors_origins: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        values = json.loads(text)
        return cls(**{**values, "cors_origins": tuple(values["cors_origins"])})


def _option(name: str, kind: Any, help: str, **extra: Any) -> Callable[[Callable], Callable]:
    return click.option(name, type=kind, help=help, **{"show_default": True, **extra})


DEFAULTS = {field.name: field.default for field in fields(Settings)}
OPTIONS = [
    _option("--name", str, "Model name in the URLs: /v1/models/NAME:predict, /v2/models/NAME/infer.", default="mnist"),
    _option("--max-body-mb", click.FloatRange(min=0.001), "Largest request body (413 beyond).", default=16.0),
    _option("--max-instances", click.IntRange(min=1), "Most images per request (400 beyond).", default=1024),
    _option(
        "--reload-interval",
        click.FloatRange(min=0),
        "Seconds between looks at the model, labels.txt and exports.json for a new export (0: never reload).",
        default=DEFAULTS["reload_interval"],
    ),
    _option(
        "--parse-processes",
        click.IntRange(min=1),
        "Processes that parse JSON bodies of 1 MiB or more, so a big body never stalls other requests.",
        default=DEFAULTS["parse_processes"],
    ),
    _option(
        "--header-timeout",
        click.FloatRange(min=0.01),
        "Seconds a client has to send a request's headers, from connecting or from the first byte of its next "
        "request on a kept-alive connection; then the connection is closed.",
        default=DEFAULTS["header_timeout"],
    ),
    _option(
        "--body-timeout",
        click.FloatRange(min=0.01),
        "Seconds a client has to send a request's body once its headers are in (408 beyond).",
        default=DEFAULTS["body_timeout"],
    ),
    _option(
        "--keep-alive-timeout",
        click.IntRange(min=1),
        "Seconds an idle keep-alive connection is kept after a response.",
        default=DEFAULTS["keep_alive_timeout"],
    ),
    _option(
        "--max-connections",
        click.IntRange(min=1),
        "Most open connections per process; at the cap a new one replaces an idle one, or is closed if none is idle.",
        default=DEFAULTS["max_connections"],
    ),
    _option(
        "--cors-origin",
        str,
        "Let browser pages from this origin (e.g. https://example.org) call the API; repeat for several.",
        multiple=True,
        default=(),
        show_default=False,
    ),
]


def settings_options(command: Callable) -> Callable:
    """Every option above, in order, on a click command."""
    for option in reversed(OPTIONS):
        command = option(command)
    return command


def settings_from(model: str, max_body_mb: float, cors_origin: tuple[str, ...], **values: Any) -> Settings:
    """The settings from the values of `settings_options`' options."""
    return Settings(model=model, max_body_bytes=int(max_body_mb * MIB), cors_origins=cors_origin, **values)
