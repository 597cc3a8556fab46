"""The example app's settings: an `AnalyticsSettings` kept in a small JSON file.

Paths come from the environment so that tests and `make demo-streamlit` use their own files:
TELEMETRY_EXAMPLE_SETTINGS (the JSON file) and TELEMETRY_EXAMPLE_DB (the client_id database).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from telemetry import AnalyticsSettings

_HOME = Path(tempfile.gettempdir()) / "telemetry-streamlit-example"


def settings_path() -> Path:
    return Path(os.environ.get("TELEMETRY_EXAMPLE_SETTINGS") or _HOME / "settings.json")


def db_path() -> Path:
    return Path(os.environ.get("TELEMETRY_EXAMPLE_DB") or _HOME / "analytics.sqlite")


def load_settings() -> AnalyticsSettings:
    """The saved settings, or the defaults (analytics on, consent not asked yet)."""
    try:
        saved = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return AnalyticsSettings()
    return AnalyticsSettings(
        analytics_enabled=bool(saved.get("analytics_enabled", True)),
        analytics_popup_dismissed=bool(saved.get("analytics_popup_dismissed", False)),
    )


def save_settings(settings: AnalyticsSettings) -> None:
    """Persist the consent answer (the integration calls this from the banner and the toggle)."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
