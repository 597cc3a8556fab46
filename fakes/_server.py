"""`FakeServer`: one fast in-process HTTP/1.1 server hosting any set of vendor fakes.

Built on the stdlib ThreadingHTTPServer (a daemon thread per connection) with a lean request
parser. It is tuned for loopback speed: Nagle's algorithm is off and every response goes out
in one write, so keep-alive clients do not stall ~40 ms per request on delayed ACKs.
Besides vendor routes it serves an inspection API under `/_fakes/` for clients in other
processes (see `FakeServer` for the list).
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import socketserver
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from fakes._faults import MALFORMED_BODY, Fault, FaultRegistry
from fakes._model import (
    FakeRequest,
    FakeResponse,
    Handled,
    ReceivedEvent,
    VendorFake,
    make_fake_request,
)
from fakes._recorder import RecordedRequest, Recorder, make_recorded_request

INSPECTION_PREFIX = "/_fakes/"
MAX_LINE = 65_536
MAX_HEADERS = 100
MAX_BODY = 64 * 1024 * 1024
"""Bodies above this are refused with 413 before being read (Amplitude /batch allows 20 MB)."""
CLOSE_FAULT_BYTES = b"HTTP/1.1 50"
"""What a `close` fault sends before closing: a status line cut short."""

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_NO_BODY_STATUSES = frozenset({204, 304})
_FRAMING_HEADERS = frozenset({"content-length", "connection", "transfer-encoding"})


class _Incoming(NamedTuple):
    """One parsed HTTP request, before routing (a tuple: one is built per request)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    time: float


