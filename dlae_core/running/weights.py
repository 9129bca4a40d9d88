"""The canonical weight layout every backend exports and imports (framework-free).

Weights travel between backends as ``{node name: {weight name: numpy array}}`` (only nodes that
have weights appear). The layout is the **Keras layout** — names and shapes of the Keras 3 layer
variables — so the tensorflow backend exports its variables as they are, and the torch backend
converts (``dlae_torch.weights``). ``C`` = input channels (last axis of the input), ``F`` = filters:

=====================================  ===================================================================
layer type                             weights (name: shape)
=====================================  ===================================================================
Convolution 2D/3D                      kernel: (kh, kw[, kd], C, F), bias: (F,)
Resize convolution 2D/3D               kernel: (kh, kw[, kd], C, F), bias: (F,)  (upsampling has no weights)
Transpose convolution 2D/3D            kernel: (kh, kw[, kd], F, C), bias: (F,)  (note: out before in)
Separable convolution 2D               depthwise_kernel: (kh, kw, C, 1), pointwise_kernel: (1, 1, C, F),
                                       bias: (F,)
Depthwise separable convolution 2D     kernel: (kh, kw, C, M), bias: (C * M,)   (M = multiplier =
                                       ``filters``; output channel c * M + m reads input channel c)
Dense                                  kernel: (C, units), bias: (units,)
Batch normalization                    gamma, beta, moving_mean, moving_variance: (C,) each
PreLU                                  alpha: the input shape (one slope per element, channels-last order)
=====================================  ===================================================================

All other built-in layer types have no weights. A plugin layer type uses the names and shapes of
its Keras implementation; its torch module provides ``export_keras_weights() -> dict`` and
``import_keras_weights(dict)`` in that layout.
"""

from __future__ import annotations

import math

import numpy as np

from dlae_core.errors import WeightExchangeError

CONV = ("Convolution 2D", "Convolution 3D", "Resize convolution 2D", "Resize convolution 3D")
TRANSPOSE = ("Transpose convolution 2D", "Transpose convolution 3D")

CANONICAL: dict[str, tuple[str, ...]] = {
    **{name: ("kernel", "bias") for name in CONV + TRANSPOSE},
    "Separable convolution 2D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "Depthwise separable convolution 2D": ("kernel", "bias"),
    "Dense": ("kernel", "bias"),
    "Batch normalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "PreLU": ("alpha",),
}


def canonical_shapes(spec, input_shape: tuple) -> dict[str, tuple] | None:
    """``{weight name: shape}`` of a built-in layer ``spec`` applied to the IR ``input_shape``:
    ``{}`` for a built-in type without weights, None for a type this module does not know.
    The options of pretrained networks leave weights out (``use_bias``: no bias, BatchNormalization
    ``scale``: no gamma) and shrink grouped kernels (``groups``: (kh, kw, C / groups, F)), as in Keras."""
    shapes = _full_shapes(spec, input_shape)
    if not shapes:
        return shapes
    options = spec.params
    if not options.get("use_bias", True):
        shapes.pop("bias", None)
    if not options.get("scale", True):
        shapes.pop("gamma", None)
    groups = options.get("groups", 1)
    if groups != 1:
        kernel = shapes["kernel"]
        shapes["kernel"] = kernel[:-2] + (kernel[-2] // groups, kernel[-1])
    return shapes


def _full_shapes(spec, input_shape: tuple) -> dict[str, tuple] | None:
    name, channels = spec.type, input_shape[-1]
    if name in CONV:
        kernel = tuple(spec["kernel"])
        return {"kernel": kernel + (channels, spec["filters"]), "bias": (spec["filters"],)}
    if name in TRANSPOSE:
        kernel = tuple(spec["kernel"])
        return {"kernel": kernel + (spec["filters"], channels), "bias": (spec["filters"],)}
    if name == "Separable convolution 2D":
        kernel, filters = tuple(spec["kernel"]), spec["filters"]
        return {"depthwise_kernel": kernel + (channels, 1), "pointwise_kernel": (1, 1, channels, filters),
                "bias": (filters,)}
    if name == "Depthwise separable convolution 2D":
        kernel, mult = tuple(spec["kernel"]), spec["filters"]
        return {"kernel": kernel + (channels, mult), "bias": (channels * mult,)}
    if name == "Dense":
        return {"kernel": (channels, spec["units"]), "bias": (spec["units"],)}
    if name == "Batch normalization":
        return {key: (channels,) for key in CANONICAL[name]}
    if name == "PreLU":
        return {"alpha": tuple(input_shape)}
    if name in _WEIGHTLESS:
        return {}
    return None


def graph_shapes(graph) -> dict[str, dict[str, tuple]]:
    """Canonical ``{node: {weight: shape}}`` of a graph's built-in layers (nodes without weights and
    plugin layer types are left out)."""
    out: dict[str, dict[str, tuple]] = {}
    for node in graph.nodes:
        if node.op != "layer":
            continue
        shapes = canonical_shapes(node.spec, tuple(graph.nodes[node.inputs[0]].output_shape))
        if shapes:
            out[node.name] = shapes
    return out


def _shape(value) -> tuple:
    return tuple(int(d) for d in (value.shape if hasattr(value, "shape") else value))


def check_compatible(a: dict, b: dict, names: tuple[str, str] = ("source", "target")) -> None:
    """Raise BackendError listing every node and weight whose presence or shape differs between the
    weight dicts (or ``{node: {weight: shape}}`` dicts) ``a`` and ``b``; ``names`` label the two."""
    first, second = names
    problems = []
    for node in sorted(set(a) | set(b)):
        if node not in b:
            problems.append(f"{node}: only in {first} ({', '.join(sorted(a[node]))})")
            continue
        if node not in a:
            problems.append(f"{node}: only in {second} ({', '.join(sorted(b[node]))})")
            continue
        for weight in sorted(set(a[node]) | set(b[node])):
            if weight not in b[node]:
                problems.append(f"{node}/{weight}: only in {first}")
            elif weight not in a[node]:
                problems.append(f"{node}/{weight}: only in {second}")
            elif _shape(a[node][weight]) != _shape(b[node][weight]):
                problems.append(f"{node}/{weight}: shape {_shape(a[node][weight])} in {first}, "
                                f"{_shape(b[node][weight])} in {second}")
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise WeightExchangeError(f"the weights of {first} and {second} do not match ({len(problems)} difference(s)):\n  "
                           + "\n  ".join(shown))


def max_relative_difference(a, b) -> float:
    """max |a - b| / max(max |a|, max |b|): the largest difference relative to the output scale
    (0.0 for two all-zero arrays)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()))
    diff = float(np.abs(a - b).max())
    if not math.isfinite(diff):
        return math.inf
    return diff / scale if scale > 0 else 0.0


_WEIGHTLESS = frozenset({
    "Reshape", "Permute", "Flatten", "Activation", "Dropout", "Spatial dropout 2D", "Spatial dropout 3D",
    "Gaussian dropout", "Gaussian noise", "Alpha dropout", "Leaky reLU", "ELU", "Thresholded reLU",
    "Upsample 2D", "Upsample 3D", "Zero padding 2D", "Zero padding 3D", "Cropping 2D", "Cropping 3D",
    "Max pooling 2D", "Max pooling 3D", "Average pooling 2D", "Average pooling 3D",
    "Global max pooling 2D", "Global max pooling 3D", "Global average pooling 2D", "Global average pooling 3D",
})
