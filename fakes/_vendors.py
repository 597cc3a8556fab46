"""The default set of vendor fakes a server hosts when none are given."""

from __future__ import annotations

from fakes._model import VendorFake


def default_vendors() -> list[VendorFake]:
    """Fresh fakes for every vendor, with default settings: GA4, Amplitude, Mixpanel and the
    Segment-compatible API (as a RudderStack data plane) that RudderStack and Segment share."""
    from fakes.amplitude import AmplitudeFake
    from fakes.ga4 import GA4Fake
    from fakes.mixpanel import MixpanelFake
    from fakes.segment import SegmentFake

    return [GA4Fake(), AmplitudeFake(), MixpanelFake(), SegmentFake()]
