"""The provider registry: every provider, built-in or third-party, is found through one entry-point group.

A package makes a provider available by declaring, in its `pyproject.toml`,

    [project.entry-points."telemetry.providers"]
    acme = "acme_telemetry:REGISTRATION"

where `REGISTRATION` is a `ProviderRegistration`: the provider class (with its config class), how
its configuration is read (`Setting`s: environment variables and settings-file keys), its contract
spec, and optionally a validation round trip for `telemetry doctor --check`. The built-in providers
register the same way, in this package's own `pyproject.toml`. An entry point that cannot be loaded
or whose configuration cannot be read is reported (`Registry.problems`, `disabled_providers`,
`telemetry doctor`) and skipped: it never breaks the manager.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ._log import get_logger, redact, register_secret
from .amplitude_provider import AMPLITUDE_ENDPOINT, AMPLITUDE_EU_ENDPOINT, AmplitudeTelemetryProvider
from .base_telemetry import BaseTelemetryProvider, ProviderConfig
from .config_files import Setting, SettingError, SettingsSources, parse_bool
from .context import TelemetryContext
from .delivery.types import HttpRequest, HttpResponse
from .events import EVENT, Event
from .ga4_provider import GA4Config, GA4TelemetryProvider

__all__ = [
    "AMPLITUDE_REGISTRATION",
    "ENTRY_POINT_GROUP",
    "GA4_REGISTRATION",
    "CheckVerdict",
    "ProviderRegistration",
    "RegisteredProvider",
    "Registry",
    "RegistryProblem",
    "ValidationCheck",
    "builtin_registrations",
    "discover",
    "endpoints_of",
    "probe_context",
    "probe_provider",
]

log = get_logger("telemetry.registry")

ENTRY_POINT_GROUP = "telemetry.providers"
CHECK_EVENT_NAME = "telemetry_doctor_check"
"""The event name validation round trips use (never recorded by the vendor)."""


@dataclass(frozen=True)
class CheckVerdict:
    """The outcome of one validation round trip, in words for `telemetry doctor --check`."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class ValidationCheck:
    """One request that validates a provider's configuration without recording data.

    build: the request for a valid config. judge: what the vendor's answer means.
    """

    build: Callable[[ProviderConfig], HttpRequest]
    judge: Callable[[HttpResponse], CheckVerdict]
    description: str = ""


@dataclass(frozen=True)
class ProviderRegistration:
    """What a provider declares to be discovered: class, configuration sources, spec, check.

    provider_class: the BaseTelemetryProvider subclass (its `name` and `config_class` are used).
    settings: where each config field comes from (environment variables, file keys).
    table: its table in settings files (`[mixpanel]`); default: the name in lower case.
    contract_spec: "package.module:ATTR" of its contract ProviderSpec (`telemetry certify NAME`).
    routes: the routes its `build_request` knows (for showing endpoints).
    check: an optional validation round trip for `telemetry doctor --check`.
    reader: an optional function building the config from the sources (default: from `settings`).
    order: sort key among providers (built-ins first), then the name.
    """

    provider_class: type[BaseTelemetryProvider]
    settings: tuple[Setting, ...] = ()
    table: str = ""
    contract_spec: str | None = None
    routes: tuple[str, ...] = ("default",)
    check: ValidationCheck | None = None
    reader: Callable[[SettingsSources], ProviderConfig] | None = None
    order: int = 1000

    def __post_init__(self) -> None:
        cls = self.provider_class
        problems: list[str] = []
        if not isinstance(cls, type) or not issubclass(cls, BaseTelemetryProvider):
            raise TypeError(f"provider_class {cls!r} is not a BaseTelemetryProvider subclass")
        if not cls.name:
            problems.append(f"{cls.__name__}.name is empty")
        for method in ("map_event", "build_request"):
            if getattr(cls, method) is getattr(BaseTelemetryProvider, method):
                problems.append(f"{cls.__name__} does not implement {method}()")
        config_class = cls.config_class
        if config_class is ProviderConfig or not issubclass(config_class, ProviderConfig):
            problems.append(f"{cls.__name__}.config_class must be its own ProviderConfig subclass")
        elif self.reader is None:
            names = {f.name for f in dataclasses.fields(config_class)}
            unknown = [s.field for s in self.settings if s.field not in names]
            if unknown:
                problems.append(f"settings name fields that {config_class.__name__} lacks: {unknown}")
        if problems:
            raise TypeError(f"registration of {cls.__name__}: " + "; ".join(problems))
        if not self.table:
            object.__setattr__(self, "table", cls.name.lower())
        if not any(s.field == "enabled" for s in self.settings):
            object.__setattr__(self, "settings", (*self.settings, Setting("enabled")))

    @property
    def name(self) -> str:
        return self.provider_class.name

    @property
    def config_class(self) -> type[ProviderConfig]:
        return self.provider_class.config_class

    def read_config(self, sources: SettingsSources) -> ProviderConfig:
        """This provider's config from the layered sources. Raises SettingError on a bad value."""
        for setting in self.settings:
            if setting.secret:
                found = sources.resolve(self.table, setting)
                if found is not None:
                    register_secret(str(found.value))
        if self.reader is not None:
            return self.reader(sources)
        hints = typing.get_type_hints(self.config_class)
        values: dict[str, Any] = {}
        for setting in self.settings:
            found = sources.resolve(self.table, setting)
            if found is None:
                continue
            raw = found.value
            try:
                if setting.transform is not None:
                    raw = setting.transform(raw)
                values[setting.field] = _convert(raw, hints.get(setting.field))
            except (TypeError, ValueError) as exc:
                shown = found.shown(setting.secret)
                raise SettingError(f"{found.where} = {shown!r}: {_problem_text(exc, setting)}") from None
        return self.config_class(**values)


