"""The one place TensorFlow is imported, so its start-up noise is silenced once for every stage.

Stages that must stay light (prepare, predict) never import this module.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["keras", "tf"]
