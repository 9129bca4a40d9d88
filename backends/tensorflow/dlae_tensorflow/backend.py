"""The tensorflow backend: :class:`TensorflowBackend`, the core's declared interface
(:class:`dlae_core.running.backend.Backend`) implemented with TensorFlow (Keras 3).
``BackendInfo("tensorflow", ...).load()`` returns it as ``Backend``."""

from __future__ import annotations

# Keras is chosen (on TensorFlow) and TensorFlow's start-up chatter filtered before anything
# imports tensorflow: this module is the first of the backend that the core loads.
from dlae_tensorflow import require_tensorflow_keras

keras = require_tensorflow_keras()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dlae_core.data.memory import InMemorySamples  # noqa: E402
from dlae_core.running.backend import Backend  # noqa: E402

from dlae_tensorflow import weights as canonical  # noqa: E402
from dlae_tensorflow.device import Placement, choose_placement  # noqa: E402
from dlae_tensorflow.loader import ArrayBatches, EpochIndexed, make_batches  # noqa: E402
from dlae_tensorflow.model import build_model as build_keras_model  # noqa: E402
from dlae_tensorflow.model import count_params as count_layer_params  # noqa: E402
from dlae_tensorflow.modelfile import load_model_file  # noqa: E402
from dlae_tensorflow.optimizers import set_learning_rate  # noqa: E402
from dlae_tensorflow.trainer import TensorflowSteps  # noqa: E402


class TensorflowBackend(Backend):
    name = "tensorflow"
    framework = "TensorFlow"

    # -- devices and randomness ---------------------------------------------------------------------
    def placement(self, config, spatial_rank: int) -> Placement:
        return choose_placement(config, spatial_rank)

    def seed(self, seed: int) -> None:
        keras.utils.set_random_seed(seed % 2**32)

    def device_info(self) -> dict:
        from dlae_tensorflow.device import device_info

        return device_info()

    # -- several devices and processes (dlae_tensorflow.distributed) ----------------------------------
    process_per_gpu = False  # one process mirrors its model over the GPUs of its machine

    def gpu_count(self) -> int:
        return len(tf.config.list_physical_devices("GPU"))

    def launch(self, processes: int, arguments: list[str], config) -> dict[int, int]:
        from dlae_tensorflow.launch import launch

        gpus = self.gpu_count()
        return launch(processes, arguments, gpus=gpus, use_gpus=config.training_configurations.hardware != "cpu")

    def data_parallel(self, world, config):
        from dlae_tensorflow.distributed import data_parallel

        return data_parallel(world, config)

    def replicas(self, config) -> tuple[int, str]:
        from dlae_tensorflow.distributed import describe, session_strategy

        strategy = session_strategy(config)
        return (strategy.num_replicas_in_sync, describe()) if strategy is not None else (1, "")

    def parameter_histograms(self, engine, batch) -> dict:
        from dlae_tensorflow.histograms import parameter_histograms

        return parameter_histograms(engine, batch)

    def model_graph(self, model, input_shapes, placement=None) -> bytes:
        from dlae_tensorflow.tensorboard_graph import model_graph

        return model_graph(model, input_shapes, placement)

    # -- models -------------------------------------------------------------------------------------
    def build_model(self, graph, placement: Placement | None = None):
        """The Keras model of ``graph``; on ``placement``, built on its device with its precision policy."""
        builders = self.implementations
        if placement is None:
            return build_keras_model(graph, builders["layer"], builders["activation"])
        with placement.scope(), placement.policy_scope():
            return build_keras_model(graph, builders["layer"], builders["activation"])

    def count_params(self, model) -> tuple[int, int]:
        return count_layer_params(model)

    def export_graph_weights(self, model, graph) -> dict:
        return canonical.export_weights(model, graph)

    def import_graph_weights(self, model, graph, weights: dict) -> None:
        canonical.import_weights(model, graph, weights)

    def forward(self, model, inputs: list[np.ndarray]) -> np.ndarray:
        tensors = [tf.constant(np.asarray(x, np.float32)) for x in inputs]
        out = model(tensors if len(tensors) > 1 else tensors[0], training=False)
        return np.asarray(tf.cast(out, tf.float32).numpy())

    def evaluate_loss(self, loss_fn, outputs: np.ndarray, targets: np.ndarray) -> float:
        return float(loss_fn(tf.constant(outputs, tf.float32), tf.constant(targets, tf.float32)))

    def optimizer_trajectory(self, settings, initial, gradients, learning_rates) -> list[np.ndarray]:
        variable = keras.Variable(np.asarray(initial, np.float32), dtype="float32", name="parameter")
        optimizer = self.make_optimizer(settings, None)
        out, current = [], settings.learning_rate
        for gradient, rate in zip(gradients, learning_rates):
            if rate != current:
                set_learning_rate(optimizer, rate)
                current = rate
            optimizer.apply_gradients([(tf.constant(np.asarray(gradient, np.float32)), variable)])
            out.append(np.array(variable.numpy()))
        return out

    # -- training -----------------------------------------------------------------------------------
    def supervised_engine(self, run, data, placement, *, model=None, loss_fn=None, monitors: bool = True):
        return TensorflowSteps(run, self, data, placement, model=model, loss_fn=loss_fn, monitors=monitors)

    def training_batches(self, samples, batch_size: int, workers: int | None, placement):
        if placement.strategy is not None:  # this worker's parts of the global batches
            from dlae_tensorflow.distributed import WorkerBatches

            batches = WorkerBatches(EpochIndexed(samples), batch_size, workers, placement.strategy, training=True,
                                    epochs=True)
            return batches, batches.set_epoch
        if isinstance(samples, InMemorySamples):  # batches by indexing arrays: no reading threads
            batches = ArrayBatches(samples, batch_size, training=True)
            return batches, batches.set_epoch
        batches = make_batches(EpochIndexed(samples), batch_size, workers=workers, epochs=True)
        return batches, batches.set_epoch

    def evaluation_batches(self, samples, batch_size: int, workers: int | None, placement):
        if placement.strategy is not None:
            from dlae_tensorflow.distributed import WorkerBatches

            return WorkerBatches(samples, batch_size, workers, placement.strategy, training=False)
        if isinstance(samples, InMemorySamples):
            return ArrayBatches(samples, batch_size, training=False)
        return make_batches(samples, batch_size, workers=workers)

    # -- model files and inference -------------------------------------------------------------------
    def read_model_file(self, path: str) -> dict:
        return load_model_file(path)

    def load_weights(self, model, graph, payload: dict) -> None:
        self.import_weights(model, graph, payload["weights"])

    def predict_batches(self, model, samples, batch_size: int, workers: int | None, placement):
        batches = make_batches(samples, batch_size, workers=workers)

        @tf.function(input_signature=[batches.element_spec["x"]])
        def forward(x):
            return tf.cast(model(x, training=False), tf.float32)

        for batch in batches:
            names = [n.decode() for n in batch["name"].numpy()]
            with placement.scope():
                out = forward(batch["x"]).numpy()
            yield names, out

    # -- export ---------------------------------------------------------------------------------------
    export_formats = ("onnx", "savedmodel")

    def export_model(self, model, input_shape, fmt: str, path: str) -> dict:
        if fmt not in self.export_formats:
            return super().export_model(model, input_shape, fmt, path)  # the one-line refusal
        from dlae_tensorflow.export import export_model

        return export_model(model, tuple(input_shape), fmt, path)


Backend = TensorflowBackend
