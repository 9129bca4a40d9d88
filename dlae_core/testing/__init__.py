"""The plugin test kit: checks a plugin author runs with pytest on every installed backend.

Each check builds what it needs through the backend's declared interface
(:class:`dlae_core.api.Backend`, obtained with ``registry.backend(name)``) and raises
:class:`CheckFailed` (an ``AssertionError``, so pytest reports a failure) with one line per thing
that differed. Typical use in a plugin's tests::

    import pytest
    from dlae_core import testing

    import my_plugin.plugin

    REGISTRY = testing.make_registry(my_plugin.plugin)

    @pytest.mark.parametrize("backend", testing.backend_params(REGISTRY))
    def test_my_layer(backend):
        testing.check_layer(REGISTRY, "My layer", backend)

    @pytest.mark.parametrize("backends", testing.backend_pair_params(REGISTRY))
    def test_my_layer_across_backends(backends):
        testing.check_layer(REGISTRY, "My layer", backends[0], compare_with=backends[1])

The checks:

* :func:`check_layer` -- output shape and parameter counts against the layer type's
  ``output_shape``/``param_counts``, finite outputs, the weights in the canonical layout (sizes, the
  built-in layers' canonical shapes, import then export gives them back), an optional numpy
  reference, and with ``compare_with`` the same outputs on two backends after exchanging weights;
* :func:`check_loss` -- the loss value against a numpy reference on seeded data of several shapes;
* :func:`check_activation` -- an ``Activation:<name>`` layer against a numpy reference;
* :func:`check_optimizer_step` -- a few optimizer steps on a tiny parameter against a numpy reference.

Importing this package imports no deep-learning framework (a check imports the one of the backend
it runs on).
"""

from dlae_core.testing.backends import (
    backend_pair_params,
    backend_pairs,
    backend_params,
    installed_backends,
    make_registry,
)
from dlae_core.testing.checks import (
    CheckFailed,
    check_activation,
    check_layer,
    check_loss,
    check_optimizer_step,
    layer_graph,
    loss_data,
)

__all__ = [
    "CheckFailed",
    "backend_pair_params",
    "backend_pairs",
    "backend_params",
    "check_activation",
    "check_layer",
    "check_loss",
    "check_optimizer_step",
    "installed_backends",
    "layer_graph",
    "loss_data",
    "make_registry",
]
