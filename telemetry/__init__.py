"""Multi-provider usage telemetry that never blocks, never breaks the app and never leaks.

from telemetry import TelemetryManager
telemetry = TelemetryManager.from_settings(settings, "SVdata/database.sqlite")
telemetry.track_page_view("/event-search", "Event Search")
"""

from __future__ import annotations

from ._version import __version__
from .amplitude_provider import AmplitudeConfig, AmplitudeTelemetryProvider
from .base_telemetry import BaseTelemetryProvider, ProviderConfig
from .context import TelemetryContext
from .delivery.options import DeliveryOptions
from .delivery.types import BatchLimits, HttpRequest, HttpResponse, Outcome
from .events import Event
from .ga4_provider import GA4Config, GA4TelemetryProvider
from .settings import AnalyticsSettings
from .telemetry_manager import TelemetryClient, TelemetryManager, init_telemetry

__all__ = [
    "AmplitudeConfig",
    "AmplitudeTelemetryProvider",
    "AnalyticsSettings",
    "BaseTelemetryProvider",
    "BatchLimits",
    "DeliveryOptions",
    "Event",
    "GA4Config",
    "GA4TelemetryProvider",
    "HttpRequest",
    "HttpResponse",
    "Outcome",
    "ProviderConfig",
    "TelemetryClient",
    "TelemetryContext",
    "TelemetryManager",
    "__version__",
    "init_telemetry",
]
