"""BBD augmentation chain (dlae_core.techniques.bbd.augment): boxes move exactly with the image."""

from __future__ import annotations

import numpy as np
import pytest

from dlae_core.techniques.bbd import augment
from dlae_core.techniques.bbd.augment import affine, augment_detection, filter_boxes, hflip, inside_fraction

H, W = 40, 48


def bright_square(xmin, ymin, xmax, ymax, channels=1):
    image = np.zeros((H, W, channels), np.float32)
    image[ymin:ymax, xmin:xmax] = 1.0
    return image, np.array([[1, xmin, ymin, xmax, ymax]], np.float32)


def bright_extent(image):
    """(xmin, ymin, xmax, ymax) of the pixels brighter than 0.5, in box coordinates."""
    rows, cols = np.nonzero(image[..., 0] > 0.5)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], float)


def test_translation_is_exact():
    image, boxes = bright_square(10, 14, 16, 20, channels=2)
    out, moved = affine(image, boxes, 1.0, 5.0, -3.0)
    expected, _ = bright_square(15, 11, 21, 17, channels=2)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(moved, [[1, 15, 11, 21, 17]])


def test_flip_is_exact():
    image, boxes = bright_square(10, 14, 16, 20)
    out, flipped = hflip(image, boxes)
    np.testing.assert_array_equal(flipped, [[1, W - 16, 14, W - 10, 20]])
    np.testing.assert_array_equal(bright_extent(out), flipped[0, 1:])


def test_zoom_about_the_centre():
    image, boxes = bright_square(12, 10, 36, 30)  # the middle half of a 40x48 image
    out, moved = affine(image, boxes, 2.0, -W / 2, -H / 2)
    np.testing.assert_array_equal(moved, [[1, 0, 0, W, H]])
    assert (out > 0.5).all() and (out[1:-1, 1:-1] == 1).all()  # bilinear edges blend with the border
    out, moved = affine(image, boxes, 0.5, W / 4, H / 4)
    np.testing.assert_array_equal(moved, [[1, 18, 15, 30, 25]])
    np.testing.assert_allclose(bright_extent(out), moved[0, 1:], atol=1)


@pytest.mark.parametrize("seed", range(40))
def test_chain_moves_boxes_with_the_image(seed):
    image, boxes = bright_square(18, 14, 26, 22)
    out, moved = augment_detection(image, boxes, np.random.default_rng(seed), rounds=3)
    assert out.shape == image.shape and out.dtype == np.float32
    if len(moved) == 0:  # the square left the image
        assert (out < 0.5).mean() > 0.9
        return
    np.testing.assert_allclose(bright_extent(out), moved[0, 1:], atol=1.0)
    assert moved[0, 0] == 1


def test_chain_is_deterministic_and_varied():
    image, boxes = bright_square(18, 14, 26, 22)
    results = [augment_detection(image, boxes, np.random.default_rng(seed), 2) for seed in range(12)]
    again = augment_detection(image, boxes, np.random.default_rng(3), 2)
    np.testing.assert_array_equal(again[0], results[3][0])
    np.testing.assert_array_equal(again[1], results[3][1])
    distinct = {tuple(np.round(b.ravel(), 3)) for _, b in results}
    assert len(distinct) > 5


def test_two_dimensional_images():
    image, boxes = bright_square(18, 14, 26, 22)
    out, moved = augment_detection(image[..., 0], boxes, np.random.default_rng(5))
    assert out.shape == (H, W)


def test_filter_drops_boxes_that_leave_and_clips():
    boxes = np.array([[1, -20, 0, -2, 10],   # outside
                      [2, -6, 0, 4, 10],     # 40 % inside: dropped
                      [1, -4, 0, 6, 10],     # 60 % inside: kept, clipped
                      [2, 10, 10, 13, 13],   # 9 px^2 < 16: dropped
                      [1, 20, 30, 30, 45]],  # 10 x 15, 10/15 inside: kept, clipped to H
                     np.float32)
    np.testing.assert_allclose(inside_fraction(boxes, (H, W)), [0, 0.4, 0.6, 1, 10 / 15])
    np.testing.assert_array_equal(filter_boxes(boxes, (H, W)), [[1, 0, 0, 6, 10], [1, 20, 30, 30, H]])


