"""``dlae validate``, ``dlae inspect`` and ``dlae convert``."""

from __future__ import annotations

import json

import click

from dlae_core.cli.loading import load_and_plan


def _summary(path: str, config, plan) -> str:
    graph = plan.main
    trainable, frozen = (sum(g.totals()[i] for g in plan.graphs.values()) for i in (0, 1))
    lists = ", ".join(f"{g.list_name} {len(g.nodes)} nodes -> {g.output_shape}" for g in plan.graphs.values())
    return (f"OK {path}: {plan.technique} {config.config_file.type_signal}, input {graph.input_shapes[0]}, "
            f"{lists}, {trainable + frozen:,} parameters")


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--skip-data", is_flag=True, help="Skip the checks that open the data files.")
@click.option("--backend", "-b", default=None,
              help="Also check that this backend implements every layer, activation, loss and optimizer used.")
def validate(config_path: str, skip_data: bool, backend: str | None) -> None:
    """Check CONFIG: every key, the layer graph and shapes, (with --backend) the backend's
    implementations, and (unless --skip-data) the data files."""
    config, plan, _ = load_and_plan(config_path, check_data=not skip_data, backend=backend)
    click.echo(_summary(config_path, config, plan))


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--backend", default=None, help="Count parameters by building the model on this backend.")
@click.option("--network-layers", is_flag=True,
              help="List every layer of the pretrained networks (default: one row per network).")
def inspect(config_path: str, as_json: bool, backend: str | None, network_layers: bool) -> None:
    """Show every layer with its output shape and parameter counts."""
    from dlae_core.planning.inspection import inspect_plan

    config, plan, registry = load_and_plan(config_path, check_data=False, backend=backend)
    report = inspect_plan(config, plan, registry, backend=backend, expand_networks=network_layers)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    from dlae_core.cli.render import print_inspection

    print_inspection(report)


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--legacy", is_flag=True, help="Write the original all-strings form instead of the typed form.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output (never overwrites without --overwrite).")
@click.option("--overwrite", is_flag=True, help="Allow replacing an existing --output file.")
def convert(config_path: str, legacy: bool, output: str | None, overwrite: bool) -> None:
    """Write CONFIG in the typed form (or, with --legacy, the original string form)."""
    from dlae_core.config.convert import config_to_dict
    from dlae_core.config.parser import load_config
    from dlae_core.running.outputs import write_text_atomic
    from dlae_core.plugin.registry import get_registry

    registry = get_registry()
    config = load_config(config_path, registry)
    text = json.dumps(config_to_dict(config, registry, legacy=legacy), indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text, overwrite=overwrite)
        click.echo(f"wrote {output}")


COMMANDS = (validate, inspect, convert)
