"""TelemetryManager: one object the app calls; every enabled provider receives each event.

`track_*` stamps the event and queues it for each provider (a few microseconds); the delivery
engine's background workers do the rest. Nothing here raises into the application.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import events as _events
from ._log import debug_requested, enable_debug_trace, get_logger
from .amplitude_provider import AmplitudeConfig, AmplitudeTelemetryProvider
from .base_telemetry import BaseTelemetryProvider, ProviderConfig
from .context import TelemetryContext
from .delivery.engine import DeliveryEngine
from .delivery.options import DeliveryOptions
from .events import EVENT, PAGE_VIEW, USER_PROPERTIES, Event
from .ga4_provider import GA4Config, GA4TelemetryProvider
from .settings import analytics_enabled_in, opt_out_reason

__all__ = ["BUILTIN_PROVIDERS", "TelemetryClient", "TelemetryManager", "init_telemetry"]

log = get_logger("telemetry.manager")

BUILTIN_PROVIDERS: tuple[type[BaseTelemetryProvider], ...] = (
    GA4TelemetryProvider,
    AmplitudeTelemetryProvider,
)

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
    ) -> None:
        self._context = context if context is not None else TelemetryContext(None, analytics_enabled=False)
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
        settings: Any,
        db_path: str | os.PathLike[str] | None = None,
        *,
        app_version: str | None = None,
        environ: Mapping[str, str] | None = None,
        delivery: DeliveryOptions | None = None,
    ) -> TelemetryManager:
        """Build from an app settings object and the environment (GA_*, AMPLITUDE_*, ...)."""
        env = os.environ if environ is None else environ
        configs: list[ProviderConfig] = [GA4Config.from_env(env), AmplitudeConfig.from_env(env)]
        return cls.from_configs(
            db_path,
            analytics_enabled_in(settings),
            configs=configs,
            app_version=app_version or getattr(settings, "app_version", None),
            environ=env,
            delivery=delivery,
        )

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
    ) -> TelemetryManager:
        """Build from explicit provider configs (each matched to its built-in provider class)."""
        all_configs = [c for c in (ga4_config, amplitude_config, *configs) if c is not None]
        specs: list[ProviderSpec] = []
        for config in all_configs:
            provider_cls = _provider_for(config)
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
    ) -> TelemetryManager:
        """Build from (provider class, config) pairs: the path third-party providers take."""
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
        context = TelemetryContext(db_path, analytics_enabled=True, app_version=app_version)
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

    def track_page_view(self, page_path: str, page_title: str | None = None) -> None:
        """Record a (virtual) page view. Returns at once; never raises."""
        submit = self._submit
        if submit is None:
            return
        try:
            submit(
                Event(
                    PAGE_VIEW,
                    "page_view",
                    {"page_path": page_path, "page_title": page_title},
                    _now(),
                    _next(),
                    _events._process_prefix,
                )
            )
        except Exception:
            log.debug("track_page_view failed", exc_info=True)

    def track_event(self, event_name: str, params: Mapping[str, Any] | None = None) -> None:
        """Record a custom event with optional params. Returns at once; never raises."""
        submit = self._submit
        if submit is None:
            return
        try:
            copied = dict(params) if params else {}
            submit(Event(EVENT, event_name, copied, _now(), _next(), _events._process_prefix))
        except Exception:
            log.debug("track_event(%r) failed; dropped", event_name, exc_info=True)

    def set_user_properties(self, properties: Mapping[str, Any]) -> None:
        """Record user properties (Amplitude identify, GA4 user_properties). Never raises."""
        submit = self._submit
        if submit is None:
            return
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
        self._engine.shutdown(0.0)

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
        """Per provider: enqueued, sent, retried, queued, dropped (by reason), last_error."""
        return {name: s.as_dict() for name, s in self._engine.stats().items()}

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


def _provider_for(config: ProviderConfig) -> type[BaseTelemetryProvider] | None:
    for provider_cls in BUILTIN_PROVIDERS:
        if isinstance(config, provider_cls.config_class) and provider_cls.config_class is not ProviderConfig:
            return provider_cls
    return None


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
