"""``dlae predict`` on folders of NIfTI/DICOM/PNG images (label maps written back with the source's
affine, or as PNG) and by sliding windows (equal to whole-image inference where it must be)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("nibabel")
pytest.importorskip("pydicom")
pytest.importorskip("PIL")
pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parent / "backends"))  # the backend tests' helpers

from support import fcn_layers, invoke, make_config, train, write_config  # noqa: E402

from dlae_core.medical.sliding import (Window, blending_weights, patch_corners, sliding_window,  # noqa: E402
                                       window_starts)
from medical_support import AFFINE, blobs, write_dicom_series, write_nifti, write_png  # noqa: E402

POINTWISE = ["Input:(16, 16, 1)", "Convolution 2D:4:(1, 1):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0",
             "Activation:tanh", "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):glorot_uniform:None:None:0.0:0.0",
             "Activation:softmax"]


def read_h5(path) -> dict:
    with h5py.File(path, "r") as handle:
        return {name: handle[name][()] for name in handle}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Import 2-D NIfTI slices with label maps, train a U-Net one epoch (the round trip's start)."""
    root = tmp_path_factory.mktemp("medical")
    rng = np.random.default_rng(0)
    for i in range(12):
        image, labels = blobs(rng, (16, 16))
        write_nifti(root / "img" / f"c{i:02d}.nii.gz", image[:, :, None])
        write_nifti(root / "lab" / f"c{i:02d}.nii.gz", labels[:, :, None])
    invoke("data", "import", root / "img", "--masks", root / "lab", "-o", root / "data", "--split", "0.75,0.25")
    data = {k: str(root / "data" / f"{k}.h5") for k in ("train_X", "train_y", "validation_X", "validation_y")}
    for name, layers in (("unet", fcn_layers(16)), ("pointwise", POINTWISE)):
        config = make_config("FCN", (16, 16, 1), layers, data, training_configurations={"epochs": 1},
                             save_configurations={"save_model_switch": True,
                                                  "save_model_path": str(root / f"{name}.pt")})
        train("torch", config, root / f"{name}.json")
    return root


def inference(root: Path, model: str, test_x: Path, name: str, **training) -> str:
    config = json.loads((root / f"{model}.json").read_text())
    config["config_file"]["type_signal"] = "Inference"
    config["paths"] = {"load_model": str(root / f"{model}.pt"), "test_X": str(test_x)}
    config["training_configurations"].update(training)
    return write_config(root / f"{name}.json", config)


def test_round_trip_import_train_predict_writes_nifti_with_the_source_affine(trained, tmp_path):
    config = inference(trained, "unet", trained / "img", "roundtrip")
    out = tmp_path / "pred.h5"
    result = invoke("predict", config, "--predictions", out)
    assert "wrote 12 nifti image(s)" in result.output
    import nibabel

    predictions = read_h5(out)
    source = nibabel.load(str(trained / "img" / "c03.nii.gz"))
    written = nibabel.load(str(tmp_path / "pred_images" / "c03.nii.gz"))
    np.testing.assert_allclose(written.affine, source.affine)
    np.testing.assert_allclose(written.affine, AFFINE)
    assert written.shape == source.shape == (16, 16, 1)
    labels = np.asarray(written.dataobj)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels[:, :, 0], predictions["3"].argmax(-1))
    # again: the predictions and their images are not overwritten silently
    again = invoke("predict", config, "--predictions", out, expect=2)
    assert "already exist" in again.output


def test_dicom_series_and_png_folders(trained, tmp_path):
    rng = np.random.default_rng(5)
    write_dicom_series(tmp_path / "series", rng.integers(0, 300, (16, 16, 3)))
    config = inference(trained, "unet", tmp_path / "series", "dicom", sliding_window_switch=False)
    result = invoke("predict", config, "--predictions", tmp_path / "d.h5", expect=2)
    assert "source 'series': a 4-D input cannot feed the model input (16, 16, 1)" in result.output
    write_dicom_series(tmp_path / "slice", rng.integers(0, 300, (16, 16, 1)))  # one slice: a 2-D image
    config = inference(trained, "unet", tmp_path / "slice", "dicom1")
    invoke("predict", config, "--predictions", tmp_path / "d.h5")
    import nibabel

    written = nibabel.load(str(tmp_path / "d_images" / "slice.nii.gz"))
    assert written.shape == (16, 16)
    np.testing.assert_allclose(written.affine[:3, 3], [30.0, -20.0, 5.0])  # DICOM's LPS origin in RAS
    np.testing.assert_array_equal(np.asarray(written.dataobj), read_h5(tmp_path / "d.h5")["0"].argmax(-1))
    for i in range(2):
        write_png(tmp_path / "pngs" / f"p{i}.png", (blobs(rng, (16, 16))[0] * 100).astype(np.uint16))
    config = inference(trained, "unet", tmp_path / "pngs", "png")
    invoke("predict", config, "--predictions", tmp_path / "p.h5")
    from PIL import Image

    png = np.asarray(Image.open(tmp_path / "p_images" / "p1.png"))
    np.testing.assert_array_equal(png, read_h5(tmp_path / "p.h5")["1"].argmax(-1))


