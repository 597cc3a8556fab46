"""Multi-provider usage telemetry that never blocks, never breaks the app and never leaks.

    from telemetry import TelemetryManager
    telemetry = TelemetryManager.from_settings(settings, "SVdata/database.sqlite")
    telemetry.track_page_view("/event-search", "Event Search")

Public names are imported on first use, so `import telemetry` costs almost nothing and loads no
provider, no HTTP library and no vendor SDK until the application asks for one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .amplitude_provider import AmplitudeConfig, AmplitudeTelemetryProvider
    from .base_telemetry import BaseTelemetryProvider, ProviderConfig
    from .config_files import Setting, SettingsSources, load_analytics_settings
    from .consent import Consent
    from .context import TelemetryContext
    from .delivery.options import DeliveryOptions
    from .delivery.types import BatchLimits, HttpRequest, HttpResponse, Outcome
    from .events import Event
    from .ga4_provider import GA4Config, GA4TelemetryProvider
    from .mixpanel_provider import MixpanelConfig, MixpanelTelemetryProvider
    from .pii import PiiPolicy
    from .policy import EventPolicy, InvalidEventError
    from .registry import CheckVerdict, ProviderRegistration, ValidationCheck
    from .rudderstack_provider import (
        RudderStackConfig,
        RudderStackTelemetryProvider,
        SegmentConfig,
        SegmentTelemetryProvider,
    )
    from .schema import EventSchema, Param
    from .settings import AnalyticsSettings
    from .telemetry_manager import TelemetryClient, TelemetryManager, init_telemetry

_WHERE = {
    "PiiPolicy": "pii",
    "Param": "schema",
    "EventSchema": "schema",
    "InvalidEventError": "policy",
    "EventPolicy": "policy",
    "Consent": "consent",
    "AmplitudeConfig": "amplitude_provider",
    "AmplitudeTelemetryProvider": "amplitude_provider",
    "AnalyticsSettings": "settings",
    "BaseTelemetryProvider": "base_telemetry",
    "BatchLimits": "delivery.types",
    "CheckVerdict": "registry",
    "DeliveryOptions": "delivery.options",
    "Event": "events",
    "GA4Config": "ga4_provider",
    "GA4TelemetryProvider": "ga4_provider",
    "HttpRequest": "delivery.types",
    "HttpResponse": "delivery.types",
    "MixpanelConfig": "mixpanel_provider",
    "MixpanelTelemetryProvider": "mixpanel_provider",
    "Outcome": "delivery.types",
    "ProviderConfig": "base_telemetry",
    "ProviderRegistration": "registry",
    "RudderStackConfig": "rudderstack_provider",
    "RudderStackTelemetryProvider": "rudderstack_provider",
    "SegmentConfig": "rudderstack_provider",
    "SegmentTelemetryProvider": "rudderstack_provider",
    "Setting": "config_files",
    "SettingsSources": "config_files",
    "TelemetryClient": "telemetry_manager",
    "TelemetryContext": "context",
    "TelemetryManager": "telemetry_manager",
    "ValidationCheck": "registry",
    "__version__": "_version",
    "init_telemetry": "telemetry_manager",
    "load_analytics_settings": "config_files",
}

__all__ = [
    "AmplitudeConfig",
    "AmplitudeTelemetryProvider",
    "AnalyticsSettings",
    "BaseTelemetryProvider",
    "BatchLimits",
    "CheckVerdict",
    "Consent",
    "DeliveryOptions",
    "Event",
    "EventPolicy",
    "EventSchema",
    "GA4Config",
    "GA4TelemetryProvider",
    "HttpRequest",
    "HttpResponse",
    "InvalidEventError",
    "MixpanelConfig",
    "MixpanelTelemetryProvider",
    "Outcome",
    "Param",
    "PiiPolicy",
    "ProviderConfig",
    "ProviderRegistration",
    "RudderStackConfig",
    "RudderStackTelemetryProvider",
    "SegmentConfig",
    "SegmentTelemetryProvider",
    "Setting",
    "SettingsSources",
    "TelemetryClient",
    "TelemetryContext",
    "TelemetryManager",
    "ValidationCheck",
    "__version__",
    "init_telemetry",
    "load_analytics_settings",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'telemetry' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
