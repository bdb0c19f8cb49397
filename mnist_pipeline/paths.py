"""Where the pipeline's artifacts live, named once: dvc.yaml declares these paths, and the stages, the checks,
promote and the tests read them from here (tests/test_dvc_yaml.py keeps the two in step).

Each stage that scores something writes its headline figures as `metrics.json` inside its own folder under
metrics/, so a later stage depends on the folder and `dvc exp show` gets one column for it, not one per file.
"""

from __future__ import annotations

from pathlib import Path

HEADLINE = "metrics.json"

RAW = Path("data/raw")  # one folder per dataset
PREPARED = Path("data/prepared")
MODEL = Path("models/model.keras")
EXPORT = Path("models/export")
BASELINE = Path("baseline")

METRICS = Path("metrics")
TRAIN = METRICS / "train"  # dvclive: metrics.json and plots/
EVAL = METRICS / "eval"
BLESS = METRICS / "bless"
EXPORT_METRICS = METRICS / "export"
PLOTS_TEMPLATE = METRICS / "plots_template.html"
REPORT = Path("report")

VERDICT = BLESS / "verdict.json"


def headline(folder: Path) -> Path:
    """A stage's headline metrics file: the few figures `dvc metrics show` and `dvc exp show` compare."""
    return folder / HEADLINE
