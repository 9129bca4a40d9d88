"""Augmentation parameters and their application (dlae_core.data.augment)."""

from __future__ import annotations

import numpy as np
import pytest

from dlae_core.config.schema import Augmentation
from dlae_core.data.augment import (AugmentParams, affine_grid_matrix, apply_params, input_coordinates,
                                    pixel_to_normalized, sample_params, transform_matrix)


class FixedRng:
    """Stands in for a numpy Generator: every uniform draw returns ``u``."""

    def __init__(self, u: float):
        self.u = u

    def random(self, size):
        return np.full(size, self.u)


def bright_pixel(shape=(9, 11), at=(4, 5)) -> np.ndarray:
    x = np.zeros(shape + (1,), np.float32)
    x[at] = 1.0
    return x


def test_shift_moves_a_bright_pixel_by_minus_the_shift():
    params = AugmentParams(transform_matrix((9, 11), shift=(2.0, -3.0)))
    out, _ = apply_params(bright_pixel(), None, params, "constant", 0.0)
    # output (r, c) samples input (r + 2, c - 3): the pixel at (4, 5) lands at (2, 8)
    assert np.argwhere(out[..., 0] == out.max()).tolist() == [[2, 8]]
    assert out.max() == pytest.approx(1.0) and out.sum() == pytest.approx(1.0)


def test_fractional_shift_is_scaled_by_the_image_size():
    aug = Augmentation(height_shift=0.25, width_shift=3.0)
    params = sample_params(FixedRng(1.0), aug, (16, 12))
    assert params.matrix[0, 2] == pytest.approx(0.25 * 16)  # rows: fraction of 16
    assert params.matrix[1, 2] == pytest.approx(3.0)  # cols: pixels (>= 1)
    low = sample_params(FixedRng(0.0), aug, (16, 12))
    assert low.matrix[0, 2] == pytest.approx(-4.0) and low.matrix[1, 2] == pytest.approx(-3.0)


def test_positive_90_degrees_turns_content_clockwise_about_the_keras_centre():
    n = 6
    image = np.arange(n * n, dtype=np.float32).reshape(n, n, 1)
    out, _ = apply_params(image, None, AugmentParams(transform_matrix((n, n), theta=90)), "constant", -1.0)
    clockwise = np.rot90(image[..., 0], k=-1)
    # Keras 2.2.4 rotates about (rows/2 + 0.5, cols/2 + 0.5), one pixel off the true centre:
    # for 90 degrees that is np.rot90 (clockwise) moved right by two columns.
    assert np.array_equal(out[:, 2:, 0], clockwise[:, :-2])
    assert np.all(out[:, :2, 0] == -1.0)


def test_90_degrees_about_the_true_centre_is_exactly_rot90():
    n = 5
    image = np.random.default_rng(0).random((n, n, 2)).astype(np.float32)
    c = (n - 1) / 2
    to_centre = np.array([[1, 0, c], [0, 1, c], [0, 0, 1.0]])
    rotate = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    matrix = to_centre @ rotate @ np.linalg.inv(to_centre)
    out, _ = apply_params(image, None, AugmentParams(matrix), "constant", 0.0)
    assert np.allclose(out, np.rot90(image, k=-1, axes=(0, 1)), atol=1e-6)


def test_flips_reverse_columns_and_rows():
    image = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    target = image + 100
    out, y = apply_params(image, target, AugmentParams(np.eye(3), hflip=True), target_kind="dense")
    assert np.array_equal(out, image[:, ::-1]) and np.array_equal(y, target[:, ::-1])
    out, _ = apply_params(image, None, AugmentParams(np.eye(3), vflip=True))
    assert np.array_equal(out, image[::-1])


def test_labels_stay_integers_under_rotation_and_dense_targets_interpolate():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, (12, 12, 1)).astype(np.float32)
    params = AugmentParams(transform_matrix((12, 12), theta=17.0, shear=5.0, zoom=(0.9, 1.1)))
    _, y = apply_params(np.zeros_like(labels), labels, params, "nearest", 0.0, "labels")
    assert np.array_equal(y, np.round(y)) and set(np.unique(y)) <= {0.0, 1.0, 2.0}
    _, dense = apply_params(np.zeros_like(labels), labels, params, "nearest", 0.0, "dense")
    assert not np.array_equal(dense, np.round(dense))


def test_vector_targets_are_untouched():
    vector = np.array([1.0, 2.0], np.float32)
    params = AugmentParams(transform_matrix((8, 8), theta=30), hflip=True)
    _, y = apply_params(np.ones((8, 8, 1), np.float32), vector, params, target_kind="vector")
    assert y is vector


