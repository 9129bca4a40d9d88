"""GAN predictions written back as images: a tiny pix2pix trained on imported PNG pairs writes
PNGs (2-D image sources) and NIfTI volumes (predicted slice by slice, on the source's grid) whose
values are the predictions file's, in target units."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("nibabel")
pytest.importorskip("PIL")
pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parent / "backends"))  # the backend tests' helpers

from support import gan_config, invoke, train, write_config  # noqa: E402

from medical_support import AFFINE, write_nifti, write_png  # noqa: E402


def read_h5(path) -> dict:
    with h5py.File(path, "r") as handle:
        return {name: handle[name][()] for name in handle}


def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image, target) 16x16 uint8: a bright square on noise, and the square inverted."""
    image = rng.integers(0, 40, (16, 16)).astype(np.uint8)
    r, c = rng.integers(0, 8, 2)
    image[r:r + 8, c:c + 8] += 180
    return image, (255 - image).astype(np.uint8)


@pytest.fixture(scope="module")
def pix2pix(tmp_path_factory) -> Path:
    """Import PNG pairs (--targets), train a pix2pix one epoch with targets normalized to [0, 255]."""
    root = tmp_path_factory.mktemp("gan")
    rng = np.random.default_rng(0)
    for i in range(8):
        image, target = pair(rng)
        write_png(root / "img" / f"p{i}.png", image)
        write_png(root / "tgt" / f"p{i}.png", target)
    invoke("data", "import", root / "img", "--targets", root / "tgt", "-o", root / "data", "--split", "1,0")
    data = {k: str(root / "data" / f"{k}.h5") for k in ("train_X", "train_y")}
    config = gan_config(data, "pix2pix", epochs=1, validation=False,
                        preprocessing={"normalization_type": "global_unity_xy",
                                       "minimum_image_intensity": "0.0, 0.0",
                                       "maximum_image_intensity": "255.0, 255.0"},
                        save_configurations={"save_model_switch": True, "save_model_path": str(root / "gen.pt")})
    train("torch", config, root / "train.json")
    return root


def inference(root: Path, test_x: Path, name: str) -> str:
    config = json.loads((root / "train.json").read_text())
    config["config_file"]["type_signal"] = "Inference"
    config["paths"] = {"load_model": str(root / "gen.pt"), "test_X": str(test_x)}
    return write_config(root / f"{name}.json", config)


def test_generated_images_are_written_back_as_png_in_target_units(pix2pix, tmp_path):
    rng = np.random.default_rng(3)
    for i in range(2):
        write_png(tmp_path / "pngs" / f"q{i}.png", pair(rng)[0])
    result = invoke("predict", inference(pix2pix, tmp_path / "pngs", "png"), "--predictions", tmp_path / "g.h5")
    assert "wrote 2 png image(s)" in result.output
    predictions = read_h5(tmp_path / "g.h5")
    assert predictions["1"].shape == (16, 16, 1)
    assert predictions["1"].max() > 1.0 and predictions["1"].min() >= 0.0  # mapped back to [0, 255]
    from PIL import Image

    for name, key in (("0", "q0"), ("1", "q1")):
        png = np.asarray(Image.open(tmp_path / "g_images" / f"{key}.png"))
        assert png.dtype == np.uint8 and png.shape == (16, 16)
        np.testing.assert_array_equal(png, np.clip(np.round(predictions[name][..., 0]), 0, 255).astype(np.uint8))


def test_generated_volumes_are_written_back_as_nifti_on_the_source_grid(pix2pix, tmp_path):
    import nibabel

    rng = np.random.default_rng(4)
    volume = np.stack([pair(rng)[0] for _ in range(3)], axis=2).astype(np.int16)
    write_nifti(tmp_path / "vol" / "v.nii.gz", volume)
    write_nifti(tmp_path / "vol" / "w.nii.gz", volume[:, :, :1])  # one slice: a 2-D image
    result = invoke("predict", inference(pix2pix, tmp_path / "vol", "nifti"), "--predictions", tmp_path / "n.h5")
    assert "wrote 2 nifti image(s)" in result.output and "volumes slice by slice" in result.output
    predictions = read_h5(tmp_path / "n.h5")
    assert predictions["0"].shape == (16, 16, 3, 1) and predictions["1"].shape == (16, 16, 1)
    written = nibabel.load(str(tmp_path / "n_images" / "v.nii.gz"))
    assert written.shape == (16, 16, 3) and written.get_data_dtype() == np.float32
    np.testing.assert_allclose(written.affine, AFFINE)
    np.testing.assert_array_equal(np.asarray(written.dataobj), predictions["0"][..., 0])
    # slice 0 of the volume is the one-slice image: predicted alike
    np.testing.assert_allclose(predictions["0"][:, :, 0], predictions["1"], atol=1e-5)
    single = nibabel.load(str(tmp_path / "n_images" / "w.nii.gz"))
    assert single.shape == (16, 16, 1)
    np.testing.assert_array_equal(np.asarray(single.dataobj)[:, :, 0], predictions["1"][..., 0])


def test_sliding_windows_generate_images_of_any_size_in_target_units(pix2pix, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(5)
    write_png(tmp_path / "small" / "a.png", pair(rng)[0])
    small = inference(pix2pix, tmp_path / "small", "small")
    invoke("predict", small, "--predictions", tmp_path / "plain.h5")
    invoke("predict", small, "--predictions", tmp_path / "window.h5", "--sliding-window", "--overlap", "0.5")
    # one patch covers the image: the plain prediction (in [0, 255], so float32 rounding allows 1e-3)
    np.testing.assert_allclose(read_h5(tmp_path / "window.h5")["0"], read_h5(tmp_path / "plain.h5")["0"], atol=1e-3)
    big = np.concatenate([np.concatenate([pair(rng)[0] for _ in range(2)], axis=1) for _ in range(2)])[:24, :20]
    write_png(tmp_path / "big" / "b.png", big)
    result = invoke("predict", inference(pix2pix, tmp_path / "big", "big"), "--predictions", tmp_path / "b.h5",
                    "--sliding-window", "--blending", "constant")
    assert "(sliding windows)" in result.output
    output = read_h5(tmp_path / "b.h5")["0"]
    assert output.shape == (24, 20, 1) and output.max() > 1.0
    png = np.asarray(Image.open(tmp_path / "b_images" / "b.png"))
    np.testing.assert_array_equal(png, np.clip(np.round(output[..., 0]), 0, 255).astype(np.uint8))
