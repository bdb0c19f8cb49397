"""`serve`: answer TF Serving REST, Open Inference Protocol v2 and image requests, and the drawing page.

A thin command: the app is `server.create_app`, its limits `settings`, and connections
are guarded by `connections.GuardedProtocol`. Never imports TensorFlow, so it is ready to
answer in well under a second.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import click
import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from mnist_pipeline.errors import report_errors
from mnist_pipeline.serving.connections import GuardedProtocol
from mnist_pipeline.serving.model_loading import load_model, model_option
from mnist_pipeline.serving.server import SETTINGS_ENV, create_app
from mnist_pipeline.serving.settings import settings_from, settings_options


def log_config() -> dict:
    """uvicorn's logging (one access line per request), with the server's own messages formatted alike."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mnist_pipeline.serving"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@model_option("TFLite model written by the export stage (any flavour); labels.txt beside it names the classes.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8501, show_default=True, help="TF Serving's REST port.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Server processes.")
@settings_options
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="One log line per request.")
@report_errors
def main(model: Path, host: str, port: int, workers: int, access_log: bool, **options: Any) -> None:
    """Serve the exported model over HTTP until interrupted.

    TF Serving's REST API (/v1/models/NAME:predict, /v1/models/NAME[/metadata]), the Open
    Inference Protocol v2 (/v2/models/NAME/infer, JSON or binary tensors), image uploads
    (/v1/models/NAME:classify-image), /healthz, /readyz, and a page at / to draw on. When
    the export changes on disk (dvc checkout, dvc exp apply), the new model is loaded and
    swapped in between requests; if it cannot be loaded, the old one keeps serving and
    /readyz says why. Every limit below answers with a 4xx and a JSON error.
    """
    settings = settings_from(str(model), **options)
    if workers == 1:
        app: Starlette | str = create_app(settings)  # a missing or broken model: one line, from create_app
    else:
        load_model(model)  # the same check, before any worker starts
        os.environ[SETTINGS_ENV] = settings.to_json()
        app = "mnist_pipeline.serving.server:app_from_environment"  # each worker process builds its own
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        http=GuardedProtocol,
        timeout_keep_alive=settings.keep_alive_timeout,
        log_config=log_config(),
        access_log=access_log,
    )


if __name__ == "__main__":
    main()
