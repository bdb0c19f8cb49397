"""The one place TensorFlow is imported, so its start-up noise is silenced once for every stage.

Stages that must stay light (download, prepare, predict) never import this module.
"""

import os

from mnist_pipeline.native_stderr import native_stderr_silenced

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

with native_stderr_silenced():
    import keras
    import tensorflow as tf

__all__ = ["keras", "tf"]
