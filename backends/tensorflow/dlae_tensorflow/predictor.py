"""Inference sessions: load a saved model, preprocess test_X like training, write predictions
(the layout of dlae_torch.predictor: one float32 dataset per input sample, the same attributes
except ``backend``)."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from dlae_core.config.parser import parse_config
from dlae_core.data.datasets import PredictionSamples
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import make_splits
from dlae_core.errors import BackendError, ModelFileError
from dlae_core.model import plan_model
from dlae_core.session import Run, predictions_path, refuse_existing, write_predictions

from .device import choose_placement
from .loader import make_batches
from .modelfile import load_model_file
from .setup import build_model
from .weights import import_weights


class _Stats:
    def __init__(self, stats: dict):
        self.mean, self.std = stats["mean"], stats["std"]


def load_saved(path: str, registry, builders: dict, placement):
    """(model, plan of the saved config, payload) for a model file saved by this backend; the model
    is rebuilt from the stored config, so the losses (plugin or not) of the training never matter."""
    payload = load_model_file(path)
    try:
        saved = parse_config(payload["config"], registry, source=path)
        saved_plan = plan_model(saved.evolve(paths={"load_model": None, "test_X": None, "load_checkpoint": None},
                                             config_file={"type_signal": "Train"}), registry)
    except Exception as exc:
        raise ModelFileError(f"the network stored in {path!r} cannot be rebuilt here: "
                             f"{str(exc).splitlines()[0]}") from None
    graph = saved_plan.graphs[payload.get("graph_role", "model")]
    model = build_model(graph, builders, placement)
    try:
        import_weights(model, graph, payload["weights"])
    except BackendError as exc:
        raise ModelFileError(f"the weights stored in {path!r} do not fit its network: "
                             f"{str(exc).splitlines()[0]}") from None
    return model, saved_plan, payload


def predict(run: Run, builders: dict) -> tuple[Path, int]:
    config = run.config
    out_path = predictions_path(config, run.options.predictions)
    refuse_existing([("predictions file", out_path)], run.options.overwrite, hint="or choose --predictions")
    placement = choose_placement(config, len(run.plan.main.input_shapes[0]) - 1)
    model, saved_plan, payload = load_saved(config.paths.load_model, run.registry, builders, placement)
    stats = _Stats(payload["stats"]) if payload.get("stats") else None
    pre = Preprocessor(config, saved_plan, run.registry, stats=stats)
    split = make_splits(config, "Inference")["test"]
    batches = make_batches(PredictionSamples(pre, split), config.training_configurations.batch_size,
                           workers=run.options.workers)

    @tf.function(input_signature=[batches.element_spec["x"]])
    def forward(x):
        return tf.cast(model(x, training=False), tf.float32)

    def generate():
        for batch in batches:
            names = [n.decode() for n in batch["name"].numpy()]
            with placement.scope():
                out = forward(batch["x"]).numpy()
            yield from zip(names, (pre.inverse_target(a) for a in out) if gan else out)

    gan = saved_plan.technique == "GAN"  # generated images, in target units where invertible
    attributes = {"backend": "tensorflow", "model": str(config.paths.load_model), "technique": saved_plan.technique,
                  "values": pre.target_space if gan else "network output (probabilities for softmax outputs)"}
    count = write_predictions(out_path, generate(), attributes)
    return out_path, count
