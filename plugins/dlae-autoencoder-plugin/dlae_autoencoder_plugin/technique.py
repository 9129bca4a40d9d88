"""AE: an autoencoder -- an FCN whose target is its own input (a plugin technique).

Config: ``config_file.model_signal "AE"``, a ``serial_layer_list`` that ends in the input's shape,
a dense loss (``mean_squared_error``, ``mean_absolute_error`` or a plugin's dense loss) and the
inputs ``paths.train_X`` (and optionally ``paths.validation_X`` or ``validation_split``). No y
file is read: see :mod:`dlae_autoencoder_plugin.data` for how targets are made (augmentation
included). Predictions (``paths.test_X``) are the reconstructions, in the units of X where the
input normalization can be inverted (``none`` or ``global_*``).

Training, resuming, checkpoints, history and prediction are the core's supervised session on any
backend: the technique only supplies its checks, its data and its prediction preprocessing.
"""

from __future__ import annotations

from dlae_core.api import SupervisedTechnique, problem

from dlae_autoencoder_plugin.data import prepare_reconstruction_data

__all__ = ["AE"]


class AE(SupervisedTechnique):
    name = "AE"
    doc = "Autoencoder: an FCN trained to reconstruct its input (targets = inputs, no y files)."
    prediction_prefix = "ae"
    map_targets = True  # the target is an image resampled with the input by augmentation
    categorical_targets = False  # never one-hot encoded
    generates_images = True  # predictions are images, written in the units of X where invertible
    # For a core that lets a technique do without y files (see the plugin README): AE reads
    # paths.train_X / validation_X only.
    reads_targets = False

    # -- config checks ---------------------------------------------------------------------------
    def check_config(self, config, registry) -> list:
        out = []
        paths = config.paths
        for target, source in (("train_y", "train_X"), ("validation_y", "validation_X")):
            value, inputs = getattr(paths, target), getattr(paths, source)
            if value and value != inputs:
                out.append(problem(f"paths.{target}", f"an AE's targets are its inputs, so {target} is not read",
                                   expected=f"no {target}, or the {source} file {inputs!r}", received=value))
        if config.preprocessing.categorical_switch:
            out.append(problem("preprocessing.categorical_switch", "an AE's targets are its input images, not "
                               "class labels", expected="False", received=True))
        return out

    def check_loss(self, config, registry) -> list:
        name = config.loss_function.loss
        info = registry.losses.get(name)
        if info is None or info.target == "dense":
            return []
        dense = sorted(n for n, i in registry.losses.items() if i.target == "dense")
        return [problem("loss_function.loss", f"loss {name!r} cannot train an AE: it compares against "
                        f"{info.target} targets, but an AE's target is its input image",
                        expected="a dense (regression) loss: one of " + ", ".join(repr(n) for n in dense),
                        received=name)]

    def check_graphs(self, config, registry, graphs: dict) -> list:
        graph = graphs["model"]
        shape = tuple(graph.input_shapes[0])
        if tuple(graph.output_shape) == shape:
            return []
        return [problem(f"layers.{graph.list_name}", "an AE must reconstruct its input, so the network must end in the "
                        "input's shape", expected=f"an output shape {shape} (e.g. a final Convolution with "
                        f"{shape[-1]} filter(s))", received=graph.output_shape)]

    # -- data checks ---------------------------------------------------------------------------------
    def check_target_shape(self, rules, tally, name: str, shape: tuple, x_shape: tuple) -> None:
        """Only called when a y file is paired with X, which for an AE is X itself (check_config
        refuses any other): the input checks already cover it."""

    # -- sessions ---------------------------------------------------------------------------------------
    def training_data(self, run, placement):
        on_device = placement.augments_on_device and run.config.augmentation.apply_augmentation_switch
        return prepare_reconstruction_data(run, on_device=on_device)

    def prediction_job(self, run, plan, payload: dict):
        job = super().prediction_job(run, plan, payload)
        # the outputs are reconstructed inputs: inverse_target undoes the *input* normalization
        # (as reconstruction_preprocessor does for training)
        job.preprocessor.y_norm = job.preprocessor.x_norm
        return job

