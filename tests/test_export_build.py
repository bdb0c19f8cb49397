"""Export writes the SavedModel once and converts every TFLite flavour from it: the same bytes as converting each alone."""

from __future__ import annotations

from pathlib import Path

from mnist_pipeline.params import TFLITE_FLAVOURS, ExportParams
from mnist_pipeline.serving.export import build_exports, convert_tflite, representative
from mnist_pipeline.serving.layout import SAVED_MODEL
from tests.serving_fixtures import TinySetup, tiny_setup  # noqa: F401 (a fixture)


def test_every_flavour_converted_from_the_one_saved_model_is_what_converting_it_alone_gives(
    tiny_setup: TinySetup,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    x_train = tiny_setup.x_train.astype("float32") / 255.0
    p = ExportParams(tflite=list(TFLITE_FLAVOURS), representative_samples=100, min_agreement=0.999, max_int8_drop=0.005)
    written = build_exports(tiny_setup.model, x_train, tmp_path, p)
    assert [exported.filename for exported in written][0] == SAVED_MODEL
    assert (tmp_path / SAVED_MODEL / "saved_model.pb").is_file()
    calibration = representative(x_train, p.representative_samples)
    for exported in written[1:]:
        alone = convert_tflite(tiny_setup.model, str(exported.flavour), calibration)
        assert (tmp_path / exported.filename).read_bytes() == alone, exported.name
