"""The engine's HTTP senders: failure kinds, stale keep-alive connections, proxies, requests in flight."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeServer
from telemetry import DeliveryOptions
from telemetry.delivery import http_stdlib
from telemetry.delivery._stream import _ready
from telemetry.delivery.http import default_transport, proxy_configured
from telemetry.delivery.http_requests import RequestsTransport
from telemetry.delivery.http_stdlib import HttpClientTransport
from telemetry.delivery.types import HttpRequest, HttpResponse, TransportFailure

from .conftest import FAST, ManagerFactory

GA4_BODY = b'{"client_id":"1.2","events":[{"name":"probe","params":{}}]}'
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


def ga4_request(server: FakeServer) -> HttpRequest:
    url = f"{server.base_url}/mp/collect?measurement_id=G-TRANSPORT&api_secret=transport-secret-1"
    return HttpRequest(url, GA4_BODY, {"Content-Type": "application/json"})


@pytest.fixture
def transport() -> Iterator[HttpClientTransport]:
    sender = HttpClientTransport()
    yield sender
    sender.close()


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy that answers for the origin itself: it records the absolute URL asked for."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        body = b'{"code":200,"events_ingested":1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def read_request(conn: socket.socket) -> bytes | None:
    """The body of the next request on `conn` (framed by Content-Length), or None once it closes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    body = bytearray(rest)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return bytes(body)


class _ScriptedServer:
    """Accepts on 127.0.0.1 (over TLS with a context) and runs `script` on each connection, on a
    thread of its own: the tests' ways of answering slowly, never, or over TLS."""

    def __init__(
        self, script: Callable[[socket.socket, threading.Event], None], tls: ssl.SSLContext | None = None
    ) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.script = script
        self.tls = tls
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, path: str = "/mp/collect") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.listener.getsockname()[1]}{path}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(10)
            if self.tls is None:
                self.script(conn, self.stop)
                return
            with self.tls.wrap_socket(conn, server_side=True) as secure:  # takes over conn's socket
                self.script(secure, self.stop)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.listener.close()


