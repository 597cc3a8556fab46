"""The default set of vendor fakes a server hosts when none are given."""

from __future__ import annotations

from fakes._model import VendorFake


def default_vendors() -> list[VendorFake]:
    """Fresh fakes for every vendor: GA4, Amplitude and Mixpanel, with default settings."""
    from fakes.amplitude import AmplitudeFake
    from fakes.ga4 import GA4Fake
    from fakes.mixpanel import MixpanelFake

    return [GA4Fake(), AmplitudeFake(), MixpanelFake()]
