"""GAN: image-to-image translation, pix2pix (paired) or cycleGAN (unpaired) (a built-in technique).

The session is the core's (:class:`~dlae_core.techniques.gan.loop.GanLoop`); a backend supplies
the networks' updates as its implementation of technique ``GAN``:
``{"GAN": gan_implementation(EngineClass)}``, where ``EngineClass(run, backend, data, placement)``
is a :class:`~dlae_core.techniques.gan.loop.GanEngine` (with a ``generators`` dict of role -> model).
"""

from __future__ import annotations

import functools

import attrs

from dlae_core.data.hdf5 import with_channel_axis
from dlae_core.errors import problem
from dlae_core.techniques.base import Technique, where

LOSSES = ("pix2pix", "cyclegan")


@attrs.define
class GanImplementation:
    """Technique GAN on one backend: makes the backend's engine for a session."""

    backend: object
    engine_class: type

    def engine(self, run, data, placement):
        return self.engine_class(run, self.backend, data, placement)


def gan_implementation(engine_class: type):
    """The class-like factory ``backend -> GanImplementation`` a backend registers."""
    return functools.partial(GanImplementation, engine_class=engine_class)


class GAN(Technique):
    name = "GAN"
    doc = "Image-to-image translation: pix2pix (paired) or cycleGAN (unpaired)."
    layer_lists = ("generator_layer_list", "discriminator_layer_list")
    prediction_prefix = "gan"
    map_targets = True
    generates_images = True
    needs_implementation = True

    # -- planning ------------------------------------------------------------------------------------
    def build_graphs(self, config, registry) -> dict:
        from dlae_core.planning.graph import build_graph

        layers = config.layers
        generator = build_graph("generator_layer_list", layers.generator_layer_list, registry)
        condition = generator.input_shapes[0] if config.loss_function.loss == "pix2pix" else None
        discriminator = build_graph("discriminator_layer_list", layers.discriminator_layer_list, registry,
                                    condition_shape=condition)
        return {"generator": generator, "discriminator": discriminator}

    def main_role(self, graphs: dict) -> str:
        return "generator"

    def check_loss(self, config, registry) -> list:
        if config.loss_function.loss not in LOSSES:
            return [problem("loss_function.loss", "a GAN is chosen by its loss", expected="'pix2pix' or 'cyclegan'",
                            received=config.loss_function.loss)]
        return []

    def check_graphs(self, config, registry, graphs: dict) -> list:
        generator, discriminator = graphs["generator"], graphs["discriminator"]
        out = []
        target = discriminator.input_shapes[0]
        if generator.output_shape != target:
            out.append(problem(where(generator), "the generator output must have the shape of the discriminator's "
                               "Input (the target image)", expected=str(target), received=generator.output_shape))
        if config.loss_function.loss == "cyclegan" and generator.input_shapes[0] != target:
            out.append(problem(where(discriminator) + "[0]", "cycleGAN translates both ways, so the discriminator "
                               "Input (domain y) must match the generator Input (domain X)",
                               expected=str(generator.input_shapes[0]), received=target))
        if len(discriminator.output_shape) != len(target):
            out.append(problem(where(discriminator), "the discriminator must end in a patch map (rows, cols, 1)",
                               received=discriminator.output_shape))
        return out

    def target_shape(self, plan) -> tuple:
        return tuple(plan.graphs["discriminator"].input_shapes[0])

    def check_target_shape(self, rules, tally, name: str, shape: tuple, x_shape: tuple) -> None:
        got = with_channel_axis(shape, rules.spatial)
        want = rules.output if not rules.switch else rules.output[:-1] + (1,)
        if got != want:
            tally.add("y-shape", name, f"the target image must have the generator output shape {rules.output} "
                      "(the discriminator Input)", f"{want}" + (f" or {want[:-1]}" if want[-1] == 1 else ""), shape)

    # -- the session ---------------------------------------------------------------------------------
    def train(self, run, backend):
        from dlae_core.data.memory import keep_in_memory
        from dlae_core.techniques.gan.datasets import gan_data
        from dlae_core.techniques.gan.loop import GanLoop, check_gan_session, refuse_existing_outputs

        config = run.config
        check_gan_session(config)
        data = gan_data(config, run.plan, run.registry)
        refuse_existing_outputs(config, run.options.overwrite, data.validation is not None)
        placement = backend.placement(config, len(run.plan.main.input_shapes[0]) - 1)
        backend.seed(config.augmentation.random_seed)
        engine = backend.technique_implementation(self.name).engine(run, data, placement)
        data.train, _, memory = keep_in_memory(data.train, enabled=config.training_configurations.cache_data)
        batches, set_epoch = backend.training_batches(data.train, config.training_configurations.batch_size,
                                                      run.options.workers, placement)
        loop = GanLoop(config, engine, data.validation, quiet=run.options.quiet, note=placement.note,
                       collective=backend.collective(), lines=[memory])
        result = loop.run(batches, set_epoch=set_epoch)
        result.models = dict(engine.generators)
        return result

    def required_components(self, config, plan, registry):
        for kind, name, where_ in super().required_components(config, plan, registry):
            if kind not in ("loss", "optimizer"):  # the GAN objective is the technique's own code
                yield kind, name, where_
        yield "optimizer", config.optimizer.gan_optimizer.optimizer, "optimizer.gan_optimizer"
        yield "optimizer", config.optimizer.discriminator_optimizer.optimizer, "optimizer.discriminator_optimizer"

    def report_images(self, config) -> list:
        """The last preview sheet (source | generated | target of validation samples)."""
        from dlae_core.techniques.gan.loop import preview_folder

        sheets = sorted(preview_folder(config).glob("epoch_*.png"), key=lambda p: int(p.stem.split("_")[1]))
        return [("Generated samples (source | generated | target)", sheets[-1])] if sheets else []

    def written_outputs(self, config) -> list:
        from pathlib import Path

        from dlae_core.techniques.gan.loop import final_generator_paths, preview_folder

        save = config.save_configurations
        out = [(f"final {role}", path) for role, path in final_generator_paths(config).items()]
        out += [("CSV history", Path(save.save_csv_path))] if save.save_csv_switch and save.save_csv_path else []
        if save.save_tensorboard_switch and save.save_tensorboard_path:
            out.append(("TensorBoard log folder", Path(save.save_tensorboard_path)))
        if save.save_checkpoints_switch and save.save_checkpoints_path:
            out.append(("generator checkpoints in", Path(save.save_checkpoints_path).parent))
        out.append(("previews", preview_folder(config)))
        return [(what, path) for what, path in out if path.exists()]
