"""The few HTTP/1.1 messages the engine exchanges: a request head written in one piece, and a
response read off a buffered socket file.

`http.client` parses response headers with the `email` package, which cost the three workers
about 7 µs of the interpreter lock per delivered event. What the engine needs is small: a
status, a handful of headers, and a body framed by Content-Length, chunks or the connection's end.
The request bytes are those `http.client` writes for the same call.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Mapping
from typing import BinaryIO

from .types import HttpResponse

__all__ = ["host_header", "read_response", "request_head"]

MAX_LINE = 65_536
MAX_HEADERS = 100
_NO_BODY = frozenset({204, 304})
_STATUS = re.compile(rb"[1-9][0-9][0-9]")


def host_header(host: str, port: int, default_port: int) -> str:
    """The Host header `http.client` would send: IDNA, IPv6 in brackets, the port unless default."""
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port == default_port else f"{host}:{port}"


def request_head(method: str, target: str, host: str, headers: Mapping[str, str], length: int) -> bytes:
    """Request line and headers, in `http.client`'s order; ValueError on a header that could
    split the message (CR or LF) or that latin-1 cannot carry."""
    names = {name.lower() for name in headers}
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    if "host" not in names:
        lines.append(f"Host: {host}\r\n")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity\r\n")
    if "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {length}\r\n")
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
            raise ValueError(f"illegal header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    text = "".join(lines)
    if "\r" in target or "\n" in target or " " in target:
        raise ValueError("illegal request target")
    return text.encode("latin-1")


def read_response(reader: BinaryIO) -> tuple[HttpResponse, bool]:
    """The next final response on the connection, and whether the connection must then be closed.

    Raises what `http.client` raises: RemoteDisconnected when the server closed the connection
    before answering (a stale keep-alive connection), IncompleteRead when the body is cut short.
    """
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("status line")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not _STATUS.fullmatch(parts[1]):
            raise http.client.BadStatusLine(repr(line[:100]))
        version, status = parts[0], int(parts[1])
        headers = _read_headers(reader)
        if not 100 <= status < 200:
            break  # 1xx answers are interim (100 Continue): the real one follows
    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    will_close = "close" in tokens or (version == b"HTTP/1.0" and "keep-alive" not in tokens)
    if status in _NO_BODY:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = _read_chunked(reader)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise http.client.HTTPException("bad Content-Length") from None
        if length < 0:
            raise http.client.HTTPException("bad Content-Length")
        body = _read_exactly(reader, length)
    else:
        body = reader.read()  # framed by the end of the connection
        will_close = True
    return HttpResponse(status, body, headers), will_close


def _read_headers(reader: BinaryIO) -> dict[str, str]:
    """Header names lower-cased; a repeated header keeps its last value, as the engine always did."""
    headers: dict[str, str] = {}
    last = ""
    for _ in range(MAX_HEADERS + 1):
        line = reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return headers
        text = line.decode("latin-1")
        if text[0] in " \t" and last:  # an obsolete folded continuation of the previous header
            headers[last] = f"{headers[last]} {text.strip()}"
            continue
        name, colon, value = text.partition(":")
        if colon:
            last = name.strip().lower()
            headers[last] = value.strip()
    raise http.client.HTTPException(f"more than {MAX_HEADERS} headers")


def _read_exactly(reader: BinaryIO, length: int) -> bytes:
    body = reader.read(length)
    if len(body) < length:
        raise http.client.IncompleteRead(body, length - len(body))
    return body


def _read_chunked(reader: BinaryIO) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("chunk size")
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise http.client.IncompleteRead(b"".join(chunks)) from None
        if size == 0:
            break
        chunks.append(_read_exactly(reader, size))
        _read_exactly(reader, 2)  # the CRLF after each chunk
    while reader.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
        pass  # trailers
    return b"".join(chunks)
