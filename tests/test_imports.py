"""The layout the README promises: stages/ holds only the stage commands, imports flow one way, every module is listed."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.imports import imported_packages
from tests.support.project import ROOT

STAGE_MODULES = {
    "__init__.py",
    *(
        f"{stage}.py"
        for stage in ("download", "prepare", "train", "evaluate", "bless", "export", "plots_template", "report")
    ),
}
LIBRARY = ROOT / "mnist_pipeline"


def library_modules() -> list[Path]:
    return sorted(path for path in LIBRARY.rglob("*.py") if path.name != "__init__.py")


def test_stages_holds_only_the_stage_commands() -> None:
    assert {path.name for path in (ROOT / "stages").glob("*.py")} == STAGE_MODULES


def test_the_library_never_imports_stages_tests_or_benchmarks() -> None:
    for path in library_modules():
        wrong = imported_packages(path) & {"stages", "tests", "benchmarks"}
        assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"


def layout_section(page: Path) -> str:
    """The page's "## Layout" section ("" without one)."""
    text = page.read_text(encoding="utf-8")
    return text.split("## Layout\n", 1)[1].split("\n## ", 1)[0] if "## Layout\n" in text else ""


def test_every_library_module_is_named_in_a_layout_section() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    listed = {name for page in pages for name in re.findall(r"[`/]([\w.]+\.py)`", layout_section(page))}
    missing = [str(path.relative_to(ROOT)) for path in library_modules() if path.name not in listed]
    assert not missing, f"modules missing from the Layout sections of README.md and docs/: {missing}"


def shared_names(paths: list[Path]) -> list[str]:
    """File names that more than one of `paths` has."""
    names = [path.name for path in paths]
    return sorted({name for name in names if names.count(name) > 1})


def test_no_two_library_modules_share_a_name() -> None:
    assert shared_names(library_modules()) == []
    assert shared_names([LIBRARY / "export" / "report.py", LIBRARY / "evaluation" / "report.py"]) == ["report.py"]


def test_tests_share_helpers_through_the_support_package_not_each_other() -> None:
    """No test module imports another test module: what two tests share lives in tests/support/."""
    test_import = re.compile(r"^\s*(?:from|import) tests\.(?:\w+\.)*test_\w+", re.MULTILINE)
    importing = [
        str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("*.py") if test_import.search(path.read_text())
    ]
    assert importing == []
    assert test_import.search("from tests.evaluation.test_blessing import labels_for\n")
