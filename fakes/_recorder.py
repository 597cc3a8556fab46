"""Thread-safe recording of what reached a fake server, with waits on conditions (never sleeps).

Handler threads append; test code reads snapshots or blocks in `wait_for*` on one Condition,
so a test resumes the moment the awaited request or event has been recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from fakes._model import ReceivedEvent

_T = TypeVar("_T")


class WaitTimeout(AssertionError, TimeoutError):
    """A `wait_for*` call gave up. Both an AssertionError (a test failure) and a TimeoutError."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request that reached a vendor route (or no route), as the server saw and answered it.

    `status` is None while a `hang` fault holds the request (it is never answered).
    `fault` names the fault that decided the answer ("hang", "close", "status", "429", "413",
    "malformed", or "latency" when only added latency applied); None for a normal answer.
    `time` is `time.monotonic()` when the request was fully read.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    vendor: str | None
    status: int | None
    time: float
    fault: str | None = None
    latency: float = 0.0
    events: tuple[ReceivedEvent, ...] = ()
    validation_messages: tuple[dict[str, Any], ...] = ()

    @property
    def text(self) -> str:
        """The body decoded as UTF-8, undecodable bytes replaced."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the body as text, events as dicts."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.text,
            "vendor": self.vendor,
            "status": self.status,
            "time": self.time,
            "fault": self.fault,
            "latency": self.latency,
            "events": [asdict(event) for event in self.events],
            "validation_messages": list(self.validation_messages),
        }


def make_recorded_request(
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    body: bytes,
    vendor: str | None,
    status: int | None,
    time: float,
    fault: str | None,
    latency: float,
    events: tuple[ReceivedEvent, ...],
    validation_messages: tuple[dict[str, Any], ...],
) -> RecordedRequest:
    """`RecordedRequest(...)` with every field given in order, in a third of the time (see
    `fakes._model.make_received_event`)."""
    recorded: RecordedRequest = object.__new__(RecordedRequest)
    fields = recorded.__dict__
    fields["method"] = method
    fields["path"] = path
    fields["query"] = query
    fields["headers"] = headers
    fields["body"] = body
    fields["vendor"] = vendor
    fields["status"] = status
    fields["time"] = time
    fields["fault"] = fault
    fields["latency"] = latency
    fields["events"] = events
    fields["validation_messages"] = validation_messages
    return recorded


@dataclass
class _Store:
    requests: list[RecordedRequest] = field(default_factory=list)
    events: list[ReceivedEvent] = field(default_factory=list)
    messages: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)


class Recorder:
    """Everything a server recorded, guarded by one Condition that is notified on each change."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._store = _Store()
        self._waiting = 0
        """Threads blocked in `wait_for*`: with none, a new recording need not notify anyone."""

    def add(self, request: RecordedRequest, *, count_events: bool = True) -> None:
        """Record one answered request; its events count as received only with `count_events`."""
        with self._changed:
            store = self._store
            store.requests.append(request)
            if count_events:
                store.events.extend(request.events)
                if request.validation_messages:
                    store.messages.extend(
                        (request.vendor, message) for message in request.validation_messages
                    )
            if self._waiting:
                self._changed.notify_all()

    def clear(self) -> None:
        """Forget every recording."""
        with self._changed:
            self._store = _Store()
            self._changed.notify_all()

    def requests(self, *, path: str | None = None, vendor: str | None = None) -> list[RecordedRequest]:
        """A snapshot of recorded requests, oldest first, optionally filtered."""
        with self._changed:
            return self._select_requests(path, vendor)

    def events(self, vendor: str | None = None, kind: str | None = None) -> list[ReceivedEvent]:
        """A snapshot of received events, oldest first, optionally filtered."""
        with self._changed:
            return self._select_events(vendor, kind)

    def validation_messages(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """Validation messages answered by debug endpoints, oldest first."""
        with self._changed:
            return [m for v, m in self._store.messages if vendor is None or v == vendor]

    def wait_for(
        self,
        n: int,
        timeout: float = 5.0,
        vendor: str | None = None,
        kind: str | None = None,
    ) -> list[ReceivedEvent]:
        """Block until at least `n` matching events arrived; return all of them."""
        what = _describe("event", n, vendor=vendor, kind=kind)
        return self._wait(lambda: self._select_events(vendor, kind), n, timeout, what)

    def wait_for_requests(
        self,
        n: int,
        timeout: float = 5.0,
        path: str | None = None,
        vendor: str | None = None,
    ) -> list[RecordedRequest]:
        """Block until at least `n` matching requests were recorded; return all of them."""
        what = _describe("request", n, path=path, vendor=vendor)
        return self._wait(lambda: self._select_requests(path, vendor), n, timeout, what)

    def _wait(self, select: Callable[[], list[_T]], n: int, timeout: float, what: str) -> list[_T]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = select()
                if len(found) >= n:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(self._summary(what, len(found), timeout))
                self._waiting += 1
                try:
                    self._changed.wait(remaining)
                finally:
                    self._waiting -= 1

    def _select_requests(self, path: str | None, vendor: str | None) -> list[RecordedRequest]:
        return [
            r
            for r in self._store.requests
            if (path is None or r.path == path) and (vendor is None or r.vendor == vendor)
        ]

    def _select_events(self, vendor: str | None, kind: str | None) -> list[ReceivedEvent]:
        return [
            e
            for e in self._store.events
            if (vendor is None or e.vendor == vendor) and (kind is None or e.kind == kind)
        ]

    def _summary(self, what: str, found: int, timeout: float) -> str:
        """A readable account of what did arrive, for the timeout message."""
        lines = [f"timed out after {timeout:g}s waiting for {what}: {found} matched"]
        requests = self._store.requests
        lines.append(f"{len(requests)} request(s) recorded:")
        for r in requests[-20:]:
            fault = f" fault={r.fault}" if r.fault else ""
            lines.append(
                f"  {r.method} {r.path} vendor={r.vendor} status={r.status}{fault} events={len(r.events)}"
            )
        if len(requests) > 20:
            lines.insert(2, f"  ... {len(requests) - 20} earlier request(s) not shown")
        events = self._store.events
        lines.append(f"{len(events)} event(s) received:")
        for e in events[-20:]:
            state = "accepted" if e.accepted else f"dropped ({'; '.join(e.problems)})"
            lines.append(f"  {e.vendor} {e.kind} {e.name!r} client_id={e.client_id} {state}")
        return "\n".join(lines)


def _describe(noun: str, n: int, **filters: str | None) -> str:
    chosen = ", ".join(f"{k}={v!r}" for k, v in filters.items() if v is not None)
    return f"{n} {noun}(s)" + (f" with {chosen}" if chosen else "")
