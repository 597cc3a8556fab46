"""The engine's own HTTP/1.1 reading and writing: what `http.client` would make of the same bytes."""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.delivery._http11 import host_header, read_response, request_head
from telemetry.delivery.http import user_agent
from telemetry.delivery.http_stdlib import HttpClientTransport
from telemetry.delivery.types import HttpRequest, HttpResponse, TransportFailure

BODY = b'{"client_id":"1.2","events":[{"name":"probe","params":{}}]}'


class _SocketOf:
    """Just enough of a socket for `http.client.HTTPResponse` to read `data`."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def parsed_by_http_client(data: bytes) -> tuple[HttpResponse, bool]:
    response = http.client.HTTPResponse(_SocketOf(data))  # type: ignore[arg-type]
    response.begin()
    body = response.read()
    return HttpResponse(response.status, body, {k.lower(): v for k, v in response.getheaders()}), bool(
        response.will_close
    )


class _Capture(http.client.HTTPConnection):
    """Collects what `http.client` would write, instead of writing it."""

    written = b""

    def send(self, data: Any) -> None:
        self.written += bytes(data)


def written_by_http_client(port: int, target: str, headers: dict[str, str], body: bytes) -> bytes:
    capture = _Capture("127.0.0.1", port)
    capture.request("POST", target, body=body, headers=headers)
    return capture.written


def parsed_by_us(data: bytes) -> tuple[HttpResponse, bool]:
    return read_response(io.BytesIO(data))


TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=12)
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    """A well-formed response: any status, headers, and a body framed by length, chunks or the end."""
    status = draw(st.sampled_from([200, 201, 202, 204, 400, 404, 408, 413, 429, 500, 502, 503]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    names = draw(st.lists(TOKEN, max_size=5, unique_by=str.lower))
    names = [n for n in names if n.lower() not in {"content-length", "transfer-encoding", "connection"}]
    headers = [(n, draw(HEADER_VALUE)) for n in names]
    if draw(st.booleans()):
        headers.append(("Connection", draw(st.sampled_from(["close", "keep-alive", "Keep-Alive, x"]))))
    body = b"" if status == 204 else draw(st.binary(max_size=300))
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
        payload = body
    elif framing == "chunked" and version == "HTTP/1.1":
        headers.append(("Transfer-Encoding", "chunked"))
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        payload = body
    head = f"{version} {status} Reason\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return head.encode("latin-1") + payload


class TestReadingResponses:
    @given(responses())
    def test_every_well_formed_response_reads_as_http_client_reads_it(self, data: bytes) -> None:
        assert parsed_by_us(data) == parsed_by_http_client(data)

    @pytest.mark.parametrize(
        "data",
        [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=1\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n",
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 1\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n  two\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.0 200 OK\r\n\r\nread to the end",
        ],
        ids=[
            "interim 100",
            "chunks with extension and trailer",
            "repeated header",
            "folded",
            "1.0",
            "1.0 unframed",
        ],
    )
    def test_the_rarer_shapes_read_as_http_client_reads_them(self, data: bytes) -> None:
        ours, theirs = parsed_by_us(data), parsed_by_http_client(data)
        assert ours[0].status == theirs[0].status
        assert ours[0].body == theirs[0].body
        assert ours[1] == theirs[1]
        assert {k: " ".join(v.split()) for k, v in ours[0].headers.items()} == {
            k: " ".join(v.split()) for k, v in theirs[0].headers.items()
        }

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            (b"", http.client.RemoteDisconnected),
            (b"SSH-2.0-OpenSSH\r\n", http.client.BadStatusLine),
            (b"HTTP/1.1 50", http.client.BadStatusLine),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", http.client.IncompleteRead),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", http.client.HTTPException),
            (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", http.client.HTTPException),
        ],
        ids=[
            "closed before answering",
            "not http",
            "cut in the status",
            "cut mid-body",
            "cut mid-chunk",
            "bad length",
            "too many headers",
        ],
    )
    def test_a_broken_response_raises_what_http_client_raises(
        self, data: bytes, error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            parsed_by_us(data)


class TestWritingRequests:
    @pytest.mark.parametrize(
        ("host", "port", "default", "expected"),
        [
            ("api.example.com", 443, 443, "api.example.com"),
            ("127.0.0.1", 8080, 80, "127.0.0.1:8080"),
            ("::1", 8080, 80, "[::1]:8080"),
            ("bücher.example", 80, 80, "xn--bcher-kva.example"),
        ],
    )
    def test_the_host_header_is_what_http_client_sends(
        self, host: str, port: int, default: int, expected: str
    ) -> None:
        assert host_header(host, port, default) == expected

    @given(
        st.dictionaries(TOKEN, HEADER_VALUE, max_size=5),
        st.binary(max_size=200),
        st.sampled_from(
            ["/mp/collect?measurement_id=G-1&api_secret=s", "/2/httpapi", "/track?verbose=1&ip=0"]
        ),
    )
    def test_a_request_head_is_byte_for_byte_what_http_client_writes(
        self, headers: dict[str, str], body: bytes, target: str
    ) -> None:
        expected = written_by_http_client(8080, target, headers, body)

        assert request_head("POST", target, "127.0.0.1:8080", headers, len(body)) + body == expected

    @pytest.mark.parametrize(
        "headers", [{"X-Bad": "a\r\nInjected: 1"}, {"X-Bad\r\nInjected": "1"}, {"X-Bad": "\u2603"}]
    )
    def test_a_header_that_could_split_the_request_is_refused(self, headers: dict[str, str]) -> None:
        with pytest.raises(ValueError, match=r"illegal header|latin-1"):
            request_head("POST", "/x", "h", headers, 0)


class _ScriptedServer:
    """Records each request's raw bytes and answers each with the next scripted response."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/mp/collect?measurement_id=G-1"

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn, conn.makefile("rb") as reader:
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    self.requests.append(head + reader.read(length))
                    answer = self.answers.pop(0)
                    conn.sendall(answer)
                    if b"onnection: close" in answer or b"HTTP/1.0" in answer:
                        break

    def close(self) -> None:
        self.listener.close()
        self.thread.join(2)


