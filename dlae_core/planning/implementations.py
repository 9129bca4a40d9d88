"""Which components of a config a backend cannot run (``dlae validate --backend``, ``dlae run``),
found before any data is read and without importing the framework."""

from __future__ import annotations

from dlae_core.errors import Problem, UnimplementedComponentsError, problem


def missing_implementations(config, plan, registry, backend: str) -> list[Problem]:
    """One located problem per component of ``config`` with no ``backend`` implementation."""
    technique = registry.techniques[plan.technique]
    out, seen = [], set()
    for kind, name, where in technique.required_components(config, plan, registry):
        if (kind, name) in seen or registry.has_implementation(kind, name, backend):
            continue
        seen.add((kind, name))
        owner = registry.owner.get((_plural(kind), name), "?")
        others = sorted({b for (k, n, b) in registry.implementations if (k, n) == (kind, name)})
        out.append(problem(where, f"{kind} {name!r} (registered by plugin {owner!r}) has no {backend} implementation",
                           expected="a backend that implements it: " + (", ".join(others) or "none installed"),
                           received=backend))
    return out


def check_implementations(config, plan, registry, backend: str) -> None:
    """UnimplementedComponentsError naming every component ``backend`` cannot run."""
    problems = missing_implementations(config, plan, registry, backend)
    if problems:
        raise UnimplementedComponentsError(problems)


def _plural(kind: str) -> str:
    from dlae_core.plugin.components import IMPLEMENTABLE

    return IMPLEMENTABLE[kind]
