"""One background worker per provider: drains its queue, batches, sends, retries.

The caller side is `offer()`: a length check and a deque append, nothing else. Everything a
provider does (mapping, enrichment, serialisation, HTTP) happens on this worker's daemon thread,
so a slow or broken provider can neither block the caller nor starve another provider.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .._log import get_logger, redact
from .encoding import encode_json
from .http import default_transport
from .options import DeliveryOptions
from .sampling import TokenBucket, sampled_in
from .spool import Spool, SpooledEvent, SpoolError
from .types import HttpResponse, Outcome, Transport, TransportFailure

if TYPE_CHECKING:
    from ..base_telemetry import BaseTelemetryProvider
    from ..events import Event

log = get_logger("telemetry.delivery")


class FlushMarker:
    """Put in a queue by flush(); set once everything queued before it has been handled."""

    __slots__ = ("deadline", "done")

    def __init__(self, deadline: float | None = None) -> None:
        self.done = threading.Event()
        self.deadline = deadline


@dataclass
class ProviderStats:
    """Counters of one provider's delivery, as reported by `TelemetryManager.stats()`."""

    enqueued: int = 0
    sent: int = 0
    retried: int = 0
    queued: int = 0
    spooled: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "enqueued": self.enqueued,
            "sent": self.sent,
            "retried": self.retried,
            "queued": self.queued,
            "spooled": self.spooled,
            "dropped": dict(self.dropped),
            "last_error": self.last_error,
        }


_Pending = Callable[[], "HttpResponse | TransportFailure"]
_Answer = Outcome | TransportFailure | HttpResponse | _Pending
"""An attempt under way: decided already (Outcome), failed or answered, or awaiting its answer."""


class _Flight(NamedTuple):
    """A batch whose request is written and whose answer is still to be read."""

    batch: list[bytes]
    route: str
    answer: _Answer


DEFAULT_ROUTE = "default"


