"""The event the caller's `track_*` creates: stamped once, then shared read-only by every provider."""

from __future__ import annotations

import itertools
import os
import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import Session
    from .pii import PiiReport

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


class Event:
    """One tracked thing, shared read-only by every provider of a manager.

    `params` is the caller's mapping, copied at call time and never mutated. The dedup id is
    built lazily from a per-process random prefix and a sequence number, so the caller pays for
    no uuid4 and the id is stable across retries and providers. A plain slotted class, not a
    frozen dataclass: building it is the caller's cost, and frozen dataclasses pay for
    `object.__setattr__` on every field.
    """

    __slots__ = (
        "_insert_id",
        "cleaned",
        "findings",
        "kind",
        "name",
        "params",
        "prefix",
        "sequence",
        "session",
        "time",
    )

    def __init__(
        self,
        kind: str,
        name: Any,
        params: Any,
        time: float,
        sequence: int,
        prefix: str,
        session: Session | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.params = params
        self.time = time
        self.sequence = sequence
        self.prefix = prefix
        self.session = session
        """The session this event belongs to when it is not the run's (a browser session)."""
        self.cleaned: dict[str, Any] | None = None
        """Params after cleaning and the privacy scan, computed once for all providers of a
        manager by the first one that maps the event."""
        self.findings: PiiReport | None = None
        """What that scan found, or None when it found nothing. Kept apart from `cleaned`: a
        dict of plain values is not tracked by the garbage collector, a tuple holding one is,
        and a backlog of events would make every collection walk those tuples."""
        self._insert_id: str | None = None

    @property
    def insert_id(self) -> str:
        """A dedup id of at most 36 characters of [0-9a-f-] (Mixpanel's $insert_id rule), built
        by the first provider that asks for it."""
        insert_id = self._insert_id
        if insert_id is None:
            insert_id = self._insert_id = f"{self.prefix}-{self.sequence:x}"
        return insert_id

    @property
    def page_path(self) -> str:
        """The page path as text, for traces; never raises (a caller's object may not print)."""
        try:
            return str(self.params.get("page_path", "")) if isinstance(self.params, dict) else ""
        except Exception:  # noqa: BLE001 - a debug trace must not stop a delivery worker
            return "(unprintable page path)"

    def replace(self, **changes: Any) -> Event:
        """A copy with some fields changed (the cleaned-params cache is not carried over)."""
        fields = {name: getattr(self, name) for name in _FIELDS}
        fields.update(changes)
        return Event(**fields)

    def __repr__(self) -> str:
        return f"Event({self.kind!r}, {self.name!r}, insert_id={self.insert_id!r})"


_FIELDS = ("kind", "name", "params", "time", "sequence", "prefix", "session")


def current_prefix() -> str:
    """The dedup-id prefix of this process."""
    return _process_prefix
