"""The ``dlae`` command. User errors (DlaeError) become one line each and exit code 2,
in exactly one place (:class:`DlaeGroup`); any other exception is a bug and keeps its traceback.
Commands import what they need lazily so ``dlae --help`` and ``dlae validate`` stay fast."""

from __future__ import annotations

import sys
import warnings

import click

from dlae_core import __version__
from dlae_core.errors import DlaeError


def _print_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


class DlaeGroup(click.Group):
    def invoke(self, ctx: click.Context):
        warnings.showwarning = _print_warning
        try:
            return super().invoke(ctx)
        except DlaeError as exc:
            from dlae_core.cli.processes import report_failure

            if report_failure(exc):  # a worker of dlae's own data-parallel start leaves it to its launcher
                for line in exc.lines():
                    click.echo(f"error: {line}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=DlaeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlae")
def cli() -> None:
    """dlae: run a whole deep-learning experiment from one JSON config."""


def _register_commands() -> None:
    from dlae_core.cli import (check_commands, config_commands, data_commands, example_commands, export_commands,
                               gui_commands, info_commands, prebuilt_commands, registry_commands, run_commands,
                               sweep_commands)

    for module in (config_commands, registry_commands, run_commands, check_commands, example_commands,
                   prebuilt_commands, gui_commands, data_commands, export_commands, sweep_commands,
                   info_commands):
        for command in module.COMMANDS:
            cli.add_command(command)


_register_commands()


def main() -> None:  # console-script entry point
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