@pytest.fixture
def scripted(request: pytest.FixtureRequest) -> Iterator[_ScriptedServer]:
    server = _ScriptedServer(list(request.param))
    yield server
    server.close()


OK = b"HTTP/1.1 204 No Content\r\n\r\n"


class TestTheSenderOnTheWire:
    @pytest.mark.parametrize("scripted", [[OK]], indirect=True)
    def test_the_request_on_the_wire_is_what_http_client_would_write(self, scripted: _ScriptedServer) -> None:
        headers = {"Content-Type": "application/json", "Authorization": "Basic c2VjcmV0Og=="}
        transport = HttpClientTransport()

        assert transport.send(HttpRequest(scripted.url, BODY, headers), 2.0) == HttpResponse(204, b"", {})
        transport.close()

        port = scripted.listener.getsockname()[1]
        sender_headers = {"User-Agent": user_agent(), "Accept": "*/*", **headers}
        expected = written_by_http_client(port, "/mp/collect?measurement_id=G-1", sender_headers, BODY)
        assert scripted.requests == [expected]

    @pytest.mark.parametrize(
        ("scripted", "connections"),
        [
            ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"] * 3, 1),
            ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"] * 3, 1),
            ([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"] * 3, 3),
            ([b"HTTP/1.0 200 OK\r\n\r\nok"] * 3, 3),
        ],
        indirect=["scripted"],
        ids=["length", "chunked", "connection close", "http/1.0 read to the end"],
    )
    def test_a_connection_is_reused_unless_the_answer_closes_it(
        self, scripted: _ScriptedServer, connections: int
    ) -> None:
        transport = HttpClientTransport()
        request = HttpRequest(scripted.url, BODY, {})

        answers = [transport.send(request, 2.0) for _ in range(3)]
        transport.close()

        assert [(a.status, a.body) for a in answers if isinstance(a, HttpResponse)] == [(200, b"ok")] * 3
        assert scripted.connections == connections

    def test_a_header_that_could_split_the_request_fails_the_send_and_writes_nothing(self) -> None:
        server = _ScriptedServer([OK])
        transport = HttpClientTransport()
        try:
            answer = transport.send(HttpRequest(server.url, BODY, {"X-Bad": "1\r\nInjected: yes"}), 2.0)
        finally:
            transport.close()
            server.close()

        assert isinstance(answer, TransportFailure)
        assert answer.kind == "other"
        assert server.requests == []
