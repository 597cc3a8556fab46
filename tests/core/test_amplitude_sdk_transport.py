"""The opt-in SDK transport: the official amplitude-analytics SDK delivers what the engine hands it."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from telemetry import AmplitudeConfig, DeliveryOptions, TelemetryManager

KEY = "AMP-KEY-sdk-transport-never-logged"
FAST = DeliveryOptions(flush_interval=0.05, request_timeout=1.0, exit_grace=1.0)


def _manager(base_url: str, db: Path) -> TelemetryManager:
    config = AmplitudeConfig(api_key=KEY, endpoint=base_url, transport="sdk")
    return TelemetryManager.from_configs(db, True, configs=[config], environ={}, delivery=FAST)


class TestSdkTransport:
    def test_events_page_views_and_identify_reach_amplitude_through_the_sdk(
        self, fake_server: Any, tmp_path: Path
    ) -> None:
        manager = _manager(fake_server.base_url, tmp_path / "t.sqlite")
        try:
            manager.set_user_properties({"plan": "research"})
            manager.track_page_view("/event-search", "Event Search")
            manager.track_event("workflow_started", {"workflow_type": "event_based"})
            assert manager.flush(10.0)
            received = fake_server.wait_for(3, vendor="amplitude")
        finally:
            manager.shutdown(1.0)
        kinds = sorted(e.kind for e in received)
        assert kinds == ["event", "page_view", "user_properties"]
        page = next(e for e in received if e.kind == "page_view")
        assert page.name == "Page Viewed"
        assert page.session_id == manager.context.session.start_ms
        assert page.client_id == manager.get_client_id()
        assert "amplitude-python" in str(page.raw.get("library"))

    def test_sdk_failures_reach_our_logging_through_its_callback(
        self, fake_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        fake_server.faults.add(
            "status",
            status=400,
            body=b'{"code":400,"error":"Invalid field values","events_with_invalid_fields":{"time":[0]}}',
        )
        manager = _manager(fake_server.base_url, tmp_path / "t.sqlite")
        with caplog.at_level(logging.WARNING, logger="telemetry"):
            manager.track_event("doomed_event")
            manager.flush(10.0)
            manager.shutdown(1.0)
        messages = [r.getMessage() for r in caplog.records if r.name.startswith("telemetry.amplitude.sdk")]
        assert any("could not deliver 'doomed_event'" in m for m in messages), messages
        assert all(KEY not in m for m in messages)

    def test_a_missing_sdk_disables_the_provider_with_the_reason(self, tmp_path: Path) -> None:
        code = f"""
            import sys
            sys.modules["amplitude"] = None  # as if amplitude-analytics were not installed
            from telemetry import AmplitudeConfig, TelemetryManager
            manager = TelemetryManager.from_configs(
                {str(tmp_path / "t.sqlite")!r}, True,
                configs=[AmplitudeConfig(api_key="k-12345", transport="sdk")], environ={{}})
            manager.track_event("x")
            print(manager.enabled_providers, manager.disabled_providers["Amplitude"])
        """
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("[] ")
        assert "amplitude-analytics SDK is not installed" in done.stdout
