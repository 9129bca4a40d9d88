"""Loss builders: ``builder(context: LossContext) -> fn(pred, target) -> scalar``.

``pred``/``target`` are channels-LAST tensors (N, ..., C). Per-element values are reduced the
Keras way (mean over the non-batch axes, then over the batch; equal-sized samples make this the
plain mean); batch-global losses (tversky, soft_dice) return their scalar directly.
Everything is computed in fp32, also under a mixed-precision policy. Formulas are those of
``dlae_torch.losses`` (the parity tests hold the two to 1e-5).
"""

from __future__ import annotations

import functools

import tensorflow as tf

from dlae_tensorflow import require_tensorflow_keras

require_tensorflow_keras()

EPSILON = 1e-7  # Keras backend epsilon
TVERSKY_SMOOTH = 1e-7  # documented fix: empty channels give 1 instead of 0/0


def _fp32(fn):
    @functools.wraps(fn)
    def wrapped(pred, target):
        return fn(tf.cast(pred, tf.float32), tf.cast(target, tf.float32))

    return wrapped


def _reduce(per_element):
    """Keras reduction: mean over non-batch axes per sample, then mean over the batch."""
    if per_element.shape.rank is not None and per_element.shape.rank <= 1:
        return tf.reduce_mean(per_element)
    flat = tf.reshape(per_element, (tf.shape(per_element)[0], -1))
    return tf.reduce_mean(tf.reduce_mean(flat, axis=1))


def _normalized(pred):
    """Renormalise along the class axis and clip to [eps, 1 - eps] (Keras categorical CE)."""
    p = pred / tf.reduce_sum(pred, axis=-1, keepdims=True)
    return tf.clip_by_value(p, EPSILON, 1.0 - EPSILON)


def categorical_crossentropy(context):
    @_fp32
    def loss(pred, target):
        return _reduce(-tf.reduce_sum(target * tf.math.log(_normalized(pred)), axis=-1))

    return loss


def weighted_categorical_crossentropy(context):
    if context.class_weights is None:
        raise ValueError("weighted_categorical_crossentropy needs class_weights in its LossContext "
                         "(computed from the training targets)")
    weights = tf.constant(context.class_weights, dtype=tf.float32)

    @_fp32
    def loss(pred, target):
        channels = pred.shape[-1]
        if channels is not None and int(weights.shape[0]) != channels:
            raise ValueError(f"{int(weights.shape[0])} class weights for {channels} output channels")
        return _reduce(-tf.reduce_sum(weights * target * tf.math.log(_normalized(pred)), axis=-1))

    return loss


def sparse_categorical_crossentropy(context):
    @_fp32
    def loss(pred, target):
        labels = target
        if labels.shape.rank == pred.shape.rank:  # trailing axis of length 1
            labels = tf.squeeze(labels, axis=-1)
        labels = tf.cast(tf.round(labels), tf.int32)
        logits = tf.math.log(tf.clip_by_value(pred, EPSILON, 1.0 - EPSILON))
        log_probs = logits - tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
        picked = tf.reduce_sum(tf.one_hot(labels, tf.shape(pred)[-1], dtype=tf.float32) * log_probs, axis=-1)
        return _reduce(-picked)

    return loss


def mean_squared_error(context):
    @_fp32
    def loss(pred, target):
        return _reduce(tf.reduce_mean(tf.square(pred - target), axis=-1))

    return loss


def mean_absolute_error(context):
    @_fp32
    def loss(pred, target):
        return _reduce(tf.reduce_mean(tf.abs(pred - target), axis=-1))

    return loss


def tversky(context):
    alpha, beta = float(context.parameter1), float(context.parameter2)

    @_fp32
    def loss(pred, target):
        axes = list(range(pred.shape.rank - 1))  # batch and spatial axes; per channel
        tp = tf.reduce_sum(pred * target, axis=axes)
        fp = tf.reduce_sum(pred * (1.0 - target), axis=axes)
        fn = tf.reduce_sum((1.0 - pred) * target, axis=axes)
        index = (tp + TVERSKY_SMOOTH) / (tp + alpha * fp + beta * fn + TVERSKY_SMOOTH)
        return tf.cast(tf.shape(pred)[-1], tf.float32) - tf.reduce_sum(index)

    return loss


def jaccard(context):
    smooth = float(context.parameter1)

    @_fp32
    def loss(pred, target):
        intersection = tf.reduce_sum(tf.abs(target * pred), axis=-1)
        total = tf.reduce_sum(tf.abs(target) + tf.abs(pred), axis=-1)
        jac = (intersection + smooth) / (total - intersection + smooth)
        return _reduce((1.0 - jac) * smooth)

    return loss


def focal(context):
    alpha, gamma = float(context.parameter1), float(context.parameter2)

    @_fp32
    def loss(pred, target):
        p = _normalized(pred)
        return _reduce(-alpha * tf.reduce_sum(tf.pow(1.0 - p, gamma) * target * tf.math.log(p), axis=-1))

    return loss


def soft_dice(context):
    smooth = float(context.parameter1)

    @_fp32
    def loss(pred, target):
        intersection = tf.reduce_sum(target * pred)
        return 1.0 - (2.0 * intersection + smooth) / (tf.reduce_sum(target) + tf.reduce_sum(pred) + smooth)

    return loss


BUILDERS = {
    "categorical_crossentropy": categorical_crossentropy,
    "weighted_categorical_crossentropy": weighted_categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "tversky": tversky,
    "jaccard": jaccard,
    "focal": focal,
    "soft_dice": soft_dice,
}
