"""Errors a user can fix, and how a command reports them.

Anything that is the user's doing (a bad value in params.yaml, a corrupt download, a
missing file) is raised as a `PipelineError` subclass and reported as one line on
stderr with a distinct exit status; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

P = ParamSpec("P")
R = TypeVar("R")


class PipelineError(Exception):
    """An error the user can fix; the message says what went wrong and how to fix it."""

    exit_code = 1


class ParamsError(PipelineError):
    """params.yaml (or a --set-param value) is invalid. Exit status 2, like a usage error."""

    exit_code = 2


class DataError(PipelineError):
    """Input data is missing, corrupt or not what it claims to be."""


class DownloadError(DataError):
    """No source could deliver a file."""


class GateError(PipelineError):
    """The model was not blessed (the floor, or worse than the baseline), so it must not be exported."""


def report_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a `PipelineError` into one line on stderr and its exit status; no traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except PipelineError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)

    return wrapper
