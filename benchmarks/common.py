"""What both benchmarks share: timed child processes, a copy of the project, the machine's description."""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.project import ROOT, environment

GIB = 1024**3


class MissingFigure(LookupError):
    """The measurements lack a figure a results table shows: the run fails rather than publish a blank cell."""


@dataclass
class Proc:
    args: list[str]
    wall_s: float
    max_rss_kib: int  # of the process and every descendant it waited for (Linux ru_maxrss; see `rss_floor_kib`)
    returncode: int
    stdout: str
    stderr: str
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, stdout line)


def run(args: list[str], cwd: Path, check: bool = True) -> Proc:
    """Run to completion, timing the wall clock and taking the peak RSS from `wait4`."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            args, cwd=cwd, env=environment(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True
        )
        stdout = typing.cast(typing.IO[str], proc.stdout)  # a pipe: stdout=PIPE
        lines = [(time.perf_counter() - started, line.rstrip("\n")) for line in stdout]
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    result = Proc(args, wall, usage.ru_maxrss, proc.returncode, "\n".join(text for _, text in lines), stderr, lines)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + "\n" + result.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{tail}")
    return result


def rss_floor_kib() -> int:
    """The least max RSS a child can report: Linux starts a child's peak from its parent's at exec.

    So the process that measures must stay small (no TensorFlow, no big arrays) while it
    starts the processes it measures, and reports this floor beside the figures.
    """
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# A minimal Python that starts the command, waits for it and reports as JSON: the command's max RSS
# then starts from this small process's, not from the (maybe large) benchmark's.
_SPAWN = """
import json, os, subprocess, sys, tempfile, time
with tempfile.TemporaryFile() as err:
    started = time.perf_counter()
    proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err.seek(0)
    print(json.dumps({"wall_s": wall, "max_rss_kib": usage.ru_maxrss, "returncode": proc.returncode,
                      "stdout": out.decode(errors="replace"), "stderr": err.read().decode(errors="replace")}))
"""


def run_small(args: list[str], cwd: Path, check: bool = True) -> Proc:
    """Like `run`, but started from a minimal Python process, so the max RSS is the command's own.

    The wall time is measured by that process too: its own start-up is not counted.
    """
    outer = run([sys.executable, "-c", _SPAWN, *args], cwd, check=True)
    report = json.loads(outer.stdout.strip().splitlines()[-1])
    result = Proc(
        args, report["wall_s"], report["max_rss_kib"], report["returncode"], report["stdout"], report["stderr"]
    )
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + "\n" + result.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{tail}")
    return result


def copy_project(target: Path, params: dict[str, dict[str, Any]]) -> Path:
    """A fresh git repository holding the project's files as a clone would, `params` merged into params.yaml.

    The files are the working tree's (tracked or not ignored), so uncommitted changes are
    measured too; `code_version` records which.
    """
    listing = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT).stdout
    for name in filter(None, listing.split("\0")):
        if (ROOT / name).is_file():  # a file deleted but not yet committed is still listed
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    write_params(target / "params.yaml", params)
    run(["git", "init", "-q", "-b", "main"], target)
    run(["git", "add", "-A"], target)
    run(["git", "commit", "-qm", "project"], target)
    return target


def write_params(path: Path, changes: dict[str, dict[str, Any]], source: Path | None = None) -> None:
    """`source` (default: `path`) with the keys of each group in `changes` replaced."""
    content = yaml.safe_load((source or path).read_text(encoding="utf-8"))
    for group, values in changes.items():
        content[group].update(values)
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def detect_dataset(folder: Path) -> str:
    """`mnist` or `fashion_mnist` if the files are those (by content hash), else `custom`."""
    from mnist_pipeline.data.datasets import DATASETS

    labels = "train-labels-idx1-ubyte.gz"
    digest = hashlib.sha256(gzip.decompress((folder / labels).read_bytes())).hexdigest()
    for name, dataset in DATASETS.items():
        if dataset.sha256.get(labels) == digest:
            return name
    return "custom"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(*names: str) -> str:
        for name in names:
            try:
                return importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
        return "?"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
        "python": platform.python_version(),
        "tensorflow": version("tensorflow-cpu", "tensorflow"),
        "keras": version("keras"),
        "dvc": version("dvc"),
        "numpy": version("numpy"),
        "kernel": platform.release(),
    }


def code_version() -> dict[str, Any]:
    """The commit of the checkout being measured, and which files of it differ (copies take the working tree)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    # each line is `XY path`; X is a space for a file changed but not staged, so no strip()
    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=all").splitlines()]
    return {
        "commit": git("rev-parse", "--short=12", "HEAD").strip(),
        "uncommitted": sorted(path for path in changed if not path.startswith("benchmarks/")),
    }


def without_local_paths(text: str, replacements: dict[str, str]) -> str:
    """Results are committed: no scratch, data or checkout paths of this machine in them."""
    for path, name in sorted(replacements.items(), key=lambda item: -len(item[0])):
        text = text.replace(path, name)
    return text
