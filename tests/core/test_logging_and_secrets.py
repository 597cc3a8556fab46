"""Logging: silent unless asked, a readable trace when asked, the root logger untouched, no secret ever."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from fakes.amplitude import AmplitudeFake
from telemetry import (
    AmplitudeTelemetryProvider,
    GA4TelemetryProvider,
    TelemetryManager,
)
from telemetry.events import Event

from ._support import (
    AMP_KEY,
    FAST,
    GA_SECRET,
    MEASUREMENT_ID,
    amplitude_config,
    capture_telemetry_logs,
    clean_environ,
    ga4_config,
    refused_endpoint,
    run_python,
)
from .conftest import MakeManager

TRACKING_SCRIPT = """
    import sys
    from telemetry import AnalyticsSettings, DeliveryOptions, TelemetryManager
    options = DeliveryOptions(flush_interval=0.05, max_retries=2, backoff_base=0.01, backoff_max=0.02)
    manager = TelemetryManager.from_settings(AnalyticsSettings(), sys.argv[1], delivery=options)
    manager.track_page_view("/event-search", "Event Search")
    manager.track_event("workflow_started", {"workflow_type": "event_based"})
    manager.track_event("session_start")  # reserved by GA4: dropped with a warning
    manager.set_user_properties({"plan": "pro"})
    manager.flush(timeout=5.0)
    manager.shutdown()
"""


def environ_for(endpoint: str, **extra: str) -> dict[str, str]:
    return clean_environ(
        GA_MEASUREMENT_ID=MEASUREMENT_ID,
        GA_API_SECRET=GA_SECRET,
        AMPLITUDE_API_KEY=AMP_KEY,
        TELEMETRY_ENDPOINT=endpoint,
        **extra,
    )


def secret_forms(*secrets: str) -> list[str]:
    """Each secret as given and as it appears percent-encoded in a URL."""
    return sorted({form for s in secrets for form in (s, quote(s, safe=""), quote(s))})


def assert_no_secret(text: str, secrets: tuple[str, ...] = (GA_SECRET, AMP_KEY)) -> None:
    for form in secret_forms(*secrets):
        assert form not in text


class TestSilentByDefault:
    def test_a_failing_run_prints_nothing_on_stdout_or_stderr(self, tmp_path: Path) -> None:
        unusable = tmp_path / "a-file"
        unusable.write_text("blocks the database directory")
        done = run_python(TRACKING_SCRIPT, str(unusable / "db.sqlite"), env=environ_for(refused_endpoint()))

        assert done.returncode == 0
        assert (done.stdout, done.stderr) == ("", "")

    def test_building_and_using_a_manager_adds_no_handler_to_the_root_logger(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level

        manager = make_manager()
        manager.track_event("hello")
        assert manager.flush()
        manager.shutdown()

        assert (root.handlers, root.level) == (handlers, level)


class TestDebugTrace:
    @pytest.fixture
    def traced(self, fake_server: Any, tmp_path: Path) -> Any:
        return run_python(
            TRACKING_SCRIPT,
            str(tmp_path / "db.sqlite"),
            env=environ_for(fake_server.base_url, DEBUG_TELEMETRY="1"),
        )

    def test_debug_telemetry_prints_initialisation_and_responses_on_stderr(self, traced: Any) -> None:
        assert traced.returncode == 0, traced.stderr
        assert traced.stdout == ""
        lines = traced.stderr.splitlines()
        assert lines
        assert all(line.startswith("[telemetry] ") for line in lines)
        assert any("initialised" in line and "GA4" in line and "Amplitude" in line for line in lines)
        assert any("GA4" in line and "HTTP 204" in line for line in lines)
        assert any("Amplitude" in line and "HTTP 200" in line for line in lines)
        assert any("session_start" in line and "reserved" in line for line in lines)

    def test_debug_telemetry_trace_names_the_events_it_tracks(self, traced: Any) -> None:
        assert traced.returncode == 0, traced.stderr
        assert "workflow_started" in traced.stderr
        assert "/event-search" in traced.stderr

    def test_debug_telemetry_trace_shows_no_secret(self, traced: Any) -> None:
        assert traced.returncode == 0, traced.stderr
        assert_no_secret(traced.stderr)

    def test_debug_telemetry_never_configures_the_root_logger(self, fake_server: Any, tmp_path: Path) -> None:
        code = (
            TRACKING_SCRIPT
            + """
    import logging
    root = logging.getLogger()
    print(len(root.handlers), logging.getLevelName(root.level))
