"""The one place TensorFlow is imported, so its start-up noise is silenced once for every stage.

Stages that must stay light (download, prepare, predict) never import this module.
"""

import os
import sys
from typing import NoReturn

from mnist_pipeline.native_stderr import native_stderr_silenced

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

with native_stderr_silenced():
    import keras
    import tensorflow as tf

__all__ = ["exit_now", "keras", "tf"]


def exit_now() -> NoReturn:
    """End a finished stage without TensorFlow's interpreter-exit teardown.

    Tearing down TensorFlow's thread pools and graphs takes ~0.8 s per process and does
    nothing a stage needs: by the time a stage calls this, every artifact has been
    written, closed and renamed into place. Three stages import TensorFlow, so this is
    ~2.4 s of every `dvc repro` and `dvc exp run`.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