def test_translation_drops_a_box_that_leaves():
    image = np.zeros((H, W, 1), np.float32)
    boxes = np.array([[1, 2, 2, 10, 10], [2, 30, 20, 40, 30]], np.float32)
    draws = iter([(1.0, -12.0, 0.0)])
    out, moved = augment._trials(image, boxes, 1, lambda: next(draws))
    np.testing.assert_array_equal(moved, [[2, 18, 20, 28, 30]])


def test_trials_until_a_box_stays_else_unchanged():
    image, boxes = bright_square(18, 14, 26, 22)
    away, near = (1.0, 40.0, 0.0), (1.0, 2.0, 0.0)
    draws = iter([away, away, near])
    out, moved = augment._trials(image, boxes, 3, lambda: next(draws))
    np.testing.assert_array_equal(moved, [[1, 20, 14, 28, 22]])
    draws = iter([away, away, near])
    out, moved = augment._trials(image, boxes, 2, lambda: next(draws))
    assert out is image and moved is boxes  # no trial kept half a box inside


# -- photometric step --------------------------------------------------------------------------------
class ScriptedRng:
    """Stands in for numpy's Generator: random() and uniform() return scripted values in order."""

    def __init__(self, randoms, uniforms):
        self.randoms, self.uniforms = list(randoms), list(uniforms)

    def random(self):
        return self.randoms.pop(0)

    def uniform(self, low, high):
        value = self.uniforms.pop(0)
        assert low <= value <= high
        return value


def test_photometric_brightness_then_contrast_values():
    from dlae_core.techniques.bbd.augment import photometric

    image = np.array([[0.0, 1.0], [2.0, 5.0]], dtype=np.float32)  # span 5, mean 2
    brighter = photometric(image, ScriptedRng([0.1, 0.9], [0.1]))  # brightness only: +0.1 * 5
    np.testing.assert_allclose(brighter, image + 0.5)
    contrasted = photometric(image, ScriptedRng([0.9, 0.1], [1.5]))  # contrast only, about the mean 2
    np.testing.assert_allclose(contrasted, [[-1.0, 0.5], [2.0, 6.5]])
    both = photometric(image, ScriptedRng([0.1, 0.1], [-0.1, 0.5]))  # -0.5, then x0.5 about mean 1.5
    np.testing.assert_allclose(both, [[0.5, 1.0], [1.5, 3.0]])
    assert both.dtype == np.float32 and both.shape == image.shape
    untouched = photometric(image, ScriptedRng([0.9, 0.9], []))
    np.testing.assert_array_equal(untouched, image)


def test_photometric_changes_come_before_the_zero_borders():
    from dlae_core.techniques.bbd.augment import augment_detection

    from dlae_core.techniques.bbd.augment import photometric

    image = np.full((32, 32), 1.0, dtype=np.float32)
    image[10:20, 10:20] = 2.0  # span 1
    boxes = np.array([[1, 8, 8, 24, 24]], dtype=np.float32)
    # photometric: brightness +0.1 x span, contrast x1.5 about the mean;
    # then sequence A: translate by (+8, +8) px, no zoom, no flip
    rng = ScriptedRng([0.1, 0.1, 0.2, 0.1, 0.9, 0.9], [0.1, 1.5, 0.25, 0.25])
    rng.choice = lambda options: 1.0
    out, moved = augment_detection(image, boxes, rng)
    np.testing.assert_array_equal(moved, [[1, 16, 16, 32, 32]])
    assert (out[:8] == 0).all() and (out[:, :8] == 0).all()  # borders stay "normalized 0"
    expected = photometric(image, ScriptedRng([0.1, 0.1], [0.1, 1.5]))
    np.testing.assert_allclose(out[8:, 8:], expected[:24, :24], rtol=1e-6)
    assert not np.allclose(expected, image)
