"""TensorFlow internals of the BBD detector (the shared checks: tests/backends/test_bbd.py)."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from dlae_tensorflow.bbd_model import L2Normalization  # noqa: E402


def test_l2_normalization_scales_unit_vectors_by_20():
    layer = L2Normalization()
    out = layer(tf.constant([[[[3.0, 4.0, 0.0]]]]))
    np.testing.assert_allclose(out.numpy().reshape(-1), [12.0, 16.0, 0.0], rtol=1e-6)
    assert [w.name for w in layer.weights] == ["gamma"]
