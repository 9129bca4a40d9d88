"""Inference sessions: load a saved model, preprocess test_X like training, write predictions
(the framework-free part is :mod:`dlae_core.running.prediction`)."""

from __future__ import annotations

from pathlib import Path

import torch

from dlae_core.running.prediction import PredictionJob, claim_predictions_path, saved_plan
from dlae_core.running.run import Run, write_predictions

from dlae_torch.device import choose_placement
from dlae_torch.loader import make_loader, to_device
from dlae_torch.modelfile import load_model_file
from dlae_torch.setup import build_model


def load_saved(path: str, registry, builders: dict, placement):
    """(model, plan of the saved config, payload) for a model file saved by this backend; the model
    is rebuilt from the stored config, so the losses (plugin or not) of the training never matter."""
    payload = load_model_file(path)
    plan = saved_plan(payload, registry, path)
    graph = plan.graphs[payload.get("graph_role", "model")]
    model = build_model(graph, builders, placement)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, plan, payload


def predict(run: Run, builders: dict) -> tuple[Path, int]:
    config = run.config
    out_path = claim_predictions_path(run)
    placement = choose_placement(config, len(run.plan.main.input_shapes[0]) - 1)
    model, plan, payload = load_saved(config.paths.load_model, run.registry, builders, placement)
    return out_path, write_outputs(run, model, placement, PredictionJob.create(run, plan, payload), out_path)


def write_outputs(run: Run, model, placement, job, out_path: Path) -> int:
    """Run ``model`` over ``job.samples`` and write ``job.outputs`` of every batch to ``out_path``
    (``job``: a PredictionJob, or BBD's DetectionJob); returns the number of samples written."""
    loader = make_loader(job.samples, run.config.training_configurations.batch_size,
                         workers=run.options.workers, pin=placement.device.type == "cuda", persistent=False)

    def generate():
        with torch.no_grad():
            for batch in loader:
                x = to_device(batch, placement.device, placement.channels_last)["x"]
                with placement.autocast():
                    out = model(x)
                yield from zip(batch["name"], job.outputs(out.float().cpu().numpy()))

    return write_predictions(out_path, generate(), job.attributes("torch"))
