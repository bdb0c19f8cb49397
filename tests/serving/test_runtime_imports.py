"""The serving runtime never imports TensorFlow: every module of `mnist_pipeline.serving` imports in a fresh
interpreter where `tensorflow` (and `keras`, `dvc`) cannot be imported at all."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.project import ROOT

SERVING = ROOT / "mnist_pipeline" / "serving"
BLOCKED = ("tensorflow", "keras", "dvc")


def runtime_modules() -> list[str]:
    return sorted(f"mnist_pipeline.serving.{path.stem}" for path in SERVING.glob("*.py") if path.stem != "__init__")


def import_blocked(modules: list[str]) -> subprocess.CompletedProcess:
    """Import `modules` in a fresh interpreter whose meta path refuses the BLOCKED packages."""
    code = f"""
        import importlib, importlib.abc, sys

        class Blocked(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ImportError(f"blocked: the serving runtime imported {{name}}")
                return None

        sys.meta_path.insert(0, Blocked())
        for module in {modules!r}:
            importlib.import_module(module)
        """
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_no_runtime_module_imports_tensorflow_keras_or_dvc() -> None:
    modules = runtime_modules()
    assert "mnist_pipeline.serving.server" in modules and "mnist_pipeline.serving.predict" in modules
    result = import_blocked(modules)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_check_fails_on_a_module_that_imports_tensorflow() -> None:
    result = import_blocked(["mnist_pipeline.export.build"])
    assert result.returncode != 0 and "blocked: the serving runtime imported " in result.stderr
