"""Shared fixtures: a small generated dataset a model can learn, and a throw-away copy of the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import FAST_EXPORT, FAST_TRAIN, copy_project, synthetic_data, write_dataset


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("synthetic"), names=[f"bar{i}" for i in range(10)])


@pytest.fixture
def project(tmp_path: Path, dataset_dir: Path) -> Path:
    """A git copy of the project set up to run on the synthetic dataset in seconds."""
    return copy_project(
        tmp_path / "project",
        {"data": synthetic_data(dataset_dir), "train": FAST_TRAIN, "export": FAST_EXPORT},
    )
