"""Monitors (accuracy, MSE, MAE) on channels-last batches, chosen from the target form
(the formulas of dlae_torch.metrics, in TensorFlow ops; usable inside tf.function)."""

from __future__ import annotations

import tensorflow as tf

from dlae_core.training.monitors import monitor_names


def accuracy(pred: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Categorical accuracy for one-hot targets, sparse accuracy for integer labels
    (target with one channel while the prediction has several), binary for one channel."""
    pred, target = tf.cast(pred, tf.float32), tf.cast(target, tf.float32)
    if pred.shape[-1] == 1:
        return tf.reduce_mean(tf.cast((pred > 0.5) == (target > 0.5), tf.float32))
    predicted = tf.argmax(pred, axis=-1, output_type=tf.int64)
    if target.shape[-1] == 1 or target.shape.rank < pred.shape.rank:
        labels = tf.cast(tf.reshape(target, tf.shape(predicted)), tf.int64)
    else:
        labels = tf.argmax(target, axis=-1, output_type=tf.int64)
    return tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32))


def _dense_target(pred: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """``target`` in ``pred``'s shape; integer labels (one value per sample or pixel) against several
    output channels become their one-hot form."""
    if target.shape[1:].num_elements() == pred.shape[1:].num_elements():
        return tf.reshape(tf.cast(target, pred.dtype), tf.shape(pred))
    labels = tf.cast(tf.round(tf.reshape(target, tf.shape(pred)[:-1])), tf.int64)
    return tf.one_hot(labels, pred.shape[-1], dtype=pred.dtype)


def mean_squared_error(pred: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    pred = tf.cast(pred, tf.float32)
    return tf.reduce_mean(tf.square(pred - _dense_target(pred, target)))


def mean_absolute_error(pred: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    pred = tf.cast(pred, tf.float32)
    return tf.reduce_mean(tf.abs(pred - _dense_target(pred, target)))


def monitors(config) -> dict:
    """name -> function for the config's monitors, in the core's order (:func:`monitor_names`)."""
    functions = {"mean_squared_error": mean_squared_error, "mean_absolute_error": mean_absolute_error,
                 "accuracy": accuracy}
    return {name: functions[name] for name in monitor_names(config)}
