"""A connection's socket, non-blocking, driven with as few system calls as the data allows.

Every system call gives up the interpreter lock, and while other workers keep the process busy
getting it back can take up to the switch interval (5 ms). A socket with a timeout costs two calls
per read or write (a poll, then the call); here the call is tried first and the poll comes only
when the socket has nothing yet, so an answer that has already arrived costs one. The deadline
covers the whole phase (writing a request, or reading its answer), not each call. TLS sockets
work the same way: their want-read and want-write errors are waited out like a plain socket's.
"""

from __future__ import annotations

import io
import math
import select
import socket
import ssl
import time
from typing import Any

__all__ = ["SocketStream"]

_WANT_READ = (BlockingIOError, ssl.SSLWantReadError)
_WANT_WRITE = ssl.SSLWantWriteError


class SocketStream(io.RawIOBase):
    """Raw reads and whole writes on a non-blocking socket, each phase bounded by its timeout.

    `reader` buffers reads for the response parser; `start(timeout)` opens a phase. Raises
    TimeoutError when the deadline passes while waiting; the socket itself stays open (the
    transport closes the connection).
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        sock.setblocking(False)
        self._sock = sock
        self._deadline = 0.0
        self.reader = io.BufferedReader(self)

    def start(self, timeout: float) -> None:
        """Begin a phase (a write, or the read of an answer) that may wait up to `timeout`."""
        self._deadline = time.monotonic() + timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            try:
                return self._sock.recv_into(buffer)
            except _WANT_READ:
                self._wait(readable=True)
            except _WANT_WRITE:
                self._wait(readable=False)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self._sock.send(view)
            except (BlockingIOError, _WANT_WRITE):
                self._wait(readable=False)
                continue
            except ssl.SSLWantReadError:
                self._wait(readable=True)
                continue
            view = view[sent:]

    def _wait(self, *, readable: bool) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or not _ready(self._sock, readable, remaining):
            raise TimeoutError("timed out")


def _ready(sock: socket.socket, readable: bool, timeout: float) -> bool:
    """Whether `sock` became readable (or writable) within `timeout` seconds (0: is it now).

    `poll` where the platform has it: `select` refuses descriptors numbered 1024 and above, which
    a long-running application holding many files and connections reaches.
    """
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN if readable else select.POLLOUT)
        # A hang-up or an error counts as ready: the next call reports it.
        return bool(poller.poll(math.ceil(timeout * 1000)))
    waiting = [sock]
    ready = (
        select.select(waiting, [], waiting, timeout)
        if readable
        else select.select([], waiting, waiting, timeout)
    )
    return any(ready)
