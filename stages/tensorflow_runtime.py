"""The one place TensorFlow is imported, so its start-up noise is silenced once for every stage.

TensorFlow's C++ core logs banners (oneDNN notices, absl warnings) while its shared
libraries load, before `TF_CPP_MIN_LOG_LEVEL` is consulted. We capture file descriptor 2
for the duration of the import and replay it only if the import fails, so users see
their errors and not the noise. Stages that must stay light (prepare, predict) never
import this module.
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _import_quietly():  # noqa: ANN202 - returns the two modules
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras
            import tensorflow as tf

        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return keras, tf


keras, tf = _import_quietly()

__all__ = ["keras", "tf"]
