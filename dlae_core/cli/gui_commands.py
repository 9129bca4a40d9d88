"""``dlae gui``: serve the page that builds, checks and runs experiments (:mod:`dlae_core.gui`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from dlae_core.errors import UsageError


def default_state_dir() -> Path:
    """Where the page's runs are kept: ``$XDG_STATE_HOME/dlae/gui`` (``~/.local/state/dlae/gui``)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "dlae" / "gui"


@click.command()
@click.argument("config_path", metavar="[CONFIG]", required=False, type=click.Path(dir_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but the loopback lets other machines reach the page "
                   "(they still need the token).")
@click.option("--no-browser", is_flag=True, help="Print the page's URL but do not open a browser.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Folder of the page's runs (default: $XDG_STATE_HOME/dlae/gui).")
def gui(config_path: str | None, port: int, host: str, no_browser: bool, state_dir: str | None) -> None:
    """Serve the page that builds, checks and runs experiments (optionally opening CONFIG); needs
    the extra: pip install 'dlae[gui]'."""
    try:
        from dlae_core.gui.serve import serve
    except ModuleNotFoundError as exc:
        if exc.name not in ("flask", "werkzeug"):
            raise
        raise UsageError("dlae gui needs Flask, which is not installed: pip install 'dlae[gui]'") from None
    if config_path is not None and not Path(config_path).is_file():
        raise UsageError(f"{config_path!r} is not a config file (leave CONFIG out to start from nothing)")
    serve(config_path, host=host, port=port, open_browser=not no_browser,
          state_dir=Path(state_dir) if state_dir else default_state_dir(), echo=click.echo)


COMMANDS = (gui,)
