"""TelemetryManager: one object the app calls; every enabled provider receives each event.

`track_*` stamps the event and queues it for each provider (a few microseconds); the delivery
engine's background workers do the rest. Nothing here raises into the application.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import events as _events
from ._log import debug_requested, enable_debug_trace, get_logger
from .amplitude_provider import AmplitudeConfig
from .base_telemetry import BaseTelemetryProvider, ProviderConfig
from .context import Session, TelemetryContext
from .delivery.engine import DeliveryEngine
from .delivery.options import DeliveryOptions
from .events import EVENT, PAGE_VIEW, USER_PROPERTIES, Event
from .ga4_provider import GA4Config
from .policy import EventPolicy
from .settings import analytics_enabled_in, opt_out_reason

__all__ = ["BUILTIN_PROVIDERS", "TelemetryClient", "TelemetryManager", "init_telemetry"]

log = get_logger("telemetry.manager")

if TYPE_CHECKING:
    from .registry import Registry

BUILTIN_PROVIDERS: tuple[type[BaseTelemetryProvider], ...]
"""The built-in provider classes (informational): providers are found through the registry,
the entry-point group `telemetry.providers`, where the built-ins register like any other."""


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_PROVIDERS":
        from .registry import builtin_registrations

        return tuple(r.provider_class for r in builtin_registrations())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ProviderSpec = tuple[type[BaseTelemetryProvider], ProviderConfig]

_now = time.time
_next = _events.next_sequence


class TelemetryManager:
    """Routes page views and events to every enabled provider, in the background."""

    def __init__(
        self,
        providers: Sequence[BaseTelemetryProvider] = (),
        context: TelemetryContext | None = None,
        *,
        delivery: DeliveryOptions | None = None,
        disabled: Mapping[str, str] | None = None,
        policy: EventPolicy | str | None = None,
    ) -> None:
        self._context = context if context is not None else TelemetryContext(None, analytics_enabled=False)
        if policy is not None:
            self._context.policy = EventPolicy.coerce(policy)
        self._policy = self._context.policy
        self._strict = self._policy.strict
        self._providers = list(providers)
        self._disabled = dict(disabled or {})
        self._options = delivery or DeliveryOptions()
        active: list[BaseTelemetryProvider] = []
        if self._context.analytics_enabled:
            for provider in self._providers:
                reason = _provider_problem(provider)
                if reason is None:
                    active.append(provider)
                else:
                    self._disabled.setdefault(provider.name, reason)
        else:
            for provider in self._providers:
                self._disabled.setdefault(provider.name, "analytics disabled")
        self._active = active
        self._engine = DeliveryEngine(active, self._options)
        for provider, worker in zip(active, self._engine.workers, strict=True):
            provider.attach(worker.offer)
        self._submit = self._engine.submit if active else None
        log.debug(
            "initialised: enabled=%s disabled=%s runtime=%s lib_version=%s",
            [p.name for p in active],
            self._disabled,
            self._context.runtime,
            self._context.lib_version,
        )

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_settings(
        cls,
        settings: Any = None,
        db_path: str | os.PathLike[str] | None = None,
        *,
        app_version: str | None = None,
        environ: Mapping[str, str] | None = None,
        delivery: DeliveryOptions | None = None,
        settings_file: str | os.PathLike[str] | None = None,
        dotenv: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        configs: Iterable[ProviderConfig] = (),
        policy: EventPolicy | str | None = None,
    ) -> TelemetryManager:
        """Build from the app's settings, the environment and (when named) a settings file.

        Every provider registered in the entry-point group `telemetry.providers` (built-in or
        third-party) reads its own configuration. Precedence, per value: explicit arguments
        (`settings.analytics_enabled`, `db_path`, `overrides` {"mixpanel": {"project_token": ...}},
        whole `configs`), then the environment, then a `.env` file (read only when `dotenv` names
        one), then the settings file (`settings_file`, else TELEMETRY_CONFIG), then defaults.
        A provider whose entry point or configuration is broken is reported in
        `disabled_providers` and skipped.
        """
        from .config_files import SettingError, SettingsSources
        from .registry import discover

        sources = SettingsSources.load(
            environ, settings_file=settings_file, dotenv=dotenv, overrides=overrides
        )
        env = sources.environment()
        if settings is not None:
            enabled = analytics_enabled_in(settings)
        else:
            try:
                found = sources.analytics_enabled()
            except SettingError as exc:
                log.warning("settings: %s; analytics stays off", exc)
                found = None
            enabled = bool(found is not None and found.value)
        if db_path is None:
            db_path = sources.db_path()[0]
        registry = discover()
        read, problems = registry.read_configs(sources)
        explicit: dict[str, ProviderConfig] = {}
        for config in configs:
            registration = registry.for_config(config)
            if registration is None:
                log.warning("no provider class for %s; ignored", type(config).__name__)
                continue
            explicit[registration.name] = config
            problems.pop(registration.name, None)
        specs: list[ProviderSpec] = []
        for registration, config in read:
            specs.append((registration.provider_class, explicit.pop(registration.name, config)))
        for name, config in explicit.items():
            registered = registry.get(name)
            if registered is not None:
                specs.append((registered.registration.provider_class, config))
        manager = cls.from_providers(
            db_path,
            specs,
            analytics_enabled=enabled,
            app_version=app_version or getattr(settings, "app_version", None),
            environ=env,
            delivery=delivery,
            policy=policy,
        )
        for name, reason in problems.items():
            manager._disabled.setdefault(name, reason)
        return manager

    @classmethod
    def from_configs(
        cls,
        db_path: str | os.PathLike[str] | None,
        analytics_enabled: bool = True,
        ga4_config: GA4Config | None = None,
        amplitude_config: AmplitudeConfig | None = None,
        *,
        configs: Iterable[ProviderConfig] = (),
        app_version: str | None = None,
        environ: Mapping[str, str] | None = None,
        delivery: DeliveryOptions | None = None,
        policy: EventPolicy | str | None = None,
    ) -> TelemetryManager:
        """Build from explicit provider configs (each matched to its registered provider class)."""
        from .registry import discover

        all_configs = [c for c in (ga4_config, amplitude_config, *configs) if c is not None]
        registry = discover() if all_configs else None
        specs: list[ProviderSpec] = []
        for config in all_configs:
            provider_cls = _provider_for(config, registry)
            if provider_cls is None:
                log.warning("no provider class for %s; ignored", type(config).__name__)
                continue
            specs.append((provider_cls, config))
        return cls.from_providers(
            db_path,
            specs,
            analytics_enabled=analytics_enabled,
            app_version=app_version,
            environ=environ,
            delivery=delivery,
            policy=policy,
        )

    @classmethod
    def from_providers(
        cls,
        db_path: str | os.PathLike[str] | None,
        providers: Iterable[ProviderSpec],
        *,
        analytics_enabled: bool = True,
        app_version: str | None = None,
        environ: Mapping[str, str] | None = None,
        delivery: DeliveryOptions | None = None,
        policy: EventPolicy | str | None = None,
    ) -> TelemetryManager:
        """Build from (provider class, config) pairs: the path third-party providers take.

        `policy`: what happens to events outside a vendor's rules or the schema (`EventPolicy`).
        """
        env = os.environ if environ is None else environ
        if debug_requested(dict(env)):
            enable_debug_trace()
        disabled: dict[str, str] = {}
        specs = list(providers)
        off = None if analytics_enabled else "analytics disabled"
        off = off or opt_out_reason(env)
        if off is not None:
            for provider_cls, _ in specs:
                disabled[provider_cls.name] = off
            return cls._create([], TelemetryContext(None, analytics_enabled=False), delivery, disabled)
        usable: list[ProviderSpec] = []
        for provider_cls, config in specs:
            config.register_secrets()
            reason = _config_problem(provider_cls, config)
            if reason is None:
                usable.append((provider_cls, config))
            else:
                disabled[provider_cls.name] = reason
        if not usable:
            # Nothing would ever be sent: leave the database alone.
            return cls._create([], TelemetryContext(None, analytics_enabled=False), delivery, disabled)
        context = TelemetryContext(db_path, analytics_enabled=True, app_version=app_version, policy=policy)
        built: list[BaseTelemetryProvider] = []
        for provider_cls, config in usable:
            try:
                built.append(provider_cls(config, context))
            except Exception as exc:  # noqa: BLE001 - a broken provider must not break the app
                disabled[provider_cls.name] = f"failed to start: {type(exc).__name__}"
                log.warning("%s: failed to start (%s); disabled", provider_cls.name, type(exc).__name__)
        return cls._create(built, context, delivery, disabled)

    @classmethod
    def _create(
        cls,
        providers: list[BaseTelemetryProvider],
        context: TelemetryContext,
        delivery: DeliveryOptions | None,
        disabled: dict[str, str],
    ) -> TelemetryManager:
        manager = cls.__new__(cls)
        TelemetryManager.__init__(manager, providers, context, delivery=delivery, disabled=disabled)
        return manager

    # -- tracking (the caller's hot path) ------------------------------------------------------

    def track_page_view(
        self, page_path: str, page_title: str | None = None, *, session: Session | None = None
    ) -> None:
        """Record a (virtual) page view. Returns at once; never raises (in strict mode, an event
        outside the rules or the schema raises InvalidEventError).

        `session`: the session it belongs to when not this run's (one per browser session in a web app).
        """
        submit = self._submit
        if submit is None:
            return
        if self._strict:
            self._check(PAGE_VIEW, "page_view", {"page_path": page_path, "page_title": page_title})
        try:
            submit(
                Event(
                    PAGE_VIEW,
                    "page_view",
                    {"page_path": page_path, "page_title": page_title},
                    _now(),
                    _next(),
                    _events._process_prefix,
                    session,
                )
            )
        except Exception:
            log.debug("track_page_view failed", exc_info=True)

    def track_event(
        self, event_name: str, params: Mapping[str, Any] | None = None, *, session: Session | None = None
    ) -> None:
        """Record a custom event with optional params (and `session`, as above). Never raises
        (strict mode: InvalidEventError, as above)."""
        submit = self._submit
        if submit is None:
            return
        if self._strict:
            self._check(EVENT, event_name, params)
        try:
            copied = dict(params) if params else {}
            submit(Event(EVENT, event_name, copied, _now(), _next(), _events._process_prefix, session))
        except Exception:
            log.debug("track_event(%r) failed; dropped", event_name, exc_info=True)

    def set_user_properties(self, properties: Mapping[str, Any]) -> None:
        """Record user properties (Amplitude identify, GA4 user_properties). Never raises
        (strict mode: InvalidEventError, as above)."""
        submit = self._submit
        if submit is None:
            return
        if self._strict:
            self._check(USER_PROPERTIES, "user_properties", properties)
        try:
            copied = dict(properties) if properties else {}
            submit(
                Event(
                    USER_PROPERTIES,
                    "user_properties",
                    copied,
                    _now(),
                    _next(),
                    _events._process_prefix,
                )
            )
        except Exception:
            log.debug("set_user_properties failed; dropped", exc_info=True)

    def _check(self, kind: str, name: Any, params: Any) -> None:
        """Strict mode only, on the caller's thread: InvalidEventError for an event outside the
        schema or an enabled provider's rules (every other mode checks on the workers)."""
        self._policy.check(kind, name, params, self._active)

    # -- lifecycle ------------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver everything tracked so far; returns within `timeout` (shared by all providers).

        True when every provider finished in time (delivered, or dropped after its retries).
        """
        try:
            return self._engine.flush(timeout)
        except Exception:
            log.debug("flush failed", exc_info=True)
            return False

    def shutdown(self, timeout: float | None = None) -> bool:
        """Deliver what is queued within `timeout` (default: the exit grace), then stop. Idempotent.

        After shutdown, tracking calls are silent no-ops.
        """
        self._submit = None
        try:
            return self._engine.shutdown(self._options.exit_grace if timeout is None else timeout)
        except Exception:
            log.debug("shutdown failed", exc_info=True)
            return False

    close = shutdown

    def disable(self) -> None:
        """Stop at once: discard everything queued and send nothing more (the user opted out)."""
        self._submit = None
        self._engine.discard()

    def __enter__(self) -> TelemetryManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- introspection -------------------------------------------------------------------------

    @property
    def is_enabled(self) -> bool:
        """Whether any provider is sending."""
        return self._submit is not None

    @property
    def enabled_providers(self) -> list[str]:
        return [p.name for p in self._active] if self._submit is not None else []

    @property
    def disabled_providers(self) -> dict[str, str]:
        """Each provider that is not sending, with the reason."""
        return dict(self._disabled)

    @property
    def providers(self) -> list[BaseTelemetryProvider]:
        return list(self._providers)

    @property
    def context(self) -> TelemetryContext:
        return self._context

    @property
    def delivery(self) -> DeliveryEngine:
        return self._engine

    def get_client_id(self) -> str | None:
        return self._context.client_id

    def get_session_id(self) -> str:
        return self._context.session_id

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per provider: enqueued, sent, retried, queued, dropped (by reason), last_error, and
        "privacy": PII redacted and params dropped (by kind), events dropped by policy or schema."""
        out = {name: s.as_dict() for name, s in self._engine.stats().items()}
        for provider in self._active:
            if provider.name in out:
                out[provider.name]["privacy"] = provider.privacy_stats.as_dict()
        return out

    @property
    def policy(self) -> EventPolicy:
        """The event policy: mode ("normalise", "drop", "strict"), schema and PII guard."""
        return self._policy

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(enabled={self.enabled_providers}, "
            f"disabled={sorted(self._disabled)}, runtime={self._context.runtime!r})"
        )


