"""Application-side settings and the switches that turn telemetry off before anything runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPT_OUT_VARIABLES = ("DO_NOT_TRACK", "TELEMETRY_DISABLED")


@dataclass
class AnalyticsSettings:
    """The settings object the manager reads: any object with `analytics_enabled` works too."""

    analytics_enabled: bool = True
    analytics_popup_dismissed: bool = False
    app_version: str | None = None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def opt_out_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Which environment switch (DO_NOT_TRACK=1, TELEMETRY_DISABLED=1) turns telemetry off, if any."""
    env = os.environ if environ is None else environ
    for name in OPT_OUT_VARIABLES:
        if _truthy(env.get(name)):
            return f"{name} is set"
    return None


def analytics_enabled_in(settings: Any) -> bool:
    """The settings' master switch; a missing attribute means the user never agreed: off."""
    return bool(getattr(settings, "analytics_enabled", False))
