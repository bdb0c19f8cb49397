"""How a finished stage ends: at once, without the interpreter's teardown."""

import os
import sys
from typing import NoReturn


def exit_now() -> NoReturn:
    """End a finished stage without the interpreter-exit teardown of the native libraries it loaded.

    Tearing down TensorFlow's thread pools and graphs takes ~0.8 s per process (train,
    export), vl-convert's JavaScript runtime and DVC's repository ~0.5 s (report), and
    does nothing a stage needs: by the time a stage calls this, every artifact has been
    written, closed and renamed into place, so this is seconds of every `dvc repro` and
    `dvc exp run`.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
