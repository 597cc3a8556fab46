"""`HttpClientTransport`: the engine's default sender, on the standard library's `http.client`."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable

from .._log import redact
from ._http11 import host_header, read_response, request_head
from ._stream import SocketStream, _ready
from .http import CONNECT_TIMEOUT_SECONDS, ca_bundle, user_agent
from .types import HttpRequest, HttpResponse, TransportFailure

__all__ = ["HttpClientTransport", "tls_context"]

_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
"""A reused connection the server had already closed: the request was not read, send it again."""


def tls_context() -> ssl.SSLContext:
    """Certificate and host name verified, against the bundle `requests` would use."""
    import os

    bundle = ca_bundle()
    if bundle and os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


_Origin = tuple[str, str, int]
MAX_IDLE_PER_ORIGIN = 4
POLL_AFTER_IDLE_SECONDS = 1.0


class HttpClientTransport:
    """A blocking sender for one worker thread; keep-alive connections per origin; never raises.

    `start` takes an idle connection (or opens one) and writes the request; the call it returns
    reads the answer and puts the connection back. A worker with two requests in flight holds two
    connections to the vendor. `http.client` opens the connections; the requests and responses
    on them are written and read by `_http11`, except on a test double of `http.client` (vcrpy's),
    which is driven through its own `request` and `getresponse`.
    """

    def __init__(self) -> None:
        self._idle: dict[_Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._open: set[http.client.HTTPConnection] = set()
        self._streams: dict[http.client.HTTPConnection, SocketStream] = {}
        self._targets: dict[str, tuple[_Origin, str, str]] = {}
        self._headers = {"User-Agent": user_agent(), "Accept": "*/*"}
        self._tls: ssl.SSLContext | None = None

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        """Send and return the response, or why there was none."""
        return self.start(request, timeout)()

    def start(self, request: HttpRequest, timeout: float) -> Callable[[], HttpResponse | TransportFailure]:
        """Write the request now; the returned call waits for the answer.

        The worker encodes its next batch in between, while the vendor works on this one.
        """
        timeout = max(timeout, 0.01)
        try:
            origin, target, host = self._target(request.url)
        except ValueError as exc:
            failure = TransportFailure("other", redact(f"bad URL: {exc}"))
            return lambda: failure
        headers = {**self._headers, **request.headers}
        reused, written = self._write(origin, target, host, request, headers, timeout)

        def finish() -> HttpResponse | TransportFailure:
            result = written if isinstance(written, BaseException) else self._read(origin, written, timeout)
            if reused and isinstance(result, _STALE):
                _, again = self._write(origin, target, host, request, headers, timeout, fresh=True)
                result = again if isinstance(again, BaseException) else self._read(origin, again, timeout)
            return _failure(result) if isinstance(result, BaseException) else result

        return finish

    def _write(
        self,
        origin: _Origin,
        target: str,
        host: str,
        request: HttpRequest,
        headers: dict[str, str],
        timeout: float,
        *,
        fresh: bool = False,
    ) -> tuple[bool, http.client.HTTPConnection | BaseException]:
        """Write the request on an idle connection (a new one when `fresh`); whether it was reused."""
        connection = None if fresh else self._checkout(origin)
        reused = connection is not None
        if connection is None:
            try:
                connection = self._connect(origin, timeout)
            except (OSError, http.client.HTTPException) as exc:
                return False, _ConnectFailed(exc)
        try:
            stream = self._streams.get(connection)
            if stream is not None:
                head = request_head(request.method, target, host, headers, len(request.body))
                stream.start(timeout)
                stream.sendall(head + request.body)
            else:  # a test double such as vcrpy's, which sends its own way
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
                connection.request(request.method, target, body=request.body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a TransportFailure
            self._close(connection)
            return reused, exc
        return reused, connection

    def _read(
        self, origin: _Origin, connection: http.client.HTTPConnection, timeout: float
    ) -> HttpResponse | BaseException:
        try:
            stream = self._streams.get(connection)
            if stream is not None:
                stream.start(timeout)
                answer, will_close = read_response(stream.reader)
            else:
                response = connection.getresponse()
                body = response.read()
                answer = HttpResponse(response.status, body, {k.lower(): v for k, v in response.getheaders()})
                will_close = bool(getattr(response, "will_close", False))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a TransportFailure
            self._close(connection)
            return exc
        idle = self._idle.setdefault(origin, [])
        if will_close or len(idle) >= MAX_IDLE_PER_ORIGIN:
            self._close(connection)
        else:
            idle.append((connection, time.monotonic()))
        return answer

    def _target(self, url: str) -> tuple[_Origin, str, str]:
        """Origin, request target and Host header of a URL (cached: a provider has a handful)."""
        cached = self._targets.get(url)
        if cached is not None:
            return cached
        from urllib.parse import urlsplit

        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"not an http(s) URL: {split.scheme}://{split.hostname}")
        port = split.port or (443 if split.scheme == "https" else 80)
        path = split.path or "/"
        target = (
            (split.scheme, split.hostname, port),
            path + ("?" + split.query if split.query else ""),
            host_header(split.hostname, port, 443 if split.scheme == "https" else 80),
        )
        if len(self._targets) < 64:  # a provider has a handful of URLs; never grow without bound
            self._targets[url] = target
        return target

    def _checkout(self, origin: _Origin) -> http.client.HTTPConnection | None:
        """The most recently used idle connection still open, or None.

        A connection idle for a while is polled first: if it is readable, the server closed it
        (an idle keep-alive connection has nothing to say). One just used is not: polling
        releases the interpreter lock, which a busy process may take milliseconds to get back,
        and a connection the server closed anyway is caught by the resend in `start`.
        """
        idle = self._idle.get(origin)
        while idle:
            connection, since = idle.pop()
            if connection.sock is not None and (
                time.monotonic() - since < POLL_AFTER_IDLE_SECONDS or not _readable(connection.sock)
            ):
                return connection
            self._close(connection)
        return None

    def _connect(self, origin: _Origin, timeout: float) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connect_timeout = min(timeout, CONNECT_TIMEOUT_SECONDS)
        connection: http.client.HTTPConnection
        if scheme == "https":
            if self._tls is None:
                self._tls = tls_context()
            connection = http.client.HTTPSConnection(host, port, timeout=connect_timeout, context=self._tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        self._open.add(connection)
        try:
            connection.connect()
        except BaseException:
            self._close(connection)
            raise
        if type(connection).__module__ == "http.client" and connection.sock is not None:
            self._streams[connection] = SocketStream(connection.sock)
        return connection

    def _close(self, connection: http.client.HTTPConnection) -> None:
        self._open.discard(connection)
        stream = self._streams.pop(connection, None)
        if stream is not None:
            stream.close()
        connection.close()

    def flush(self, timeout: float) -> bool:
        """Nothing is held between requests."""
        return True

    def close(self) -> None:
        for connection in list(self._open):
            self._close(connection)
        self._idle.clear()


class _ConnectFailed(Exception):
    """No connection (refused, unresolvable, timed out, TLS refused): nothing was sent."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")


def _readable(sock: object) -> bool:
    """Whether an idle connection has something to read, checked without waiting; an error says
    the socket is unusable, so it counts as readable (closed) too."""
    if not isinstance(sock, socket.socket):  # a test double (vcrpy) has nothing to poll
        return False
    try:
        return _ready(sock, True, 0.0)
    except (OSError, ValueError):
        return True


def _failure(exc: BaseException) -> TransportFailure:
    if isinstance(exc, _ConnectFailed):
        return TransportFailure("connect", redact(str(exc)))
    if isinstance(exc, TimeoutError):
        return TransportFailure("read_timeout", redact(f"read timed out: {exc}"))
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return TransportFailure("connection_lost", redact(f"{type(exc).__name__}: {exc}"))
    return TransportFailure("other", redact(f"{type(exc).__name__}: {exc}"))
