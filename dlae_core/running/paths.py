"""The files a config reads and writes: relative paths resolved against the config's folder, and
outputs that would destroy an input or each other refused before anything runs."""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from dlae_core.errors import Problem, problem

INPUTS = ("train_X", "train_y", "validation_X", "validation_y", "test_X", "load_model", "load_checkpoint")
#: the inputs a training session reads (``load_model``/``test_X`` belong to Inference sessions: the
#: example configs train into the model file a later ``dlae predict`` loads)
TRAINING_INPUTS = ("train_X", "train_y", "validation_X", "validation_y", "load_checkpoint")
INFERENCE_INPUTS = ("test_X", "load_model")
#: (switch, path key, what) of the save_configurations outputs
OUTPUTS = (("save_model_switch", "save_model_path", "final model"),
           ("save_checkpoints_switch", "save_checkpoints_path", "checkpoint"),
           ("save_csv_switch", "save_csv_path", "CSV history"),
           ("save_tensorboard_switch", "save_tensorboard_path", "TensorBoard log folder"))


def resolve_relative_paths(config, base: str | Path):
    """``config`` with every relative path of ``paths`` and ``save_configurations`` made absolute
    against ``base`` (the folder of the config file), so a config works from any directory and a
    copied experiment folder reads and writes its own files."""
    base = Path(base)

    def absolute(value):
        if not value:
            return value
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else base / path)

    paths = {name: absolute(getattr(config.paths, name)) for name in INPUTS}
    saves = {key: absolute(getattr(config.save_configurations, key)) for _, key, _ in OUTPUTS}
    layers = {name: tuple(_absolute_weights(spec, absolute) for spec in getattr(config.layers, name))
              for name in ("serial_layer_list", "generator_layer_list", "discriminator_layer_list")}
    return config.evolve(paths=paths, save_configurations=saves, layers=layers)


def _absolute_weights(spec, absolute):
    """A pretrained network's weights-file path made absolute (``imagenet`` and ``none`` stay)."""
    weights = spec.params.get("weights") if hasattr(spec, "params") else None
    if not isinstance(weights, str) or weights in ("imagenet", "none"):
        return spec
    return attrs.evolve(spec, params={**spec.params, "weights": absolute(weights)})


def _real(path: str) -> Path:
    """The path with symlinks followed (as far as they exist) and made absolute."""
    return Path(os.path.realpath(os.path.expanduser(path)))


def output_collisions(config) -> list[Problem]:
    """Problems for every training output that is an input file or the same file as another output
    (the TensorBoard folder only ever loses its own event files). Resuming may write new checkpoints over the
    checkpoint it continues from, and only that."""
    if config.config_file.type_signal == "Inference":
        return []
    save, paths = config.save_configurations, config.paths
    inputs = {name: _real(getattr(paths, name)) for name in TRAINING_INPUTS if getattr(paths, name)}
    outputs = [(key, what, _real(getattr(save, key))) for switch, key, what in OUTPUTS
               if getattr(save, switch) and getattr(save, key)]
    out: list[Problem] = []
    for key, what, path in outputs:
        for name, source in inputs.items():
            if key in ("save_checkpoints_path", "save_model_path") and name == "load_checkpoint":
                continue  # a resumed run supersedes the model file it continues from
            if source == path:
                out.append(problem(f"save_configurations.{key}", f"the {what} is the input paths.{name}, "
                                   f"which writing it would destroy",
                                   expected="an output path different from every input file",
                                   received=getattr(save, key)))
    for index, (key, what, path) in enumerate(outputs):
        for other_key, other_what, other in outputs[index + 1:]:
            if path == other:
                out.append(problem(f"save_configurations.{other_key}", f"the {other_what} and the {what} "
                                   f"(save_configurations.{key}) are the same file",
                                   expected="a different path for each output", received=getattr(save, other_key)))
    return out


def input_paths(config, keys=INPUTS) -> dict[str, Path]:
    """key -> real path of the input files ``keys`` the config names."""
    return {name: _real(getattr(config.paths, name)) for name in keys if getattr(config.paths, name)}


@attrs.frozen
class Collision:
    """An output path that is an input of the session."""

    key: str
    path: Path


def collision_with_inputs(config, output: str | Path) -> Collision | None:
    """The input key of an Inference session whose file ``output`` is (symlinks followed), or None."""
    target = _real(str(output))
    for name, path in input_paths(config, INFERENCE_INPUTS).items():
        if path == target:
            return Collision(name, path)
    return None
