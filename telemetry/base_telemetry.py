"""The provider contract: a config class and a small provider that *describes* its vendor.

A provider maps an event to the vendor's wire format (`map_event`), wraps a batch of encoded
events in one HTTP request (`build_request`) and judges the vendor's answer (`classify`). The
delivery engine does everything else (queueing, batching, retries, deadlines) for every
provider alike, so a provider stays small, pure and easy to certify.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from ._log import get_logger, register_secret
from ._sanitize import passes_unchanged, sanitize_params
from .context import Session, TelemetryContext
from .delivery.types import BatchLimits, HttpRequest, HttpResponse, Outcome, Transport, classify_status
from .events import EVENT, PAGE_VIEW, Event, current_prefix, next_sequence
from .policy import GENERIC_RULES, EventPolicy, EventRules, PrivacyStats, check_event

if TYPE_CHECKING:
    from .amplitude_provider import AmplitudeConfig as AmplitudeConfig
    from .ga4_provider import GA4Config as GA4Config

__all__ = [
    "ENRICHMENT_KEYS",
    "BaseTelemetryProvider",
    "ProviderConfig",
    "TelemetryContext",
    "endpoint_problem",
]

log = get_logger("telemetry.provider")
_DEFAULT_POLICY = EventPolicy()

ENRICHMENT_KEYS = ("session_id", "runtime", "lib_version")
"""Keys every event carries. A caller param with one of these names is replaced (logged)."""


def endpoint_problem(endpoint: str | None) -> str | None:
    """Why `endpoint` may not be used, or None: https anywhere, plain http only on loopback."""
    if endpoint is None:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"endpoint {endpoint!r} is not an http(s) URL"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return f"endpoint {endpoint!r} uses plain http to a non-loopback host; use https"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ProviderConfig:
    """Base configuration of a provider. `endpoint` overrides the vendor's base URL."""

    enabled: bool = True
    provider_name: str = field(default="", kw_only=True)
    endpoint: str | None = field(default=None, kw_only=True)
    sample_rate: float = field(default=1.0, kw_only=True)
    """Share of clients whose events this provider sends (0..1), decided per client_id."""
    max_events_per_second: float | None = field(default=None, kw_only=True)
    """Rate limit for this provider (events beyond it are dropped and counted); None: no limit."""

    def is_valid(self) -> bool:
        """Whether a provider with this configuration can send anything."""
        return self.invalid_reason() is None

    def invalid_reason(self) -> str | None:
        """Why this configuration cannot send, in words for `telemetry doctor`; None when valid."""
        if not self.enabled:
            return "disabled in its configuration"
        if not 0.0 <= self.sample_rate <= 1.0:
            return f"sample_rate must be between 0 and 1, not {self.sample_rate!r}"
        if self.max_events_per_second is not None and self.max_events_per_second <= 0:
            return f"max_events_per_second must be positive, not {self.max_events_per_second!r}"
        return endpoint_problem(self.endpoint)

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line, repr or exception."""
        return ()

    def register_secrets(self) -> None:
        for secret in self.secrets():
            register_secret(secret)


class _EventSessionContext(TelemetryContext):
    """The manager's context as one event sees it: same identity, runtime and version, the
    event's own session (a browser session of a web app). A view: no database is touched."""

    def __init__(self, base: TelemetryContext, session: Session) -> None:
        self.__dict__.update(base.__dict__)
        self._event_session = session

    @property
    def session(self) -> Session:
        return self._event_session

    @property
    def session_id(self) -> str:
        return self._event_session.id


class _Mapping(threading.local):
    bound: tuple[BaseTelemetryProvider, TelemetryContext] | None = None
    """(provider, context view) while a provider maps an event that carries its own session."""


_mapping = _Mapping()
_bindings = 0
"""Threads now mapping an event with a session of its own. While there are none, `context` skips
the thread-local read; a thread counts itself before it binds, so it always sees its own binding."""
_bindings_lock = threading.Lock()


