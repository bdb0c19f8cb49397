"""Shared storage: push the pipeline's outputs to a DVC remote, and get them back in fresh clones.

A local folder stands in for S3, GCS or SSH: `dvc remote add`, `push`, `pull` and
`repro --pull` are the same commands with an `s3://`, `gs://` or `ssh://` URL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.project import run, set_params, tree_digests

OUTPUT_FOLDERS = ("data", "models", "metrics")


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every file under the pipeline's output folders."""
    return tree_digests(root, *OUTPUT_FOLDERS)


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.mark.slow
def test_push_then_pull_or_repro_pull_in_fresh_clones_restores_without_recomputing(
    project: Path, tmp_path: Path
) -> None:
    set_params(project, {"export": {"tflite": ["float32"]}})
    run(["dvc", "repro"], project)
    store = tmp_path / "store"
    run(["dvc", "remote", "add", "-d", "store", str(store)], project)
    run(["dvc", "push"], project)
    run(["git", "add", ".dvc/config", "params.yaml", "dvc.lock", "metrics"], project)
    run(["git", "commit", "-qm", "pipeline outputs, pushed to the store"], project)
    assert any(path.is_file() for path in store.rglob("*")), "dvc push sent nothing"
    expected = snapshot(project)
    assert "models/model.keras" in expected and "data/prepared/x_train.npy" in expected

    # A clone has the code, params, dvc.lock and git-tracked metrics; `dvc pull` brings the rest.
    pulled = tmp_path / "pulled"
    run(["git", "clone", "-q", str(project), str(pulled)], tmp_path)
    assert not (pulled / "models" / "model.keras").exists()
    run(["dvc", "pull"], pulled)
    status = run(["dvc", "status"], pulled).stdout
    assert "Data and pipelines are up to date" in status, status
    repro = run(["dvc", "repro"], pulled)
    assert stages_run(repro.stdout + repro.stderr) == [], repro.stdout
    assert "Data and pipelines are up to date" in repro.stdout, repro.stdout
    assert snapshot(pulled) == expected

    # Another clone: `dvc repro --pull` fetches the outputs of unchanged stages instead of running them.
    restored = tmp_path / "restored"
    run(["git", "clone", "-q", str(project), str(restored)], tmp_path)
    repro = run(["dvc", "repro", "--pull"], restored)
    output = repro.stdout + repro.stderr
    assert stages_run(output) == [], output
    assert "Pulling data for stage: 'train'" in output, output
    assert "Data and pipelines are up to date" in run(["dvc", "status"], restored).stdout
    assert snapshot(restored) == expected
