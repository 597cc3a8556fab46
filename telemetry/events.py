"""The event the caller's `track_*` creates: stamped once, then shared read-only by every provider."""

from __future__ import annotations

import itertools
import os
import secrets
from dataclasses import dataclass
from typing import Any

PAGE_VIEW = "page_view"
EVENT = "event"
USER_PROPERTIES = "user_properties"
KINDS = (PAGE_VIEW, EVENT, USER_PROPERTIES)

_process_prefix = secrets.token_hex(8)
_sequence = itertools.count(1)


def _reset_after_fork() -> None:
    """A forked child gets its own prefix, so its dedup ids never collide with the parent's."""
    global _process_prefix, _sequence
    _process_prefix = secrets.token_hex(8)
    _sequence = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def next_sequence() -> int:
    """A process-wide increasing number; `itertools.count` is atomic under the GIL."""
    return next(_sequence)


@dataclass(frozen=True, slots=True)
class Event:
    """One tracked thing. `params` is the caller's mapping, copied at call time and never mutated.

    The dedup id is built lazily from a per-process random prefix and a sequence number, so the
    caller pays for no uuid4 and the id is stable across retries and providers.
    """

    kind: str
    name: Any
    params: Any
    time: float
    sequence: int
    prefix: str

    @property
    def insert_id(self) -> str:
        """A dedup id of at most 36 characters of [0-9a-f-] (Mixpanel's $insert_id rule)."""
        return f"{self.prefix}-{self.sequence:x}"

    @property
    def page_path(self) -> str:
        return str(self.params.get("page_path", "")) if isinstance(self.params, dict) else ""


def current_prefix() -> str:
    """The dedup-id prefix of this process."""
    return _process_prefix
