"""`serve`: answer TF Serving REST requests, image uploads and the drawing page with the TFLite export.

Runs the app of `mnist_pipeline.serving.server` on uvicorn. Never imports TensorFlow, so
it is ready to answer in well under a second.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import click
import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from mnist_pipeline.errors import report_errors
from mnist_pipeline.serving.models import load_model
from mnist_pipeline.serving.predict import model_option
from mnist_pipeline.serving.server import SETTINGS_ENV, Settings, create_app, settings_to_environment


def log_config() -> dict:
    """uvicorn's logging (one access line per request), with the server's own messages formatted alike."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mnist_pipeline.serving"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@model_option("TFLite model written by the export stage (any flavour); labels.txt beside it names the classes.")
@click.option("--name", default="mnist", show_default=True, help="Model name in the URLs: /v1/models/NAME:predict.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8501, show_default=True, help="TF Serving's REST port.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Server processes.")
@click.option(
    "--max-body-mb", type=click.FloatRange(min=0.001), default=16.0, show_default=True, help="Largest request body."
)
@click.option(
    "--max-instances", type=click.IntRange(min=1), default=1024, show_default=True, help="Most images per request."
)
@click.option(
    "--reload-interval",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the model file for a new export (0: never reload).",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="One log line per request.")
@report_errors
def main(
    model: Path,
    name: str,
    host: str,
    port: int,
    workers: int,
    max_body_mb: float,
    max_instances: int,
    reload_interval: float,
    access_log: bool,
) -> None:
    """Serve the exported model over HTTP until interrupted.

    TF Serving's REST API (POST /v1/models/NAME:predict with {"instances": ...} or
    {"inputs": ...}; GET /v1/models/NAME and /v1/models/NAME/metadata), image uploads
    (POST /v1/models/NAME:classify-image), /healthz, /readyz, and a page at / to draw
    a digit on. When the model file changes on disk (dvc checkout, dvc exp apply), the
    new model is loaded and swapped in between requests.
    """
    settings = Settings(
        model=str(model),
        name=name,
        max_body_bytes=int(max_body_mb * 2**20),
        max_instances=max_instances,
        reload_interval=reload_interval,
    )
    if workers == 1:
        app: Starlette | str = create_app(settings)  # a missing or broken model: one line, from create_app
    else:
        load_model(model)  # the same check, before any worker starts
        os.environ[SETTINGS_ENV] = settings_to_environment(settings)
        app = "mnist_pipeline.serving.server:app_from_environment"  # each worker process builds its own
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_config=log_config(),
        access_log=access_log,
    )


if __name__ == "__main__":
    main()
