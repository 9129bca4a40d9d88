"""The supervised step engine of the tensorflow backend (CNN, FCN, and any technique trained on
(x, y) pairs): a ``tf.function`` train step (forward under a GradientTape, loss + regularization,
optimizer update, monitors), the evaluation step, saving and resuming. The session around it --
data, loop, schedules, callbacks, logs -- is the core's (dlae_core.running.training)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import tensorflow as tf

from dlae_core.config.convert import config_to_dict
from dlae_core.errors import DataError, ModelFileError, TrainingError, WeightExchangeError, problem
from dlae_core.running.steps import SupervisedSteps

from dlae_tensorflow import metrics as metric_fns
from dlae_tensorflow.distributed import mirrored, synchronize_batch_norm
from dlae_tensorflow import random_state
from dlae_tensorflow.device_augment import augment_batch, finish_batch, invalid_label_error
from dlae_tensorflow.model import regularization_loss
from dlae_tensorflow.modelfile import load_model_file, save_model_file
from dlae_tensorflow.optimizers import prepare, set_learning_rate


class TensorflowSteps(SupervisedSteps):
    """The StepEngine of the core loop for one Keras model (what it holds: SupervisedSteps). Under a
    tf.distribute strategy (several devices or workers) each step runs on every replica with its part
    of the batch (``mirrored``: dlae_tensorflow.distributed) and returns the global batch's values."""

    def monitor_functions(self, config) -> dict:
        return metric_fns.monitors(config)

    def prepare_optimizer(self, optimizer):
        return prepare(optimizer, self.placement, self.model.trainable_variables)

    def ready(self) -> None:
        self._rate: float | None = None
        self._train_fn = self._eval_fn = None
        self.mirrored = mirrored(self.placement)
        if self.mirrored is not None and self.config.training_configurations.synchronized_batch_normalization:
            synchronize_batch_norm(self.model)

    # -- StepEngine ------------------------------------------------------------------------------
    def set_learning_rate(self, rate: float) -> None:
        if rate != self._rate:
            set_learning_rate(self.optimizer, rate)
            self._rate = rate

    def train_step(self, batch: dict) -> tuple[int, dict]:
        if self.mirrored is not None:
            size, values, flags = self.mirrored.run(self._replica_train, batch)
            invalid, sparse, inputs_finite = flags["invalid"], flags["sparse"], flags["nonfinite"] == 0
        else:
            if self._train_fn is None:
                self._train_fn = tf.function(self._train, input_signature=[_signature(batch)])
            with self.placement.scope():
                values, size, invalid, sparse, inputs_finite = self._train_fn(batch)
        if self.data.on_device and self.data.preprocessor.categories is not None:
            error = invalid_label_error(invalid.numpy(), self.data.preprocessor.categories)
            if error is not None:
                raise error
        self._check_sparse(sparse)
        values = {k: float(v) for k, v in values.items()}
        if not math.isfinite(values["loss"]):
            raise TrainingError(non_finite_message(values["loss"], bool(inputs_finite)))
        return int(size), values

    def eval_step(self, batch: dict) -> tuple[int, dict]:
        if self.mirrored is not None:
            size, values, flags = self.mirrored.run(self._replica_eval, batch)
            self._check_sparse(flags["sparse"])
            return int(size), values
        if self._eval_fn is None:
            self._eval_fn = tf.function(self._eval, input_signature=[_signature(batch)])
        with self.placement.scope():
            values, size, sparse = self._eval_fn(batch)
        self._check_sparse(sparse)
        return int(size), {k: float(v) for k, v in values.items()}

    def _check_sparse(self, sparse) -> None:
        """The torch loss's user error for an integer label outside the model's outputs (a sample the
        checks before training did not read); inside the graph it is only flagged."""
        flag, value = (float(v) for v in sparse.numpy())
        if flag:
            classes = int(self.graph.output_shape[-1])
            value = int(value)
            raise DataError([problem("loss_function.loss", f"sparse_categorical_crossentropy: a training target "
                                     f"holds the class label {value}, outside 0..{classes - 1} (the model has "
                                     f"{classes} output channels)", expected=f"integer labels 0..{classes - 1}",
                                     received=value)])

    def save(self, path: str, state: dict) -> None:
        self.save_later(path, state)()

    def save_later(self, path: str, state: dict):
        """A function writing the model file of now to ``path`` (dlae_core.training.saver): the
        weights and optimizer variables are copied here, written by the function."""
        variables = [(v.path, np.array(v.numpy())) for v in self.optimizer.variables]
        weights = {node: {name: np.array(value) for name, value in values.items()}
                   for node, values in self.backend.export_weights(self.model, self.graph).items()}
        # the seed generators too: a resumed run draws the same dropout masks as an uninterrupted one
        fields = dict(config_dict=config_to_dict(self.config, self.run_info.registry, legacy=False),
                      graph_role="model", weights=weights, stats=self.data.stats_dict(), training_state=dict(state),
                      optimizer_variables=variables, random_state=random_state.snapshot(self.model))
        return lambda: save_model_file(path, **fields)

    # -- the compiled steps ----------------------------------------------------------------------
    def _inputs(self, batch: dict, *, train: bool):
        if train and self.data.on_device:
            pre = self.data.preprocessor
            x, y = augment_batch(batch, fill_mode=pre.fill_mode, cval=pre.cval, target_kind=pre.target_kind)
            return finish_batch(x, y, pre)
        return batch["x"], batch["y"], tf.zeros((2,), tf.float32)

    def _values(self, loss, pred, y) -> dict:
        pred = tf.cast(pred, tf.float32)
        return {"loss": loss, **{name: fn(pred, y) for name, fn in self.monitors.items()}}

    def _train(self, batch: dict, share=None):
        """One update; ``share``: this replica's share of the global batch, which weights its loss
        (Keras sums the replicas' gradients)."""
        x, y, invalid = self._inputs(batch, train=True)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            pred = self.model(x, training=True)
            loss = self.loss_fn(tf.cast(pred, tf.float32), y) + regularization_loss(self.model)
            scaled = self.optimizer.scale_loss(loss if share is None else loss * share)
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        finite = tf.reduce_all(tf.math.is_finite(tf.cast(x, tf.float32))) & \
            tf.reduce_all(tf.math.is_finite(tf.cast(y, tf.float32)))
        return self._values(loss, pred, y), tf.shape(x)[0], invalid, self._sparse_labels(y, pred), finite

    def _eval(self, batch: dict):
        x, y, _ = self._inputs(batch, train=False)
        pred = self.model(x, training=False)
        loss = self.loss_fn(tf.cast(pred, tf.float32), y) + regularization_loss(self.model)
        return self._values(loss, pred, y), tf.shape(x)[0], self._sparse_labels(y, pred)

    def _replica_train(self, batch: dict, share):
        values, _, invalid, sparse, finite = self._train(batch, share)
        return values, {"invalid": invalid, "sparse": sparse, "nonfinite": 1.0 - tf.cast(finite, tf.float32)}

    def _replica_eval(self, batch: dict, share):
        values, _, sparse = self._eval(batch)
        return values, {"sparse": sparse}

    def _sparse_labels(self, y, pred):
        """[1, first label outside 0..C-1] for integer-label targets (else [0, 0])."""
        if not self.sparse:
            return tf.zeros((2,), tf.float32)
        labels = tf.round(tf.cast(y, tf.float32))
        bad = (labels < 0) | (labels >= pred.shape[-1])
        any_bad = tf.reduce_any(bad)
        first = tf.cond(any_bad, lambda: tf.boolean_mask(labels, bad)[0], lambda: tf.constant(0.0))
        return tf.stack([tf.cast(any_bad, tf.float32), first])

    # -- resuming ----------------------------------------------------------------------------------
    def resume(self, path: str) -> dict:
        """Load weights and optimizer state of a checkpoint; returns the loop state saved with it."""
        payload = load_model_file(path)
        try:
            self.backend.import_weights(self.model, self.graph, payload["weights"])
        except WeightExchangeError as exc:
            raise ModelFileError(f"checkpoint {path!r} does not fit this config's network: "
                               f"{str(exc).splitlines()[0]}") from None
        state = payload.get("training_state") or {}
        saved = state.pop("optimizer", None)
        if saved is not None:
            self._load_optimizer(saved, path)
        seeds = state.pop("random", None)
        if seeds is not None:
            random_state.restore(self.model, seeds, path)
        return state

    def _load_optimizer(self, saved: list, path: str) -> None:
        variables = self.optimizer.variables
        # Keras numbers optimizer names per process ("adam_1/..."); compare the part after the name.
        ours = [(v.path.split("/", 1)[-1], tuple(v.shape)) for v in variables]
        theirs = [(p.split("/", 1)[-1], tuple(np.shape(a))) for p, a in saved]
        if ours != theirs:
            warnings.warn(f"the optimizer state in {path!r} does not fit the configured optimizer "
                          f"({self.config.optimizer.optimizer}); it starts afresh")
            return
        for variable, (_, value) in zip(variables, saved):
            variable.assign(np.asarray(value).astype(variable.dtype))


def _signature(batch: dict) -> dict:
    """The batch's structure with any batch size (one trace for full and final batches)."""
    return {k: tf.TensorSpec((None,) + tuple(v.shape[1:]), v.dtype) for k, v in batch.items()}


def non_finite_message(value: float, inputs_finite: bool) -> str:
    """Why the loss is NaN/Inf, in the user's terms (the torch backend's wording)."""
    if not inputs_finite:
        return (f"the loss became {value} because a training batch holds NaN or Inf values; "
                f"check the data files (dlae validate reads only a few samples of each)")
    return (f"the loss became {value}; lower learning_rate_schedule.learning_rate or check the "
            f"data normalization")