def _problem_text(exc: Exception, setting: Setting) -> str:
    text = str(exc)
    return "invalid value" if setting.secret else text


def _convert(value: Any, hint: Any) -> Any:
    """`value` converted to the field type `hint` (bool, int, float, str, or an Optional of one)."""
    target = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        target = args[0] if len(args) == 1 else None
    if target is bool:
        return parse_bool(value)
    if target is int:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    if target is float:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if target is str:
        if isinstance(value, (dict, list, tuple, set)):
            raise ValueError(f"a {type(value).__name__} is not text")
        return value if isinstance(value, str) else str(value)
    return value


@dataclass(frozen=True)
class RegisteredProvider:
    """A registration and where it came from (its entry point and distribution)."""

    registration: ProviderRegistration
    entry_point: str
    distribution: str | None = None

    @property
    def name(self) -> str:
        return self.registration.name


@dataclass(frozen=True)
class RegistryProblem:
    """An entry point that could not be used: `name` is the key in `disabled_providers`."""

    name: str
    entry_point: str
    reason: str


@dataclass(frozen=True)
class Registry:
    """The providers found, in order, and the entry points that failed."""

    providers: tuple[RegisteredProvider, ...]
    problems: tuple[RegistryProblem, ...] = ()

    def registrations(self) -> list[ProviderRegistration]:
        return [p.registration for p in self.providers]

    def get(self, name: str) -> RegisteredProvider | None:
        """The provider registered as `name` (its name or table, any case), or None."""
        wanted = name.lower()
        for provider in self.providers:
            if wanted in (provider.name.lower(), provider.registration.table):
                return provider
        return None

    def for_config(self, config: ProviderConfig) -> ProviderRegistration | None:
        """The registration whose config class is `config`'s (exact class first, then the nearest base)."""
        candidates = [r for r in self.registrations() if isinstance(config, r.config_class)]
        if not candidates:
            return None
        mro = type(config).__mro__
        return min(candidates, key=lambda r: mro.index(r.config_class))

    def read_configs(
        self, sources: SettingsSources
    ) -> tuple[list[tuple[ProviderRegistration, ProviderConfig]], dict[str, str]]:
        """Every provider's config from `sources`, and the providers that cannot be configured."""
        configs: list[tuple[ProviderRegistration, ProviderConfig]] = []
        failed: dict[str, str] = {p.name: p.reason for p in self.problems}
        for provider in self.providers:
            registration = provider.registration
            try:
                configs.append((registration, registration.read_config(sources)))
            except Exception as exc:  # noqa: BLE001 - a bad configuration disables that provider only
                reason = f"configuration error: {redact(_exception_text(exc))}"
                failed[registration.name] = reason
                log.warning("%s: %s; disabled", registration.name, reason)
        return configs, failed


