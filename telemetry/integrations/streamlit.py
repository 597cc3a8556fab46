"""Streamlit integration: one manager per process, one analytics session per browser session.

    from telemetry.integrations.streamlit import init_telemetry_client, track_page_view
    init_telemetry_client(settings, "SVdata/database.sqlite")   # every run; builds once per process
    track_page_view("/event-search", "Event Search")           # once per real navigation

Every browser session (a browser tab) gets its own analytics session, keyed on Streamlit's own
session id, so it survives reruns, page switches and `st.session_state.clear()`. Tracking before
`init_telemetry_client` is held (bounded) until it runs, then sent or, if analytics is off,
discarded. Outside a running Streamlit script every helper is a silent no-op, and importing this
module does not import Streamlit.

Consent is process-wide: the settings object is the app's (one per process, like a config file),
so "Disable" in the banner or `set_analytics_enabled(False)` stops telemetry for every browser
session of this process at once, discards what is queued, and persists through the settings.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._log import get_logger
from ..context import Session
from ..settings import analytics_enabled_in
from ..telemetry_manager import TelemetryManager
from ._sessions import SessionRegistry

__all__ = [
    "CONSENT_TEXT",
    "PENDING_LIMIT",
    "consent_banner",
    "current_session",
    "flush_telemetry",
    "get_telemetry_client",
    "init_telemetry_client",
    "set_analytics_enabled",
    "shutdown_telemetry_client",
    "track_event",
    "track_event_once",
    "track_page_view",
]

log = get_logger("telemetry.streamlit")

PENDING_LIMIT = 1_000
"""Events tracked before `init_telemetry_client` held at most; later ones are dropped (logged)."""

CONSENT_TEXT = (
    "**Anonymous usage analytics.** This app records which pages and features are used, "
    "with a random install id: no names, e-mail addresses, file contents or IP addresses in "
    "what it sends. You can turn it off now or at any time in Settings."
)

SaveSettings = Callable[[Any], None]


@dataclass
class _Pending:
    """A page view or event tracked before initialisation, with the session it belongs to."""

    page_view: bool
    name: str
    detail: Any
    session: Session


@dataclass
class _State:
    """The process-wide integration state (one per process, shared by every browser session)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    settings: Any = None
    db_path: str | os.PathLike[str] | None = None
    save: SaveSettings | None = None
    app_version: str | None = None
    manager: TelemetryManager | None = None
    built_enabled: bool = False
    opted_out: bool = False
    pending: deque[_Pending] = field(default_factory=lambda: deque(maxlen=PENDING_LIMIT))


_state = _State()
_registry = SessionRegistry()
_get_script_run_ctx: Callable[..., Any] | None = None


# -- where are we ------------------------------------------------------------------------------


def _no_context(suppress_warning: bool = False) -> Any:
    return None


def _load_ctx_getter() -> Callable[..., Any]:
    global _get_script_run_ctx
    getter: Callable[..., Any] = _no_context
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        getter = get_script_run_ctx
    except Exception:  # an unknown streamlit layout means "not running"
        log.debug("streamlit has no get_script_run_ctx; the integration stays idle", exc_info=True)
    _get_script_run_ctx = getter
    return getter


def _where() -> tuple[str, str | None] | None:
    """(Streamlit session id, page script hash) inside a running script, else None."""
    if "streamlit" not in sys.modules:
        return None
    getter = _get_script_run_ctx or _load_ctx_getter()
    try:
        ctx = getter(suppress_warning=True)
        if ctx is None:
            return None
        return str(ctx.session_id), getattr(ctx, "page_script_hash", None)
    except Exception:  # never break the app over telemetry
        log.debug("no Streamlit script context", exc_info=True)
        return None


# -- initialisation and consent ------------------------------------------------------------------


