"""What providers and the delivery engine exchange: requests, responses, limits and outcomes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class BatchLimits:
    """How much one request to the vendor may carry (count of events and body size in bytes)."""

    max_events: int
    max_bytes: int


@dataclass(frozen=True)
class HttpRequest:
    """One request a provider wants sent; the engine sends it."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True)
class HttpResponse:
    """What the vendor answered. Header names are lower-case."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


FailureKind = Literal["connect", "read_timeout", "connection_lost", "other"]


@dataclass(frozen=True)
class TransportFailure:
    """The request got no HTTP answer. `message` is already free of secrets."""

    kind: FailureKind
    message: str


OutcomeStatus = Literal["ok", "retry", "drop", "split", "partial"]


@dataclass(frozen=True)
class Outcome:
    """A provider's verdict on one response, which the engine acts on.

    - ok: the whole batch is delivered.
    - retry: send the whole batch again later (after `retry_after` seconds when the vendor said).
    - drop: the vendor will never accept this batch; count it as dropped with `reason`.
    - split: the batch is too large; send it again in halves.
    - partial: the events at `dropped` indices are rejected for good; the rest is delivered
      (`rest="ok"`) or must be sent again (`rest="retry"`).
    """

    status: OutcomeStatus
    reason: str = ""
    retry_after: float | None = None
    dropped: frozenset[int] = frozenset()
    rest: Literal["ok", "retry"] = "ok"

    @classmethod
    def ok(cls) -> Outcome:
        return cls("ok")

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None) -> Outcome:
        return cls("retry", reason, retry_after)

    @classmethod
    def drop(cls, reason: str) -> Outcome:
        return cls("drop", reason)

    @classmethod
    def split(cls, reason: str = "payload too large") -> Outcome:
        return cls("split", reason)

    @classmethod
    def partial(cls, dropped: frozenset[int], reason: str, rest: Literal["ok", "retry"] = "retry") -> Outcome:
        return cls("partial", reason, dropped=dropped, rest=rest)


RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def classify_status(response: HttpResponse) -> Outcome:
    """The generic verdict by HTTP status: 2xx ok, 408/429/5xx retry, 413 split, other 4xx drop."""
    status = response.status
    if 200 <= status < 300:
        return Outcome.ok()
    if status == 413:
        return Outcome.split()
    if status in RETRYABLE_STATUSES or (500 <= status < 600 and status not in (501, 505)):
        return Outcome.retry(f"HTTP {status}", parse_retry_after(response.headers.get("retry-after")))
    return Outcome.drop(f"HTTP {status}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import time
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport(Protocol):
    """What delivers a provider's requests: HTTP by default, or a vendor SDK a provider brings.

    A transport may also offer `start(request, timeout)`, which writes the request and returns a
    call that waits for the answer; the engine then prepares the next batch in between.
    """

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        """Deliver one request within `timeout`; never raises."""
        ...

    def flush(self, timeout: float) -> bool:
        """Finish anything the transport itself still holds; True when done in time."""
        ...

    def close(self) -> None:
        """Release what the transport holds; bounded, never raises."""
        ...
