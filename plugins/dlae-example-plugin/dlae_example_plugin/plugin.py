"""Example plugin: what a third party writes to add a layer, a loss and an activation.

Core facts (names, parameters, shapes, parameter counts) are registered framework-free;
the PyTorch implementations are registered only when the torch backend asks for them.
"""

from __future__ import annotations

from dlae_core.plugin.components import ActivationInfo, LossInfo
from dlae_core.config.values import Int
from dlae_core.plugin.hookspecs import hookimpl
from dlae_core.layers.spec import LayerSpec, LayerType, Param


class SqueezeExcitation2D(LayerType):
    """Channel attention: global average pool, bottleneck dense (relu), dense (sigmoid), rescale."""

    name = "Squeeze excitation 2D"
    rank = 2
    family = "attention"
    params = (Param("ratio", Int(minimum=1), 4, "channel reduction ratio of the bottleneck"),)
    doc = "Squeeze-and-excitation channel attention (output shape = input shape)."

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        return shape

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        channels = shape[-1]
        hidden = max(1, channels // spec["ratio"])
        return (channels * hidden + hidden + hidden * channels + channels, 0)


@hookimpl
def register_layers(register):
    register(SqueezeExcitation2D())


@hookimpl
def register_losses(register):
    register(LossInfo("log_cosh", "mean of log(cosh(p - y)): L2 near zero, L1 far away.", "dense", ("CNN", "FCN")))


@hookimpl
def register_activations(register):
    register(ActivationInfo("mish", "x * tanh(softplus(x))"))


@hookimpl
def register_builders(backend, register):
    if backend == "torch":
        from dlae_example_plugin import torch_impl as impl
    elif backend == "tensorflow":
        from dlae_example_plugin import tf_impl as impl
    else:
        return
    register("layer", SqueezeExcitation2D.name, impl.build_squeeze_excitation)
    register("loss", "log_cosh", impl.build_log_cosh)
    register("activation", "mish", impl.build_mish)