"""
        )
        done = run_python(
            code, str(tmp_path / "db.sqlite"), env=environ_for(fake_server.base_url, DEBUG_TELEMETRY="1")
        )

        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["0", "WARNING"]
        assert "[telemetry]" in done.stderr


class Leaky(GA4TelemetryProvider):
    """A provider bug whose exception text carries the secret."""

    def map_event(self, event: Event) -> dict[str, Any] | None:
        if event.name == "leak":
            raise RuntimeError(f"cannot map with secret {self.config.api_secret}")  # type: ignore[attr-defined]
        return super().map_event(event)


class TestNoSecretAnywhere:
    @pytest.mark.parametrize(
        ("ga_secret", "amp_key"),
        [
            pytest.param(GA_SECRET, AMP_KEY, id="plain-secrets"),
            pytest.param(
                "GA/SECRET+do-not-log=789", "AMP KEY/do-not-log+0", id="secrets-that-need-url-quoting"
            ),
        ],
    )
    def test_no_secret_in_any_debug_record_stats_or_repr_during_a_run_full_of_failures(
        self,
        make_manager: MakeManager,
        fake_server: Any,
        fake_server_factory: Any,
        ga_secret: str,
        amp_key: str,
    ) -> None:
        strict = fake_server_factory([AmplitudeFake(valid_api_keys=["not-the-one-we-send"])])
        fake_server.faults.add("status", route="/mp/collect", count=2, status=500, body=b"oops")
        fake_server.faults.add("close", route="/mp/collect", count=1)
        with capture_telemetry_logs(logging.DEBUG) as logs:
            managers = [
                make_manager(  # refused port: the exception text holds the URL with api_secret
                    providers=[
                        (GA4TelemetryProvider, ga4_config(refused_endpoint(), api_secret=ga_secret)),
                        (AmplitudeTelemetryProvider, amplitude_config(strict.base_url, api_key=amp_key)),
                    ]
                ),
                make_manager(  # 500s, a reset connection, a provider bug, validation messages
                    providers=[
                        (Leaky, ga4_config(fake_server.base_url, api_secret=ga_secret)),
                        (AmplitudeTelemetryProvider, amplitude_config(fake_server.base_url, api_key=amp_key)),
                    ]
                ),
                make_manager(
                    providers=[
                        (
                            GA4TelemetryProvider,
                            ga4_config(fake_server.base_url, api_secret=ga_secret, validation_mode=True),
                        )
                    ]
                ),
            ]
            for manager in managers:
                manager.track_page_view("/p", "P")
                manager.track_event("leak", {"secretive": True})
                manager.track_event("ordinary", {"i": 1})
                manager.flush(timeout=5.0)
            exposed = [repr(m) for m in managers] + [str(m) for m in managers]
            for manager in managers:
                exposed += [repr(p) for p in manager.providers] + [str(p) for p in manager.providers]
                exposed += [repr(p.config) for p in manager.providers] + [
                    str(p.config) for p in manager.providers
                ]
                exposed += [repr(manager.context), repr(manager.stats()), repr(manager.disabled_providers)]
                manager.shutdown(timeout=1.0)

        secrets = (ga_secret, amp_key)
        assert len(logs.records) > 10
        assert any("Connection refused" in line or "connect" in line for line in logs.lines)
        for line in logs.lines:
            assert_no_secret(line, secrets)
        for record in logs.records:
            assert_no_secret(record.getMessage(), secrets)
        for text in exposed:
            assert_no_secret(text, secrets)

    def test_configs_never_show_their_secret(self) -> None:
        for config in (ga4_config(None), amplitude_config(None)):
            assert_no_secret(repr(config))
            assert_no_secret(str(config))

    def test_last_error_of_a_refused_connection_shows_no_secret(self, db_path: Path) -> None:
        manager = TelemetryManager.from_configs(
            db_path, True, ga4_config=ga4_config(refused_endpoint()), environ={}, delivery=FAST
        )
        try:
            manager.track_event("refused")
            manager.flush(timeout=5.0)
            stats = manager.stats()["GA4"]
        finally:
            manager.shutdown(timeout=0.5)

        assert stats["sent"] == 0
        assert stats["last_error"]
        assert_no_secret(repr(stats))

    def test_last_error_of_a_retried_answer_that_echoes_the_api_key_shows_no_secret(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        echo = json.dumps({"code": 429, "error": f"Too many requests for api_key {AMP_KEY}"})
        fake_server.faults.add(
            "status", route="/2/httpapi", count=1, status=429, body=echo, content_type="application/json"
        )
        with capture_telemetry_logs(logging.DEBUG) as logs:
            manager = make_manager(ga4=False)
            manager.track_event("throttled_once")
            assert manager.flush(timeout=5.0)

        assert [e.name for e in fake_server.events()] == ["throttled_once"]
        stats = manager.stats()["Amplitude"]
        assert stats["retried"] == 1
        assert_no_secret(repr(stats))
        assert_no_secret(logs.text)
