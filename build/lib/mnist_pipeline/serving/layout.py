"""What an export folder holds: the SavedModel and one TFLite file per flavour, and which of them are quantised.

The export stage writes by this layout and the output checks read by it, so the two
cannot drift apart; `is_quantised` is the one place that says which TFLite flavours may
differ from the Keras model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SAVED_MODEL = "saved_model"
QUANTISED_FLAVOURS = ("dynamic", "int8")


def is_quantised(flavour: str | None) -> bool:
    """Whether a TFLite flavour stores int8 weights, so that its predictions may differ from the Keras model's."""
    return flavour in QUANTISED_FLAVOURS


@dataclass(frozen=True)
class ExportedModel:
    """One exported model: its key in the export report (exports.json) and its path inside the export folder."""

    name: str
    filename: str
    flavour: str | None  # the TFLite flavour; None for the SavedModel

    @property
    def quantised(self) -> bool:
        return is_quantised(self.flavour)


def exported_models(flavours: Sequence[str]) -> list[ExportedModel]:
    """What an export with these TFLite flavours holds: the SavedModel, then one file per flavour."""
    tflite = [ExportedModel(f"tflite_{flavour}", f"model_{flavour}.tflite", flavour) for flavour in flavours]
    return [ExportedModel(SAVED_MODEL, SAVED_MODEL, None), *tflite]
