"""``dlae check``: the same config on two backends gives the same model (dlae_core.running.parity)."""

from __future__ import annotations

import click

from dlae_core.cli.loading import load_and_plan


def _backends(ctx, param, value: str) -> tuple[str, str]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if len(names) != 2 or names[0] == names[1]:
        raise click.BadParameter(f"give two different backends separated by a comma (e.g. torch,tensorflow), "
                                 f"not {value!r}")
    return names


def _pair(pair) -> str:
    return f"{pair[0]:,} / {pair[1]:,}"


def _verdict(ok: bool) -> str:
    return "[green]ok[/green]" if ok else "[red]DIFFERS[/red]"


def print_report(report, console=None) -> None:
    from dlae_core.cli.render import cli_console
    from rich.table import Table

    console = console or cli_console()
    for g in report.graphs:
        a, b = g.backends
        caption = "parameters: trainable / non-trainable" + (f"; loss: {g.loss}" if g.losses is not None else "")
        table = Table(title=f"{report.technique} {g.role}: {a} vs {b}", caption=caption)
        for column, justify in (("check", "left"), (a, "right"), (b, "right"), ("expected", "right"),
                                ("max rel. diff.", "right"), ("result", "left")):
            table.add_column(column, justify=justify)
        table.add_row("parameters", _pair(g.params[0]), _pair(g.params[1]),
                      _pair(g.expected_params), "", _verdict(g.params[0] == g.params[1] == g.expected_params))
        shapes_ok = g.shapes[0] == g.shapes[1] == g.expected_shape
        table.add_row("output shape", str(g.shapes[0]), str(g.shapes[1]), str(g.expected_shape), "",
                      _verdict(shapes_ok))
        table.add_row("outputs", "", "", "", f"{g.output_difference:.3g}",
                      _verdict(shapes_ok and g.output_difference <= report.tolerance))
        if g.losses is not None:
            table.add_row("loss", f"{g.losses[0]:.7g}", f"{g.losses[1]:.7g}", "",
                          f"{g.loss_difference:.3g}", _verdict(g.loss_difference <= report.tolerance))
        found = getattr(report, "detections", None)  # BBD: decoded boxes (dlae_core.techniques.bbd.parity)
        if found is not None:
            table.caption += f"; decoded boxes: confidence > {found.threshold:g}"
            table.add_row("decoded boxes", str(found.counts[0]), str(found.counts[1]),
                          "", f"{found.difference:.3g}", _verdict(not found.problems(g.backends, report.tolerance)))
        console.print(table)


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--backends", "backends", default="torch,tensorflow", show_default=True, callback=_backends,
              help="The two backends to compare, comma-separated; weights go from the first to the second.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Largest relative difference of outputs and loss accepted (fp32).")
@click.option("--batch", type=click.IntRange(min=1), default=2, show_default=True, help="Random batch size.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights, batch and targets.")
@click.pass_context
def check(ctx: click.Context, config_path: str, backends: tuple[str, str], tolerance: float, batch: int,
          seed: int) -> None:
    """Build CONFIG's model on two backends with the same weights and compare parameter counts, output
    shapes, outputs and the configured loss on one random batch. Exit code 1 when they differ."""
    from dlae_core.running.parity import check_parity

    from dlae_core.plugin.registry import get_registry

    registry = get_registry()
    registry.check_backend(backends[1])
    config, plan, registry = load_and_plan(config_path, check_data=False, registry=registry, backend=backends[0])
    load_and_plan(config_path, check_data=False, registry=registry, backend=backends[1])
    report = check_parity(config, plan, registry, backends, batch=batch, seed=seed, tolerance=tolerance)
    print_report(report)
    problems = report.problems()
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        click.echo(f"parity check failed: {problems[0]}{more}", err=True)
        ctx.exit(1)
    click.echo(f"parity ok: {' and '.join(backends)} agree within {tolerance:g}")


COMMANDS = (check,)
