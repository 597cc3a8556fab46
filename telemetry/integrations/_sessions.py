"""Per-browser-session state of a web integration: its analytics session and what it already counted.

Framework-agnostic (no Streamlit here): a browser session is named by an opaque id (Streamlit's
own session id) and the page it is on by an opaque page key. One registry serves every browser
session of the process, behind one lock held for a dictionary lookup or two.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ..context import Session

__all__ = ["MAX_BROWSER_SESSIONS", "SESSION_IDLE_TIMEOUT", "BrowserSession", "SessionRegistry"]

SESSION_IDLE_TIMEOUT = 30 * 60.0
"""Seconds of inactivity after which a browser session starts a new analytics session (GA4's and
Amplitude's own session timeout); its counted views and once-events are forgotten with it."""

MAX_BROWSER_SESSIONS = 10_000
"""Browser sessions remembered at once; beyond it the least recently active one is forgotten."""


@dataclass
class BrowserSession:
    """What one browser session has: its analytics session and the views it has counted."""

    session: Session
    last_seen: float
    page_key: str | None = None
    """The framework's page (Streamlit's page script hash) seen last: a change is a navigation."""
    page: str | None = None
    """The path counted in the page slot (page views without a view key) during this visit."""
    views: dict[str, str] = field(default_factory=dict)
    """In-page view slot (a set of tabs) -> the path it shows, during this page visit."""
    once: dict[tuple[str, str], float] = field(default_factory=dict)
    """(event name, dedupe key) -> when it was last sent."""


class SessionRegistry:
    """Browser session id -> `BrowserSession`, with the de-duplication rules. Thread-safe."""

    def __init__(
        self,
        *,
        idle_timeout: float = SESSION_IDLE_TIMEOUT,
        max_sessions: int = MAX_BROWSER_SESSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._idle_timeout = idle_timeout
        self._max_sessions = max(1, max_sessions)
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, BrowserSession] = OrderedDict()

    # -- the rules -------------------------------------------------------------------------------

    def observe(self, browser_id: str, page_key: str | None) -> Session:
        """Note that `browser_id` runs on `page_key` (a navigation resets the counted views)."""
        with self._lock:
            return self._touch(browser_id, page_key).session

    def page_view(
        self, browser_id: str, page_key: str | None, path: str, view_key: str | None
    ) -> Session | None:
        """The session to count this page view in, or None when it is a repeat.

        Without `view_key` the view is the page itself: counted when its path differs from the
        one counted during this visit. With one it is an in-page view (a set of tabs): the view
        shown first is part of the page's own view; each change afterwards is counted once.
        """
        with self._lock:
            record = self._touch(browser_id, page_key)
            if view_key is None:
                if record.page == path:
                    return None
                record.page = path
                record.views.clear()
                return record.session
            shown = record.views.get(view_key)
            record.views[view_key] = path
            return record.session if shown is not None and shown != path else None

    def event(self, browser_id: str, page_key: str | None) -> Session:
        """The session an event of `browser_id` belongs to."""
        with self._lock:
            return self._touch(browser_id, page_key).session

    def event_once(
        self,
        browser_id: str,
        page_key: str | None,
        name: str,
        dedupe_key: str,
        ttl_seconds: float | None,
    ) -> Session | None:
        """The session to send this event in, or None when (name, dedupe_key) was sent already
        in this analytics session (or, with `ttl_seconds`, less than that long ago)."""
        with self._lock:
            record = self._touch(browser_id, page_key)
            key = (name, dedupe_key)
            sent = record.once.get(key)
            now = self._clock()
            if sent is not None and (ttl_seconds is None or now - sent < ttl_seconds):
                return None
            record.once[key] = now
            return record.session

    def forget(self) -> None:
        """Forget every browser session (shutdown, tests)."""
        with self._lock:
            self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)

    # -- bookkeeping (lock held) -------------------------------------------------------------------

    def _touch(self, browser_id: str, page_key: str | None) -> BrowserSession:
        now = self._clock()
        record = self._sessions.get(browser_id)
        if record is None or now - record.last_seen > self._idle_timeout:
            record = self._start(browser_id, now)
        else:
            self._sessions.move_to_end(browser_id)
        record.last_seen = now
        if page_key is not None and page_key != record.page_key:
            record.page_key = page_key
            record.page = None
            record.views.clear()
        return record

    def _start(self, browser_id: str, now: float) -> BrowserSession:
        self._sessions.pop(browser_id, None)
        while self._sessions:  # least recently active first: stop at the first live one
            oldest = next(iter(self._sessions.values()))
            if now - oldest.last_seen <= self._idle_timeout and len(self._sessions) < self._max_sessions:
                break
            self._sessions.popitem(last=False)
        record = BrowserSession(self._new_session(now), now)
        self._sessions[browser_id] = record
        return record

    def _new_session(self, now: float) -> Session:
        """A session whose start second no live browser session has: GA4 tells sessions of one
        client_id apart by that number alone (start one second earlier until it is free)."""
        taken = {record.session.number for record in self._sessions.values()}
        started = now
        while int(started) in taken:
            started -= 1.0
        fresh = Session.start()
        return Session(fresh.id, started)
