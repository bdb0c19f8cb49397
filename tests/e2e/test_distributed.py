"""tf.distribute: two workers on localhost, MirroredStrategy on one device, and who counts as the chief.

The multi-worker test runs the train stage twice at once, as two processes of one
TF_CONFIG cluster on 127.0.0.1, and checks what the README promises: every worker
trains, they end with the same weights, only the chief writes, and the result is the
single-process result up to dropout masks and float reduction order.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

from tests.support.project import BIN, ROOT, run, set_params, synthetic_data, write_dataset

PYTHON = str(BIN / "python")
WORKERS = 2
CLUSTER_TIMEOUT_S = 240

# Runs the train stage exactly as `python -m stages.train` does (runpy executes the
# module as __main__ with the same arguments), with one addition: after `fit` returns,
# every worker, chief or not, writes a SHA-256 of its weights to $WEIGHTS_DIGEST_FILE.
# That file lies outside the worker's output paths, so "worker 1 wrote nothing" stays
# checkable. (The stage itself has no option to report its weights.)
OBSERVED_TRAIN = """
import hashlib, os, runpy, sys

import numpy as np

import mnist_pipeline.model.training as training

real_fit = training.fit


def observed_fit(trainer, *args, **kwargs):
    history = real_fit(trainer, *args, **kwargs)
    digest = hashlib.sha256()
    for weights in trainer.model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    with open(os.environ["WEIGHTS_DIGEST_FILE"], "w") as handle:
        handle.write(digest.hexdigest() + "\\n")
    return history