class _OneShotServer(_ScriptedServer):
    """Answers one request per connection, then closes it, with or without having answered the
    second request sent on it (a server dropping an idle connection as a request arrives)."""

    def __init__(self, *, answer_second: bool) -> None:
        self.answer_second = answer_second
        self.received: list[str] = []
        super().__init__(self._answer_once)

    def _answer_once(self, conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        self.received.append("answered")
        conn.sendall(NO_CONTENT)  # keep-alive is HTTP/1.1's default
        if not self.answer_second and read_request(conn) is not None:
            self.received.append("dropped unanswered")


SELECT_LIMIT = 1024
"""select.select() refuses descriptors from this number on (FD_SETSIZE on Linux)."""


@pytest.fixture
def many_open_files() -> Iterator[None]:
    """The process holds more than SELECT_LIMIT descriptors, so new sockets are numbered above it
    (a long-running application with many files and connections open)."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SELECT_LIMIT + 256
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the descriptor limit ({hard}) is below {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    held = [os.open(os.devnull, os.O_RDONLY)]
    try:
        while held[-1] < SELECT_LIMIT:
            held.append(os.dup(held[0]))
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)
        if soft < needed:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def one_shot_server(request: pytest.FixtureRequest) -> Iterator[_OneShotServer]:
    server = _OneShotServer(answer_second=request.param == "closes while idle")
    yield server
    server.close()


class TestTheStandardLibrarySender:
    def test_it_delivers_over_one_keep_alive_connection(
        self, transport: HttpClientTransport, fake_server: FakeServer
    ) -> None:
        answers = [transport.send(ga4_request(fake_server), 2.0) for _ in range(3)]

        assert [a.status for a in answers if isinstance(a, HttpResponse)] == [204, 204, 204]
        assert len(fake_server.requests()) == 3
        assert len(transport._open) == 1

    @pytest.mark.parametrize(
        ("one_shot_server", "expected"),
        [
            ("closes while idle", ["answered"] * 3),
            ("closes as the next request arrives", ["answered", "dropped unanswered"] * 2 + ["answered"]),
        ],
        indirect=["one_shot_server"],
    )
    def test_a_keep_alive_connection_the_server_closed_is_replaced_without_a_failure(
        self, transport: HttpClientTransport, one_shot_server: _OneShotServer, expected: list[str]
    ) -> None:
        request = HttpRequest(one_shot_server.url(), GA4_BODY, {"Content-Type": "application/json"})

        answers = [transport.send(request, 2.0) for _ in range(3)]

        assert answers == [HttpResponse(204, b"", {})] * 3
        assert one_shot_server.received == expected

    def test_an_idle_connection_is_reused_when_the_process_holds_over_1024_descriptors(
        self,
        transport: HttpClientTransport,
        scripted: Callable[..., _ScriptedServer],
        many_open_files: None,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        connections: list[socket.socket] = []

        def answer_every_request(conn: socket.socket, stop: threading.Event) -> None:
            connections.append(conn)
            while read_request(conn) is not None:
                conn.sendall(NO_CONTENT)

        server = scripted(answer_every_request)
        # Every reuse first checks whether the server closed the idle connection.
        monkeypatch.setattr(http_stdlib, "POLL_AFTER_IDLE_SECONDS", 0.0)

        answers = [transport.send(HttpRequest(server.url(), GA4_BODY), 2.0) for _ in range(3)]

        assert answers == [HttpResponse(204, b"", {})] * 3
        assert all(c.sock.fileno() >= SELECT_LIMIT for c in transport._open)
        assert len(connections) == 1

    def test_the_head_and_body_of_a_request_leave_in_one_write(
        self, transport: HttpClientTransport, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        writes: list[bytes] = []
        original_send, original_sendall = socket.socket.send, socket.socket.sendall

        def to_the_fake(sock: socket.socket) -> bool:  # not the in-process fake's own answers
            return bool(sock.getpeername()[1] == fake_server.port)

        def counting_send(self: socket.socket, data: Any, *args: Any) -> int:
            if to_the_fake(self):
                writes.append(bytes(data))
            return original_send(self, data, *args)

        def counting_sendall(self: socket.socket, data: Any, *args: Any) -> None:
            if to_the_fake(self):
                writes.append(bytes(data))
            original_sendall(self, data, *args)

        monkeypatch.setattr(socket.socket, "send", counting_send)
        monkeypatch.setattr(socket.socket, "sendall", counting_sendall)
        request = ga4_request(fake_server)

        answer = transport.send(request, 2.0)

        assert isinstance(answer, HttpResponse)
        assert answer.status == 204
        (write,) = writes  # each write gives up the interpreter lock, which is slow to get back
        assert write.startswith(b"POST /mp/collect?")
        assert write.endswith(b"\r\n\r\n" + GA4_BODY)

    def test_a_refused_connection_is_a_connect_failure(self, transport: HttpClientTransport) -> None:
        with socket.create_server(("127.0.0.1", 0)) as unused:
            port = unused.getsockname()[1]
        answer = transport.send(HttpRequest(f"http://127.0.0.1:{port}/x", b"{}"), 1.0)

        assert isinstance(answer, TransportFailure)
        assert answer.kind == "connect"

    def test_a_hanging_backend_is_a_read_timeout_within_the_timeout(
        self, transport: HttpClientTransport, fake_server: FakeServer
    ) -> None:
        fake_server.faults.add("hang")

        answer = transport.send(ga4_request(fake_server), 0.2)

        assert isinstance(answer, TransportFailure)
        assert answer.kind == "read_timeout"

    def test_a_connection_cut_mid_answer_is_a_lost_connection_and_the_next_request_recovers(
        self, transport: HttpClientTransport, fake_server: FakeServer
    ) -> None:
        fake_server.faults.add("close", count=1)

        first = transport.send(ga4_request(fake_server), 1.0)
        second = transport.send(ga4_request(fake_server), 1.0)

        assert isinstance(first, TransportFailure)
        assert first.kind == "connection_lost"
        assert isinstance(second, HttpResponse)
        assert second.status == 204

    def test_a_started_request_is_on_the_wire_before_its_answer_is_awaited(
        self, transport: HttpClientTransport, fake_server: FakeServer
    ) -> None:
        finish = transport.start(ga4_request(fake_server), 2.0)
        fake_server.wait_for_requests(1)  # the server has it while the caller holds `finish`

        answer = finish()

        assert isinstance(answer, HttpResponse)
        assert answer.status == 204

    def test_the_api_secret_never_appears_in_a_failure_message(self, transport: HttpClientTransport) -> None:
        from telemetry._log import register_secret

        register_secret("transport-secret-1")
        with socket.create_server(("127.0.0.1", 0)) as unused:
            port = unused.getsockname()[1]
        url = f"http://127.0.0.1:{port}/mp/collect?api_secret=transport-secret-1"
        answer = transport.send(HttpRequest(url, b"{}"), 1.0)

        assert isinstance(answer, TransportFailure)
        assert "transport-secret-1" not in answer.message


def drip_an_answer(conn: socket.socket, stop: threading.Event) -> None:
    """Read the request, then answer one byte every 20 ms (the whole answer takes about 2 s)."""
    read_request(conn)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 70\r\n\r\n" + b"x" * 70
    for byte in answer:
        conn.sendall(bytes([byte]))
        if stop.wait(0.02):
            return


def never_answer(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    stop.wait(10)


@pytest.fixture
def scripted() -> Iterator[Callable[..., _ScriptedServer]]:
    servers: list[_ScriptedServer] = []

    def start(
        script: Callable[[socket.socket, threading.Event], None], tls: ssl.SSLContext | None = None
    ) -> _ScriptedServer:
        servers.append(_ScriptedServer(script, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def trusted_tls(
    tls_certificate: tuple[Path, Path], tls_server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> ssl.SSLContext:
    """The server side of TLS on 127.0.0.1, with its certificate trusted by the sender."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_certificate[0]))
    return tls_server_context


@pytest.fixture(params=["poll", "select"])
def waiting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the sender waits on a socket: `poll` where the platform has it, `select` where it does
    not (Windows); without the attribute the sender takes the `select` path here too."""
    if request.param == "select":
        monkeypatch.delattr(select, "poll")
    return str(request.param)


@pytest.mark.usefixtures("waiting")
class TestWaitingOnASocket:
    def test_a_socket_is_readable_only_once_its_peer_has_written(self) -> None:
        ours, peer = socket.socketpair()
        with ours, peer:
            assert not _ready(ours, True, 0.0)
            assert not _ready(ours, True, 0.05)
            peer.sendall(b"x")
            assert _ready(ours, True, 5.0)
            assert _ready(ours, True, 0.0)

    def test_a_socket_whose_peer_hung_up_is_ready_so_the_next_call_reports_it(self) -> None:
        ours, peer = socket.socketpair()
        with ours:
            peer.close()
            assert _ready(ours, True, 5.0)

    def test_a_socket_is_writable_only_while_its_buffers_have_room(self) -> None:
        ours, peer = socket.socketpair()
        with ours, peer:
            assert _ready(ours, False, 5.0)
            ours.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while True:
                    ours.send(b"x" * 65_536)
            assert not _ready(ours, False, 0.05)
            assert not _ready(ours, True, 0.05)


@pytest.mark.usefixtures("waiting")
class TestTimeouts:
    def test_an_answer_dripped_byte_by_byte_cannot_hold_a_request_past_its_timeout(
        self, transport: HttpClientTransport, scripted: Callable[..., _ScriptedServer]
    ) -> None:
        server = scripted(drip_an_answer)

        answer = transport.send(HttpRequest(server.url(), GA4_BODY), 0.3)

        # Each byte arrives well within 0.3 s: only a deadline on the whole read stops it.
        assert isinstance(answer, TransportFailure)
        assert answer.kind == "read_timeout"

    def test_a_tls_backend_that_never_answers_is_a_read_timeout(
        self,
        transport: HttpClientTransport,
        scripted: Callable[..., _ScriptedServer],
        trusted_tls: ssl.SSLContext,
    ) -> None:
        server = scripted(never_answer, trusted_tls)

        answer = transport.send(HttpRequest(server.url(), GA4_BODY), 0.3)

        assert isinstance(answer, TransportFailure)
        assert answer.kind == "read_timeout"


@pytest.mark.usefixtures("waiting")
class TestTls:
    def test_large_and_small_bodies_arrive_intact_over_one_tls_connection(
        self,
        transport: HttpClientTransport,
        scripted: Callable[..., _ScriptedServer],
        trusted_tls: ssl.SSLContext,
    ) -> None:
        received: list[bytes] = []

        def keep_and_answer(conn: socket.socket, stop: threading.Event) -> None:
            while (body := read_request(conn)) is not None:
                received.append(body)
                conn.sendall(NO_CONTENT)

        server = scripted(keep_and_answer, trusted_tls)
        # Larger than the loopback socket buffers: the sender must wait for room mid-body.
        large = bytes(range(256)) * (16 * 4096)
        bodies = [large, GA4_BODY, large[::-1], GA4_BODY]

        answers = [transport.send(HttpRequest(server.url(), body), 10.0) for body in bodies]

        assert answers == [HttpResponse(204, b"", {})] * 4
        assert received == bodies
        assert len(transport._open) == 1


class TestProxies:
    @pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"])
    def test_a_proxy_in_the_environment_hands_sending_to_requests(
        self, variable: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in ("https_proxy", "http_proxy", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.upper(), raising=False)
        assert isinstance(default_transport(), HttpClientTransport)

        monkeypatch.setenv(variable, "http://proxy.invalid:3128")

        assert proxy_configured()
        assert isinstance(default_transport(), RequestsTransport)

    def test_with_a_proxy_configured_events_travel_through_it(
        self, make_manager: ManagerFactory, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
        proxy.seen = []  # type: ignore[attr-defined]
        thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            for name in ("no_proxy", "NO_PROXY"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
            manager = make_manager()
            manager.track_event("through_the_proxy")
            assert manager.flush(5.0)
        finally:
            proxy.shutdown()
            proxy.server_close()
            thread.join(5)

        assert proxy.seen == [f"{fake_server.base_url}/2/httpapi"]  # type: ignore[attr-defined]
        assert fake_server.requests() == []
        assert manager.stats()["Amplitude"]["sent"] == 1

    def test_the_requests_sender_delivers_too(self, fake_server: FakeServer) -> None:
        sender = RequestsTransport()
        try:
            answer = sender.send(ga4_request(fake_server), 2.0)
        finally:
            sender.close()

        assert isinstance(answer, HttpResponse)
        assert answer.status == 204


class TestRequestsInFlight:
    def test_a_worker_keeps_two_requests_in_flight_and_delivers_every_event_once(
        self, make_manager: ManagerFactory, fake_server: FakeServer
    ) -> None:
        fake_server.faults.add("latency", latency=0.3, route="/mp/collect")
        manager = make_manager(ga4=True, delivery=FAST)
        for n in range(100):  # four GA4 batches of 25
            manager.track_event("step", {"n": n})
        assert manager.flush(10.0)

        ga4 = fake_server.requests(path="/mp/collect")
        assert len(ga4) == 4
        # Each answer takes 0.3 s; the second request arrived before the first was answered.
        assert ga4[1].time - ga4[0].time < 0.25
        assert sorted(e.params["n"] for e in fake_server.events("ga4")) == list(range(100))
        assert manager.stats()["GA4"]["sent"] == 100

    def test_requests_stay_in_flight_from_one_gathered_slice_of_the_queue_to_the_next(
        self, make_manager: ManagerFactory, fake_server: FakeServer
    ) -> None:
        # The worker takes 4 batches' worth of events (100 for GA4) at a time. Eight batches
        # with three in flight: the fifth request goes out as soon as the second is answered,
        # not after the whole first slice of four has been answered.
        fake_server.faults.add("latency", latency=0.3, route="/mp/collect")
        options = DeliveryOptions(**{**FAST.__dict__, "max_in_flight": 3})
        manager = make_manager(ga4=True, delivery=options)
        for n in range(200):
            manager.track_event("step", {"n": n})
        assert manager.flush(10.0)

        ga4 = fake_server.requests(path="/mp/collect")
        assert len(ga4) == 8
        assert ga4[4].time - ga4[3].time < 0.25
        assert sorted(e.params["n"] for e in fake_server.events("ga4")) == list(range(200))

    def test_with_one_in_flight_each_request_waits_for_the_previous_answer(
        self, make_manager: ManagerFactory, fake_server: FakeServer
    ) -> None:
        fake_server.faults.add("latency", latency=0.3, route="/mp/collect")
        options = DeliveryOptions(**{**FAST.__dict__, "max_in_flight": 1})
        manager = make_manager(ga4=True, delivery=options)
        for n in range(50):
            manager.track_event("step", {"n": n})
        assert manager.flush(10.0)

        first, second = fake_server.requests(path="/mp/collect")
        assert second.time - first.time >= 0.3

    def test_a_failed_batch_is_retried_while_the_next_one_is_delivered(
        self, make_manager: ManagerFactory, fake_server: FakeServer
    ) -> None:
        fake_server.faults.add("status", status=503, count=1, route="/mp/collect")
        manager = make_manager(ga4=True, delivery=FAST)
        for n in range(50):
            manager.track_event("step", {"n": n})
        assert manager.flush(10.0)

        statuses = [r.status for r in fake_server.requests(path="/mp/collect")]
        assert sorted(statuses) == [204, 204, 503]
        assert sorted(e.params["n"] for e in fake_server.events("ga4") if e.accepted) == list(range(50))
        stats: dict[str, Any] = manager.stats()["GA4"]
        assert (stats["sent"], stats["retried"], stats["dropped"]) == (50, 25, {})
