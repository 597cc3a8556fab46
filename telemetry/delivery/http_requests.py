"""`RequestsTransport`: the engine's sender through `requests`, used when a proxy is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._log import guard_third_party_logger, redact
from .http import CONNECT_TIMEOUT_SECONDS, ca_bundle, user_agent
from .types import HttpRequest, HttpResponse, TransportFailure

if TYPE_CHECKING:
    import requests

__all__ = ["RequestsTransport"]


class RequestsTransport:
    """A blocking sender through `requests` for one worker thread (used behind a proxy)."""

    def __init__(self) -> None:
        import requests

        # urllib3 logs each request line at DEBUG, query string (GA4's api_secret) included.
        guard_third_party_logger("urllib3.connectionpool")
        self._requests = requests
        self._session: requests.Session = requests.Session()
        # The environment (proxies, CA bundle) is read once here, not on every request, which is
        # where requests spends much of its per-call time.
        self._session.trust_env = False
        self._verify: bool | str = ca_bundle() or True
        self._proxies: dict[str, dict[str, str]] = {}
        self._headers = {"User-Agent": user_agent(), "Accept": "*/*"}

    def _proxies_for(self, url: str) -> dict[str, str]:
        origin = "/".join(url.split("/", 3)[:3])
        proxies = self._proxies.get(origin)
        if proxies is None:
            proxies = self._requests.utils.get_environ_proxies(origin)
            self._proxies[origin] = proxies
        return proxies

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        """Send and return the response, or why there was none. Never raises."""
        req = self._requests
        timeout = max(timeout, 0.01)
        try:
            prepared = req.PreparedRequest()
            prepared.prepare(
                method=request.method,
                url=request.url,
                headers={**self._headers, **request.headers},
                data=request.body,
            )
            response = self._session.send(
                prepared,
                timeout=(min(timeout, CONNECT_TIMEOUT_SECONDS), timeout),
                allow_redirects=False,
                proxies=self._proxies_for(request.url),
                verify=self._verify,
            )
            return HttpResponse(
                response.status_code,
                response.content,
                {k.lower(): v for k, v in response.headers.items()},
            )
        except req.exceptions.ConnectTimeout as exc:
            return TransportFailure("connect", redact(str(exc)))
        except req.exceptions.ReadTimeout as exc:
            return TransportFailure("read_timeout", redact(str(exc)))
        except req.exceptions.ConnectionError as exc:
            if _is_refused(exc):
                return TransportFailure("connect", redact(str(exc)))
            return TransportFailure("connection_lost", redact(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a transport must never raise into the worker
            return TransportFailure("other", redact(f"{type(exc).__name__}: {exc}"))

    def flush(self, timeout: float) -> bool:
        """Nothing is held between requests."""
        return True

    def close(self) -> None:
        self._session.close()


def _is_refused(exc: BaseException) -> bool:
    text = str(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "Failed to resolve" in text