training.fit = observed_fit
sys.argv = ["stages.train", *sys.argv[1:]]
runpy.run_module("stages.train", run_name="__main__", alter_sys=True)
"""


def free_ports(count: int) -> list[int]:
    """Ports the OS says are free (all bound at once, so they are distinct), released for the workers."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def weights_digest(weights: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for array in weights:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def params_file(folder: Path, train: dict[str, object]) -> Path:
    """A copy of the project's params.yaml with `train` values patched."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    set_params(folder, {"train": train})
    return folder / "params.yaml"


def train_args(params: Path, data: Path, out: Path) -> list[str]:
    return [
        "--params", str(params), "--data", str(data),
        "--model", str(out / "model.keras"), "--live-dir", str(out / "live"), "--no-progress",
    ]  # fmt: skip


def read_metrics(out: Path) -> dict:
    return json.loads((out / "live" / "metrics.json").read_text())


def last_epoch(out: Path, split: str) -> dict[str, float]:
    """The last row of each of the split's curves: the training split is in the curves, not the summary."""
    folder = out / "live" / "plots" / "metrics" / split
    return {name: float(read_tsv(folder / f"{name}.tsv")[-1][name]) for name in ("loss", "accuracy")}


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small prepared dataset (360 train, 40 val images), made by the prepare stage itself."""
    base = tmp_path_factory.mktemp("distributed_data")
    raw = write_dataset(base / "raw", train=400, test=100, names=[f"bar{i}" for i in range(10)])
    params = base / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    set_params(base, {"data": synthetic_data(raw)})
    out = base / "prepared"
    run(
        [PYTHON, "-m", "stages.prepare", "--params", str(params), "--raw", str(raw), "--out", str(out)],
        ROOT,
    )  # fmt: skip
    return out


def start_cluster(tmp_path: Path, params: Path, data: Path) -> list[tuple[subprocess.Popen, Path, Path, Path]]:
    """Start WORKERS processes of one TF_CONFIG cluster; each gets its own output folder and digest file."""
    script = tmp_path / "observed_train.py"
    script.write_text(OBSERVED_TRAIN)
    hosts = [f"127.0.0.1:{port}" for port in free_ports(WORKERS)]
    workers = []
    for index in range(WORKERS):
        out, digest, log = (
            tmp_path / f"worker{index}",
            tmp_path / f"worker{index}.sha256",
            tmp_path / f"worker{index}.log",
        )
        out.mkdir()
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}),
            "WEIGHTS_DIGEST_FILE": str(digest),
            "PYTHONPATH": str(ROOT),
        }
        with open(log, "w") as handle:
            process = subprocess.Popen(
                [PYTHON, str(script), *train_args(params, data, out)],
                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
            )  # fmt: skip
        workers.append((process, out, digest, log))
    return workers


def wait_for_cluster(workers: list[tuple[subprocess.Popen, Path, Path, Path]], timeout: float) -> None:
    """Wait for every worker to exit 0; past `timeout` kill those still running and fail, with all logs."""
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        for process, *_ in workers:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        for process, *_ in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = "\n".join(
        f"--- worker {i} (exit {p.returncode}) ---\n{log.read_text()}" for i, (p, _, _, log) in enumerate(workers)
    )
    if timed_out:
        pytest.fail(f"the cluster did not finish within {timeout:.0f} s\n{logs}")
    assert all(process.returncode == 0 for process, *_ in workers), logs


@pytest.mark.slow
def test_two_workers_train_like_one_process_and_only_the_chief_writes(tmp_path: Path, prepared: Path) -> None:
    train = {"strategy": "multi_worker", "epochs": 2, "batch_size": 32}
    params = params_file(tmp_path / "cluster_params", train)
    workers = start_cluster(tmp_path, params, prepared)
    wait_for_cluster(workers, CLUSTER_TIMEOUT_S)
    (_, chief_out, chief_digest, chief_log), (_, other_out, other_digest, other_log) = workers

    # Both trained with a cluster of two replicas; only the chief wrote, and wrote a model and metrics.
    assert "(2 replica(s))" in chief_log.read_text(), chief_log.read_text()
    assert "not the chief worker, so writing nothing" in other_log.read_text(), other_log.read_text()
    assert sorted(os.listdir(other_out)) == [], "worker 1 must write nothing at its output paths"
    assert sorted(os.listdir(chief_out)) == ["live", "model.keras"]
    from mnist_pipeline.model.architectures import load_model

    model = load_model(chief_out / "model.keras")
    assert model.output_shape == (None, 10)
    metrics = read_metrics(chief_out)
    assert set(metrics) == {"val"}, "the headline is the validation accuracy alone"
    assert (chief_out / "live" / "plots" / "metrics" / "val" / "accuracy.tsv").is_file()

    # Every worker ends with the same weights (the all-reduce keeps the mirrors equal), and
    # they are the weights the chief saved.
    chief_weights, other_weights = chief_digest.read_text().strip(), other_digest.read_text().strip()
    assert chief_weights == other_weights
    assert weights_digest(model.get_weights()) == chief_weights
    # Both logged the same epochs: metrics are reduced over the whole cluster, not per worker.
    epochs = [
        [line for line in log.read_text().splitlines() if line.startswith("epoch ")] for log in (chief_log, other_log)
    ]
    assert len(epochs[0]) == train["epochs"] and epochs[0] == epochs[1]

    # The same params in one process (no TF_CONFIG, default strategy).
    single_out = tmp_path / "single"
    run([PYTHON, "-m", "stages.train", *train_args(params_file(tmp_path / "single_params", {**train, "strategy": "default"}), prepared, single_out)], ROOT)  # fmt: skip
    single = read_metrics(single_out)

    # Why a tolerance and how big: the global batch, the data order (same seed), the initial
    # weights (same seed) and the mean loss over the global batch are identical, so with
    # dropout 0 the runs differ only by float summation order (the all-reduce adds two
    # half-batch gradients), ~1e-7 relative. With the pipeline's dropout (0.2) they also
    # draw different dropout masks: one 32-row mask per step in one process, two 16-row
    # masks from the workers' own seed generators in the cluster. That is the effect of
    # changing the dropout seed, which we measured on this dataset (8 dropout seeds, same
    # initial weights and order, 2 epochs): validation accuracy 1.0 for all, validation
    # loss 0.089-0.109 (about +-10 % around 0.10); training loss +-5 %. So: accuracy within
    # 2 of the 40 validation images, losses within 25 % (headroom for other CPUs). A
    # cluster bug is far outside that: metrics summed over one worker only read half,
    # a worker training on the wrong slice or an unsynchronised update changes the curve.
    assert abs(metrics["val"]["accuracy"] - single["val"]["accuracy"]) <= 2 / 40 + 1e-9, (metrics, single)
    val, single_val = last_epoch(chief_out, "val"), last_epoch(single_out, "val")
    assert val["loss"] == pytest.approx(single_val["loss"], rel=0.25), (val, single_val)
    train, single_train = last_epoch(chief_out, "train"), last_epoch(single_out, "train")
    assert train["loss"] == pytest.approx(single_train["loss"], rel=0.25), (train, single_train)
    assert train["accuracy"] == pytest.approx(single_train["accuracy"], abs=0.05), (train, single_train)


@pytest.mark.slow
def test_mirrored_on_one_device_trains_exactly_like_the_default_strategy(tmp_path: Path, prepared: Path) -> None:
    from mnist_pipeline.model.architectures import load_model

    results = {}
    for strategy in ("default", "mirrored"):
        out = tmp_path / strategy
        params = params_file(tmp_path / f"{strategy}_params", {"strategy": strategy, "epochs": 1, "batch_size": 32})
        output = run([PYTHON, "-m", "stages.train", *train_args(params, prepared, out)], ROOT).stdout
        assert "(1 replica(s))" in output, output
        results[strategy] = (load_model(out / "model.keras").get_weights(), read_metrics(out))
    (default_weights, default_metrics), (mirrored_weights, mirrored_metrics) = results.values()
    # One replica: its slice is the whole batch and the all-reduce of one value is that
    # value, so the arithmetic is the same op for op and the weights are bit-identical.
    assert len(default_weights) == len(mirrored_weights)
    for default, mirrored in zip(default_weights, mirrored_weights):
        np.testing.assert_array_equal(default, mirrored)
    assert default_metrics == mirrored_metrics


CLUSTER = {"worker": ["host0:2222", "host1:2222"]}


@pytest.mark.parametrize(
    ("tf_config", "chief"),
    [
        (None, True),
        ("", True),
        ({"cluster": CLUSTER}, True),  # no task: not part of a cluster
        ({"cluster": CLUSTER, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": CLUSTER, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["host9:2222"], **CLUSTER}, "task": {"type": "chief", "index": 0}}, True),
        ({"cluster": {"chief": ["host9:2222"], **CLUSTER}, "task": {"type": "worker", "index": 0}}, False),
        ({"cluster": {"chief": ["host9:2222"], **CLUSTER}, "task": {"type": "worker", "index": 1}}, False),
    ],
    ids=["unset", "empty", "no-task", "worker0", "worker1", "chief", "worker0-with-chief", "worker1-with-chief"],
)
def test_is_chief(monkeypatch: pytest.MonkeyPatch, tf_config: dict | str | None, chief: bool) -> None:
    from mnist_pipeline.model.training import is_chief

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config if isinstance(tf_config, str) else json.dumps(tf_config))
    assert is_chief() is chief