def encode_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    keep_alive: bool = True,
    head: bool = False,
) -> bytes:
    """The full HTTP/1.1 response as one bytes object, so it can be sent in a single write."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"]
    lines.extend(
        f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() not in _FRAMING_HEADERS
    )
    has_body = status >= 200 and status not in _NO_BODY_STATUSES
    if has_body:
        lines.append(f"Content-Length: {len(body)}\r\n")
    if not keep_alive:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    head_bytes = "".join(lines).encode("latin-1")
    return head_bytes + body if has_body and not head else head_bytes


class _BadRequest(Exception):
    """The request cannot be parsed; answer `status` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _Handler(socketserver.StreamRequestHandler):
    """Reads requests off one keep-alive connection and hands them to the FakeServer."""

    disable_nagle_algorithm = True
    wbufsize = 0  # every write goes straight to sendall: we write whole responses only
    server: _HTTPServer

    def handle(self) -> None:
        try:
            while True:
                incoming = self._read_request()
                if incoming is None or not self.server.fake._serve(incoming, self):
                    return
        except _BadRequest as error:
            body = json.dumps({"error": str(error)}).encode()
            headers = {"Content-Type": "application/json"}
            self.send(encode_response(error.status, headers, body, keep_alive=False))
        except OSError:  # the peer went away, or stop() shut the socket down
            return

    def send(self, data: bytes) -> None:
        """Write bytes in one piece, ignoring a peer that already left."""
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def _readline(self) -> bytes:
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise _BadRequest(431, "line too long")
        return line

    def _read_request(self) -> _Incoming | None:
        line = self._readline()
        while line in (b"\r\n", b"\n"):  # tolerate blank lines between requests
            line = self._readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, f"bad request line {line[:100]!r}")
        method, target, version = parts
        headers = self._read_headers()
        connection = headers.get("connection")
        if connection is None:  # the common case: no tokens to read
            keep_alive = version != "HTTP/1.0"
        else:
            tokens = {t.strip().lower() for t in connection.split(",")}
            # HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 only when asked.
            keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
        body = self._read_body(headers, version)
        if body is None:
            return None
        return _Incoming(method, target, headers, body, keep_alive, time.monotonic())

    def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        readline = self.rfile.readline
        for _ in range(MAX_HEADERS):
            line = readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                raise _BadRequest(431, "line too long")
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise _BadRequest(400, f"bad header line {line[:100]!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raise _BadRequest(431, "too many headers")

    def _read_body(self, headers: dict[str, str], version: str) -> bytes | None:
        """The request body, or None when the peer closed before sending all of it."""
        encoding = headers.get("transfer-encoding", "").lower()
        length_text = headers.get("content-length")
        if not encoding and not length_text:
            return b""
        if encoding and encoding != "chunked":
            raise _BadRequest(501, f"unsupported transfer-encoding {encoding!r}")
        if not encoding:
            try:
                length = int(length_text or "")
            except ValueError:
                raise _BadRequest(400, "bad content-length") from None
            if length < 0:
                raise _BadRequest(400, "bad content-length")
            if length > MAX_BODY:
                raise _BadRequest(413, f"body larger than {MAX_BODY} bytes")
        if version == "HTTP/1.1" and headers.get("expect", "").lower() == "100-continue":
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if encoding:
            return self._read_chunked()
        body = self.rfile.read(length)
        return body if len(body) == length else None

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self._readline()
            if not line:
                return None
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "bad chunk size") from None
            if size == 0:
                while self._readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _BadRequest(413, f"body larger than {MAX_BODY} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                return None
            chunks.append(chunk)
            self._readline()


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections so stop() can close idle ones."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_changed = threading.Condition(threading.Lock())
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_changed:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_changed:
            self.connections.discard(request)
            self.connections_changed.notify_all()
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.fake.running:
            return  # errors while stopping are expected (sockets shut under the handler)
        super().handle_error(request, client_address)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection (idle keep-alive ones included) and wait for handlers."""
        with self.connections_changed:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self.connections_changed:
            self.connections_changed.wait_for(lambda: not self.connections, timeout)


class FakeServer:
    """An HTTP server on 127.0.0.1 hosting vendor fakes, with recording, waits and faults.

    Use as `with FakeServer() as fake:` or `start()`/`stop()`. Requests are routed by exact
    path to the vendor listing it; unknown paths get 404 JSON. Inspection over HTTP:
    `GET /_fakes/health`, `GET /_fakes/events?vendor=&kind=`, `GET /_fakes/requests?vendor=&path=`,
    `DELETE /_fakes/requests` (same as `clear()`), `GET /_fakes/validation_messages?vendor=`,
    `GET|POST|DELETE /_fakes/faults` and `DELETE /_fakes/faults/<id>`.

    vendors: the fakes to host (default: `default_vendors()`, every vendor).
    on_request: called with each recorded request (from a handler thread), e.g. to log it.
    record: keep every request for inspection (the default). False keeps none, for load and soak
        runs that count through `on_request`: memory stays flat, and the collector never rescans a
        growing recording (its full passes stop every handler thread for tens of milliseconds).
        Vendors still answer, check and deduplicate as usual; inspection then finds nothing.
    """

    def __init__(
        self,
        vendors: Sequence[VendorFake] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_request: Callable[[RecordedRequest], None] | None = None,
        record: bool = True,
    ) -> None:
        if vendors is None:
            from fakes._vendors import default_vendors

            vendors = default_vendors()
        self.vendors: tuple[VendorFake, ...] = tuple(vendors)
        self.faults = FaultRegistry()
        self.on_request = on_request
        self.record = record
        self._host = host
        self._requested_port = port
        self._recorder = Recorder()
        # One lock per vendor: vendor fakes need not be thread-safe.
        self._locked_vendors = [(vendor, threading.Lock()) for vendor in self.vendors]
        self._routes: dict[str, tuple[VendorFake, threading.Lock]] = {}
        for vendor, lock in self._locked_vendors:
            for route in vendor.routes:
                if route in self._routes:
                    other = self._routes[route][0].name
                    raise ValueError(f"route {route} is served by both {other} and {vendor.name}")
                if route.startswith(INSPECTION_PREFIX):
                    raise ValueError(f"route {route} clashes with the inspection API")
                self._routes[route] = (vendor, lock)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeServer:
        """Bind, listen and serve in a daemon thread. Returns self."""
        if self._httpd is not None:
            raise RuntimeError("FakeServer is already running")
        self.faults.reopen()
        httpd = _HTTPServer((self._host, self._requested_port), self)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeServer:{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving: release hanging faults, close every connection, free the port."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        self._httpd = None
        self.faults.close()
        httpd.close_connections(timeout)
        httpd.server_close()
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._httpd is not None

    @property
    def host(self) -> str:
        """The address the server binds (127.0.0.1 unless told otherwise)."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the free one picked when constructed with port=0)."""
        if self._httpd is None:
            raise RuntimeError("FakeServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, without a trailing slash."""
        return f"http://{self._host}:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return self.base_url + path

    def vendor(self, name: str) -> VendorFake:
        """The hosted vendor fake called `name`."""
        for vendor in self.vendors:
            if vendor.name == name:
                return vendor
        raise KeyError(name)

    # -- inspection ------------------------------------------------------------------------

    def requests(self, *, path: str | None = None, vendor: str | None = None) -> list[RecordedRequest]:
        """Every recorded request, oldest first (inspection requests are not recorded)."""
        return self._recorder.requests(path=path, vendor=vendor)

    def events(self, vendor: str | None = None, kind: str | None = None) -> list[ReceivedEvent]:
        """Events decoded from requests that no fault blocked, oldest first."""
        return self._recorder.events(vendor, kind)

    def validation_messages(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """Messages the vendors' validation endpoints answered (GA4 /debug/mp/collect)."""
        return self._recorder.validation_messages(vendor)

    def wait_for(
        self,
        n: int,
        timeout: float = 5.0,
        vendor: str | None = None,
        kind: str | None = None,
    ) -> list[ReceivedEvent]:
        """Block until at least `n` matching events arrived and return all matching events.

        Raises `WaitTimeout` (an AssertionError and a TimeoutError) summarising what arrived.
        """
        return self._recorder.wait_for(n, timeout, vendor, kind)

    def wait_for_requests(
        self,
        n: int,
        timeout: float = 5.0,
        path: str | None = None,
        vendor: str | None = None,
    ) -> list[RecordedRequest]:
        """Block until at least `n` matching requests were recorded and return them all."""
        return self._recorder.wait_for_requests(n, timeout, path, vendor)

    def clear(self) -> None:
        """Forget every recording and reset every vendor's state (faults are kept)."""
        for vendor, lock in self._locked_vendors:
            with lock:
                vendor.reset()
        self._recorder.clear()

    # -- serving (handler threads) ---------------------------------------------------------

    def _serve(self, incoming: _Incoming, handler: _Handler) -> bool:
        """Answer one request; return whether the connection stays open."""
        path, parsed_query = _split_target(incoming.target)
        query = {name: list(values) for name, values in parsed_query}
        request = make_fake_request(incoming.method, path, query, incoming.headers, incoming.body)
        if path.startswith(INSPECTION_PREFIX):
            response = self._inspect(request)
            handler.send(self._encode(response, incoming))
            return incoming.keep_alive
        route = self._routes.get(path)
        if route is None:
            response = FakeResponse.json(404, {"error": "no fake serves this path", "path": path})
            self._record(incoming, request, None, Handled(response))
            handler.send(self._encode(response, incoming))
            return incoming.keep_alive
        vendor, lock = route
        decision = self.faults.decide(path)
        if decision.latency > 0:
            self.faults.hold(decision.fault, decision.latency)
            if self.faults.closed:
                return False
        fault = None if decision.latency_only else decision.fault
        if fault is None:
            with lock:
                handled = _call_vendor(vendor, request)
                fault_name = "latency" if decision.fault is not None else None
                self._record(incoming, request, vendor.name, handled, fault_name, decision.latency)
            handler.send(self._encode(handled.response, incoming))
            return incoming.keep_alive
        if fault.kind == "hang":
            self._record(incoming, request, vendor.name, None, "hang", decision.latency)
            self.faults.hold(fault)
            return False
        if fault.kind == "close":
            self._record(incoming, request, vendor.name, None, "close", decision.latency)
            handler.send(CLOSE_FAULT_BYTES)
            return False
        response = _fault_response(fault, vendor)
        self._record(incoming, request, vendor.name, Handled(response), fault.kind, decision.latency)
        handler.send(self._encode(response, incoming))
        return incoming.keep_alive

    @staticmethod
    def _encode(response: FakeResponse, incoming: _Incoming) -> bytes:
        head = incoming.method == "HEAD"
        if not response.headers and not response.body:
            return _encode_bare(response.status, incoming.keep_alive, head)
        return encode_response(
            response.status,
            response.headers,
            response.body,
            keep_alive=incoming.keep_alive,
            head=head,
        )

    def _record(
        self,
        incoming: _Incoming,
        request: FakeRequest,
        vendor: str | None,
        handled: Handled | None,
        fault: str | None = None,
        latency: float = 0.0,
    ) -> None:
        recorded = make_recorded_request(
            request.method,
            request.path,
            request.query,
            request.headers,
            request.body,
            vendor,
            None if handled is None else handled.response.status,
            incoming.time,
            fault,
            latency,
            () if handled is None else handled.events,
            () if handled is None else handled.validation_messages,
        )
        if self.record:
            self._recorder.add(recorded, count_events=fault in (None, "latency"))
        if self.on_request is not None:
            self.on_request(recorded)

    def _inspect(self, request: FakeRequest) -> FakeResponse:
        """The `/_fakes/` inspection API."""
        name = request.path[len(INSPECTION_PREFIX) :]
        method = request.method
        vendor = request.query_value("vendor")
        if name == "health" and method in ("GET", "HEAD"):
            vendors = {v.name: list(v.routes) for v in self.vendors}
            return FakeResponse.json(200, {"status": "ok", "vendors": vendors})
        if name == "events" and method == "GET":
            events = self.events(vendor, request.query_value("kind"))
            return _json_list([asdict(e) for e in events])
        if name == "requests" and method == "GET":
            found = self.requests(path=request.query_value("path"), vendor=vendor)
            return _json_list([r.to_json() for r in found])
        if name == "requests" and method == "DELETE":
            self.clear()
            return FakeResponse.json(200, {"cleared": True})
        if name == "validation_messages" and method == "GET":
            return _json_list(self.validation_messages(vendor))
        if name == "faults" or name.startswith("faults/"):
            return self._inspect_faults(name, request)
        return FakeResponse.json(404, {"error": f"no inspection endpoint {method} {request.path}"})

    def _inspect_faults(self, name: str, request: FakeRequest) -> FakeResponse:
        method = request.method
        if name == "faults" and method == "GET":
            return _json_list([f.to_json() for f in self.faults.active()])
        if name == "faults" and method == "DELETE":
            count = len(self.faults.active())
            self.faults.clear()
            return FakeResponse.json(200, {"cleared": count})
        if name == "faults" and method == "POST":
            try:
                spec = json.loads(request.body or b"null")
                if not isinstance(spec, dict):
                    raise ValueError("the body must be a JSON object")
                fault = self.faults.add_from_json(spec)
            except (ValueError, TypeError) as error:
                return FakeResponse.json(400, {"error": str(error)})
            return FakeResponse.json(201, fault.to_json())
        if method == "DELETE":
            wanted = name[len("faults/") :]
            for fault in self.faults.active():
                if str(fault.id) == wanted:
                    fault.remove()
                    return FakeResponse.json(200, {"removed": fault.id})
            return FakeResponse.json(404, {"error": f"no fault {wanted}"})
        return FakeResponse.json(405, {"error": f"{method} is not allowed on {request.path}"})


@functools.lru_cache(maxsize=64)
def _encode_bare(status: int, keep_alive: bool, head: bool) -> bytes:
    """`encode_response` of a response without headers or body (GA4's 204), cached."""
    return encode_response(status, {}, b"", keep_alive=keep_alive, head=head)


@functools.lru_cache(maxsize=256)
def _split_target(target: str) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """The path and the parsed query string of a request target (cached: clients repeat them)."""
    split = urlsplit(target)
    query = parse_qs(split.query, keep_blank_values=True)
    return split.path or "/", tuple((name, tuple(values)) for name, values in query.items())


def _json_list(items: list[Any]) -> FakeResponse:
    body = json.dumps(items, default=repr).encode()
    return FakeResponse(200, body, {"Content-Type": "application/json"})


def _call_vendor(vendor: VendorFake, request: FakeRequest) -> Handled:
    """Run the vendor fake; a bug in it becomes a 500 carrying the traceback, not a dead thread."""
    try:
        return vendor.handle(request)
    except Exception:  # noqa: BLE001 - any fake bug must reach the test as a visible 500
        return Handled(FakeResponse.text(500, f"{vendor.name} fake crashed:\n{traceback.format_exc()}"))


def _fault_response(fault: Fault, vendor: VendorFake) -> FakeResponse:
    """The answer of a status, 429, 413 or malformed fault."""
    if fault.kind == "malformed":
        response = FakeResponse(200, MALFORMED_BODY, {"Content-Type": "application/json"})
    elif fault.kind in ("429", "413"):
        status = int(fault.kind)
        error_body = getattr(vendor, "error_body", None)
        documented = error_body(status) if callable(error_body) else None
        response = documented if isinstance(documented, FakeResponse) else FakeResponse(status)
    else:
        headers = {"Content-Type": fault.content_type} if fault.content_type else {}
        if fault.body and not fault.content_type:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        response = FakeResponse(fault.status or 500, fault.body or b"", headers)
    if fault.retry_after is not None:
        response = FakeResponse(
            response.status,
            response.body,
            {**response.headers, "Retry-After": str(fault.retry_after)},
        )
    return response