class BaseTelemetryProvider:
    """Base class of every provider. Subclasses set the class attributes and three methods.

    Required: `name`, `config_class`, `map_event`, `build_request`. Optional: `classify`
    (defaults to the generic HTTP-status verdict), `batch_limits`, `envelope_bytes`,
    `retry_read_timeouts`, `unavailable_reason`.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ProviderConfig]] = ProviderConfig
    batch_limits: ClassVar[BatchLimits] = BatchLimits(max_events=100, max_bytes=500_000)
    envelope_bytes: ClassVar[int] = 512
    """Bytes the request wrapper adds around the encoded events (for batch sizing)."""
    retry_read_timeouts: ClassVar[bool] = True
    """False for vendors without a dedup id, where a resend after a read timeout may duplicate."""
    REQUEST_TIMEOUT: ClassVar[float] = 2.0
    event_rules: EventRules = GENERIC_RULES
    """The vendor's documented rules (names, lengths, reserved names, counts, values): what the
    manager's policy enforces ("drop", "strict"); in "normalise" mode `map_event` fixes events."""

    def __init__(self, config: ProviderConfig, context: TelemetryContext) -> None:
        self.config = config
        self.context = context
        config.register_secrets()
        self._submit: Callable[[Event], None] | None = None

    @property
    def context(self) -> TelemetryContext:
        """The run's context; inside `map_event` of an event with its own `session`, a view of it
        with that session, so every provider reading `self.context.session` honours it."""
        if _bindings:
            bound = _mapping.bound  # a class default: a missing attribute would cost an exception
            if bound is not None and bound[0] is self:
                return bound[1]
        return self._context

    @context.setter
    def context(self, value: TelemetryContext) -> None:
        self._context = value

    # -- what the engine calls ----------------------------------------------------------------

    def describe(self, event: Event) -> dict[str, Any] | None:
        """The wire form of one event, as the engine asks for it (worker thread).

        The manager's policy and schema decide first (`admit`); then `map_event` maps what was
        admitted, seeing the event's own session (a browser session) as `self.context.session`
        when it carries one. Providers implement `map_event`, never this.
        """
        admitted = self.admit(event)
        if admitted is None:
            return None
        # While mapping, `clean_params` may reuse (or fill) the event's shared cleaning cache.
        attributes = self.__dict__
        attributes["_cleaning"] = event
        try:
            if admitted.session is None:
                return self.map_event(admitted)
            return self._map_in_session(admitted, admitted.session)
        finally:
            attributes["_cleaning"] = None

    def _map_in_session(self, event: Event, session: Session) -> dict[str, Any] | None:
        """`map_event` with `self.context` showing the event's own session, on this thread only."""
        global _bindings
        with _bindings_lock:
            _bindings += 1
        previous = _mapping.bound
        _mapping.bound = (self, _EventSessionContext(self._context, session))
        try:
            return self.map_event(event)
        finally:
            _mapping.bound = previous
            with _bindings_lock:
                _bindings -= 1

    # -- what a provider describes -------------------------------------------------------------

    def map_event(self, event: Event) -> dict[str, Any] | None:
        """The vendor's JSON form of one event, or None to drop it (log why). Runs on the worker."""
        raise NotImplementedError(f"{type(self).__name__} must implement map_event()")

    def route(self, event: Event) -> str:
        """Which endpoint family an event goes to; events of one route share a request.

        Most vendors have one ("default"). Mixpanel, say, sends profiles to /engage: such a
        provider returns another name here and receives it as `build_request(..., route)`.
        """
        return "default"

    def build_request(self, encoded_events: Sequence[bytes], route: str = "default") -> HttpRequest:
        """One HTTP request carrying these JSON-encoded events (outputs of `map_event`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_request()")

    def classify(self, response: HttpResponse, batch_size: int) -> Outcome:
        """The verdict on the vendor's answer to one batch."""
        return classify_status(response)

    def create_transport(self) -> Transport | None:
        """A transport of the provider's own (a vendor SDK), or None for the engine's HTTP."""
        return None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this provider cannot run in this environment (a missing SDK), or None."""
        return None

    # -- shared helpers ------------------------------------------------------------------------

    def clean_params(self, params: Any, *, where: str = "params") -> dict[str, Any]:
        """JSON-safe copy of caller params without personal data; never raises.

        Odd types are converted or dropped (`_sanitize`), then the PII guard of the manager's
        policy redacts or drops what looks personal (counted in `stats()` under "privacy").
        """
        return dict(self._scanned_params(params, where))

    def _scanned_params(self, params: Any, where: str = "params") -> Mapping[str, Any]:
        """What `clean_params` copies: for a mapped event's own params, the cleaning shared by
        every provider, so it must only be read. Built-in providers read it into dicts of their own."""
        event = self.__dict__.get("_cleaning")
        if event is not None and params is event.params:
            # Every provider of a manager shares one policy: clean and scan an event once, and
            # count the findings for each provider as if it had scanned them itself.
            cleaned: dict[str, Any] | None = event.cleaned
            if cleaned is None:
                guard = self.policy.guard
                unchanged = type(params) is dict and passes_unchanged(params)
                if unchanged and guard.knows_plain(params):
                    # Nothing to convert, nothing to find: the event's own params (the manager's
                    # copy, never mutated) serve as the cleaned ones.
                    cleaned, found = params, None
                else:
                    # Params that sanitising would not change are scanned as they are: the guard
                    # builds a new dict anyway, so a sanitised copy would only be thrown away.
                    source = params if unchanged else sanitize_params(params, where=where)
                    cleaned, found = guard.clean_params(source)
                event.findings = found or None
                event.cleaned = cleaned
            if event.findings is not None:
                self.privacy_stats.add(event.findings)
            return cleaned
        return self.policy.clean_params(sanitize_params(params, where=where), self.privacy_stats)

    # -- privacy: the manager's policy, as this provider applies it (worker thread) -------------

    @property
    def policy(self) -> EventPolicy:
        """The manager's event policy, from the context (the default policy without one)."""
        try:
            policy = self._context.policy
        except AttributeError:  # no context, or one without a policy
            return _DEFAULT_POLICY
        return policy if isinstance(policy, EventPolicy) else _DEFAULT_POLICY

    @property
    def privacy_stats(self) -> PrivacyStats:
        """This provider's privacy counters (PII findings, events dropped by policy or schema)."""
        stats = self.__dict__.get("_privacy_stats")
        if stats is None:
            stats = self.__dict__.setdefault("_privacy_stats", PrivacyStats())
        return stats  # type: ignore[no-any-return]

    def event_problems(self, event: Event) -> list[str]:
        """What `event` breaks of this vendor's `event_rules` (empty when it is within them)."""
        return check_event(self.event_rules, event)

    def admit(self, event: Event) -> Event | None:
        """The event to map under the manager's policy, or None to drop it (runs before
        `map_event` on the worker); a refusal is logged once per event name and counted."""
        try:
            return self.policy.admit(self, event)
        except Exception as exc:  # noqa: BLE001 - a failing check drops the event, never the worker
            self.privacy_stats.event_dropped("check_failed")
            log.debug("%s: policy check failed (%s); event dropped", self.name, type(exc).__name__)
            return None

    def session_value(self) -> Any:
        """The session identity as this vendor wants it in params (the run's UUID by default)."""
        return self.context.session_id

    def enrich_params(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """`params` plus session_id, runtime and lib_version; enrichment wins over a caller key."""
        return self._enrich(dict(params or {}))

    def _enrich(self, enriched: dict[str, Any]) -> dict[str, Any]:
        """`enrich_params` on a dict the provider has just built, which it extends in place."""
        if log.isEnabledFor(logging.DEBUG):
            for key in ENRICHMENT_KEYS:
                if key in enriched:
                    log.debug("%s: caller param %r is reserved for enrichment; replaced", self.name, key)
        context = self.context
        enriched["session_id"] = self.session_value()
        enriched["runtime"] = context.runtime
        enriched["lib_version"] = context.lib_version
        return enriched

    @property
    def is_enabled(self) -> bool:
        return self.config.is_valid() and self.unavailable_reason() is None

    @property
    def provider_name(self) -> str:
        return self.name

    def get_client_id(self) -> str | None:
        return self.context.client_id

    def get_session_id(self) -> str:
        return self.context.session_id

    # -- the design document's direct-call API -----------------------------------------------

    def attach(self, submit: Callable[[Event], None]) -> None:
        """Called by the manager: where this provider's own track_* calls are queued."""
        self._submit = submit

    def track_page_view(self, page_path: str, page_title: str | None = None) -> None:
        """Queue a page view for this provider alone (the manager's is the usual entry point)."""
        self._track(PAGE_VIEW, "page_view", {"page_path": page_path, "page_title": page_title})

    def track_event(self, event_name: str, params: Mapping[str, Any] | None = None) -> None:
        """Queue a custom event for this provider alone."""
        self._track(EVENT, event_name, params)

    def _track(self, kind: str, name: Any, params: Any) -> None:
        if self._submit is None:
            log.debug("%s: not attached to a manager; event %r ignored", self.name, name)
            return
        try:
            copied = dict(params) if params else {}
        except (TypeError, ValueError):
            copied = {}
        self._submit(Event(kind, name, copied, time.time(), next_sequence(), current_prefix()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(enabled={self.is_enabled})"


def __getattr__(name: str) -> Any:
    """The design document lists GA4Config and AmplitudeConfig in this module; import lazily."""
    if name == "GA4Config":
        from .ga4_provider import GA4Config

        return GA4Config
    if name == "AmplitudeConfig":
        from .amplitude_provider import AmplitudeConfig

        return AmplitudeConfig
    raise AttributeError(name)
