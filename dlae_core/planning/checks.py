"""Cross-key checks of a parsed config (things one key alone cannot tell)."""

from __future__ import annotations

from dlae_core.config.schema import Config
from dlae_core.errors import Problem, problem


def check_config(config: Config, registry) -> list[Problem]:
    """Problems that involve several keys; every rule here says which key to change."""
    found: list[Problem] = []
    for rule in (_normalization, _loss, _categorical_sparse, _input_shape, _paths, _session, _saving, _collisions):
        found.extend(rule(config, registry))
    found.extend(registry.techniques[config.config_file.model_signal].check_config(config, registry))
    return found


_LISTS = ("serial_layer_list", "generator_layer_list", "discriminator_layer_list")


def _normalization(config: Config, registry) -> list[Problem]:
    from dlae_core.layers.networks import NETWORK_NAMES

    pre = config.preprocessing
    kind = pre.normalization_type
    out = []
    if kind.startswith("global_"):
        count = 2 if kind.endswith("_xy") else 1
        for key in ("minimum_image_intensity", "maximum_image_intensity"):
            values = getattr(pre, key)
            if len(values) != count:
                out.append(problem(f"preprocessing.{key}", f"{kind} needs exactly {count} value(s)",
                                   expected="one number for inputs" if count == 1 else
                                   "two comma-separated numbers: inputs, targets", received=", ".join(map(str, values))))
        for index in range(count):
            lo, hi = pre.minimum_image_intensity, pre.maximum_image_intensity
            if index < len(lo) and index < len(hi) and hi[index] <= lo[index]:
                out.append(problem("preprocessing.maximum_image_intensity",
                                   f"the maximum intensity must exceed the minimum for {kind}",
                                   expected=f"a value > {lo[index]}", received=hi[index]))
    if kind == "imagenet" and not any(spec.type in NETWORK_NAMES for name in _LISTS
                                      for spec in getattr(config.layers, name)):
        out.append(problem("preprocessing.normalization_type",
                           "imagenet normalization is the input preprocessing of a pretrained network's ImageNet "
                           "weights, but no layer list holds a pretrained network",
                           expected="a pretrained network (e.g. ResNet50) in the layers, or another normalization",
                           received=kind))
    if kind.endswith("_xy") and kind != "none" and pre.categorical_switch:
        out.append(problem("preprocessing.normalization_type",
                           "a *_xy normalization rescales the targets, which cannot be combined with "
                           "categorical_switch (class labels)", expected="a *_x normalization", received=kind))
    return out


def _loss(config: Config, registry) -> list[Problem]:
    technique, loss_name = config.config_file.model_signal, config.loss_function.loss
    info = registry.losses.get(loss_name)
    if info is None:
        return []
    out = []
    own = registry.techniques[technique].check_loss(config, registry)
    if own is not None:
        out.extend(own)
    elif technique not in info.techniques:
        suited = sorted(n for n, i in registry.losses.items() if technique in i.techniques)
        out.append(problem("loss_function.loss", f"loss {loss_name!r} cannot train a {technique}",
                           expected="one of " + ", ".join(repr(n) for n in suited), received=loss_name))
    if loss_name == "tversky":
        p1, p2 = config.loss_function.parameter1, config.loss_function.parameter2
        if p1 < 0 or p2 < 0 or p1 + p2 <= 0:
            out.append(problem("loss_function.parameter1", "tversky needs alpha, beta >= 0 with alpha + beta > 0",
                               expected="e.g. parameter1 0.3 and parameter2 0.7", received=(p1, p2)))
    if loss_name in ("jaccard", "focal") and config.loss_function.parameter1 <= 0:
        meaning = "the smoothing constant" if loss_name == "jaccard" else "alpha"
        out.append(problem("loss_function.parameter1", f"{loss_name} is identically zero unless {meaning} > 0",
                           expected="a number > 0 (e.g. 100 for jaccard, 0.75 for focal)",
                           received=config.loss_function.parameter1))
    if loss_name == "ssd" and int(config.loss_function.parameter1) < 0:
        out.append(problem("loss_function.parameter1", "the negatives:positives ratio must be >= 0",
                           received=config.loss_function.parameter1))
    return out


def _categorical_sparse(config: Config, registry) -> list[Problem]:
    """categorical_switch one-hot encodes the targets; a sparse loss needs the integer labels themselves.

    Located at the switch, not the loss: the sparse loss already reads integer labels, so switching
    one-hot encoding off trains exactly what the user asked for (the same objective), while changing
    the loss is the alternative the message names."""
    pre = config.preprocessing
    info = registry.losses.get(config.loss_function.loss)
    technique = registry.techniques[config.config_file.model_signal]
    if not (pre.categorical_switch and info is not None and info.target == "sparse"
            and technique.categorical_targets):
        return []
    loss = config.loss_function.loss
    return [problem("preprocessing.categorical_switch",
                    f"categorical_switch one-hot encodes the targets, but {loss} takes the integer class labels "
                    f"themselves", expected=f"False with {loss} (it reads the labels directly: the same training), "
                    f"or loss_function.loss 'categorical_crossentropy' for one-hot targets", received=True)]