def test_sliding_window_of_an_image_the_size_of_the_input_is_plain_inference(trained, tmp_path):
    config = inference(trained, "unet", trained / "data" / "validation_X.h5", "same")
    invoke("predict", config, "--predictions", tmp_path / "plain.h5")
    invoke("predict", config, "--predictions", tmp_path / "window.h5", "--sliding-window", "--overlap", "0.75")
    plain, window = read_h5(tmp_path / "plain.h5"), read_h5(tmp_path / "window.h5")
    assert plain.keys() == window.keys()
    for name in plain:
        np.testing.assert_allclose(window[name], plain[name], atol=1e-6)


@pytest.mark.parametrize("blending", ["gaussian", "constant"])
def test_sliding_window_equals_whole_image_inference_of_a_fully_convolutional_model(trained, tmp_path, blending):
    from dlae_core.plugin.registry import get_registry

    rng = np.random.default_rng(7)
    image = blobs(rng, (40, 27))[0]
    write_nifti(tmp_path / "big" / "b.nii.gz", image)
    config = inference(trained, "pointwise", tmp_path / "big", "big", sliding_window_switch=True,
                       sliding_window_blending=blending, sliding_window_overlap=0.3)
    invoke("predict", config, "--predictions", tmp_path / "w.h5")
    got = read_h5(tmp_path / "w.h5")["0"]
    assert got.shape == (40, 27, 3)
    # the whole image at once: a 1x1-convolution model sees each pixel alone, so run the image's
    # (normalized) pixels through it as 16x16 blocks
    from support import load_network

    engine = get_registry().backend("torch")
    model = load_network("torch", trained / "pointwise.pt")[0]  # rebuilt as dlae predict rebuilds it
    unit = (image - image.min()) / (image.max() - image.min())
    pixels = np.zeros(5 * 256, np.float32)
    pixels[:unit.size] = unit.ravel()
    whole = engine.forward(model, [pixels.reshape(5, 16, 16, 1)]).reshape(-1, 3)[:unit.size].reshape(40, 27, 3)
    np.testing.assert_allclose(got, whole, atol=1e-5)


@pytest.mark.parametrize("shape,patch", [((37, 20), (16, 16)), ((9, 30, 17), (8, 8, 8)), ((5, 6), (8, 8))])
@pytest.mark.parametrize("blending", ["gaussian", "constant"])
def test_sliding_window_with_an_identity_model_returns_the_image(shape, patch, blending):
    x = np.random.default_rng(1).random(shape + (2,), dtype=np.float32)
    seen = []

    def predict(patches):
        seen.extend(p.shape for p in patches)
        return [p * 1.0 for p in patches]

    out = sliding_window(x, patch, predict, Window(0.5, blending))
    np.testing.assert_allclose(out, x, rtol=1e-6, atol=1e-6)
    assert set(seen) == {patch + (2,)}


def test_window_positions_cover_the_image_and_weights_peak_at_the_centre():
    assert window_starts(64, 16, 0.5) == list(range(0, 49, 8))
    assert window_starts(70, 16, 0.5) == list(range(0, 49, 8)) + [54]
    assert window_starts(10, 16, 0.5) == [0]
    assert len(patch_corners((256, 256, 128), (64, 64, 64), 0.5)) == 7 * 7 * 3
    weights = blending_weights((9, 9), "gaussian")
    assert weights[4, 4] == 1.0 and weights[0, 0] < weights[0, 4] < weights[4, 4] and weights.min() > 0
    assert np.all(blending_weights((4, 4), "constant") == 1.0)


def test_sliding_window_needs_an_image_model(trained, tmp_path):
    from dlae_core.errors import UsageError

    with pytest.raises(UsageError):
        Window(1.0)
    config = inference(trained, "unet", trained / "data" / "validation_X.h5", "cnnlike")
    result = invoke("predict", config, "--predictions", tmp_path / "x.h5", "--overlap", "0.2", expect=2)
    assert "--overlap and --blending apply to sliding-window inference" in result.output
