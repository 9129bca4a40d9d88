"""The BBD network on TensorFlow (Keras 3): the layer graph plus predictor heads at its hooks, and the
SSD loss -- the same network and formulas as ``dlae_torch.bbd_model``.

Heads as described in :mod:`dlae_core.techniques.bbd.heads`: hook 0 L2-normalized with
a learnable per-channel scale (init 20), then per hook a 3x3 class head (b_j*(C+1) maps) and a
3x3 box head (b_j*4 maps), He-normal kernels, zero biases. :class:`DetectionModel` maps the
input to ``(batch, N, C+5) = [softmax class scores, background first | offsets]``. Its ``body`` is
the layer graph as a functional model whose outputs are the hooks and the graph output (so every
layer of the list exists and is counted, as on torch; the graph output itself is not used).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dlae_core.techniques.bbd.heads import KERNEL, L2_EPSILON, L2_INIT, L2_NAME, HeadSpec, head_specs
from dlae_core.techniques.bbd.loss_reference import PROBABILITY_FLOOR
from dlae_core.running.weights import check_compatible

from dlae_tensorflow import require_tensorflow_keras
from dlae_tensorflow.model import build_model as build_keras_model
from dlae_tensorflow.weights import export_weights, import_weights

keras = require_tensorflow_keras()
ops = keras.ops

__all__ = ["L2Normalization", "DetectionModel", "build_detector", "ssd_loss", "export_detector_weights",
           "import_detector_weights"]


class L2Normalization(keras.layers.Layer):
    """x / sqrt(max(sum_c x_c^2, 1e-12)) * gamma_c over the last (channel) axis."""

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(int(input_shape[-1]),),
                                     initializer=keras.initializers.Constant(L2_INIT), trainable=True)

    def call(self, x):
        norm = ops.sqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), L2_EPSILON))
        return x / norm * ops.cast(self.gamma, x.dtype)


def _head(name: str, filters: int) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, KERNEL, padding="same", kernel_initializer="he_normal",
                               bias_initializer="zeros", name=name)


class DetectionModel(keras.Model):
    """``body`` (the layer graph) + L2 normalization of hook 0 + class/box heads per hook."""

    def __init__(self, graph, bbd, builders: dict, activations: dict | None = None, **kwargs):
        super().__init__(name="bbd_detector", **kwargs)
        self.graph = graph
        self.specs: list[HeadSpec] = head_specs(bbd, graph)
        self.body = build_keras_model(graph, builders, activations,
                                      outputs=tuple(s.hook for s in self.specs) + (graph.output,))
        self.l2 = L2Normalization(name=L2_NAME)
        self.class_heads = [_head(s.class_name, s.class_filters) for s in self.specs]
        self.box_heads = [_head(s.box_name, s.box_filters) for s in self.specs]

    def call(self, x, training=None):
        features = self.body(x, training=training)[:len(self.specs)]
        scores, offsets = [], []
        for spec, feature, class_head, box_head in zip(self.specs, features, self.class_heads, self.box_heads):
            if spec.index == 0:
                feature = self.l2(feature)
            scores.append(ops.reshape(class_head(feature), (-1, spec.anchors, spec.classes)))
            offsets.append(ops.reshape(box_head(feature), (-1, spec.anchors, 4)))
        probabilities = ops.softmax(ops.cast(ops.concatenate(scores, axis=1), "float32"), axis=-1)
        return ops.concatenate([probabilities, ops.cast(ops.concatenate(offsets, axis=1), "float32")], axis=-1)


def build_detector(graph, bbd, builders: dict, placement=None) -> DetectionModel:
    """The detector with its weights created (called once on a zero batch)."""
    if placement is None:
        model = DetectionModel(graph, bbd, builders["layer"], builders["activation"])
        model(np.zeros((1,) + tuple(graph.input_shapes[0]), np.float32))
        return model
    with placement.scope(), placement.policy_scope():
        model = DetectionModel(graph, bbd, builders["layer"], builders["activation"])
        model(np.zeros((1,) + tuple(graph.input_shapes[0]), np.float32))
    return model


# -- canonical weights ------------------------------------------------------------------------------
def _head_layers(model: DetectionModel):
    for spec, class_head, box_head in zip(model.specs, model.class_heads, model.box_heads):
        yield spec.class_name, class_head
        yield spec.box_name, box_head


def export_detector_weights(model: DetectionModel) -> dict[str, dict[str, np.ndarray]]:
    """Canonical weights of the layer graph's nodes and of the heads (Keras layout)."""
    out = export_weights(model.body, model.graph)
    out[L2_NAME] = {"gamma": np.array(model.l2.gamma.numpy())}
    for name, layer in _head_layers(model):
        out[name] = {"kernel": np.array(layer.kernel.numpy()), "bias": np.array(layer.bias.numpy())}
    return out


