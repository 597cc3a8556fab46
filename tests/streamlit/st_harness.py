"""The example app under Streamlit's AppTest harness, and what the fakes received from it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from fakes import FakeServer, ReceivedEvent
from telemetry.integrations import streamlit as integration

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "streamlit_app" / "app.py"
VENDORS = ("ga4", "amplitude")


def telemetry_environment(fake: FakeServer, tmp_path: Path) -> dict[str, str]:
    """What the example app needs to send to the fakes, with its files under `tmp_path`."""
    return {
        "TELEMETRY_ENDPOINT": fake.base_url,
        "GA_MEASUREMENT_ID": "G-STREAMLIT",
        "GA_API_SECRET": "ga-secret-never-logged",
        "AMPLITUDE_API_KEY": "amplitude-key-never-logged",
        "TELEMETRY_EXAMPLE_SETTINGS": str(tmp_path / "settings.json"),
        "TELEMETRY_EXAMPLE_DB": str(tmp_path / "analytics.sqlite"),
    }


@dataclass
class ExampleApp:
    """The example app under AppTest, and what the fakes received from it."""

    fake: FakeServer
    settings_file: Path

    def start(self) -> AppTest:
        """The app's first run in a browser tab, on its default page."""
        return no_errors(AppTest.from_file(str(EXAMPLE_APP), default_timeout=30).run())

    @staticmethod
    def forget_browser_sessions() -> None:
        """AppTest gives every app the same Streamlit session id: forget it to play a new tab."""
        integration._registry.forget()

    def save_settings(self, **values: bool) -> None:
        self.settings_file.write_text(json.dumps(values), encoding="utf-8")

    def saved_settings(self) -> dict[str, Any]:
        return dict(json.loads(self.settings_file.read_text(encoding="utf-8")))

    def received(self, kind: str | None = None, vendor: str = "ga4") -> list[ReceivedEvent]:
        """Everything delivered so far (the process's manager is flushed first)."""
        assert integration.flush_telemetry(10.0)
        return self.fake.events(vendor, kind)

    def page_paths(self, vendor: str = "ga4") -> list[str]:
        return [str(e.params.get("page_path")) for e in self.received("page_view", vendor)]


def no_errors(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at
