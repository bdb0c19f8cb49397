"""The lock installs what `pyproject.toml` asks for: a dependency added without regenerating
the lock, or a lock entry without hashes, fails here (README, "Installing")."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.project import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
REQUIREMENTS_LOCK = (ROOT / "requirements.lock").read_text(encoding="utf-8")
SERVE_LOCK = (ROOT / "requirements-serve.lock").read_text(encoding="utf-8")
UV_LOCK = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))

# One entry of a requirements file: `name==version ; marker \` and its `--hash=` lines.
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(.*?)(?=^[A-Za-z0-9]|\Z)", re.MULTILINE | re.DOTALL)


def locked_versions(text: str) -> dict[str, set[str]]:
    """Every version pinned per package (one per Python version or platform where they differ)."""
    versions: dict[str, set[str]] = {}
    for name, version, _ in ENTRY.findall(text):
        versions.setdefault(canonicalize_name(name), set()).add(version)
    return versions


def unhashed(text: str) -> list[str]:
    """Entries that pip's hash-checking mode would refuse."""
    return [f"{name}=={version}" for name, version, rest in ENTRY.findall(text) if "--hash=sha256:" not in rest]


def unmet(requirements: list[str], locked: dict[str, set[str]]) -> list[str]:
    """Requirements with no locked version of that package that their specifier allows."""
    missing = []
    for line in requirements:
        requirement = Requirement(line)
        versions = locked.get(canonicalize_name(requirement.name), set())
        if not any(requirement.specifier.contains(version, prereleases=True) for version in versions):
            missing.append(f"{line} (locked: {', '.join(sorted(versions)) or 'nothing'})")
    return missing


def project_requirements() -> list[str]:
    project = PYPROJECT["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["test"]]


def test_every_requirement_of_the_project_is_locked_at_an_allowed_version() -> None:
    assert unmet(project_requirements(), locked_versions(REQUIREMENTS_LOCK)) == []


def test_both_tensorflow_packages_are_locked_for_their_platforms() -> None:
    markers = {name: rest.split("\\")[0] for name, _, rest in ENTRY.findall(REQUIREMENTS_LOCK)}
    assert "sys_platform != 'darwin'" in markers["tensorflow-cpu"]
    assert "sys_platform == 'darwin'" in markers["tensorflow"]


def test_every_locked_package_has_hashes() -> None:
    assert unhashed(REQUIREMENTS_LOCK) == []


def test_requirements_lock_is_the_export_of_uv_lock() -> None:
    project = canonicalize_name(PYPROJECT["project"]["name"])
    from_uv: dict[str, set[str]] = {}
    for package in UV_LOCK["package"]:
        if package["name"] != project:
            from_uv.setdefault(canonicalize_name(package["name"]), set()).add(package["version"])
    assert locked_versions(REQUIREMENTS_LOCK) == from_uv


def test_a_requirement_missing_from_the_lock_or_at_another_version_is_reported() -> None:
    locked = locked_versions("numpy==2.4.6 \\\n    --hash=sha256:00\n")
    assert unmet(["numpy>=2.0,<2.5", "numpy>=3", "fastapi==0.165.0"], locked) == [
        "numpy>=3 (locked: 2.4.6)",
        "fastapi==0.165.0 (locked: nothing)",
    ]


def test_an_entry_without_hashes_is_reported() -> None:
    text = "click==8.5.1 \\\n    --hash=sha256:00\n    # via dvc\nnumpy==2.4.6\n    # via keras\n"
    assert unhashed(text) == ["numpy==2.4.6"]


def test_the_serve_group_pins_what_the_project_pins() -> None:
    dependencies = set(PYPROJECT["project"]["dependencies"])
    assert [line for line in PYPROJECT["dependency-groups"]["serve"] if line not in dependencies] == []


def test_the_serve_lock_is_the_same_lock_without_tensorflow_or_dvc() -> None:
    serve, full = locked_versions(SERVE_LOCK), locked_versions(REQUIREMENTS_LOCK)
    assert unmet(PYPROJECT["dependency-groups"]["serve"], serve) == []
    assert {name: versions for name, versions in serve.items() if full.get(name) != versions} == {}
    assert not {"tensorflow", "tensorflow-cpu", "keras", "dvc"} & set(serve)
    assert unhashed(SERVE_LOCK) == []
