"""A null HTTP/1.1 server: answers every request at once with the vendor's success answer.

It checks and records nothing, so a run against it measures the sender alone: the ceiling of our
delivery engine on this machine, printed beside the figure against the validating fakes (which
share the machine's two cores with the sender). One thread, non-blocking sockets, keep-alive,
TCP_NODELAY (the 40 ms trap), requests framed by Content-Length, pipelining allowed.

    python -c "from benchmarks._nullserver import serve; serve()"   # prints its base URL
"""

from __future__ import annotations

import selectors
import socket
from collections.abc import Iterator
from contextlib import contextmanager


def _answer(status: int, reason: str, body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode("ascii") + body


# What each vendor answers a good batch with (wire-protocols.md), by path prefix.
ANSWERS: tuple[tuple[bytes, bytes], ...] = (
    (b"/mp/collect", _answer(204, "No Content")),
    (b"/debug/mp/collect", _answer(200, "OK", b'{"validationMessages":[]}')),
    (b"/2/httpapi", _answer(200, "OK", b'{"code":200,"events_ingested":1,"payload_size_bytes":1}')),
    (b"/batch", _answer(200, "OK", b'{"code":200,"events_ingested":1,"payload_size_bytes":1}')),
    (b"/track", _answer(200, "OK", b'{"status":1,"error":null}')),
    (b"/engage", _answer(200, "OK", b'{"status":1,"error":null}')),
    (b"/import", _answer(200, "OK", b'{"code":200,"num_records_imported":1,"status":"OK"}')),
    (b"/v1/batch", _answer(200, "OK", b"OK")),
)
NOT_FOUND = _answer(404, "Not Found", b'{"error":"no such route"}')
BAD_REQUEST = _answer(400, "Bad Request", b'{"error":"unframed request"}')


def answer_for(path: bytes) -> bytes:
    for prefix, answer in ANSWERS:
        if path.startswith(prefix):
            return answer
    return NOT_FOUND


class _Connection:
    __slots__ = ("closing", "inbox", "outbox", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbox = b""
        self.outbox = b""
        self.closing = False  # closed once the outbox is sent


def _parse(connection: _Connection) -> None:
    """Answer every complete request in the inbox; an unframed one is refused and ends the connection."""
    data = connection.inbox
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        head = data[:end].split(b"\r\n")
        parts = head[0].split(b" ")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(b":")
            field = name.strip().lower()
            if field == b"content-length":
                length = int(value.strip() or b"0")
            elif field == b"transfer-encoding":
                connection.outbox += BAD_REQUEST
                connection.inbox, connection.closing = b"", True
                return
        if len(data) < end + 4 + length:
            break
        connection.outbox += answer_for(parts[1] if len(parts) > 1 else b"")
        data = data[end + 4 + length :]
    connection.inbox = data


def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until killed; print the base URL first."""
    selector = selectors.DefaultSelector()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ, None)
    print(f"http://{host}:{listener.getsockname()[1]}", flush=True)
    while True:
        for key, events in selector.select():
            if key.data is None:
                sock, _ = listener.accept()
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(sock, selectors.EVENT_READ, _Connection(sock))
                continue
            connection: _Connection = key.data
            if events & selectors.EVENT_READ and not connection.closing:
                try:
                    chunk = connection.sock.recv(1 << 20)
                except BlockingIOError:
                    chunk = None
                except OSError:
                    chunk = b""
                if chunk == b"":
                    connection.closing = True
                elif chunk:
                    connection.inbox += chunk
                    _parse(connection)
            if connection.outbox:
                try:
                    sent = connection.sock.send(connection.outbox)
                    connection.outbox = connection.outbox[sent:]
                except BlockingIOError:
                    pass
                except OSError:
                    connection.closing, connection.outbox = True, b""
            if connection.closing and not connection.outbox:
                selector.unregister(connection.sock)
                connection.sock.close()
                continue
            wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if connection.outbox else 0)
            if key.events != wanted:
                selector.modify(connection.sock, wanted, connection)


@contextmanager
def null_server() -> Iterator[str]:
    """Start the null server in its own process; yield its base URL; stop it afterwards."""
    from benchmarks._common import start_server_process

    code = "from benchmarks._nullserver import serve; serve()"
    process, base_url = start_server_process(code, "the null server")
    try:
        yield base_url
    finally:
        process.kill()
        process.wait(timeout=5)
