"""The framework-free side of an inference session, shared by every backend.

A backend's predictor loads its model file, then hands the rest to :class:`PredictionJob`: which
preprocessing applies (the saved training config's, with its featurewise statistics), which samples
to read, what each output becomes in the predictions file and which attributes describe it.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import numpy as np

from dlae_core.config.parser import parse_config
from dlae_core.data.datasets import PredictionSamples
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import make_splits
from dlae_core.errors import ModelFileError, OutputExistsError
from dlae_core.planning.plan import ModelPlan, plan_model
from dlae_core.running.paths import collision_with_inputs
from dlae_core.running.run import Run, predictions_path, refuse_existing


def claim_predictions_path(run: Run) -> Path:
    """Where this session writes its predictions; refuses (before any work) an existing
    ``--predictions`` file unless ``--overwrite``, and an input file always. The default name is
    claimed by creating it empty (exclusively: two predictions started in the same second get
    ``..._2.h5`` and so on, never the same file)."""
    technique = run.registry.techniques[run.plan.technique]
    prefix = technique.prediction_prefix or technique.name.lower()
    out_path = predictions_path(prefix, run.options.predictions)
    collision = collision_with_inputs(run.config, out_path)
    if collision is not None:
        raise OutputExistsError(f"the predictions file {str(out_path)!r} is the input paths.{collision.key}; "
                                f"choose another --predictions (--overwrite never replaces an input)")
    if not run.options.predictions:
        return _create_unique(out_path)
    refuse_existing([("predictions file", out_path)], run.options.overwrite, hint="or choose --predictions")
    return out_path


def _create_unique(path: Path) -> Path:
    """``path`` or the first free ``<stem>_<k><suffix>``, created empty so no other process takes it."""
    for k in range(1, 10_000):
        candidate = path if k == 1 else path.with_name(f"{path.stem}_{k}{path.suffix}")
        try:
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return candidate
    raise OutputExistsError(f"no free predictions file name beside {str(path)!r}; pass --predictions")


def saved_plan(payload: dict, registry, path: str, technique: str | None = None) -> ModelPlan:
    """The model plan of the training config stored in a model file (its data paths dropped, so a
    file trained elsewhere rebuilds here); ModelFileError unless it is a ``technique`` model."""
    try:
        saved = parse_config(payload["config"], registry, source=path)
        plan = plan_model(saved.evolve(paths={"load_model": None, "test_X": None, "load_checkpoint": None},
                                       config_file={"type_signal": "Train"}), registry)
    except Exception as exc:
        raise ModelFileError(f"the network stored in {path!r} cannot be rebuilt here: "
                             f"{str(exc).splitlines()[0]}") from None
    if technique is not None and plan.technique != technique:
        raise ModelFileError(f"{path!r} holds a {plan.technique} model, not a {technique} model; set "
                             f"config_file.model_signal to {plan.technique!r} or load a {technique} model")
    return plan


@attrs.frozen
class _SavedStats:
    mean: np.ndarray
    std: np.ndarray


@attrs.frozen(eq=False)
class PredictionJob:
    """What to predict and how to store it, for a model trained with ``plan``."""

    preprocessor: Preprocessor
    samples: PredictionSamples
    technique: str
    model_path: str
    generates_images: bool = False

    @classmethod
    def create(cls, run: Run, plan: ModelPlan, payload: dict, *, generates_images: bool = False) -> "PredictionJob":
        stats = payload.get("stats")
        stats = _SavedStats(stats["mean"], stats["std"]) if stats else None
        pre = Preprocessor(run.config, plan, run.registry, stats=stats)
        split = make_splits(run.config, "Inference")["test"]
        return cls(pre, PredictionSamples(pre, split), plan.technique, str(run.config.paths.load_model),
                   generates_images)

    def output(self, array: np.ndarray) -> np.ndarray:
        """The stored form of one network output: GAN images in target units where the
        normalization is invertible, anything else as the network gives it."""
        return self.preprocessor.inverse_target(array) if self.generates_images else array

    def outputs(self, batch: np.ndarray) -> list[np.ndarray]:
        """The stored form of each sample of a batch of network outputs."""
        return [self.output(array) for array in batch]

    def attributes(self, backend: str) -> dict:
        values = (self.preprocessor.target_space if self.generates_images
                  else "network output (probabilities for softmax outputs)")
        return {"backend": backend, "model": self.model_path, "technique": self.technique, "values": values}
