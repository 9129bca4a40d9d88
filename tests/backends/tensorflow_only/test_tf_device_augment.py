"""TensorFlow's device augmentation gives the CPU (scipy) path's results; its normalization and one-hot
encoding match the core's."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import attrs  # noqa: E402

from dlae_core.config.schema import Augmentation  # noqa: E402
from dlae_core.data.augment import apply_params, sample_params  # noqa: E402
from dlae_core.data.preprocess import Normalization  # noqa: E402

FULL = Augmentation(apply_augmentation_switch=True, rotation_range=30, width_shift=0.2, height_shift=0.15,
                    shear_range=10.0, zoom_range=0.2, horizontal_flip_switch=True, vertical_flip_switch=True,
                    brightness_range=(0.8, 1.2), channel_shift_range=0.1)


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
@pytest.mark.parametrize("shape", [(12, 10, 2), (10, 12, 5, 1)])
def test_device_warp_matches_scipy(fill_mode, shape):
    from dlae_tensorflow.device_augment import augment_batch

    rng = np.random.default_rng(3)
    aug = attrs.evolve(FULL, fill_mode=fill_mode, cval=0.7)
    samples, params = [], []
    for _ in range(4):
        samples.append((rng.random(shape).astype(np.float32),
                        rng.integers(0, 3, shape[:-1] + (1,)).astype(np.float32)))
        params.append(sample_params(rng, aug, shape[:2]))
    assert any(p.hflip for p in params) and not all(p.is_geometric_identity for p in params)
    packed = [p.as_arrays() for p in params]
    batch = {k: tf.constant(np.stack([p[k] for p in packed])) for k in packed[0]}
    batch["x"] = tf.constant(np.stack([s[0] for s in samples]))
    batch["y"] = tf.constant(np.stack([s[1] for s in samples]))
    x_dev, y_dev = tf.function(lambda b: augment_batch(b, fill_mode=fill_mode, cval=0.7, target_kind="labels"))(batch)
    for i, ((x, y), p) in enumerate(zip(samples, params)):
        x_ref, y_ref = apply_params(x, y, p, fill_mode, 0.7, "labels")
        np.testing.assert_allclose(x_dev[i].numpy(), x_ref, atol=2e-5)
        assert np.mean(y_dev[i].numpy() != y_ref) < 0.02  # nearest-neighbour ties at exact half pixels


def test_normalize_and_one_hot_match_core():
    from dlae_tensorflow.device_augment import invalid_label_error, normalize, one_hot

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 6, 2)).astype(np.float32)
    x[2] = 5.0  # zero range: left unchanged
    for norm in (Normalization("samplewise", False), Normalization("samplewise", True),
                 Normalization("global", True, -2.0, 3.0), Normalization()):
        want = np.stack([norm.apply(s) for s in x])
        np.testing.assert_allclose(normalize(tf.constant(x), norm).numpy(), want, rtol=1e-6, atol=1e-6)
    encoded, invalid = one_hot(tf.constant([[0.0], [2.9], [1.0]]), 3)
    np.testing.assert_array_equal(encoded.numpy(), np.eye(3)[[0, 2, 1]])
    assert invalid_label_error(invalid.numpy(), 3) is None
    _, invalid = one_hot(tf.constant([[0.0], [3.0]]), 3)
    error = invalid_label_error(invalid.numpy(), 3)
    assert error is not None and "class label 3" in error.lines()[0]
