"""Training sessions for CNN and FCN on TensorFlow (Keras 3).

The epoch loop, schedules, callbacks and logs are the core's (dlae_core.training.loop);
this module supplies the TensorFlow steps: a ``tf.function`` train step (forward under a
GradientTape, loss + regularization, optimizer update, monitors), the evaluation step, saving.
"""

from __future__ import annotations

import math
import warnings

import attrs
import numpy as np
import tensorflow as tf

from dlae_core.config.convert import config_to_dict
from dlae_core.errors import BackendError, DataError, ModelFileError, TrainingError, problem
from dlae_core.running.run import Run, refuse_existing, training_outputs
from dlae_core.training.loop import LoopResult, TrainingLoop

from dlae_tensorflow import metrics as metric_fns
from dlae_tensorflow import require_tensorflow_keras
from dlae_tensorflow.device import choose_placement
from dlae_tensorflow.device_augment import augment_batch, finish_batch, invalid_label_error
from dlae_tensorflow.loader import EpochIndexed, make_batches
from dlae_tensorflow.model import regularization_loss
from dlae_tensorflow.modelfile import load_model_file, save_model_file
from dlae_tensorflow.optimizers import main_optimizer, set_learning_rate
from dlae_tensorflow.setup import DataSetup, build_model, make_loss, prepare_data
from dlae_tensorflow.weights import export_weights, import_weights

keras = require_tensorflow_keras()


@attrs.define
class TrainResult:
    epochs_run: int
    history: list[dict]
    model: object  # keras.Model
    stopped_early: bool = False


class TensorflowSteps:
    """The StepEngine of the core loop for one Keras model. Subclasses for other techniques
    (bbd.py) override ``techniques`` and :meth:`_build` (data, model, loss, monitors)."""

    techniques: tuple[str, ...] = ("CNN", "FCN")

    def __init__(self, run: Run, builders: dict):
        self.run_info, self.config = run, run.config
        if run.plan.technique not in self.techniques:
            raise BackendError(f"the tensorflow backend trains CNN and FCN models; {run.plan.technique} training "
                               f"is not available in this version")
        self.graph = run.plan.graphs["model"]
        # A continued run appends to its CSV history, which is therefore not "overwritten".
        resumed_csv = [self.config.save_configurations.save_csv_path] if self.config.paths.load_checkpoint else []
        refuse_existing(training_outputs(self.config), run.options.overwrite, keep=[p for p in resumed_csv if p])
        self.placement = choose_placement(self.config, len(self.graph.input_shapes[0]) - 1)
        keras.utils.set_random_seed(self.config.augmentation.random_seed % 2**32)
        self._build(run, builders)
        self.optimizer = main_optimizer(self.config, loss_scale=self.placement.policy == "mixed_float16")
        with self.placement.scope():
            self.optimizer.build(self.model.trainable_variables)
        self._rate: float | None = None
        self._train_fn = self._eval_fn = None

    def _build(self, run: Run, builders: dict) -> None:
        """``data``, ``model``, ``loss_fn``, ``monitors`` and ``sparse`` of a CNN/FCN session."""
        on_device = self.placement.is_gpu and self.config.augmentation.apply_augmentation_switch
        self.data: DataSetup = prepare_data(run, on_device=on_device)
        self.model = build_model(self.graph, builders, self.placement)
        self.loss_fn = make_loss(run, builders, self.data)
        self.monitors = metric_fns.monitors(self.config)
        target = run.registry.losses[self.config.loss_function.loss].target
        if target == "dense":
            self.monitors.pop("accuracy", None)  # accuracy of a regression means nothing
        self.sparse = target == "sparse"

    # -- StepEngine ------------------------------------------------------------------------------
    def set_learning_rate(self, rate: float) -> None:
        if rate != self._rate:
            set_learning_rate(self.optimizer, rate)
            self._rate = rate

    def train_step(self, batch: dict) -> tuple[int, dict]:
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
        variables = [(v.path, v.numpy()) for v in self.optimizer.variables]
        save_model_file(path, config_dict=config_to_dict(self.config, self.run_info.registry, legacy=False),
                        graph_role="model", weights=self.export_model_weights(),
                        stats=self.data.stats_dict(), training_state=dict(state), optimizer_variables=variables)

    def export_model_weights(self) -> dict:
        """The model's canonical weights as saved (a subclass with more than the graph overrides both)."""
        return export_weights(self.model, self.graph)

    def import_model_weights(self, weights: dict) -> None:
        import_weights(self.model, self.graph, weights)

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

    def _train(self, batch: dict):
        x, y, invalid = self._inputs(batch, train=True)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            pred = self.model(x, training=True)
            loss = self.loss_fn(tf.cast(pred, tf.float32), y) + regularization_loss(self.model)
            scaled = self.optimizer.scale_loss(loss)
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
            self.import_model_weights(payload["weights"])
        except BackendError as exc:
            raise ModelFileError(f"checkpoint {path!r} does not fit this config's network: "
                               f"{str(exc).splitlines()[0]}") from None
        state = payload.get("training_state") or {}
        saved = state.pop("optimizer", None)
        if saved is not None:
            self._load_optimizer(saved, path)
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


def train(run: Run, builders: dict, steps_class: type = TensorflowSteps,
          loop_class: type = TrainingLoop) -> TrainResult:
    """A Train / Train from Checkpoint session: ``steps_class`` (the step engine) driven by the core's
    ``loop_class`` over this backend's loaders (BBD passes its detection engine and loop)."""
    steps = steps_class(run, builders)
    loop = loop_class(run.config, steps, quiet=run.options.quiet, note=steps.placement.note)
    if run.config.paths.load_checkpoint:
        loop.load_state(steps.resume(run.config.paths.load_checkpoint))
    cfg = run.config.training_configurations
    loader = make_batches(EpochIndexed(steps.data.train), cfg.batch_size, workers=run.options.workers, epochs=True)
    validation = (make_batches(steps.data.validation, cfg.batch_size, workers=run.options.workers)
                  if steps.data.validation is not None else None)
    result: LoopResult = loop.run(loader, validation, set_epoch=loader.set_epoch)
    return TrainResult(result.last_epoch + 1 - loop.start_epoch, result.history, steps.model, result.stopped_early)
