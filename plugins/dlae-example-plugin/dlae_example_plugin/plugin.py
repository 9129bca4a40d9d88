"""The example plugin: what a third party writes to add a layer, a loss, an activation and an optimizer.

Everything here is framework-free and imported from ``dlae_core.api`` only. The records carry their
backend implementations as lazy references ``"module:attribute"``: dlae imports
``dlae_example_plugin.torch_impl`` only when the torch backend needs one of them, and
``dlae_example_plugin.tf_impl`` only for the tensorflow backend, so ``dlae list`` or ``dlae validate``
never import a framework.
"""

from __future__ import annotations

from dlae_core.api import ActivationInfo, Int, LayerSpec, LayerType, LossInfo, OptimizerInfo, Param, hookimpl


def implementations(attribute: str) -> dict[str, str]:
    """The lazy references to ``attribute`` of the torch and the tensorflow implementation modules."""
    return {"torch": f"dlae_example_plugin.torch_impl:{attribute}",
            "tensorflow": f"dlae_example_plugin.tf_impl:{attribute}"}


class SqueezeExcitation2D(LayerType):
    """Channel attention: global average pool, bottleneck dense (relu), dense (sigmoid), rescale."""

    name = "Squeeze excitation 2D"
    rank = 2
    family = "attention"
    params = (Param("ratio", Int(minimum=1), 4, "channel reduction ratio of the bottleneck"),)
    doc = "Squeeze-and-excitation channel attention (output shape = input shape)."
    implementations = implementations("build_squeeze_excitation")

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        return shape

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        channels = shape[-1]
        hidden = max(1, channels // spec["ratio"])
        return (channels * hidden + hidden + hidden * channels + channels, 0)


LOG_COSH = LossInfo("log_cosh", "mean of log(cosh(p - y)): L2 near zero, L1 far away.", "dense", ("CNN", "FCN"),
                    implementations=implementations("build_log_cosh"))

MISH = ActivationInfo("mish", "x * tanh(softplus(x))", implementations=implementations("build_mish"))

LION = OptimizerInfo("Lion", "Lion (EvoLved Sign Momentum): the sign of an interpolated momentum; "
                             "beta1 interpolates, beta2 updates the momentum; no weight decay.",
                     ("beta1", "beta2"), implementations=implementations("build_lion"))


@hookimpl
def register_layers(register):
    register(SqueezeExcitation2D())


@hookimpl
def register_losses(register):
    register(LOG_COSH)


@hookimpl
def register_activations(register):
    register(MISH)


@hookimpl
def register_optimizers(register):
    register(LION)
