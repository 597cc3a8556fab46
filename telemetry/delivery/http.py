"""How the engine sends one HttpRequest: the standard library's `http.client` by default,
`requests` when the environment configures a proxy.

A worker sends a few hundred requests a second at most, all to one or two origins, so it keeps one
keep-alive connection per origin. `http.client` costs about a third of `requests`' client time per
request (`make bench`, "transport"), which on GA4's 25-event batches decides the throughput. Proxy
rules (`HTTPS_PROXY`, `NO_PROXY`, proxy authentication, CONNECT tunnels) are `requests`' job: with
a proxy variable set, every request goes through it. Both verify certificates against the bundle
`requests` uses (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, else certifi's, else the system's).

Neither library is imported with `telemetry`: `preload()` runs when an engine is built, on the
application's thread, so a worker never performs a first import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._version import installed_version
from .types import Transport

__all__ = ["CONNECT_TIMEOUT_SECONDS", "default_transport", "preload", "proxy_configured"]

CONNECT_TIMEOUT_SECONDS = 2.0
_PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")


def proxy_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names a proxy (either case), so `requests` must apply its rules."""
    env = os.environ if environ is None else environ
    return any(env.get(name) or env.get(name.upper()) for name in _PROXY_VARIABLES)


def preload() -> None:
    """Import the sender `default_transport()` will build (on the caller's thread, once)."""
    if proxy_configured():
        from . import http_requests  # noqa: F401
    else:
        from . import http_stdlib  # noqa: F401


def default_transport() -> Transport:
    """The engine's HTTP sender for one worker thread."""
    if proxy_configured():
        from .http_requests import RequestsTransport

        return RequestsTransport()
    from .http_stdlib import HttpClientTransport

    return HttpClientTransport()


def user_agent() -> str:
    return f"telemetry-toolkit/{installed_version()}"


def ca_bundle() -> str | None:
    """The CA bundle `requests` would verify with: its environment variables, then certifi."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        return bundle
    try:
        import certifi
    except ImportError:  # no certifi: the system's store
        return None
    return str(certifi.where())
