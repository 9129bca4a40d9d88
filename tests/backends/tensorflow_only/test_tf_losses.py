"""TensorFlow internals of the losses (values: tests/backends/test_losses.py): fp32 for half-precision
inputs, gradients, tracing in tf.function."""

import pytest

tf = pytest.importorskip("tensorflow")

from dlae_core.plugin.registry import get_registry  # noqa: E402
from dlae_core.training.loss_context import LossContext  # noqa: E402

REGISTRY = get_registry()
LOSSES = REGISTRY.backend("tensorflow").implementations["loss"]
# losses on whole prediction tensors; the technique losses (ssd: anchors x (C+5)) have their own suites
TENSOR_LOSSES = [name for name in LOSSES if REGISTRY.losses[name].target in ("onehot", "sparse", "dense")]

# two samples x three classes
PRED = tf.constant([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
TRUE = tf.constant([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def test_losses_compute_in_fp32_for_half_precision_inputs():
    for dtype in (tf.bfloat16, tf.float16):
        pred, true = tf.cast(PRED, dtype), tf.cast(TRUE, dtype)
        for name in ("categorical_crossentropy", "mean_squared_error", "soft_dice"):
            value = LOSSES[name](LossContext(parameter1=1.0))(pred, true)
            assert value.dtype == tf.float32


def test_losses_are_differentiable_and_trace_in_tf_function():
    pred = tf.Variable(PRED)
    for name in TENSOR_LOSSES:
        context = LossContext(parameter1=0.5, parameter2=0.5, class_weights=[1.0, 1.0, 1.0])
        target = tf.constant([[0], [2]]) if name.startswith("sparse") else TRUE
        fn = LOSSES[name](context)
        with tf.GradientTape() as tape:
            value = fn(pred, target)
        grad = tape.gradient(value, pred)
        assert bool(tf.reduce_all(tf.math.is_finite(grad))), name
        traced = tf.function(fn, input_signature=[tf.TensorSpec((None, 3)), tf.TensorSpec(target.shape, target.dtype)])
        assert float(traced(PRED, target)) == pytest.approx(float(value), rel=1e-6), name
