"""One background worker per provider: drains its queue, batches, sends, retries.

The caller side is `offer()`: a length check and a deque append, nothing else. Everything a
provider does (mapping, enrichment, serialisation, HTTP) happens on this worker's daemon thread,
so a slow or broken provider can neither block the caller nor starve another provider.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._log import get_logger, redact
from .http import RequestsTransport
from .options import DeliveryOptions
from .types import HttpResponse, Outcome, TransportFailure

if TYPE_CHECKING:
    from ..base_telemetry import BaseTelemetryProvider
    from ..events import Event

log = get_logger("telemetry.delivery")


class FlushMarker:
    """Put in a queue by flush(); set once everything queued before it has been handled."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


@dataclass
class ProviderStats:
    """Counters of one provider's delivery, as reported by `TelemetryManager.stats()`."""

    enqueued: int = 0
    sent: int = 0
    retried: int = 0
    queued: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "enqueued": self.enqueued,
            "sent": self.sent,
            "retried": self.retried,
            "queued": self.queued,
            "dropped": dict(self.dropped),
            "last_error": self.last_error,
        }


_Encoded = tuple["Event", bytes]
DEFAULT_ROUTE = "default"


class ProviderWorker:
    """Delivers one provider's events on its own daemon thread, started on first use."""

    def __init__(self, provider: BaseTelemetryProvider, options: DeliveryOptions) -> None:
        self.provider = provider
        self.options = options
        self._queue: deque[Event | FlushMarker] = deque()
        self._capacity = options.queue_capacity
        self._wake_at = max(1, provider.batch_limits.max_events)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._deadline: float | None = None
        self._popped = 0
        self._sent = 0
        self._retried = 0
        self._dropped: Counter[str] = Counter()
        self._overflowed = 0
        self._last_error: str | None = None
        self._transport: RequestsTransport | None = None

    # -- caller side -------------------------------------------------------------------------

    def offer(self, event: Event) -> None:
        """Queue one event; O(1), never blocks, never raises."""
        queue = self._queue
        if self._closed:
            return
        if len(queue) >= self._capacity:
            self._count_overflow()
            return
        queue.append(event)
        if self._thread is None:
            self._start()
        elif len(queue) == self._wake_at:
            self._wake.set()

    def _count_overflow(self) -> None:
        with self._stats_lock:
            self._overflowed += 1
            first = self._overflowed == 1
        if first:
            log.warning(
                "%s: queue full (%d events); new events are dropped and counted",
                self.provider.name,
                self._capacity,
            )

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._run, name=f"telemetry-{self.provider.name}", daemon=True)
            self._thread = thread
            thread.start()

    def request_flush(self) -> FlushMarker | None:
        """Queue a marker and wake the worker; None when there is nothing to wait for."""
        if self._closed or (self._thread is None and not self._queue):
            return None
        marker = FlushMarker()
        self._queue.append(marker)
        if self._thread is None:
            self._start()
        self._wake.set()
        return marker

    def close(self, deadline: float) -> FlushMarker | None:
        """Stop accepting events, deliver what is queued until `deadline`, then stop."""
        marker = self.request_flush()
        self._deadline = deadline
        self._closed = True
        self._stop.set()
        self._wake.set()
        return marker

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout))

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's queue and thread; never resend its events."""
        self._queue = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._thread = None
        self._transport = None
        self._popped = self._sent = self._retried = self._overflowed = 0
        self._dropped = Counter()

    def stats(self) -> ProviderStats:
        queued = sum(1 for item in list(self._queue) if not isinstance(item, FlushMarker))
        dropped = Counter(self._dropped)
        if self._overflowed:
            dropped["queue_full"] += self._overflowed
        return ProviderStats(
            enqueued=self._popped + queued + self._overflowed,
            sent=self._sent,
            retried=self._retried,
            queued=queued,
            dropped=dict(dropped),
            last_error=self._last_error,
        )

    # -- worker side -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.options.flush_interval)
                self._wake.clear()
                self._drain()
                if self._stop.is_set():
                    self._drain()
                    break
        except Exception as exc:  # noqa: BLE001 - the last line of defence of a daemon thread
            log.error("%s: delivery worker stopped: %s", self.provider.name, redact(repr(exc)))
        finally:
            self._abandon_queue()
            if self._transport is not None:
                self._transport.close()

    def _abandon_queue(self) -> None:
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, FlushMarker):
                item.done.set()
            else:
                self._popped += 1
                self._drop(1, "shutdown")

    def _drain(self) -> None:
        pending: list[Event] = []
        gather = self.provider.batch_limits.max_events * 4
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, FlushMarker):
                self._deliver_events(pending)
                pending = []
                item.done.set()
                continue
            self._popped += 1
            pending.append(item)
            if len(pending) >= gather:
                self._deliver_events(pending)
                pending = []
        self._deliver_events(pending)

    def _deliver_events(self, events: list[Event]) -> None:
        if not events:
            return
        by_route: dict[str, list[_Encoded]] = {}
        for event in events:
            item = self._encode(event)
            if item is not None:
                by_route.setdefault(self._route(event), []).append(item)
        for route, encoded in by_route.items():
            for batch in self._batches(encoded):
                self._deliver_batch(batch, route)

    def _route(self, event: Event) -> str:
        try:
            return str(self.provider.route(event))
        except Exception:  # noqa: BLE001 - a routing bug sends the event the default way
            return DEFAULT_ROUTE

    def _encode(self, event: Event) -> _Encoded | None:
        provider = self.provider
        if log.isEnabledFor(logging.DEBUG):
            detail = event.page_path if event.kind == "page_view" else event.name
            log.debug("%s: %s %r", provider.name, event.kind, detail)
        try:
            mapped = provider.map_event(event)
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
            self._drop(1, "mapping_error", f"map_event raised {type(exc).__name__}: {exc}")
            return None
        if mapped is None:
            self._drop(1, "invalid_event")
            return None
        try:
            body = json.dumps(mapped, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            self._drop(1, "unserialisable", f"{type(exc).__name__}: {exc}")
            return None
        data = body.encode("utf-8")
        if len(data) + provider.envelope_bytes > provider.batch_limits.max_bytes:
            self._drop(1, "event_too_large")
            return None
        return (event, data)

    def _batches(self, encoded: list[_Encoded]) -> list[list[_Encoded]]:
        limits = self.provider.batch_limits
        budget = limits.max_bytes - self.provider.envelope_bytes
        batches: list[list[_Encoded]] = []
        current: list[_Encoded] = []
        size = 0
        for item in encoded:
            cost = len(item[1]) + 1
            if current and (len(current) >= limits.max_events or size + cost > budget):
                batches.append(current)
                current, size = [], 0
            current.append(item)
            size += cost
        if current:
            batches.append(current)
        return batches

    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _deliver_batch(self, batch: list[_Encoded], route: str = "default") -> None:
        provider = self.provider
        options = self.options
        attempt = 0
        started = time.monotonic()
        while batch:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                self._drop(len(batch), "shutdown")
                return
            timeout = (
                options.request_timeout if remaining is None else min(options.request_timeout, remaining)
            )
            result = self._send(batch, timeout, route)
            if isinstance(result, TransportFailure):
                self._last_error = f"{result.kind}: {result.message}"
                log.debug("%s: no answer (%s)", provider.name, self._last_error)
                if result.kind == "read_timeout" and not provider.retry_read_timeouts:
                    self._drop(len(batch), "timeout")
                    return
                outcome = Outcome.retry(result.kind)
            else:
                try:
                    outcome = provider.classify(result, len(batch))
                except Exception as exc:  # noqa: BLE001 - a classifier bug must not kill the worker
                    outcome = Outcome.drop(f"classify raised {type(exc).__name__}")
                log.debug(
                    "%s: HTTP %d for %d events -> %s",
                    provider.name,
                    result.status,
                    len(batch),
                    outcome.status,
                )
                if outcome.status != "ok":
                    self._last_error = redact(f"HTTP {result.status}: {outcome.reason}")
            if outcome.status == "ok":
                self._sent += len(batch)
                return
            if outcome.status == "drop":
                self._drop(len(batch), "rejected", outcome.reason)
                return
            if outcome.status == "split":
                if len(batch) == 1:
                    self._drop(1, "too_large", outcome.reason)
                    return
                half = len(batch) // 2
                self._deliver_batch(batch[:half], route)
                self._deliver_batch(batch[half:], route)
                return
            if outcome.status == "partial":
                bad = [i for i in outcome.dropped if 0 <= i < len(batch)]
                if bad:
                    self._drop(len(bad), "rejected", outcome.reason)
                batch = [item for i, item in enumerate(batch) if i not in outcome.dropped]
                if outcome.rest == "ok":
                    self._sent += len(batch)
                    return
                if not batch:
                    return
            attempt += 1
            if attempt > options.max_retries:
                self._drop(len(batch), "retries_exhausted", outcome.reason)
                return
            delay = self._backoff(attempt, outcome.retry_after)
            elapsed = time.monotonic() - started
            if elapsed + delay > options.retry_deadline:
                self._drop(len(batch), "retries_exhausted", outcome.reason)
                return
            remaining = self._remaining()
            if remaining is not None and delay >= remaining:
                self._drop(len(batch), "shutdown")
                return
            if self._stop.is_set():
                self._drop(len(batch), "shutdown", outcome.reason)
                return
            self._retried += len(batch)
            if self._stop.wait(delay):
                self._drop(len(batch), "shutdown", outcome.reason)
                return

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        options = self.options
        if retry_after is not None:
            return min(retry_after, options.retry_after_max)
        ceiling = min(options.backoff_max, options.backoff_base * (2 ** (attempt - 1)))
        return float(ceiling * random.uniform(0.5, 1.0))

    def _send(self, batch: list[_Encoded], timeout: float, route: str) -> HttpResponse | TransportFailure:
        encoded = [data for _, data in batch]
        try:
            if route == DEFAULT_ROUTE:
                request = self.provider.build_request(encoded)
            else:
                request = self.provider.build_request(encoded, route)
        except Exception as exc:  # noqa: BLE001 - reported as a failure of this batch
            return TransportFailure("other", redact(f"build_request raised {type(exc).__name__}: {exc}"))
        if self._transport is None:
            self._transport = RequestsTransport()
        return self._transport.send(request, timeout)

    def _drop(self, count: int, reason: str, detail: str | None = None) -> None:
        self._dropped[reason] += count
        if detail:
            self._last_error = redact(detail)
        log.debug(
            "%s: dropped %d event(s): %s%s",
            self.provider.name,
            count,
            reason,
            f" ({redact(detail)})" if detail else "",
        )
