"""What tests (and benchmarks) share: the project's root, a small generated dataset a model can learn, running
commands as dvc.yaml runs them, and throw-away git copies of the project."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mnist_pipeline.data.datasets import FILES, LABELS_FILE
from mnist_pipeline.data.idx import write_idx_gz

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SHARED_FASHION = ROOT.parent / "shared" / "datasets" / "fashion-mnist"


def synthetic_digits(count: int, seed: int, num_classes: int = 10, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Images a small model can learn: each class is a bright bar at its own place and angle, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % num_classes
    rng.shuffle(labels)
    rows, cols = np.mgrid[0:size, 0:size]
    images = rng.integers(0, 60, size=(count, size, size)).astype(np.float64)
    for index, label in enumerate(labels):
        angle = np.pi * label / num_classes
        offset = rng.normal(0, 1.0, 2)
        distance = np.abs((rows - size / 2 - offset[0]) * np.cos(angle) - (cols - size / 2 - offset[1]) * np.sin(angle))
        images[index] += 200 * (distance < 2.0)
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def tree_digests(root: Path, *paths: str) -> dict[str, str]:
    """SHA-256 of every file under `root` (or only under its `paths`, files or folders), by POSIX path from `root`.

    Equal results mean byte-identical trees; a missing path contributes nothing.
    """
    targets = [root / path for path in paths] or [root]
    files = [file for target in targets for file in ([target] if target.is_file() else sorted(target.rglob("*")))]
    return {
        file.relative_to(root).as_posix(): hashlib.sha256(file.read_bytes()).hexdigest()
        for file in files
        if file.is_file()
    }


def write_dataset(folder: Path, train: int = 1200, test: int = 300, names: list[str] | None = None) -> Path:
    """Four MNIST-format .gz files (and optionally labels.txt) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [*synthetic_digits(train, seed=1), *synthetic_digits(test, seed=2)]
    for filename, array in zip(FILES, arrays):
        (folder / filename).write_bytes(write_idx_gz(array))
    if names is not None:
        (folder / LABELS_FILE).write_text("\n".join(names) + "\n")
    return folder


GIT_IDENTITY = {"NAME": "pipeline tests", "EMAIL": "tests@example.invalid"}  # the copies' commits


def environment() -> dict[str, str]:
    """The virtualenv first on PATH (dvc runs `python -m stages...`), no analytics, a git identity, no cluster."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        **{f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER") for what, value in GIT_IDENTITY.items()},
    }
    env.pop("TF_CONFIG", None)
    return env


def run(args: list[str], cwd: Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command with the project's virtualenv first on PATH (dvc runs `python -m stages...`)."""
    result = subprocess.run(args, cwd=cwd, env=environment(), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@contextmanager
def queue_started(project: Path, jobs: int) -> Generator[None, None, None]:
    """`dvc queue start -j jobs` for the duration of the block, then `dvc queue stop --kill`.

    The command's output goes to a file, not to a pipe: the workers it spawns inherit its
    stdout, and a celery worker that hangs on shutdown (it happens, now and then) would hold
    a pipe open, and a test reading it would wait forever.
    """
    log = project / ".dvc" / "tmp" / "queue-start.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = ["dvc", "queue", "start", "-j", str(jobs)]
    with log.open("w", encoding="utf-8") as out:
        started = subprocess.run(command, cwd=project, env=environment(), stdout=out, stderr=subprocess.STDOUT)
    try:
        if started.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({started.returncode}):\n{log.read_text()}")
        yield
    finally:
        run(["dvc", "queue", "stop", "--kill"], project, check=False, timeout=60)


def experiments(project: Path) -> dict[str, dict]:
    """name -> {"state": executor state or None, "data": its params and metrics} from `dvc exp show --json`."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project, timeout=120).stdout)
    return {
        experiment["name"]: {
            "state": (experiment.get("executor") or {}).get("state"),
            "data": (experiment.get("revs") or [{}])[0].get("data") or {},
        }
        for commit in shown
        for experiment in commit.get("experiments") or []
    }


def queue_states(project: Path) -> dict[str, str] | None:
    """name -> status ("Queued", "Running", "Success", "Failed"…) from `dvc queue status`; None if it failed.

    The queue is watched with `queue status`, not `exp show`: `exp show` reads the running
    experiments' temporary git repositories, and one removed under it makes it fail, or hang
    for good inside pygit2 (seen in CI; DVC's issue 8762 and its kin).
    """
    try:
        shown = run(["dvc", "queue", "status"], project, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    return parse_queue_status(shown.stdout) if shown.returncode == 0 else None


def parse_queue_status(text: str) -> dict[str, str]:
    """name -> status from `dvc queue status`'s table (Task, Name, Created, Status), its worker line left out."""
    rows = [line.split() for line in text.splitlines()[1:]]
    return {row[1]: row[-1] for row in rows if len(row) >= 4 and row[0] != "Worker"}


def wait_for_queue(project: Path, count: int, timeout: float, poll: float = 3) -> dict[str, dict]:
    """Wait until `count` queued experiments have ended, then `experiments`; all must have succeeded.

    Fails with every experiment's status and each unsuccessful one's log otherwise.
    """
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = queue_states(project) or states
        if len(states) >= count and all(state not in ("Queued", "Running") for state in states.values()):
            break
        time.sleep(poll)
    failed = [name for name, state in states.items() if state != "Success"]
    if len(states) >= count and not failed:
        return experiments(project)
    logs = "\n".join(run(["dvc", "queue", "logs", name], project, check=False, timeout=60).stdout for name in failed)
    raise AssertionError(f"{count} queued experiments did not all succeed within {timeout:.0f} s: {states}\n{logs}")


def run_module(module: str, args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m module args` in `cwd`, as dvc.yaml runs a stage, this project first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", module, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def tracked_files() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    )
    return [name for name in listing.stdout.splitlines() if (ROOT / name).is_file()]


def copy_project(target: Path, params: dict[str, dict[str, object]] | None = None) -> Path:
    """A fresh git repository holding the project's files (what a clone would have), params patched."""
    for name in tracked_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)
    if params:
        set_params(target, params)
    run(["git", "init", "-q", "-b", "main"], target)
    run(["git", "add", "-A"], target)
    run(["git", "commit", "-qm", "project"], target)
    return target


def set_params(project: Path, params: dict[str, dict[str, object]]) -> None:
    import yaml

    path = project / "params.yaml"
    content = yaml.safe_load(path.read_text())
    for group, values in params.items():
        content[group].update(values)
    path.write_text(yaml.safe_dump(content, sort_keys=False))


FAST_TRAIN = {"epochs": 2, "batch_size": 32}


def synthetic_data(folder: Path) -> dict[str, object]:
    """data params for write_dataset's files: a tenth held out, a dozen validation images per class."""
    return {"dataset": "custom", "source": str(folder), "val_size": 0.1}


FAST_EXPORT = {"representative_samples": 50}
