"""Run a stage module as `python -m` does, recording the params keys it reads and the files it opens.

    python -m tests.support.record_reads RECORD.json ROOT[:ROOT...] stages.<name> [stage options]

Params: every access to a field of a params group (`p.train.epochs`) is recorded as
`train.epochs`; `model_dump()` of a group reads all of its keys. Validation is not a
read: pydantic fills the models without attribute access. Files: an audit hook on the
"open" event (`open()` by Python code: ours, NumPy, zipfile, PIL, dvclive; not files
TensorFlow opens from C++) keeps the paths under the ROOTs, split into reads and writes. The record is written
when the stage ends, including through `os._exit` (the TensorFlow stages skip teardown).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

from mnist_pipeline.params import Params


class Recorder:
    def __init__(self, roots: list[Path]) -> None:
        self.roots = [root.resolve() for root in roots]
        self.params: set[str] = set()
        self.reads: set[str] = set()
        self.writes: set[str] = set()

    def record_params(self) -> None:
        """Wrap attribute access of every params group so that reading a key leaves a trace."""
        recorder = self
        for group, field in Params.model_fields.items():
            model = field.annotation
            keys = list(model.model_fields)

            def getattribute(self: Any, name: str, group: str = group, keys: list[str] = keys) -> Any:
                if name in keys:
                    recorder.params.add(f"{group}.{name}")
                elif name in ("model_dump", "model_dump_json"):
                    recorder.params.update(f"{group}.{key}" for key in keys)
                return object.__getattribute__(self, name)

            model.__getattribute__ = getattribute

    def audit(self, event: str, args: tuple) -> None:
        """Files opened with `open()`; `os.open` (mode None) is skipped: its relative paths may be to a
        `dir_fd` (shutil.rmtree's), so they cannot be placed, and file reads go through `open()`.
        A read of a path that is not a file fails and reads nothing (e.g. an import hook's entry of sys.path)."""
        if event != "open" or args[1] is None or not isinstance(args[0], (str, os.PathLike)):
            return
        path = Path(os.path.abspath(args[0]))
        if not any(path.is_relative_to(root) for root in self.roots):
            return
        if any(c in args[1] for c in "wax+"):
            self.writes.add(str(path))
        elif path.is_file():
            self.reads.add(str(path))

    def dump(self, path: str) -> None:
        record = {"params": sorted(self.params), "reads": sorted(self.reads), "writes": sorted(self.writes)}
        Path(path).write_text(json.dumps(record, indent=1), encoding="utf-8")


def main() -> None:
    record_path, roots, module, *options = sys.argv[1:]
    recorder = Recorder([Path(root) for root in roots.split(os.pathsep)])
    recorder.record_params()
    sys.addaudithook(recorder.audit)
    real_exit = os._exit

    def exit_after_dump(code: int) -> None:
        recorder.dump(record_path)
        real_exit(code)

    os._exit = exit_after_dump
    sys.argv = [module, *options]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        recorder.dump(record_path)


if __name__ == "__main__":
    main()
