"""``dlae list ...`` and ``dlae plugins``."""

from __future__ import annotations

import click

from dlae_core.plugin.registry import KINDS, SINGULAR


def _backends_of(registry, kind: str, name: str) -> str:
    """The backends with an implementation of ``kind`` ``name`` (nothing imported)."""
    found = sorted({b for (k, n, b) in registry.implementations if (k, n) == (SINGULAR[kind], name)})
    return ", ".join(found) or "-"


def _rows(registry, kind: str) -> tuple[tuple[str, ...], list[tuple]]:
    items, owner = registry.items[kind], registry.owner
    if kind == "layers":
        return ("name", "parameters", "family", "backends", "plugin", "description"), [
            (n, ":".join(p.name for p in t.params) or "-", t.family, _backends_of(registry, kind, n),
             owner[(kind, n)], t.doc) for n, t in items.items()]
    if kind == "losses":
        return ("name", "parameter1", "parameter2", "targets", "techniques", "backends", "plugin"), [
            (n, i.parameter1 or "-", i.parameter2 or "-", i.target, ", ".join(i.techniques),
             _backends_of(registry, kind, n), owner[(kind, n)]) for n, i in items.items()]
    if kind == "optimizers":
        return ("name", "reads", "backends", "plugin", "description"), [
            (n, ", ".join(i.reads), _backends_of(registry, kind, n), owner[(kind, n)], i.doc)
            for n, i in items.items()]
    if kind == "techniques":
        return ("name", "layer lists", "backends", "plugin", "description"), [
            (n, ", ".join(t.layer_lists),
             _backends_of(registry, kind, n) if t.needs_implementation else "any (core flow)",
             owner[(kind, n)], t.doc) for n, t in items.items()]
    if kind == "backends":
        return ("name", "available", "plugin", "description"), [
            (n, "yes" if not i.missing() else "no (needs " + ", ".join(i.missing()) + ")", owner[(kind, n)], i.doc)
            for n, i in items.items()]
    return ("name", "plugin", "description"), [(n, owner[(kind, n)], i.doc) for n, i in items.items()]


@click.command(name="list")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--names", is_flag=True, help="Print bare names, one per line.")
def list_(kind: str, names: bool) -> None:
    """List registered layers, losses, optimizers, activations, techniques or backends."""
    from dlae_core.plugin.registry import get_registry

    registry = get_registry()
    if names:
        for name in registry.items[kind]:
            click.echo(name)
        return
    from dlae_core.cli.render import print_rows

    columns, rows = _rows(registry, kind)
    print_rows(f"{len(rows)} {kind}", columns, rows)


@click.command()
def plugins() -> None:
    """Installed plugin distributions, their versions and what each registers (and, for a broken
    plugin, what went wrong: it is listed, never fatal)."""
    from dlae_core.plugin.registry import get_registry
    from dlae_core.cli.render import print_rows

    registry = get_registry()
    rows = []
    for loaded in registry.pm.dlae_loaded:
        registered = registry.registered_by(loaded.name)
        summary = "; ".join(f"{len(v)} {k}: {', '.join(v[:6])}{', ...' if len(v) > 6 else ''}"
                            for k, v in sorted(registered.items())) or "implementations only"
        problems = registry.problems.get(loaded.name, [])
        if problems and not registered:
            summary = "nothing"
        rows.append((loaded.name, loaded.distribution or "-", loaded.version or "-", summary, "; ".join(problems)))
    for failed in getattr(registry.pm, "dlae_failed", ()):
        rows.append((failed.name, failed.distribution or "-", failed.version or "-", "nothing", failed.problem or ""))
    columns = ("plugin", "distribution", "version", "registers")
    if any(row[-1] for row in rows):
        columns += ("problems",)
    else:
        rows = [row[:-1] for row in rows]
    print_rows("dlae plugins", columns, rows)


COMMANDS = (list_, plugins)
