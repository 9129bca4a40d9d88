"""Inference sessions: load a saved model, preprocess test_X like training, write predictions
(the framework-free part is :mod:`dlae_core.running.prediction`; the file layout is the torch backend's)."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from dlae_core.errors import BackendError, ModelFileError
from dlae_core.running.prediction import PredictionJob, claim_predictions_path, saved_plan
from dlae_core.running.run import Run, write_predictions

from dlae_tensorflow.device import choose_placement
from dlae_tensorflow.loader import make_batches
from dlae_tensorflow.modelfile import load_model_file
from dlae_tensorflow.setup import build_model
from dlae_tensorflow.weights import import_weights


def load_saved(path: str, registry, builders: dict, placement):
    """(model, plan of the saved config, payload) for a model file saved by this backend; the model
    is rebuilt from the stored config, so the losses (plugin or not) of the training never matter."""
    payload = load_model_file(path)
    plan = saved_plan(payload, registry, path)
    graph = plan.graphs[payload.get("graph_role", "model")]
    model = build_model(graph, builders, placement)
    try:
        import_weights(model, graph, payload["weights"])
    except BackendError as exc:
        raise ModelFileError(f"the weights stored in {path!r} do not fit its network: "
                             f"{str(exc).splitlines()[0]}") from None
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
    batches = make_batches(job.samples, run.config.training_configurations.batch_size, workers=run.options.workers)

    @tf.function(input_signature=[batches.element_spec["x"]])
    def forward(x):
        return tf.cast(model(x, training=False), tf.float32)

    def generate():
        for batch in batches:
            names = [n.decode() for n in batch["name"].numpy()]
            with placement.scope():
                out = forward(batch["x"]).numpy()
            yield from zip(names, job.outputs(out))

    return write_predictions(out_path, generate(), job.attributes("tensorflow"))
