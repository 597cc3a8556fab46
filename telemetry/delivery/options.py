"""The delivery knobs, with their defaults in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryOptions:
    """How the background engine delivers. Every field has a safe default.

    queue_capacity: events held in memory per provider; beyond it new events are dropped and counted.
    flush_interval: seconds a worker waits for a batch to fill before sending what it has.
    request_timeout: seconds for one HTTP attempt: the connect, the write of the request and the
        read of the whole answer each end within it (through a proxy, `requests` bounds each read).
        Looking up the host name is left to the system resolver and its own timeouts.
    max_retries: further attempts after the first one, for retryable failures.
    backoff_base / backoff_max: exponential backoff (with jitter) between attempts, in seconds.
    retry_after_max: the longest vendor Retry-After that is honoured, in seconds.
    retry_deadline: the longest time one batch may spend being retried, in seconds.
    exit_grace: seconds the process may spend delivering at exit before it gives up.
    spool_path: an SQLite file for the offline queue (None: memory only). Undelivered events,
        and events in flight when the process ends or is killed, are sent by the next run.
    spool_max_events: events kept on disk per provider; beyond it the oldest are dropped (counted).
    max_in_flight: requests a provider's worker keeps waiting for an answer while it prepares the
        next batch, from memory or from the offline queue (1: strictly one after another). Batches
        may then arrive out of order; every vendor orders events by their own timestamps.
    """

    queue_capacity: int = 10_000
    flush_interval: float = 1.0
    request_timeout: float = 2.0
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    retry_deadline: float = 120.0
    exit_grace: float = 1.0
    spool_path: str | os.PathLike[str] | None = None
    spool_max_events: int = 100_000
    max_in_flight: int = 2
