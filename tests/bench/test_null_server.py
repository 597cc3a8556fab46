"""The bench's null server answers every vendor the way its provider counts as delivered."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from benchmarks._common import build_manager, delivery_options
from benchmarks._nullserver import null_server


def test_three_providers_deliver_everything_to_the_null_server(tmp_path: Path) -> None:
    """Every batch is answered as a success, so the ceiling case counts real deliveries."""
    with null_server() as base_url:
        manager = build_manager(tmp_path / "t.sqlite", base_url, delivery_options())
        for n in range(120):
            manager.track_event("bench_event", {"n": n})
        assert manager.flush(timeout=10)
        stats = manager.stats()
        manager.shutdown(timeout=2)
    for name in ("GA4", "Amplitude", "Mixpanel"):
        assert stats[name]["sent"] == 120, stats[name]
        assert stats[name]["dropped"] == {}, stats[name]


def test_pipelined_and_split_requests_are_each_answered_once() -> None:
    """Two requests in one write, then one split across writes: three answers, in order."""
    request = b"POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    with null_server() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request + request.replace(b"/2/httpapi", b"/nowhere"))
            sock.sendall(request[:20])
            sock.sendall(request[20:])
            received = b""
            while received.count(b"HTTP/1.1 ") < 3 or not received.endswith(b"}"):
                chunk = sock.recv(65536)
                assert chunk, f"closed after {received!r}"
                received += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3})", received) == [b"200", b"404", b"200"]


def test_a_chunked_request_is_refused_and_its_connection_closed() -> None:
    """The null server frames requests by Content-Length only: anything else gets 400 and a close."""
    request = b"POST /2/httpapi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    with null_server() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3})", received) == [b"400"]
