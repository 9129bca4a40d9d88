"""Entry point of the tensorflow backend: ``BackendInfo("tensorflow", ...).load()`` returns ``Backend``."""

from __future__ import annotations

from dlae_tensorflow import require_tensorflow_keras
from dlae_tensorflow.model import build_model, count_params

require_tensorflow_keras()


class Backend:
    def __init__(self, registry):
        self.registry = registry
        self.builders = registry.builders("tensorflow")

    def count_params(self, graph, config) -> tuple[int, int]:
        """(trainable, non_trainable) of ``graph`` built in Keras; a BBD graph with its predictor heads."""
        if config is not None and config.config_file.model_signal == "BBD":
            from dlae_tensorflow.bbd_model import build_detector

            return count_params(build_detector(graph, config.bbd_options, self.builders))
        return count_params(build_model(graph, self.builders))

    def train(self, run):
        """Carry out a Train / Train from Checkpoint session (see trainer.py; GANs: gan.py; BBD: bbd.py)."""
        if run.plan.technique == "GAN":
            from dlae_tensorflow.gan import train_gan

            return train_gan(run, self.builders)
        if run.plan.technique == "BBD":
            from dlae_tensorflow.bbd import train_bbd

            return train_bbd(run, self.builders)
        from dlae_tensorflow.trainer import train

        return train(run, self.builders)

    def predict(self, run):
        """Inference session: returns (predictions path, number of samples written)."""
        if run.plan.technique == "BBD":
            from dlae_tensorflow.bbd import predict_bbd

            return predict_bbd(run, self.builders)
        from dlae_tensorflow.predictor import predict

        return predict(run, self.builders)