class ProviderWorker:
    """Delivers one provider's events on its own daemon thread, started on first use.

    Without an offline queue, a batch is retried in place (backoff interrupted by flush and
    shutdown). With one, every drained event is written to disk first and delivered from there,
    so an outage never blocks draining and nothing undelivered is lost at exit.
    """

    def __init__(
        self, provider: BaseTelemetryProvider, options: DeliveryOptions, spool: Spool | None = None
    ) -> None:
        self.provider = provider
        self.options = options
        self._spool = spool
        self._queue: deque[Event | FlushMarker] = deque()
        self._marker_lock = threading.Lock()
        self._markers_queued = 0  # FlushMarkers in `_queue`, so stats never scan it
        self._capacity = options.queue_capacity
        self._wake_at = max(1, provider.batch_limits.max_events)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._interrupt = threading.Event()
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._discarded = False
        self._deadline: float | None = None
        self._popped = 0
        self._sent = 0
        self._retried = 0
        self._dropped: Counter[str] = Counter()
        self._caller_drops: Counter[str] = Counter()
        self._last_error: str | None = None
        self._transport: Transport | None = None
        config = provider.config
        self._sampled_in = sampled_in(
            provider.context.client_id, provider.name, float(getattr(config, "sample_rate", 1.0))
        )
        rate = getattr(config, "max_events_per_second", None)
        self._bucket = TokenBucket(float(rate)) if rate else None
        self._markers: list[tuple[int, FlushMarker]] = []
        self._retry_at = 0.0
        self._attempt = 0
        self._batch_cap = provider.batch_limits.max_events
        self._budget = provider.batch_limits.max_bytes - provider.envelope_bytes
        """Bytes of encoded events one request carries beside the provider's envelope (so also the
        largest event that can be sent at all)."""
        from ..base_telemetry import BaseTelemetryProvider  # here: that module imports this package

        own_route = getattr(getattr(provider, "route", None), "__func__", None)
        self._routes = own_route is not BaseTelemetryProvider.route
        """Whether the provider may send some events elsewhere (it has a `route` of its own)."""

    # -- caller side -------------------------------------------------------------------------

    def offer(self, event: Event) -> None:
        """Queue one event; O(1), never blocks, never raises."""
        queue = self._queue
        if self._closed:
            return
        if len(queue) >= self._capacity or not self._sampled_in:
            self._count_caller_drop("queue_full" if self._sampled_in else "sampled_out")
            return
        queue.append(event)
        if self._thread is None:
            self._start()
        elif len(queue) == self._wake_at:
            self._wake.set()

    def _count_caller_drop(self, reason: str) -> None:
        with self._stats_lock:
            self._caller_drops[reason] += 1
            first = self._caller_drops[reason] == 1
        if first and reason == "queue_full":
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

    def start_if_spooled(self) -> None:
        """Start at once when a previous run left events on disk for this provider."""
        if self._spool is not None and self._sampled_in and self._spool.has_pending():
            self._start()

    def request_flush(self, deadline: float | None = None) -> FlushMarker | None:
        """Queue a marker and wake the worker; None when there is nothing to wait for."""
        if self._closed or (self._thread is None and not self._queue):
            return None
        marker = FlushMarker(deadline)
        with self._marker_lock:
            self._markers_queued += 1
        self._queue.append(marker)
        if self._thread is None:
            self._start()
        self._interrupt.set()
        self._wake.set()
        return marker

    def close(self, deadline: float) -> FlushMarker | None:
        """Stop accepting events, deliver what is queued until `deadline`, then stop."""
        marker = self.request_flush(deadline)
        self._deadline = deadline
        self._closed = True
        self._stop.set()
        self._interrupt.set()
        self._wake.set()
        return marker

    def discard(self) -> None:
        """The user opted out: drop everything held, in memory and on disk, and send nothing more.

        Safe to call from any thread; the worker re-checks the flag before it writes to disk or
        sends, so nothing tracked before the opt-out leaves, now or in a later run.
        """
        self._discarded = True
        self._closed = True
        self._deadline = time.monotonic()
        dropped = 0
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, FlushMarker):
                self._took_marker()
                item.done.set()
            else:
                dropped += 1
        if dropped:
            with self._stats_lock:
                self._caller_drops["opted_out"] += dropped
        self._purge_spool()
        self._stop.set()
        self._interrupt.set()
        self._wake.set()

    def _purge_spool(self) -> None:
        if self._spool is None:
            return
        spare = Spool(self._spool.path, self._spool.provider, self._spool.max_events)
        try:
            spare.purge()
        except SpoolError as exc:
            log.warning("%s: could not clear the offline queue after opt-out (%s)", self.provider.name, exc)
        finally:
            spare.close()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout))

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def spool_leftovers(self) -> int:
        """At exit, with the worker stuck on the network: write what is still queued to disk.

        Runs on the exiting thread with its own database connection; returns the events saved.
        """
        if self._spool is None or self._discarded:
            return 0
        rows: list[tuple[str, bytes]] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, FlushMarker):
                self._took_marker()
                continue
            data = self._encode(item)
            if data is not None:
                rows.append((self._route(item), data))
        if not rows:
            return 0
        spare = Spool(self._spool.path, self._spool.provider, self._spool.max_events)
        try:
            spare.append(rows)
        except SpoolError as exc:
            log.warning(
                "%s: could not keep %d events for the next run (%s)", self.provider.name, len(rows), exc
            )
            return 0
        finally:
            spare.close()
        return len(rows)

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's queue and thread; never resend its events."""
        self._queue = deque()
        self._marker_lock = threading.Lock()
        self._markers_queued = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._interrupt = threading.Event()
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._thread = None
        self._transport = None
        self._markers = []
        self._popped = self._sent = self._retried = 0
        self._dropped = Counter()
        self._caller_drops = Counter()
        if self._spool is not None:
            self._spool.forget_connection()

    def stats(self) -> ProviderStats:
        queued = max(0, len(self._queue) - self._markers_queued)
        dropped = Counter(self._dropped)
        dropped.update(self._caller_drops)
        caller_drops = sum(self._caller_drops.values())
        return ProviderStats(
            enqueued=self._popped + queued + caller_drops,
            sent=self._sent,
            retried=self._retried,
            queued=queued,
            spooled=self._spool.count if self._spool is not None else 0,
            dropped={k: v for k, v in dropped.items() if v},
            last_error=self._last_error,
        )

    # -- worker side: the loop -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._next_wait())
                self._wake.clear()
                self._cycle()
                if self._stop.is_set():
                    self._cycle()
                    break
        except Exception as exc:  # noqa: BLE001 - the last line of defence of a daemon thread
            log.error("%s: delivery worker stopped: %s", self.provider.name, redact(repr(exc)))
        finally:
            self._abandon_queue()
            if self._transport is not None:
                self._transport.close()
            if self._spool is not None:
                self._spool.close()

    def _next_wait(self) -> float:
        interval = self.options.flush_interval
        if self._spool is not None and self._spool.count:
            return max(0.0, min(interval, self._retry_at - time.monotonic()))
        return interval

    def _cycle(self) -> None:
        if self._discarded:
            self._abandon_queue()
            if self._spool is not None:
                with contextlib.suppress(SpoolError):
                    self._spool.purge()
            return
        if self._spool is None:
            self._drain()
            return
        try:
            self._drain_to_spool()
            self._pump()
        except SpoolError as exc:
            log.warning(
                "%s: offline queue unusable (%s); delivering from memory only", self.provider.name, exc
            )
            self._spool = None
            self._release_markers()
            self._drain()

    def _abandon_queue(self) -> None:
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, FlushMarker):
                self._took_marker()
                item.done.set()
            else:
                self._popped += 1
                self._drop(1, "opted_out" if self._discarded else "shutdown")
        self._release_markers()

    def _release_markers(self) -> None:
        for _, marker in self._markers:
            marker.done.set()
        self._markers = []

    # -- memory-only delivery ------------------------------------------------------------------

    def _drain(self) -> None:
        pending: list[Event] = []
        gather = self.provider.batch_limits.max_events * 4
        queue = self._queue  # replaced only after a fork, in a child where no worker runs yet
        # Requests awaiting their answer stay in flight from one gathered slice to the next, so
        # a vendor with small batches (GA4: 25 events) never waits with nothing in flight.
        flights: deque[_Flight] = deque()
        while queue:
            item = queue.popleft()
            if isinstance(item, FlushMarker):
                self._took_marker()
                self._deliver_events(pending, flights)
                self._land_all(flights)
                pending = []
                self._finish(item)
                continue
            self._popped += 1
            pending.append(item)
            if len(pending) >= gather:
                self._deliver_events(pending, flights)
                pending = []
        self._deliver_events(pending, flights)
        self._land_all(flights)

    def _deliver_events(self, events: list[Event], flights: deque[_Flight]) -> None:
        """Encode and send in batches, keeping up to `max_in_flight` requests in `flights`
        awaiting their answer while the next batch is encoded."""
        if not events:
            return
        depth = max(1, self.options.max_in_flight)
        step = max(1, self.provider.batch_limits.max_events)
        for start in range(0, len(events), step):
            for route, encoded in self._encode_by_route(events[start : start + step]).items():
                for batch in self._batches(encoded):
                    if len(flights) >= depth:
                        self._land(flights.popleft())
                    flight = self._launch(batch, route)
                    if flight is not None:
                        flights.append(flight)

    def _land_all(self, flights: deque[_Flight]) -> None:
        while flights:
            self._land(flights.popleft())

    def _encode_by_route(self, events: list[Event]) -> dict[str, list[bytes]]:
        """The wire forms of `events` by route, in order (drops counted)."""
        encode = self._encode
        if not self._routes:  # one route: no per-event lookup
            encoded = [data for data in map(encode, events) if data is not None]
            return {DEFAULT_ROUTE: encoded} if encoded else {}
        by_route: dict[str, list[bytes]] = {}
        for event in events:
            data = encode(event)
            if data is not None:
                by_route.setdefault(self._route(event), []).append(data)
        return by_route

    def _launch(self, batch: list[bytes], route: str) -> _Flight | None:
        if self._out_of_time(len(batch)):
            return None
        return _Flight(batch, route, self._start_attempt(batch, route))

    def _out_of_time(self, count: int) -> bool:
        """Whether the shutdown deadline has passed; if so, `count` events are dropped for it."""
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            self._drop(count, "shutdown")
            return True
        return False

    def _land(self, flight: _Flight) -> None:
        outcome = self._judge(flight.answer, len(flight.batch))
        self._deliver_batch(flight.batch, flight.route, outcome)

    def _batches(self, encoded: list[bytes]) -> list[list[bytes]]:
        limits = self.provider.batch_limits
        budget = self._budget
        batches: list[list[bytes]] = []
        current: list[bytes] = []
        size = 0
        for item in encoded:
            cost = len(item) + 1
            if current and (len(current) >= limits.max_events or size + cost > budget):
                batches.append(current)
                current, size = [], 0
            current.append(item)
            size += cost
        if current:
            batches.append(current)
        return batches

    def _deliver_batch(
        self, batch: list[bytes], route: str = DEFAULT_ROUTE, first: Outcome | None = None
    ) -> None:
        """Send `batch` until it is delivered, dropped or out of retries; `first` is the verdict
        on an attempt already made."""
        options = self.options
        attempt = 0
        started = time.monotonic()
        while batch:
            if first is not None:
                outcome, first = first, None
            else:
                if self._out_of_time(len(batch)):
                    return
                outcome = self._attempt_send(batch, route)
            if outcome.status == "ok":
                self._sent += len(batch)
                return
            if outcome.status == "drop":
                self._drop(len(batch), _drop_reason(outcome), outcome.reason)
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
            if time.monotonic() - started + delay > options.retry_deadline:
                self._drop(len(batch), "retries_exhausted", outcome.reason)
                return
            if self._stop.is_set():
                self._drop(len(batch), "shutdown", outcome.reason)
                return
            self._retried += len(batch)
            # A flush or shutdown cuts the backoff short: retry now (flush) or give up (shutdown).
            self._interrupt.clear()
            if not self._flush_pending():
                self._interrupt.wait(delay)
            if self._stop.is_set():
                self._drop(len(batch), "shutdown", outcome.reason)
                return

    def _finish(self, marker: FlushMarker) -> None:
        """Everything before `marker` is handled; let the transport finish too, then release it."""
        if self._transport is not None:
            budget = self.options.request_timeout
            if marker.deadline is not None:
                budget = marker.deadline - time.monotonic()
            try:
                self._transport.flush(max(0.0, budget))
            except Exception:  # noqa: BLE001 - a transport's flush must not kill the worker
                log.debug("%s: transport flush failed", self.provider.name)
        marker.done.set()

    def _flush_pending(self) -> bool:
        """Whether a flush is waiting behind the batch in hand (checked after clearing the interrupt)."""
        return self._markers_queued > 0

    def _took_marker(self) -> None:
        with self._marker_lock:
            self._markers_queued -= 1

    # -- delivery through the offline queue ----------------------------------------------------

    def _drain_to_spool(self) -> None:
        spool = self._spool
        assert spool is not None
        last_id = spool.last_id()  # opens the database before anything leaves the memory queue
        taken: list[tuple[str, bytes]] = []
        markers: list[FlushMarker] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, FlushMarker):
                self._took_marker()
                markers.append(item)
                continue
            self._popped += 1
            data = self._encode(item)
            if data is not None:
                taken.append((self._route(item), data))
        try:
            for start in range(0, len(taken), 5_000):
                last_id = self._append(taken[start : start + 5_000])
        except SpoolError:
            self._deliver_taken(taken[start:], markers)
            raise
        for marker in markers:
            self._markers.append((last_id, marker))
        if markers:
            self._retry_at = 0.0  # a flush interrupts the backoff

    def _deliver_taken(self, taken: list[tuple[str, bytes]], markers: list[FlushMarker]) -> None:
        """The disk failed mid-drain: deliver what was already taken from memory directly."""
        by_route: dict[str, list[bytes]] = {}
        for route, item in taken:
            by_route.setdefault(route, []).append(item)
        for route, encoded in by_route.items():
            for batch in self._batches(encoded):
                self._deliver_batch(batch, route)
        for marker in markers:
            marker.done.set()

    def _append(self, rows: list[tuple[str, bytes]]) -> int:
        assert self._spool is not None
        last_id, evicted = self._spool.append(rows)
        if evicted:
            self._drop(evicted, "spool_full")
        return last_id

    def _pump(self) -> None:
        """Deliver from disk, oldest first, with up to `max_in_flight` requests awaiting their
        answer, until empty, a retry is due later, or time is up."""
        spool = self._spool
        assert spool is not None
        depth = max(1, self.options.max_in_flight)
        flights: deque[tuple[list[SpooledEvent], _Answer]] = deque()
        after = 0  # every event up to this id is in flight
        launching, paused = True, False
        while True:
            while launching and len(flights) < depth:
                batch = self._spooled_batch(after)
                if not batch:
                    launching = False
                    break
                after = batch[-1].id
                flights.append((batch, self._start_attempt([e.body for e in batch], batch[0].route)))
            if not flights:
                if paused or after == 0:
                    break
                launching, after = True, 0  # a batch was split: go on from the oldest again
                continue
            batch, answer = flights.popleft()
            outcome = self._judge(answer, len(batch))
            if not self._settle(batch, outcome, first_failure=not paused):
                launching, paused = False, True  # land what is in flight, then wait for the retry
            elif outcome.status == "split" and len(batch) > 1:
                launching = False  # it is still on disk: resend it once the flights have landed
        self._check_markers()
        spool.shrink_if_drained()

    def _spooled_batch(self, after: int) -> list[SpooledEvent]:
        """The next batch on disk after id `after`; none while a retry is due or time is up."""
        spool = self._spool
        assert spool is not None
        if not spool.count or time.monotonic() < self._retry_at:
            return []
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            return []
        return spool.head(self._batch_cap, self._budget, after)

    def _settle(self, batch: list[SpooledEvent], outcome: Outcome, *, first_failure: bool) -> bool:
        """Act on one verdict for spooled events; False when delivery should pause.

        `first_failure`: no other batch of this round has failed yet. Later failures of requests
        that were already in flight count their events as retried without lengthening the backoff.
        """
        spool = self._spool
        assert spool is not None
        ids = [e.id for e in batch]
        status = outcome.status
        if status == "ok":
            spool.delete(ids)
            self._sent += len(ids)
        elif status == "drop":
            spool.delete(ids)
            self._drop(len(ids), _drop_reason(outcome), outcome.reason)
        elif status == "split":
            if len(ids) == 1:
                spool.delete(ids)
                self._drop(1, "too_large", outcome.reason)
            else:
                self._batch_cap = max(1, len(ids) // 2)
            return True
        elif status == "partial":
            bad = [ids[i] for i in outcome.dropped if 0 <= i < len(ids)]
            spool.delete(bad)
            self._drop(len(bad), "rejected", outcome.reason)
            if outcome.rest == "ok":
                rest = [i for i in ids if i not in set(bad)]
                spool.delete(rest)
                self._sent += len(rest)
            else:
                return self._schedule_retry(len(ids) - len(bad), outcome, first_failure)
        else:
            return self._schedule_retry(len(ids), outcome, first_failure)
        self._attempt = 0
        if len(ids) <= self._batch_cap:  # not a larger batch sent before a split halved the cap
            self._batch_cap = self.provider.batch_limits.max_events
        return True

    def _schedule_retry(self, count: int, outcome: Outcome, first_failure: bool) -> bool:
        self._retried += count
        if first_failure:
            self._attempt += 1
            self._retry_at = time.monotonic() + self._backoff(min(self._attempt, 16), outcome.retry_after)
        elif outcome.retry_after is not None:
            later = time.monotonic() + self._backoff(self._attempt, outcome.retry_after)
            self._retry_at = max(self._retry_at, later)
        return False

    def _check_markers(self) -> None:
        spool = self._spool
        if spool is None or not self._markers:
            return
        waiting = []
        for last_id, marker in self._markers:
            if spool.count == 0 or spool.pending_upto(last_id) == 0:
                self._finish(marker)
            else:
                waiting.append((last_id, marker))
        self._markers = waiting

    # -- shared steps --------------------------------------------------------------------------

    def _route(self, event: Event) -> str:
        try:
            return str(self.provider.route(event))
        except Exception:  # noqa: BLE001 - a routing bug sends the event the default way
            return DEFAULT_ROUTE

    def _encode(self, event: Event) -> bytes | None:
        """The event's wire form as JSON bytes, or None when it is dropped (counted).

        Bytes alone travel on: the garbage collector does not track them, so a backlog of
        encoded events costs its collections nothing."""
        provider = self.provider
        if log.isEnabledFor(logging.DEBUG):
            detail = event.page_path if event.kind == "page_view" else event.name
            log.debug("%s: %s %r", provider.name, event.kind, detail)
        if self._bucket is not None and not self._bucket.allow(event.time):
            self._drop(1, "rate_limited")
            return None
        try:
            mapped = provider.describe(event)
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
            self._drop(1, "mapping_error", f"map_event raised {type(exc).__name__}: {exc}")
            return None
        if mapped is None:
            self._drop(1, "invalid_event")
            return None
        try:
            data = encode_json(mapped)
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            self._drop(1, "unserialisable", f"{type(exc).__name__}: {exc}")
            return None
        if len(data) > self._budget:
            self._drop(1, "event_too_large")
            return None
        return data

    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _attempt_send(self, encoded: list[bytes], route: str) -> Outcome:
        """One HTTP attempt for one batch, judged by the provider."""
        return self._judge(self._start_attempt(encoded, route), len(encoded))

    def _start_attempt(self, encoded: list[bytes], route: str) -> _Answer:
        """Begin one attempt: the request is written, its answer not yet awaited."""
        if self._discarded:
            return Outcome("drop", "opted out")
        remaining = self._remaining()
        timeout = self.options.request_timeout
        if remaining is not None:
            timeout = min(timeout, remaining)
        return self._send(encoded, timeout, route)

    def _judge(self, answer: _Answer, count: int) -> Outcome:
        """Wait for the answer to an attempt and have the provider judge it."""
        if isinstance(answer, Outcome):
            return answer
        provider = self.provider
        result = answer() if callable(answer) else answer
        if isinstance(result, TransportFailure):
            self._last_error = f"{result.kind}: {result.message}"
            log.debug("%s: no answer (%s)", provider.name, self._last_error)
            if result.kind == "read_timeout" and not provider.retry_read_timeouts:
                return Outcome("drop", "timeout")
            return Outcome.retry(result.kind)
        try:
            outcome = provider.classify(result, count)
        except Exception as exc:  # noqa: BLE001 - a classifier bug must not kill the worker
            outcome = Outcome.drop(f"classify raised {type(exc).__name__}")
        log.debug("%s: HTTP %d for %d events -> %s", provider.name, result.status, count, outcome.status)
        if outcome.status != "ok":
            self._last_error = redact(f"HTTP {result.status}: {outcome.reason}")
        return outcome

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        options = self.options
        if retry_after is not None:
            return min(retry_after, options.retry_after_max)
        ceiling = min(options.backoff_max, options.backoff_base * (2 ** (attempt - 1)))
        return float(ceiling * random.uniform(0.5, 1.0))

    def _send(self, encoded: list[bytes], timeout: float, route: str) -> _Answer:
        try:
            if route == DEFAULT_ROUTE:
                request = self.provider.build_request(encoded)
            else:
                request = self.provider.build_request(encoded, route)
        except Exception as exc:  # noqa: BLE001 - reported as a failure of this batch
            return TransportFailure("other", redact(f"build_request raised {type(exc).__name__}: {exc}"))
        if self._transport is None:
            self._transport = self._create_transport()
        transport = self._transport
        start = getattr(transport, "start", None)
        if start is not None:
            try:
                pending: _Pending = start(request, timeout)
            except Exception as exc:  # noqa: BLE001 - a transport must never stop the worker
                return TransportFailure("other", redact(f"{type(exc).__name__}: {exc}"))
            return pending
        return transport.send(request, timeout)

    def _create_transport(self) -> Transport:
        try:
            own = self.provider.create_transport()
        except Exception as exc:  # noqa: BLE001 - fall back to plain HTTP, say why
            name = self.provider.name
            log.warning("%s: its transport failed to start (%s); using HTTP", name, redact(repr(exc)))
            own = None
        return own if own is not None else default_transport()  # preloaded by the engine

    def _drop(self, count: int, reason: str, detail: str | None = None) -> None:
        if count <= 0:
            return
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


def _drop_reason(outcome: Outcome) -> str:
    return "timeout" if outcome.reason == "timeout" else "rejected"
