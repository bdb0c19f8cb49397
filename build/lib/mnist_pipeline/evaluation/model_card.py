"""The model card shipped next to the export: what the model was trained on, how, and how good it is.

Built from the same params and metrics files DVC tracks, so the card can never
disagree with `dvc metrics show`.
"""

from __future__ import annotations

from mnist_pipeline.evaluation.blessing import verdict_markdown
from mnist_pipeline.evaluation.markdown import table
from mnist_pipeline.evaluation.metrics import macro_f1
from mnist_pipeline.params import Params
from mnist_pipeline.serving.report import GATE, exports_of


def model_card(params: Params, data: dict, evaluation: dict, per_class: dict[str, dict], report: dict) -> str:
    """`data` is the prepared data's manifest, `evaluation` metrics/eval.json, `per_class` the per-class
    test table (metrics/eval/per_class.csv) and `report` the export report (models/export/exports.json).
    """
    train = params.train.model_dump()
    sections = [
        f"# Model card: {params.train.model} on {data['dataset']}",
        "## Data",
        f"{data['dataset']}: {data['num_classes']} classes, images {'x'.join(map(str, data['image_shape']))}; "
        + ", ".join(f"{split} {count}" for split, count in data["counts"].items())
        + f" examples (validation held out of the training set, seed {params.data.seed}).",
        "## Training parameters",
        table(["param", "value"], [[f"train.{key}", value] for key, value in train.items()]),
        "## Test metrics",
        f"Accuracy **{evaluation['accuracy']:.4f}**, loss {evaluation['loss']:.4f}, macro F1 {macro_f1(per_class):.4f}.",
        table(
            ["class", "precision", "recall", "F1", "support"],
            [
                [name, f"{f['precision']:.4f}", f"{f['recall']:.4f}", f"{f['f1']:.4f}", f["support"]]
                for name, f in per_class.items()
            ],
        ),
        "## Blessing",
        verdict_markdown(report[GATE]).rstrip("\n"),
        "## Exports",
        "Every export takes uint8 pixels `[N, H, W]` (signature `serving_default`, input `pixels`) and returns "
        "`probabilities` and `class`. Figures are on the full test split.",
        table(
            ["export", "size (bytes)", "accuracy", "agreement with Keras", "accuracy drop"],
            [
                [name, f["size_bytes"], f"{f['accuracy']:.4f}", f"{f['agreement']:.4f}", f"{f['accuracy_drop']:+.4f}"]
                for name, f in exports_of(report).items()
            ],
        ),
    ]
    return "\n\n".join(sections) + "\n"
