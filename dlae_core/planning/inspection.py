"""``dlae inspect``: per-layer shapes and parameter counts (Keras counting), memory estimate."""

from __future__ import annotations

from dlae_core.config.schema import Config
from dlae_core.layers.grammar import format_layer
from dlae_core.planning.plan import ModelPlan

BYTES_PER_VALUE = 4  # fp32


def inspect_plan(config: Config, plan: ModelPlan, registry, backend: str | None = None,
                 expand_networks: bool = False) -> dict:
    """A JSON-ready report. Counts come from the core; ``backend`` cross-checks them by building the model.
    A pretrained network is one row (its layers summed) unless ``expand_networks``."""
    models = {}
    for role, graph in plan.graphs.items():
        models[role] = _graph_report(graph, registry, expand_networks)
    registry.techniques[plan.technique].inspect(models, config, plan)
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
    report["pretrained_counts"] = "one row each (keras-applications layers, Keras counting)" if _has_pretrained(plan) else None
    if backend is not None:
        report["backend"] = _backend_counts(plan, registry, backend, config)
    return report


def _has_pretrained(plan: ModelPlan) -> bool:
    return any(g.networks for g in plan.graphs.values())


def _network_row(graph, use, registry) -> dict:
    """One row for a whole pretrained network: its layer, its output, its layers' counts summed."""
    from dlae_core.layers.networks import network_shapes

    nodes = [graph.nodes[i] for i in use.nodes if i is not None]
    output, _ = network_shapes(use.spec.type, use.spec["input_shape"], use.spec["keep_heads"])
    inputs = sorted({i for n in nodes for i in n.inputs if graph.nodes[i].network is None})
    return {
        "name": use.spec.type,
        "model": graph.list_name,
        "op": "network",
        "type": f"pretrained network ({len(nodes)} layers)",
        "layer": format_layer(use.spec, registry, legacy=True),
        "position": use.position,
        "inputs": [graph.nodes[i].name for i in inputs],
        "output_shape": list(output),
        "trainable_params": sum(n.trainable_params for n in nodes),
        "non_trainable_params": sum(n.non_trainable_params for n in nodes),
    }


def _graph_report(graph, registry, expand_networks: bool = False) -> dict:
    rows = []
    shown = set()
    for node in graph.nodes:
        if node.network is not None and not expand_networks:
            use = next(u for u in graph.networks if node.id in u.nodes)
            if use.position not in shown:
                shown.add(use.position)
                rows.append(_network_row(graph, use, registry))
            continue
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


def _backend_counts(plan: ModelPlan, registry, backend: str, config: Config) -> dict:
    counted = registry.techniques[plan.technique].count_params(registry.backend(backend), plan, config)
    counts = {role: {"trainable_params": trainable, "non_trainable_params": frozen}
              for role, (trainable, frozen) in counted.items()}
    return {"name": backend, "models": counts}
