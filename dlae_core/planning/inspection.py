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


def _backend_counts(plan: ModelPlan, registry, backend: str, config: Config) -> dict:
    counted = registry.techniques[plan.technique].count_params(registry.backend(backend), plan, config)
    counts = {role: {"trainable_params": trainable, "non_trainable_params": frozen}
              for role, (trainable, frozen) in counted.items()}
    return {"name": backend, "models": counts}