def _input_shape(config: Config, registry) -> list[Problem]:
    """A config_file.input_shape written in the config must fit the Input layer, which defines the
    network input: otherwise input_shape is silently ignored (or, where a technique reads it,
    disagrees with the network). Accepted, as the original GUI wrote it: the Input layer's shape or
    that shape without a trailing channel axis of 1 (how data files may store samples). Only for a
    technique with one layer list (a GAN's two Input layers make input_shape ambiguous: the
    original's GAN configs give the target image's shape), and not repeated where the technique's
    own graph checks already report config_file.input_shape."""
    if "config_file.input_shape" not in config.given:
        return []
    technique = registry.techniques[config.config_file.model_signal]
    if len(technique.layer_lists) != 1:
        return []
    list_name = technique.layer_lists[0]
    specs = getattr(config.layers, list_name, ())
    layer_type = registry.layers.get(specs[0].type) if specs else None
    if layer_type is None or layer_type.role != "input":
        return []  # the graph walk reports the missing Input layer
    shape, given = tuple(specs[0]["shape"]), tuple(config.config_file.input_shape)
    if given == shape or (shape[-1:] == (1,) and given == shape[:-1]) or _technique_reports_input_shape(
            technique, config, registry):
        return []
    forms = f"{shape} or {shape[:-1]}" if shape[-1:] == (1,) else f"{shape}"
    return [problem("config_file.input_shape", f"differs from the shape {shape} of the Input layer "
                    f"(layers.{list_name}[0]), which defines the network input",
                    expected=f"{forms}, or leave the key out", received=given)]


def _technique_reports_input_shape(technique, config: Config, registry) -> bool:
    """Whether the technique's own graph checks report config_file.input_shape (BBD: its anchors)."""
    from dlae_core.planning.graph import WalkError

    try:
        graphs = technique.build_graphs(config, registry)
    except WalkError:
        return False
    return any(p.where == "config_file.input_shape" for p in technique.check_graphs(config, registry, graphs))


def _pair(config: Config, a: str, b: str) -> list[Problem]:
    first, second = getattr(config.paths, a), getattr(config.paths, b)
    if bool(first) != bool(second):
        missing = b if first else a
        return [problem(f"paths.{missing}", f"paths.{a} and paths.{b} must be set together",
                        expected="a path", received="")]
    return []


def _paths(config: Config, registry) -> list[Problem]:
    if not registry.techniques[config.config_file.model_signal].reads_targets:
        return []  # the technique makes its targets from the inputs
    return _pair(config, "train_X", "train_y") + _pair(config, "validation_X", "validation_y")


def _session(config: Config, registry) -> list[Problem]:
    session = config.config_file.type_signal
    paths = config.paths
    if session == "Inference":
        out = []
        if not paths.load_model:
            out.append(problem("paths.load_model", "an Inference session needs the model to load",
                               expected="the path of a saved model", received=""))
        if not paths.test_X:
            out.append(problem("paths.test_X", "an Inference session needs the inputs to predict on",
                               expected="an HDF5 file path", received=""))
        return out
    if session == "Train from Checkpoint" and not paths.load_checkpoint:
        return [problem("paths.load_checkpoint", "Train from Checkpoint needs the checkpoint to continue from",
                        expected="the path of a checkpoint saved by dlae", received="")]
    return []


def _saving(config: Config, registry) -> list[Problem]:
    save = config.save_configurations
    out = []
    for what in ("model", "csv", "checkpoints", "tensorboard"):
        if getattr(save, f"save_{what}_switch") and not getattr(save, f"save_{what}_path"):
            out.append(problem(f"save_configurations.save_{what}_path",
                               f"save_{what}_switch is True but no path is given", expected="a path", received=""))
    if config.training_configurations.epochs == 0 and config.config_file.type_signal != "Inference" \
            and not save.save_model_switch:  # the session would build a model and throw it away
        out.append(problem("save_configurations.save_model_switch", "training_configurations.epochs is 0, which "
                           "only builds and saves the model, but saving the model is off",
                           expected="save_model_switch true (or epochs of 1 or more)", received=False))
    return out


def _collisions(config: Config, registry) -> list[Problem]:
    from dlae_core.running.paths import output_collisions

    return output_collisions(config)
