"""Rich tables for the CLI."""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GiB"


def cli_console(stderr: bool = False) -> Console:
    """The terminal's width on a terminal; 160 columns in a pipe or file (rich would assume 80 and fold
    every table), unless COLUMNS says otherwise."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=160)
    return console


def print_inspection(report: dict, console: Console | None = None) -> None:
    console = console or cli_console()
    for role, model in report["models"].items():
        table = Table(title=f"{report['technique']} {role}", show_lines=False)
        for column, justify in (("#", "right"), ("name", "left"), ("type", "left"), ("inputs", "left"),
                                ("output shape", "left"), ("trainable", "right"), ("non-trainable", "right")):
            table.add_column(column, justify=justify, overflow="fold")
        for row in model["layers"]:
            position = "" if row["position"] is None else str(row["position"])
            table.add_row(position, row["name"], row["type"], ", ".join(row["inputs"]),
                          str(tuple(row["output_shape"])), f"{row['trainable_params']:,}",
                          f"{row['non_trainable_params']:,}")
        console.print(table)
        console.print(f"{role}: output {tuple(model['output_shape'])}, trainable {model['trainable_params']:,}, "
                      f"non-trainable {model['non_trainable_params']:,}, total {model['total_params']:,}; "
                      f"training activations ~{_human_bytes(model['activation_bytes_per_sample'])} per sample")
    console.print(f"[bold]total parameters {report['total_params']:,}[/bold] "
                  f"(trainable {report['trainable_params']:,}, non-trainable {report['non_trainable_params']:,})")
    if report.get("pretrained_counts") and "backend" not in report:
        console.print(f"pretrained networks: {report['pretrained_counts']}; --network-layers lists their "
                      f"layers, --backend NAME counts the built model")
    if "backend" in report:
        for role, counts in report["backend"]["models"].items():
            console.print(f"{report['backend']['name']} {role}: trainable {counts['trainable_params']:,}, "
                          f"non-trainable {counts['non_trainable_params']:,}")


def print_rows(title: str, columns: tuple[str, ...], rows: list[tuple], console: Console | None = None) -> None:
    console = console or cli_console()
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