def _exception_text(exc: BaseException) -> str:
    if isinstance(exc, SettingError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _as_registration(value: Any) -> ProviderRegistration:
    if isinstance(value, ProviderRegistration):
        return value
    if isinstance(value, type) and issubclass(value, BaseTelemetryProvider):
        return ProviderRegistration(provider_class=value)
    if callable(value) and not isinstance(value, type):
        produced = value()
        if isinstance(produced, ProviderRegistration):
            return produced
        raise TypeError(f"it returned a {type(produced).__name__}, not a ProviderRegistration")
    raise TypeError(f"it is a {type(value).__name__}, not a ProviderRegistration")


def builtin_registrations() -> tuple[ProviderRegistration, ...]:
    """The built-in providers' registrations (also declared as entry points in pyproject.toml)."""
    from .mixpanel_provider import REGISTRATION as MIXPANEL
    from .rudderstack_provider import RUDDERSTACK_REGISTRATION, SEGMENT_REGISTRATION

    return (
        GA4_REGISTRATION,
        AMPLITUDE_REGISTRATION,
        MIXPANEL,
        RUDDERSTACK_REGISTRATION,
        SEGMENT_REGISTRATION,
    )


BUILTIN_ENTRY_POINTS = ("ga4", "amplitude", "mixpanel", "rudderstack", "segment")


def _entry_points(group: str) -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=group))


_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[Any, ...], Registry]] = {}


def _installation_state() -> tuple[Any, ...]:
    """sys.path and the modification times of its directories: an install anywhere changes it."""
    state: list[Any] = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, None))
    return tuple(state)


def discover(group: str = ENTRY_POINT_GROUP, *, refresh: bool = False) -> Registry:
    """Every provider registered in the entry-point group `group`; never raises.

    The result is kept until `sys.path` or one of its directories changes (a package installed
    or removed), or `refresh` is true. When this package's own entry points are missing (it runs
    without being installed), the built-in registrations are added directly.
    """
    state = _installation_state()
    with _cache_lock:
        cached = _cache.get(group)
        if cached is not None and cached[0] == state and not refresh:
            return cached[1]
    registry = _load(group)
    with _cache_lock:
        _cache[group] = (state, registry)
    return registry


def _load(group: str) -> Registry:
    found: list[RegisteredProvider] = []
    problems: list[RegistryProblem] = []
    names: dict[str, str] = {}
    try:
        entries = _entry_points(group)
    except Exception as exc:  # noqa: BLE001 - broken metadata must not break the app
        log.warning("provider entry points cannot be listed (%s)", type(exc).__name__)
        entries = []
    seen_points: set[str] = set()
    for entry in sorted(entries, key=lambda e: (e.name, e.value)):
        label = f"{entry.name} = {entry.value}"
        seen_points.add(entry.name)
        dist = getattr(entry, "dist", None)
        distribution = f"{dist.name} {dist.version}" if dist is not None else None
        try:
            registration = _as_registration(entry.load())
        except Exception as exc:  # noqa: BLE001 - a broken third-party provider is reported and skipped
            reason = f"entry point {label} failed to load: {redact(_exception_text(exc))}"
            problems.append(RegistryProblem(entry.name, label, reason))
            log.warning("%s; skipped", reason)
            continue
        key = registration.name.lower()
        if key in names:
            if names[key] == label:
                continue
            reason = (
                f"entry point {label}: the name {registration.name!r} is already registered by {names[key]}"
            )
            problems.append(RegistryProblem(f"{entry.name} (duplicate)", label, reason))
            log.warning("%s; skipped", reason)
            continue
        names[key] = label
        found.append(RegisteredProvider(registration, label, distribution))
    for point, registration in zip(BUILTIN_ENTRY_POINTS, builtin_registrations(), strict=True):
        if point not in seen_points and registration.name.lower() not in names:
            log.debug("%s: no entry point installed; using the built-in registration", registration.name)
            names[registration.name.lower()] = "built-in"
            found.append(RegisteredProvider(registration, "built-in (no entry point installed)", None))
    found.sort(key=lambda p: (p.registration.order, p.name.lower()))
    return Registry(tuple(found), tuple(problems))


# -- probing: endpoints and validation round trips ---------------------------------------------------


def probe_context() -> TelemetryContext:
    """A context for building requests outside a manager: random client_id, no database touched."""
    return TelemetryContext(None, analytics_enabled=True, runtime="cli")


def probe_provider(registration: ProviderRegistration, config: ProviderConfig) -> BaseTelemetryProvider:
    """An instance of the provider for describing requests (nothing is queued or sent)."""
    return registration.provider_class(config, probe_context())


def probe_event(kind: str = EVENT, name: str = CHECK_EVENT_NAME) -> Event:
    return Event(kind, name, {"check": 1}, time.time(), 1, uuid.uuid4().hex[:16])


