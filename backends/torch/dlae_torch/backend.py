"""The torch backend: :class:`TorchBackend`, the core's declared interface
(:class:`dlae_core.running.backend.Backend`) implemented with PyTorch.
``BackendInfo("torch", ...).load()`` returns it as ``Backend``."""

from __future__ import annotations

import numpy as np
import torch

from dlae_core.data.memory import InMemorySamples
from dlae_core.running.backend import Backend
from dlae_core.running.distributed import current_world

from dlae_torch import distributed
from dlae_torch import weights as canonical
from dlae_torch.device import Placement, choose_placement
from dlae_torch.loader import ArrayBatches, EpochIndexed, EpochSampler, make_loader, to_device
from dlae_torch.model import GraphModel
from dlae_torch.model import count_params as count_module_params
from dlae_torch.modelfile import load_model_file
from dlae_torch.optimizers import set_learning_rate
from dlae_torch.trainer import TorchSteps


class TorchBackend(Backend):
    name = "torch"
    framework = "PyTorch"

    def counting(self):
        return torch.device("meta")  # count without allocating

    # -- devices and randomness ---------------------------------------------------------------------
    def placement(self, config, spatial_rank: int) -> Placement:
        return choose_placement(config, spatial_rank)

    def seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def device_info(self) -> dict:
        from dlae_torch.device import device_info

        return device_info()

    # -- several processes (dlae_torch.distributed) ----------------------------------------------------
    def gpu_count(self) -> int:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    def launch(self, processes: int, arguments: list[str], config) -> dict[int, int]:
        from dlae_torch.launch import launch

        return launch(processes, arguments, fork=not distributed.uses_gpus(config))

    def data_parallel(self, world, config):
        return distributed.data_parallel(world, config)

    def collective(self):
        return distributed.collective(current_world())

    def parameter_histograms(self, engine, batch) -> dict:
        from dlae_torch.histograms import parameter_histograms

        return parameter_histograms(engine, batch)

    def model_graph(self, model, input_shapes, placement=None) -> bytes:
        from dlae_torch.tensorboard_graph import model_graph

        return model_graph(model, input_shapes, placement)

    # -- models -------------------------------------------------------------------------------------
    def build_model(self, graph, placement: Placement | None = None) -> torch.nn.Module:
        builders = self.implementations
        model = GraphModel(graph, builders["layer"], builders["activation"])
        if placement is not None:
            model = model.to(placement.device)
            if placement.channels_last:
                model = model.to(memory_format=torch.channels_last)
        return model

    def count_params(self, model) -> tuple[int, int]:
        return count_module_params(model)

    def export_graph_weights(self, model, graph) -> dict:
        return canonical.export_weights(model, graph)

    def import_graph_weights(self, model, graph, weights: dict) -> None:
        canonical.import_weights(model, graph, weights)

    @torch.no_grad()
    def forward(self, model, inputs: list[np.ndarray]) -> np.ndarray:
        model.eval()
        tensors = [torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32) for x in inputs]
        return model(*tensors).detach().float().cpu().numpy()

    @torch.no_grad()
    def evaluate_loss(self, loss_fn, outputs: np.ndarray, targets: np.ndarray) -> float:
        return float(loss_fn(torch.as_tensor(outputs, dtype=torch.float32),
                             torch.as_tensor(targets, dtype=torch.float32)))

    def optimizer_trajectory(self, settings, initial, gradients, learning_rates) -> list[np.ndarray]:
        parameter = torch.nn.Parameter(torch.tensor(np.asarray(initial, np.float32)))
        optimizer = self.make_optimizer(settings, [parameter])
        out, current = [], settings.learning_rate
        for gradient, rate in zip(gradients, learning_rates):
            if rate != current:
                set_learning_rate(optimizer, rate)
                current = rate
            optimizer.zero_grad(set_to_none=True)
            parameter.grad = torch.tensor(np.asarray(gradient, np.float32))
            optimizer.step()
            out.append(parameter.detach().cpu().numpy().copy())
        return out

    # -- training -----------------------------------------------------------------------------------
    def supervised_engine(self, run, data, placement, *, model=None, loss_fn=None, monitors: bool = True):
        return TorchSteps(run, self, data, placement, model=model, loss_fn=loss_fn, monitors=monitors)

    def training_batches(self, samples, batch_size: int, workers: int | None, placement):
        if distributed.joined():  # this process's parts of the global batches
            return distributed.training_loader(EpochIndexed(samples), batch_size, workers,
                                               placement.device.type == "cuda", current_world())
        if isinstance(samples, InMemorySamples):  # batches by indexing arrays: no workers, no collation
            batches = ArrayBatches(samples, batch_size, training=True, pin=placement.device.type == "cuda")
            return batches, batches.set_epoch
        indexed = EpochIndexed(samples)
        sampler = EpochSampler(len(indexed))
        loader = make_loader(indexed, batch_size, workers=workers, pin=placement.device.type == "cuda",
                             sampler=sampler)
        return loader, sampler.set_epoch

    def evaluation_batches(self, samples, batch_size: int, workers: int | None, placement):
        if distributed.joined():  # this process's part of the samples
            return distributed.evaluation_loader(samples, batch_size, workers, placement.device.type == "cuda",
                                                 current_world())
        if isinstance(samples, InMemorySamples):
            return ArrayBatches(samples, batch_size, training=False, pin=placement.device.type == "cuda")
        return make_loader(samples, batch_size, workers=workers, pin=placement.device.type == "cuda")

    # -- model files and inference -------------------------------------------------------------------
    def read_model_file(self, path: str) -> dict:
        return load_model_file(path)

    def load_weights(self, model, graph, payload: dict) -> None:
        model.load_state_dict(payload["state_dict"])
        model.eval()

    def predict_batches(self, model, samples, batch_size: int, workers: int | None, placement):
        # a data-parallel process's share of the predictions comes with its batches (RankShare)
        loader = make_loader(samples, batch_size, workers=workers, pin=placement.device.type == "cuda",
                             persistent=False, batch_sampler=getattr(samples, "batches", None))
        model.eval()
        with torch.no_grad():
            for batch in loader:
                x = to_device(batch, placement.device, placement.channels_last)["x"]
                with placement.autocast():
                    out = model(x)
                yield list(batch["name"]), out.float().cpu().numpy()

    # -- export ---------------------------------------------------------------------------------------
    export_formats = ("onnx", "torchscript")

    def export_model(self, model, input_shape, fmt: str, path: str) -> dict:
        if fmt not in self.export_formats:
            return super().export_model(model, input_shape, fmt, path)  # the one-line refusal
        from dlae_torch.export import export_model

        return export_model(model, tuple(input_shape), fmt, path)


Backend = TorchBackend
