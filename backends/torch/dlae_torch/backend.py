"""Entry point of the torch backend: ``BackendInfo("torch", ...).load()`` returns ``Backend``."""

from __future__ import annotations

import torch

from dlae_torch.model import GraphModel, count_params


class Backend:
    def __init__(self, registry):
        self.registry = registry
        self.builders = registry.builders("torch")

    def count_params(self, graph, config) -> tuple[int, int]:
        """(trainable, non_trainable) of ``graph`` built in torch (on the meta device: no memory);
        a BBD graph with its predictor heads."""
        with torch.device("meta"):
            if config is not None and config.config_file.model_signal == "BBD":
                from dlae_torch.bbd_model import DetectionModel

                return count_params(DetectionModel(graph, config.bbd_options, self.builders["layer"],
                                                   self.builders["activation"]))
            model = GraphModel(graph, self.builders)
        return count_params(model)

    def train(self, run):
        """Carry out a Train / Train from Checkpoint session (see trainer.py; GANs: gan.py; BBD: bbd.py)."""
        if run.plan.technique == "GAN":
            from dlae_torch.gan import train_gan

            return train_gan(run, self.builders)
        if run.plan.technique == "BBD":
            from dlae_torch.bbd import train_bbd

            return train_bbd(run, self.builders)
        from dlae_torch.trainer import train

        return train(run, self.builders)

    def predict(self, run):
        """Inference session: returns (predictions path, number of samples written)."""
        if run.plan.technique == "BBD":
            from dlae_torch.bbd import predict_bbd

            return predict_bbd(run, self.builders)
        from dlae_torch.predictor import predict

        return predict(run, self.builders)