def test_3d_applies_the_2d_transform_to_every_slice():
    rng = np.random.default_rng(5)
    volume = rng.random((10, 8, 4, 2)).astype(np.float32)
    labels = rng.integers(0, 4, (10, 8, 4, 1)).astype(np.float32)
    params = AugmentParams(transform_matrix((10, 8), theta=25, shift=(1.5, -1.0)), hflip=True, vflip=True)
    out, y = apply_params(volume, labels, params, "reflect", 0.0, "labels")
    for s in range(4):
        plane, plane_y = apply_params(volume[:, :, s], labels[:, :, s], params, "reflect", 0.0, "labels")
        assert np.array_equal(out[:, :, s], plane) and np.array_equal(y[:, :, s], plane_y)


def test_brightness_and_channel_shift_change_x_only():
    x = np.arange(8, dtype=np.float32).reshape(2, 4, 1)
    y = x.copy()
    out, y_out = apply_params(x, y, AugmentParams(np.eye(3), brightness=1.5, channel_shift=0.5), target_kind="dense")
    assert np.allclose(out, (x + 0.5) * 1.5) and np.array_equal(y_out, y)


def test_same_rng_seed_gives_identical_params_and_new_seeds_differ():
    aug = Augmentation(rotation_range=20, height_shift=0.1, width_shift=0.1, shear_range=5.0, zoom_range=0.2,
                       brightness_range=(0.8, 1.2), channel_shift_range=0.3)
    a = sample_params(np.random.default_rng([7, 2, 0, 3]), aug, (16, 16))
    b = sample_params(np.random.default_rng([7, 2, 0, 3]), aug, (16, 16))
    c = sample_params(np.random.default_rng([7, 2, 1, 3]), aug, (16, 16))
    assert all(np.array_equal(a.as_arrays()[k], b.as_arrays()[k]) for k in a.as_arrays())
    assert not np.array_equal(a.matrix, c.matrix)
    assert 0.8 <= a.brightness <= 1.2 and -0.3 <= a.channel_shift <= 0.3


def test_switches_off_give_identity_and_flip_switches_gate_flips():
    off = Augmentation(horizontal_flip_switch=False, vertical_flip_switch=False)
    params = sample_params(FixedRng(0.0), off, (16, 16))
    assert params.is_geometric_identity and not params.hflip and not params.vflip
    assert params.brightness == 1.0 and params.channel_shift == 0.0
    on = sample_params(FixedRng(0.0), Augmentation(), (16, 16))  # flips default on, u = 0 < 0.5
    assert on.hflip and on.vflip


def test_arrays_round_trip():
    params = AugmentParams(transform_matrix((8, 6), theta=10), True, False, 1.1, -0.2)
    arrays = params.as_arrays()
    assert arrays["matrix"].dtype == np.float32 and arrays["matrix"].shape == (3, 3)
    back = AugmentParams.from_arrays(arrays)
    assert back.hflip and not back.vflip and back.brightness == pytest.approx(1.1)
    assert np.allclose(back.matrix, params.matrix, atol=1e-6)


def test_affine_grid_theta_matches_the_pixel_map():
    shape = (9, 14)
    params = AugmentParams(transform_matrix(shape, theta=33, shift=(1.0, -2.0), shear=7, zoom=(0.9, 1.2)),
                           hflip=True, vflip=True)
    theta = affine_grid_matrix(params, shape).astype(np.float64)
    to_norm = pixel_to_normalized(shape)
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    out_norm = to_norm @ np.stack([rows.ravel(), cols.ravel(), np.ones(rows.size)])
    read = theta @ out_norm  # normalized (x, y) of the input read by each output pixel
    want = input_coordinates(params, shape).reshape(2, -1)  # (row, col) pixels
    assert np.allclose(read[0], (2 * want[1] + 1) / shape[1] - 1, atol=1e-5)
    assert np.allclose(read[1], (2 * want[0] + 1) / shape[0] - 1, atol=1e-5)


def test_affine_grid_theta_of_identity_and_flip():
    assert np.allclose(affine_grid_matrix(AugmentParams.identity(), (8, 8)), [[1, 0, 0], [0, 1, 0]])
    flipped = affine_grid_matrix(AugmentParams(np.eye(3), hflip=True), (8, 8))
    assert np.allclose(flipped, [[-1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("mode", ["nearest", "constant", "reflect", "wrap"])
def test_input_coordinates_reproduce_apply_params(mode):
    from scipy import ndimage

    image = np.random.default_rng(2).random((7, 9, 1)).astype(np.float32)
    params = AugmentParams(transform_matrix((7, 9), theta=-40, shift=(2.5, 1.0)), hflip=True)
    out, _ = apply_params(image, None, params, mode, 0.5)
    ref = ndimage.map_coordinates(image[..., 0], input_coordinates(params, (7, 9)), order=1, mode=mode, cval=0.5)
    assert np.allclose(out[..., 0], ref, atol=1e-6)


def test_bad_fill_mode_or_target_kind_raise():
    with pytest.raises(ValueError):
        apply_params(np.zeros((4, 4, 1), np.float32), None, AugmentParams.identity(), "mirror")
    with pytest.raises(ValueError):
        apply_params(np.zeros((4, 4, 1), np.float32), None, AugmentParams.identity(), target_kind="boxes")