def init_telemetry_client(
    settings: Any,
    db_path: str | os.PathLike[str] | None = None,
    *,
    save_settings: SaveSettings | None = None,
    app_version: str | None = None,
) -> TelemetryManager | None:
    """The process's manager, built from `settings` on the first call; call it on every run.

    Later calls adopt the newest `settings` object (and `save_settings`, which persists a consent
    answer), follow a change of `settings.analytics_enabled`, and send what was tracked before
    the first call. Returns None outside a running Streamlit script.
    """
    where = _where()
    if where is None:
        return None
    try:
        _registry.observe(*where)
        with _state.lock:
            _state.settings = settings
            _state.db_path = db_path
            _state.app_version = app_version or _state.app_version
            if save_settings is not None:
                _state.save = save_settings
            if _state.opted_out:
                _apply_choice(settings, False)
            _reconcile()
            manager = _state.manager
            held = list(_state.pending)
            _state.pending.clear()
        if manager is not None and manager.is_enabled:
            for item in held:
                _deliver(manager, item)
        return manager
    except Exception:  # never break the app over telemetry
        log.warning("telemetry initialisation failed; tracking is off", exc_info=True)
        return None


def get_telemetry_client() -> TelemetryManager | None:
    """The process's manager (None before initialisation or outside Streamlit).

    Prefer the helpers: a direct `manager.track_event` is counted in the run's session, not the
    browser session's (pass `session=current_session()` to fix that).
    """
    return _state.manager if _where() is not None else None


def current_session() -> Session | None:
    """The analytics session of the current browser session (None outside Streamlit)."""
    where = _where()
    return None if where is None else _registry.event(*where)


def set_analytics_enabled(enabled: bool) -> None:
    """Record the user's answer: persist it through the settings and apply it at once (from any
    thread of the app; the settings are those of the last `init_telemetry_client`).

    False discards everything queued (from every browser session) and sends nothing more, not
    even an event about the change; True starts a fresh manager. Either way the consent question
    counts as answered (`analytics_popup_dismissed`).
    """
    with _state.lock:
        settings = _state.settings
        _state.opted_out = not enabled
        if settings is not None:
            _apply_choice(settings, enabled)
        if not enabled:
            _state.pending.clear()
            if _state.manager is not None:
                _state.manager.disable()
            _state.built_enabled = False
        elif settings is not None:
            _reconcile()
    _save(settings)


def consent_banner(text: str = CONSENT_TEXT) -> bool:
    """Show the analytics notice when analytics is on and the user has not been asked yet.

    "Keep analytics on" dismisses it; "Disable analytics" turns telemetry off before the next run
    of the script starts. Both answers persist through the settings. Returns whether it is shown.
    """
    settings = _state.settings
    if _where() is None or settings is None:
        return False
    if not analytics_enabled_in(settings) or getattr(settings, "analytics_popup_dismissed", False):
        return False
    import streamlit as st

    with st.container(border=True):
        st.markdown(text)
        keep, disable = st.columns(2)
        keep.button("Keep analytics on", key="telemetry_consent_keep", on_click=_dismiss_banner)
        disable.button(
            "Disable analytics",
            key="telemetry_consent_disable",
            on_click=set_analytics_enabled,
            args=(False,),
        )
    return True


def flush_telemetry(timeout: float = 5.0) -> bool:
    """Deliver everything tracked so far by every browser session (any thread); True when done."""
    manager = _state.manager
    return manager.flush(timeout) if manager is not None else True


def shutdown_telemetry_client(timeout: float = 1.0) -> None:
    """Deliver what is queued (within `timeout`), stop, and forget every browser session."""
    with _state.lock:
        manager = _state.manager
        _state.manager = None
        _state.settings = _state.db_path = _state.save = _state.app_version = None
        _state.built_enabled = _state.opted_out = False
        _state.pending.clear()
    _registry.forget()
    if manager is not None:
        manager.shutdown(timeout)


def _reconcile() -> None:
    """Make the manager follow the settings (lock held): build it, rebuild it, or disable it."""
    wanted = analytics_enabled_in(_state.settings) and not _state.opted_out
    manager = _state.manager
    if manager is None or (wanted and not _state.built_enabled):
        if manager is not None:
            manager.shutdown(0.0)
        _state.manager = TelemetryManager.from_settings(
            _state.settings, _state.db_path, app_version=_state.app_version
        )
        _state.built_enabled = wanted
        log.debug("manager built: %r", _state.manager)
    elif not wanted and _state.built_enabled:
        manager.disable()
        _state.built_enabled = False