class TelemetryClient(TelemetryManager):
    """The original `TelemetryClient(settings, db_path)` call, kept working."""

    def __init__(self, settings: Any, db_path: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        built = TelemetryManager.from_settings(settings, db_path, **kwargs)
        TelemetryManager.__init__(
            self,
            built._providers,
            built._context,
            delivery=built._options,
            disabled=built._disabled,
        )
        built._engine.shutdown(0.0)


def init_telemetry(settings: Any, db_path: str | os.PathLike[str] | None = None) -> TelemetryManager:
    """The original module-level helper: `TelemetryManager.from_settings(settings, db_path)`."""
    return TelemetryManager.from_settings(settings, db_path)


def _provider_for(
    config: ProviderConfig, registry: Registry | None = None
) -> type[BaseTelemetryProvider] | None:
    """The registered provider class for `config` (its config class, or the nearest base)."""
    from .registry import discover

    registration = (registry or discover()).for_config(config)
    return None if registration is None else registration.provider_class


def _config_problem(provider_cls: type[BaseTelemetryProvider], config: ProviderConfig) -> str | None:
    try:
        return config.invalid_reason() or provider_cls.unavailable_reason()
    except Exception as exc:  # noqa: BLE001 - a broken config check disables that provider only
        return f"configuration check failed: {type(exc).__name__}"


def _provider_problem(provider: BaseTelemetryProvider) -> str | None:
    try:
        return None if provider.is_enabled else (provider.config.invalid_reason() or "not enabled")
    except Exception as exc:  # noqa: BLE001
        return f"enabled check failed: {type(exc).__name__}"
