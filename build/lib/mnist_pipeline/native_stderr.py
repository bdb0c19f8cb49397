"""Silencing the log banners that TensorFlow's and LiteRT's C++ code print straight to stderr.

They bypass Python logging and `TF_CPP_MIN_LOG_LEVEL` ("oneDNN custom operations are
on", "Created TensorFlow Lite XNNPACK delegate", converter statistics), so we capture
file descriptor 2 around the calls that print them and replay the capture only if the
call fails: users see their errors, not the noise.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Generator


@contextlib.contextmanager
def native_stderr_silenced() -> Generator[None, None, None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
