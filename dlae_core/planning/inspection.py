"""``dlae inspect``: per-layer shapes and parameter counts (Keras counting), memory estimate."""

from __future__ import annotations

from dlae_core.config.schema import Config
from dlae_core.layers.grammar import format_layer
from dlae_core.planning.plan import ModelPlan

BYTES_PER_VALUE = 4  # fp32


def inspect_plan(config: Config, plan: ModelPlan, registry, backend: str | None = None) -> dict:
    """A JSON-ready report. Counts come from the core; ``backend`` cross-checks them by building the model."""
    models = {}
    for role, graph in plan.graphs.items():
        models[role] = _graph_report(graph, registry)
    if plan.technique == "BBD":
        _add_bbd_heads(models["model"], config, plan.graphs["model"])
    report = {
        "technique": plan.technique,
        "session": config.config_file.type_signal,
        "layers": [row for m in models.values() for row in m["layers"]],
        "trainable_params": sum(m["trainable_params"] for m in models.values()),
        "non_trainable_params": sum(m["non_trainable_params"] for m in models.values()),
        "activation_bytes_per_sample": sum(m["activation_bytes_per_sample"] for m in models.values()),
        "models": models,
    }
    report["total_params"] = report["trainable_params"] + report["non_trainable_params"]
    report["pretrained_counts"] = "core tables (keras-applications layouts)" if _has_pretrained(plan) else None
    if backend is not None:
        report["backend"] = _backend_counts(plan, registry, backend, config)
    return report


def _has_pretrained(plan: ModelPlan) -> bool:
    return any(n.op == "pretrained" for g in plan.graphs.values() for n in g.nodes)


def _graph_report(graph, registry) -> dict:
    rows = []
    for node in graph.nodes:
        rows.append({
            "name": node.name,
            "model": graph.list_name,
            "op": node.op,
            "type": node.spec.type if node.spec is not None else node.op,
            "layer": format_layer(node.spec, registry, legacy=True) if node.spec is not None else node.op,
            "position": node.position,
            "inputs": [graph.nodes[i].name for i in node.inputs],
            "output_shape": list(node.output_shape),
            "trainable_params": node.trainable_params,
            "non_trainable_params": node.non_trainable_params,
        })
    trainable, frozen = graph.totals()
    return {
        "layers": rows,
        "output_shape": list(graph.output_shape),
        "trainable_params": trainable,
        "non_trainable_params": frozen,
        "total_params": trainable + frozen,
        # Each output is kept for the backward pass and gets a gradient of the same size.
        "activation_bytes_per_sample": 2 * BYTES_PER_VALUE * graph.activation_elements(),
    }


def _add_bbd_heads(report: dict, config: Config, graph) -> None:
    """A BBD network is its layer graph plus the predictor heads on the hooks (dlae_core.techniques.bbd.heads):
    L2 normalization of hook 0, a class and a box convolution per hook, and the (N, C+5) output."""
    from dlae_core.techniques.bbd.heads import KERNEL, L2_NAME, head_specs, output_shape

    specs = head_specs(config.bbd_options, graph)
    area = KERNEL[0] * KERNEL[1]
    hook_name = [graph.nodes[s.hook].name for s in specs]
    first = specs[0]
    rows = [_head_row(L2_NAME, "L2 normalization (scale 20)", [hook_name[0]], list(graph.nodes[first.hook].output_shape),
                      first.channels, graph.list_name)]
    for spec, source in zip(specs, hook_name):
        inputs = [L2_NAME if spec.index == 0 else source]
        for name, filters, what in ((spec.class_name, spec.class_filters, "class scores"),
                                    (spec.box_name, spec.box_filters, "box offsets")):
            rows.append(_head_row(name, f"3x3 convolution, {filters} filters ({spec.boxes} boxes x {what})", inputs,
                                  [*spec.feature_hw, filters], (area * spec.channels + 1) * filters, graph.list_name))
    heads = [r["name"] for r in rows[1:]]
    rows.append(_head_row("bbd_output", "softmax class scores | box offsets per anchor", heads,
                          list(output_shape(specs)), 0, graph.list_name))
    added = sum(r["trainable_params"] for r in rows)
    report["layers"] += rows
    report["output_shape"] = list(output_shape(specs))
    report["trainable_params"] += added
    report["total_params"] += added
    report["activation_bytes_per_sample"] += 2 * BYTES_PER_VALUE * sum(_numel(r["output_shape"]) for r in rows)


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _head_row(name: str, layer: str, inputs: list, shape: list, trainable: int, model: str) -> dict:
    return {"name": name, "model": model, "op": "bbd_head", "type": "BBD head", "layer": layer, "position": None,
            "inputs": inputs, "output_shape": shape, "trainable_params": trainable, "non_trainable_params": 0}


def _backend_counts(plan: ModelPlan, registry, backend: str, config: Config) -> dict:
    backend_class = registry.backend(backend)
    engine = backend_class(registry)
    counts = {}
    for role, graph in plan.graphs.items():
        trainable, frozen = engine.count_params(graph, config)
        counts[role] = {"trainable_params": trainable, "non_trainable_params": frozen}
    return {"name": backend, "models": counts}
