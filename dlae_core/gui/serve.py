"""Start the page's server: a threaded WSGI server (werkzeug's, which Flask brings) on the given
address, the URL with its token printed on one line, the browser opened unless told not to."""

from __future__ import annotations

import logging
import threading
import webbrowser
from pathlib import Path

from werkzeug.serving import make_server

from dlae_core.gui.security import allowed_hosts, new_token
from dlae_core.gui.server import Session, create_app


def start_server(config_path: str | None, *, host: str = "127.0.0.1", port: int = 0, state_dir: Path,
                 workdir: Path | None = None, registry=None, token: str | None = None):
    """A started server in a thread of this process: ``(server, url)``; ``server.shutdown()`` stops it."""
    from dlae_core.plugin.registry import get_registry

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request; errors still show
    token = token or new_token()
    session = Session(registry or get_registry(), Path(state_dir), config_path, (workdir or Path.cwd()).resolve())
    server = make_server(host, port, None, threaded=True)
    bound = server.server_port  # port 0: the port the system chose
    server.app = create_app(session, token, allowed_hosts(host, bound))
    url = page_url(host, bound, token)
    threading.Thread(target=server.serve_forever, name="dlae-gui", daemon=True).start()
    return server, url


def page_url(host: str, port: int, token: str) -> str:
    """The page's address with its token (IPv6 addresses in brackets)."""
    name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}/t/{token}/"


def serve(config_path: str | None, *, host: str, port: int, open_browser: bool, state_dir: Path, echo) -> None:
    """Serve until Ctrl-C. Runs started from the page go on after the server stops."""
    server, url = start_server(config_path, host=host, port=port, state_dir=state_dir)
    echo(f"dlae gui: {url}")
    if open_browser:
        webbrowser.open(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        echo("dlae gui: stopped (runs started from the page go on; `dlae gui` finds them again)")
    finally:
        server.shutdown()