def _apply_choice(settings: Any, enabled: bool) -> None:
    try:
        settings.analytics_enabled = enabled
        settings.analytics_popup_dismissed = True
    except Exception:  # noqa: BLE001 - a read-only settings object still gets the choice applied here
        log.warning("could not record the analytics choice on %s", type(settings).__name__)


def _dismiss_banner() -> None:
    with _state.lock:
        settings = _state.settings
        if settings is not None:
            try:
                settings.analytics_popup_dismissed = True
            except Exception:  # noqa: BLE001
                log.warning("could not record the dismissed banner on %s", type(settings).__name__)
    _save(settings)


def _save(settings: Any) -> None:
    save = _state.save
    if settings is None or save is None:
        return
    try:
        save(settings)
    except Exception:  # never break the app over telemetry
        log.warning("saving the analytics settings failed", exc_info=True)


# -- tracking -----------------------------------------------------------------------------------


def track_page_view(path: str, title: str | None = None, *, key: str | None = None) -> bool:
    """Count a page view once per real navigation, whatever the number of reruns.

    Without `key` the view is the page itself: counted when the browser session comes to it
    (first load, another page, or back again), never on a rerun. `key` names an in-page view slot
    such as a set of tabs: the tab shown first is part of the page's view, each switch afterwards
    is one page view. Track only the open tab (`tab.open` of `st.tabs(..., on_change="rerun")`):
    tabs that all render on every run cannot tell which one is visible.

    Returns True when the view was counted (sent, or held until initialisation).
    """
    where = _where()
    if where is None:
        return False
    try:
        session = _registry.page_view(where[0], where[1], str(path), key)
        return session is not None and _send(True, str(path), title, session)
    except Exception:  # never break the app over telemetry
        log.debug("track_page_view failed", exc_info=True)
        return False


def track_event(name: str, params: Mapping[str, Any] | None = None) -> bool:
    """Send a custom event in this browser session's analytics session. True when accepted."""
    where = _where()
    if where is None:
        return False
    try:
        return _send(False, name, dict(params) if params else {}, _registry.event(*where))
    except Exception:  # never break the app over telemetry
        log.debug("track_event(%r) failed", name, exc_info=True)
        return False


def track_event_once(
    name: str,
    dedupe_key: str,
    params: Mapping[str, Any] | None = None,
    ttl_seconds: float | None = None,
) -> bool:
    """Send `name` once per (name, dedupe_key) in this browser session's analytics session, or
    once per `ttl_seconds` when given (funnel steps: "download_started" for one request id).
    True when sent, False when it is a repeat."""
    where = _where()
    if where is None:
        return False
    try:
        session = _registry.event_once(where[0], where[1], name, str(dedupe_key), ttl_seconds)
        return session is not None and _send(False, name, dict(params) if params else {}, session)
    except Exception:  # never break the app over telemetry
        log.debug("track_event_once(%r) failed", name, exc_info=True)
        return False


def _send(page_view: bool, name: str, detail: Any, session: Session) -> bool:
    """Hand a counted view or event to the manager, or hold it until initialisation."""
    manager = _state.manager
    if manager is None:
        with _state.lock:
            manager = _state.manager
            if manager is None:
                if len(_state.pending) == _state.pending.maxlen:
                    log.debug("more than %d events before initialisation; the oldest dropped", PENDING_LIMIT)
                _state.pending.append(_Pending(page_view, name, detail, session))
                return True
    if not manager.is_enabled:
        return False
    if page_view:
        manager.track_page_view(name, detail, session=session)
    else:
        manager.track_event(name, detail, session=session)
    return True


def _deliver(manager: TelemetryManager, item: _Pending) -> None:
    if item.page_view:
        manager.track_page_view(item.name, item.detail, session=item.session)
    else:
        manager.track_event(item.name, item.detail, session=item.session)
