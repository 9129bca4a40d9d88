"""Who may drive the page's server: whoever holds its token, from the page itself.

The server can start runs and write files, so every request must carry the token (in the URL's
path: ``/t/<token>/...``, so the page's relative links and module imports carry it too), name the
server's own address in ``Host`` (a DNS-rebinding site names its own) and, when the browser sends
an ``Origin``, come from the page's own origin (another web site open in the same browser cannot).
"""

from __future__ import annotations

import hmac
import secrets

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def allowed_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` header values of this server: its address (and the loopback names when it
    listens on the loopback) with the port."""
    names = {host if ":" not in host else f"[{host}]"}
    if host in ("127.0.0.1", "localhost", "::1"):
        names.update(LOOPBACK)
    return {f"{name}:{port}" for name in names}


def refusal(headers, token_given: str | None, token: str, hosts: set[str]) -> str | None:
    """Why a request must be refused (403), or None when it may go on."""
    if token_given is None or not hmac.compare_digest(token_given.encode(), token.encode()):
        return "missing or wrong access token (open the URL that `dlae gui` printed)"
    if headers.get("Host", "").lower() not in hosts:
        return "the Host header does not name this server"
    origin = headers.get("Origin")
    if origin is not None and origin.lower() not in {f"http://{h}" for h in hosts}:
        return "requests from another origin are refused"
    if headers.get("Sec-Fetch-Site") == "cross-site":
        return "cross-site requests are refused"
    return None
