"""The delivery engine: fans each event out to one worker per provider, bounds flush and exit."""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._log import get_logger
from .options import DeliveryOptions
from .spool import Spool
from .worker import FlushMarker, ProviderStats, ProviderWorker

if TYPE_CHECKING:
    from ..base_telemetry import BaseTelemetryProvider
    from ..events import Event

log = get_logger("telemetry.delivery")

# Strong references: a manager local to main() must still be flushed by the exit hook.
_live_engines: set[DeliveryEngine] = set()
EXIT_TEARDOWN_RESERVE = 0.1
"""Seconds of the exit grace kept for the interpreter's teardown after the exit hook."""
_hooks_lock = threading.Lock()
_hooks_installed = False


class DeliveryEngine:
    """Owns the workers of one manager. Threads start only when the first event arrives."""

    def __init__(self, providers: Sequence[BaseTelemetryProvider], options: DeliveryOptions) -> None:
        self.options = options
        self._workers = tuple(ProviderWorker(p, options, _spool_for(p, options)) for p in providers)
        self._closed = False
        if self._workers:
            # Imported here, on the constructing thread: a first import of an HTTP library inside
            # a worker races with the application's own imports and warning filters.
            from .http import preload

            preload()

            _register(self)
            for worker in self._workers:
                worker.start_if_spooled()

    @property
    def workers(self) -> tuple[ProviderWorker, ...]:
        return self._workers

    def submit(self, event: Event) -> None:
        """Hand one event to every provider's queue (the whole caller-side cost)."""
        for worker in self._workers:
            worker.offer(event)

    def flush(self, timeout: float) -> bool:
        """Deliver everything queued before this call; True when it all finished within `timeout`.

        One deadline is shared by every provider, so the call returns within `timeout`.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        markers = [m for m in (w.request_flush(deadline) for w in self._workers) if m is not None]
        return _wait_all(markers, deadline)

    def discard(self) -> None:
        """Drop everything held and stop at once, sending nothing (the user opted out)."""
        self._closed = True
        for worker in self._workers:
            worker.discard()
        _live_engines.discard(self)

    def shutdown(self, timeout: float) -> bool:
        """Deliver what is queued until `timeout`, then stop every worker. Idempotent."""
        if self._closed:
            return True
        self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        markers = [m for m in (w.close(deadline) for w in self._workers) if m is not None]
        finished = _wait_all(markers, deadline)
        for worker in self._workers:
            worker.join(deadline - time.monotonic())
        for worker in self._workers:
            thread = worker.thread
            if thread is not None and thread.is_alive():
                worker.spool_leftovers()
        _live_engines.discard(self)
        return finished

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> dict[str, ProviderStats]:
        return {w.provider.name: w.stats() for w in self._workers}

    def threads(self) -> list[threading.Thread]:
        """The worker threads that are still alive (for tests and diagnostics)."""
        return [t for t in (w.thread for w in self._workers) if t is not None and t.is_alive()]

    def _reset_after_fork(self) -> None:
        for worker in self._workers:
            worker.reset_after_fork()


def _spool_for(provider: BaseTelemetryProvider, options: DeliveryOptions) -> Spool | None:
    if options.spool_path is None:
        return None
    return Spool(options.spool_path, provider.name, options.spool_max_events)


def _wait_all(markers: list[FlushMarker], deadline: float) -> bool:
    for marker in markers:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not marker.done.wait(remaining):
            return False
    return True


def _register(engine: DeliveryEngine) -> None:
    global _hooks_installed
    _live_engines.add(engine)
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(_shutdown_all_at_exit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_reset_all_after_fork)


def _shutdown_all_at_exit() -> None:
    """At exit, every engine shares one grace period; daemon workers never hold the process."""
    engines = list(_live_engines)
    if not engines:
        return
    grace = max(e.options.exit_grace for e in engines)
    # The interpreter's own teardown follows (~30-40 ms here): leave it room inside the grace.
    deadline = time.monotonic() + max(0.0, grace - min(EXIT_TEARDOWN_RESERVE, grace / 2))
    for engine in engines:
        with contextlib.suppress(Exception):  # nothing may disturb interpreter exit
            engine.shutdown(max(0.0, deadline - time.monotonic()))


def _reset_all_after_fork() -> None:
    for engine in list(_live_engines):
        engine._reset_after_fork()
