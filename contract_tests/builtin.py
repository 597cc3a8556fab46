"""Certification specs of the built-in providers (GA4, Amplitude, Mixpanel, RudderStack, Segment)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fakes.amplitude import AmplitudeFake
from fakes.ga4 import GA4Fake
from fakes.mixpanel import MixpanelFake
from fakes.segment import SegmentFake
from telemetry.amplitude_provider import AmplitudeConfig, AmplitudeTelemetryProvider
from telemetry.ga4_provider import GA4Config, GA4TelemetryProvider
from telemetry.mixpanel_provider import MixpanelConfig, MixpanelTelemetryProvider
from telemetry.rudderstack_provider import (
    RudderStackConfig,
    RudderStackTelemetryProvider,
    SegmentConfig,
    SegmentTelemetryProvider,
)

from .spec import ProviderSpec

if TYPE_CHECKING:
    from telemetry.context import TelemetryContext

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
"""The recorded cassettes of the built-in providers (`make cassettes`), in the source checkout."""

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
    capabilities=frozenset(
        {"page_views", "custom_events", "user_properties", "payload_validation", "cassettes"}
    ),
    session_of=_ga4_session,
    import_path="contract_tests.builtin:GA4_SPEC",
    cassette_dir=str(CASSETTES / "ga4"),
)

AMPLITUDE_SPEC = ProviderSpec(
    name="Amplitude",
    provider_class=AmplitudeTelemetryProvider,
    make_config=_amplitude_config,
    make_fake=AmplitudeFake,
    capabilities=frozenset(
        {"page_views", "custom_events", "user_properties", "dedup_ids", "payload_validation", "cassettes"}
    ),
    session_of=_amplitude_session,
    import_path="contract_tests.builtin:AMPLITUDE_SPEC",
    cassette_dir=str(CASSETTES / "amplitude"),
)


MIXPANEL_TOKEN = "MIX-TOKEN-contract-never-logged-3"
RUDDERSTACK_KEY = "RUDDER-WRITE-KEY-contract-never-logged-4"
SEGMENT_KEY = "SEGMENT-WRITE-KEY-contract-never-logged-5"


def _mixpanel_config(base_url: str) -> MixpanelConfig:
    return MixpanelConfig(project_token=MIXPANEL_TOKEN, endpoint=base_url)


def _mixpanel_fake() -> MixpanelFake:
    return MixpanelFake(project_tokens=[MIXPANEL_TOKEN])


def _rudderstack_config(base_url: str) -> RudderStackConfig:
    return RudderStackConfig(write_key=RUDDERSTACK_KEY, data_plane_url=base_url)


def _rudderstack_fake() -> SegmentFake:
    return SegmentFake("rudderstack", write_keys=[RUDDERSTACK_KEY])


def _segment_config(base_url: str) -> SegmentConfig:
    return SegmentConfig(write_key=SEGMENT_KEY, endpoint=base_url)


def _segment_fake() -> SegmentFake:
    return SegmentFake("segment", write_keys=[SEGMENT_KEY])


_EVERY_KIND = frozenset({"page_views", "custom_events", "user_properties", "dedup_ids", "payload_validation"})

MIXPANEL_SPEC = ProviderSpec(
    name="Mixpanel",
    provider_class=MixpanelTelemetryProvider,
    make_config=_mixpanel_config,
    make_fake=_mixpanel_fake,
    capabilities=_EVERY_KIND | {"cassettes"},
    import_path="contract_tests.builtin:MIXPANEL_SPEC",
    cassette_dir=str(CASSETTES / "mixpanel"),
)

RUDDERSTACK_SPEC = ProviderSpec(
    name="RudderStack",
    provider_class=RudderStackTelemetryProvider,
    make_config=_rudderstack_config,
    make_fake=_rudderstack_fake,
    capabilities=_EVERY_KIND | {"cassettes"},
    import_path="contract_tests.builtin:RUDDERSTACK_SPEC",
    cassette_dir=str(CASSETTES / "rudderstack"),
)

SEGMENT_SPEC = ProviderSpec(
    name="Segment",
    provider_class=SegmentTelemetryProvider,
    make_config=_segment_config,
    make_fake=_segment_fake,
    capabilities=_EVERY_KIND | {"cassettes"},
    import_path="contract_tests.builtin:SEGMENT_SPEC",
    cassette_dir=str(CASSETTES / "segment"),
)


def builtin_specs() -> list[ProviderSpec]:
    """Every provider this repository certifies by default."""
    from .reference import reference_spec

    return [GA4_SPEC, AMPLITUDE_SPEC, MIXPANEL_SPEC, RUDDERSTACK_SPEC, SEGMENT_SPEC, reference_spec()]