def import_detector_weights(model: DetectionModel, weights: dict) -> None:
    """Assign canonical weights; WeightExchangeError listing every difference unless they fit."""
    check_compatible(weights, export_detector_weights(model), ("the weights to import", "the tensorflow model"))
    names = {n.name for n in model.graph.nodes}
    import_weights(model.body, model.graph, {k: v for k, v in weights.items() if k in names})
    model.l2.gamma.assign(np.asarray(weights[L2_NAME]["gamma"], np.float32))
    for name, layer in _head_layers(model):
        layer.kernel.assign(np.asarray(weights[name]["kernel"], np.float32))
        layer.bias.assign(np.asarray(weights[name]["bias"], np.float32))


# The detector knows its canonical layout (graph nodes + heads); Backend.export_weights asks it.
DetectionModel.export_canonical = export_detector_weights
DetectionModel.import_canonical = import_detector_weights


# -- the SSD loss ------------------------------------------------------------------------------
def ssd_loss(neg_pos_ratio: float, alpha: float):
    """``loss(pred, target)`` on (B, N, C+5) tensors: (positive class loss + class loss of the
    int(neg_pos_ratio) * N_pos hardest background anchors of the whole batch + alpha * smooth-L1
    localization loss of the positives) / max(1, N_pos), fp32 (dlae_core.techniques.bbd.loss_reference)."""
    ratio, alpha = float(int(neg_pos_ratio)), float(alpha)

    def loss(pred, target):
        pred, target = tf.cast(pred, tf.float32), tf.cast(target, tf.float32)
        classes_true = target[..., :-4]
        cls = -tf.reduce_sum(classes_true * tf.math.log(tf.maximum(pred[..., :-4], PROBABILITY_FLOOR)), axis=-1)
        d = target[..., -4:] - pred[..., -4:]
        a = tf.abs(d)
        loc = tf.reduce_sum(tf.where(a < 1.0, 0.5 * d * d, a - 0.5), axis=-1)
        positive = tf.reduce_max(classes_true[..., 1:], axis=-1)
        n_positive = tf.reduce_sum(positive)
        candidates = tf.reshape(cls * classes_true[..., 0], (-1,))
        k = tf.minimum(ratio * n_positive, tf.reduce_sum(tf.cast(candidates != 0, tf.float32)))
        ranked = tf.sort(candidates, direction="DESCENDING")
        chosen = tf.cast(tf.range(tf.shape(ranked)[0]), tf.float32) < k
        negatives = tf.reduce_sum(tf.where(chosen, ranked, tf.zeros_like(ranked)))
        total = tf.reduce_sum(cls * positive) + negatives + alpha * tf.reduce_sum(loc * positive)
        return total / tf.maximum(n_positive, 1.0)

    return loss


def ssd_builder(context):
    """Loss builder registered as ``ssd`` (parameter1 = neg:pos ratio, parameter2 = alpha)."""
    return ssd_loss(context.parameter1, context.parameter2)


#: The SSD loss, registered lazily by dlae_tensorflow.plugin as the tensorflow implementation of loss ``ssd``.
LOSSES = {"ssd": ssd_builder}
