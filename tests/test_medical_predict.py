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


def test_a_2d_model_predicts_a_volume_slice_by_slice_into_one_volume_on_the_source_grid(trained, tmp_path):
    import nibabel

    rng = np.random.default_rng(11)
    volume = np.stack([blobs(rng, (16, 16))[0] for _ in range(5)], axis=2)
    source = nibabel.Nifti1Image(volume, AFFINE)
    source.header["descrip"] = b"dlae slice test"
    (tmp_path / "vol").mkdir()
    nibabel.save(source, str(tmp_path / "vol" / "v.nii.gz"))
    result = invoke("predict", inference(trained, "unet", tmp_path / "vol", "vol"), "--predictions", tmp_path / "v.h5")
    assert "wrote 1 predictions" in result.output and "(volumes slice by slice)" in result.output
    got = read_h5(tmp_path / "v.h5")
    assert list(got) == ["0"] and got["0"].shape == (16, 16, 5, 3)
    # each slice on its own, as a 2-D image: the same values
    for k in range(5):
        write_nifti(tmp_path / "slices" / f"s{k}.nii.gz", volume[:, :, k:k + 1])
    invoke("predict", inference(trained, "unet", tmp_path / "slices", "slices"), "--predictions", tmp_path / "s.h5")
    alone = read_h5(tmp_path / "s.h5")
    for k in range(5):
        np.testing.assert_allclose(got["0"][:, :, k], alone[str(k)], atol=1e-6)
    assert np.ptp(got["0"].argmax(-1)) > 0  # not a constant map: the comparison says something
    written = nibabel.load(str(tmp_path / "v_images" / "v.nii.gz"))
    assert written.shape == (16, 16, 5)
    np.testing.assert_allclose(written.affine, AFFINE)
    assert written.header.get_zooms() == source.header.get_zooms()
    assert written.header["descrip"].tobytes().rstrip(b"\0") == b"dlae slice test"
    np.testing.assert_array_equal(np.asarray(written.dataobj), got["0"].argmax(-1))
    with h5py.File(tmp_path / "v.h5", "r") as handle:
        assert handle.attrs["slice_axis"] == 2


def test_slice_axis_chooses_the_axis_and_bad_slices_name_their_source(trained, tmp_path):
    rng = np.random.default_rng(12)
    volume = np.stack([blobs(rng, (16, 16))[0] for _ in range(3)], axis=0)  # (3, 16, 16): slices along axis 0
    write_nifti(tmp_path / "vol" / "v.nii.gz", volume)
    config = inference(trained, "unet", tmp_path / "vol", "axis0")
    invoke("predict", config, "--predictions", tmp_path / "v.h5", "--slice-axis", "0")
    got = read_h5(tmp_path / "v.h5")["0"]
    assert got.shape == (3, 16, 16, 3)
    with h5py.File(tmp_path / "plain.h5", "w") as handle:
        for k in range(3):
            handle.create_dataset(str(k), data=volume[k][..., None])
    invoke("predict", inference(trained, "unet", tmp_path / "plain.h5", "plain"), "--predictions", tmp_path / "p.h5")
    alone = read_h5(tmp_path / "p.h5")
    for k in range(3):
        np.testing.assert_allclose(got[k], alone[str(k)], atol=1e-6)
    # along axis 2 the slices are 3 x 16: not the model input, said of the source and slice
    write_dicom_series(tmp_path / "series", rng.integers(0, 300, (16, 3, 4)))
    result = invoke("predict", inference(trained, "unet", tmp_path / "series", "bad"), "--predictions",
                    tmp_path / "b.h5", expect=2)
    assert "source 'series', slice 0 along axis 2:" in result.output and "(16, 3, 1)" in result.output
    result = invoke("predict", config, "--predictions", tmp_path / "x.h5", "--slice-axis", "3", expect=2)
    assert "--slice-axis: a volume is cut along one of its spatial axes. Expected one of 0, 1, 2. Received: 3" \
        in result.output
    hdf5 = inference(trained, "unet", trained / "data" / "validation_X.h5", "hdf5")
    result = invoke("predict", hdf5, "--predictions", tmp_path / "y.h5", "--slice-axis", "1", expect=2)
    assert "--slice-axis applies to a folder (or file) of images" in result.output
