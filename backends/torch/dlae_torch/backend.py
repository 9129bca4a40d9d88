"""Entry point of the torch backend: ``BackendInfo("torch", ...).load()`` returns ``Backend``."""

from __future__ import annotations

import torch

from .model import GraphModel, count_params


class Backend:
    def __init__(self, registry):
        self.registry = registry
        self.builders = registry.builders("torch")

    def count_params(self, graph, config) -> tuple[int, int]:
        """(trainable, non_trainable) of ``graph`` built in torch (on the meta device: no memory)."""
        with torch.device("meta"):
            model = GraphModel(graph, self.builders)
        return count_params(model)

    def train(self, run):
        """Carry out a Train / Train from Checkpoint session (see trainer.py; GANs: gan.py)."""
        if run.plan.technique == "GAN":
            from .gan import train_gan

            return train_gan(run, self.builders)
        from .trainer import train

        return train(run, self.builders)

    def predict(self, run):
        """Inference session: returns (predictions path, number of samples written)."""
        from .predictor import predict

        return predict(run, self.builders)
