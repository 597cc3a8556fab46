"""Per-provider sampling (deterministic per client_id) and rate limiting (a token bucket)."""

from __future__ import annotations

import hashlib


def sampled_in(client_id: str | None, provider: str, rate: float) -> bool:
    """Whether this client's events go to `provider` at sampling `rate` (0..1).

    The decision hashes the client_id with the provider name, so it is the same in every run and
    process: one user's sessions are kept or dropped whole, never half.
    """
    if rate >= 1.0:
        return True
    if rate <= 0.0 or client_id is None:
        return False
    digest = hashlib.sha256(f"{client_id}:{provider}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    return point < rate


class TokenBucket:
    """At most `rate` events a second on average, bursts of up to `rate` events, by event time."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._last: float | None = None

    def allow(self, when: float) -> bool:
        """Take one token at time `when` (seconds), if there is one."""
        if self._last is not None and when > self._last:
            self._tokens = min(self.capacity, self._tokens + (when - self._last) * self.rate)
        if self._last is None or when > self._last:
            self._last = when
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