def request_for(provider: BaseTelemetryProvider, event: Event, route: str = "default") -> HttpRequest:
    """The request `provider` would send for one event on `route`."""
    mapped = provider.map_event(event)
    encoded = json.dumps(mapped, separators=(",", ":"), ensure_ascii=False).encode()
    return (
        provider.build_request([encoded], route) if route != "default" else provider.build_request([encoded])
    )


def endpoints_of(registration: ProviderRegistration, config: ProviderConfig) -> list[str]:
    """The URLs this provider would send to (query strings removed, secrets masked)."""
    provider = probe_provider(registration, config)
    urls: list[str] = []
    for route in registration.routes:
        request = request_for(provider, probe_event(), route)
        parts = urlsplit(request.url)
        url = redact(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))
        if url not in urls:
            urls.append(url)
    return urls


def _json_detail(response: HttpResponse, limit: int = 160) -> str:
    text = response.body.decode("utf-8", "replace").strip()
    return redact(text[:limit]) or "(empty body)"


# -- GA4 ----------------------------------------------------------------------------------------------


def _ga4_check_request(config: ProviderConfig) -> HttpRequest:
    assert isinstance(config, GA4Config)
    provider = GA4TelemetryProvider(dataclasses.replace(config, validation_mode=True), probe_context())
    return request_for(provider, probe_event())


def _ga4_check_verdict(response: HttpResponse) -> CheckVerdict:
    if response.status != 200:
        return CheckVerdict(False, f"the validation endpoint answered: {_json_detail(response)}")
    body = response.json()
    messages = body.get("validationMessages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return CheckVerdict(False, f"unexpected answer: {_json_detail(response)}")
    if messages:
        first = messages[0] if isinstance(messages[0], dict) else {}
        return CheckVerdict(
            False,
            f"{len(messages)} validation message(s): {first.get('validationCode')} "
            f"{first.get('description', '')}".strip(),
        )
    return CheckVerdict(True, "payload valid (the debug endpoint does not check the API secret)")


GA4_REGISTRATION = ProviderRegistration(
    provider_class=GA4TelemetryProvider,
    table="ga4",
    settings=(
        Setting("measurement_id", ("GA_MEASUREMENT_ID",)),
        Setting("api_secret", ("GA_API_SECRET",), secret=True),
        Setting("app_base_url", ("APP_BASE_URL",), shared_key="app_base_url"),
        Setting("region", ("GA_REGION",), transform=lambda v: str(v).lower()),
        Setting("validation_mode", ("GA_VALIDATION_MODE",)),
        Setting("ga360", ()),
        Setting("endpoint", ("GA_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint"),
    ),
    contract_spec="contract_tests.builtin:GA4_SPEC",
    check=ValidationCheck(_ga4_check_request, _ga4_check_verdict, "POST /debug/mp/collect (never recorded)"),
    order=10,
)


# -- Amplitude ----------------------------------------------------------------------------------------


def _amplitude_check_request(config: ProviderConfig) -> HttpRequest:
    region = getattr(config, "region", "us")
    base = config.endpoint or (AMPLITUDE_EU_ENDPOINT if region == "eu" else AMPLITUDE_ENDPOINT)
    key = quote(str(getattr(config, "api_key", "") or ""), safe="")
    # An empty identification: the key is checked, nothing is recorded.
    return HttpRequest(
        base.rstrip("/") + "/identify",
        f"api_key={key}&identification=".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )


def _amplitude_check_verdict(response: HttpResponse) -> CheckVerdict:
    body = response.json()
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    if response.status == 400 and error.startswith("Invalid API key"):
        return CheckVerdict(False, "Amplitude rejected the API key")
    if response.status in (200, 400):
        return CheckVerdict(True, "API key accepted (an empty identification; nothing recorded)")
    return CheckVerdict(False, f"unexpected answer: {_json_detail(response)}")


AMPLITUDE_REGISTRATION = ProviderRegistration(
    provider_class=AmplitudeTelemetryProvider,
    table="amplitude",
    settings=(
        Setting("api_key", ("AMPLITUDE_API_KEY",), secret=True),
        Setting("region", ("AMPLITUDE_REGION",), transform=lambda v: str(v).lower()),
        Setting("use_batch", ("AMPLITUDE_USE_BATCH",)),
        Setting("endpoint", ("AMPLITUDE_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint"),
    ),
    contract_spec="contract_tests.builtin:AMPLITUDE_SPEC",
    check=ValidationCheck(
        _amplitude_check_request, _amplitude_check_verdict, "POST /identify, empty (never recorded)"
    ),
    order=20,
)
