"""Certification specs of the built-in providers (GA4, Amplitude)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakes.amplitude import AmplitudeFake
from fakes.ga4 import GA4Fake
from telemetry.amplitude_provider import AmplitudeConfig, AmplitudeTelemetryProvider
from telemetry.ga4_provider import GA4Config, GA4TelemetryProvider

from .spec import ProviderSpec

if TYPE_CHECKING:
    from telemetry.context import TelemetryContext

GA4_SECRET = "GA4-SECRET-contract-never-logged-1"
AMPLITUDE_KEY = "AMP-KEY-contract-never-logged-2"


def _ga4_config(base_url: str) -> GA4Config:
    return GA4Config(measurement_id="G-CONTRACT1", api_secret=GA4_SECRET, endpoint=base_url)


def _ga4_session(context: TelemetryContext) -> int:
    return context.session.number


def _amplitude_config(base_url: str) -> AmplitudeConfig:
    return AmplitudeConfig(api_key=AMPLITUDE_KEY, endpoint=base_url)


def _amplitude_session(context: TelemetryContext) -> int:
    return context.session.start_ms


GA4_SPEC = ProviderSpec(
    name="GA4",
    provider_class=GA4TelemetryProvider,
    make_config=_ga4_config,
    make_fake=GA4Fake,
    capabilities=frozenset({"page_views", "custom_events", "user_properties", "payload_validation"}),
    session_of=_ga4_session,
    import_path="contract_tests.builtin:GA4_SPEC",
)

AMPLITUDE_SPEC = ProviderSpec(
    name="Amplitude",
    provider_class=AmplitudeTelemetryProvider,
    make_config=_amplitude_config,
    make_fake=AmplitudeFake,
    capabilities=frozenset(
        {"page_views", "custom_events", "user_properties", "dedup_ids", "payload_validation"}
    ),
    session_of=_amplitude_session,
    import_path="contract_tests.builtin:AMPLITUDE_SPEC",
)


def builtin_specs() -> list[ProviderSpec]:
    """Every provider this repository certifies by default."""
    from .reference import reference_spec

    return [GA4_SPEC, AMPLITUDE_SPEC, reference_spec()]
