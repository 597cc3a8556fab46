"""Every call of the design document keeps working, plus a clean lifecycle around it."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

import telemetry
from telemetry import (
    AmplitudeConfig,
    AnalyticsSettings,
    GA4Config,
    TelemetryClient,
    TelemetryManager,
    init_telemetry,
)

from ._support import AMP_KEY, FAST, GA_SECRET, MEASUREMENT_ID, capture_telemetry_logs
from .conftest import MakeManager


@pytest.fixture
def app_environment(monkeypatch: pytest.MonkeyPatch, fake_server: Any) -> None:
    """The variables a deployed app sets, aimed at the fake backends."""
    monkeypatch.setenv("GA_MEASUREMENT_ID", MEASUREMENT_ID)
    monkeypatch.setenv("GA_API_SECRET", GA_SECRET)
    monkeypatch.setenv("AMPLITUDE_API_KEY", AMP_KEY)
    monkeypatch.setenv("TELEMETRY_ENDPOINT", fake_server.base_url)


@pytest.fixture
def shut_down_after() -> Any:
    managers: list[TelemetryManager] = []
    yield managers.append
    for manager in managers:
        manager.shutdown(timeout=0.5)


def assert_delivers(manager: TelemetryManager, fake: Any) -> None:
    manager.track_page_view("/event-search", "Event Search")
    manager.track_event("workflow_started", {"workflow_type": "event_based", "download_type": "waveform"})
    assert manager.flush() is True
    assert {(e.vendor, e.kind, e.name) for e in fake.events()} == {
        ("ga4", "page_view", "page_view"),
        ("ga4", "event", "workflow_started"),
        ("amplitude", "page_view", "Page Viewed"),
        ("amplitude", "event", "workflow_started"),
    }
    assert {e.client_id for e in fake.events()} == {manager.get_client_id()}


@pytest.mark.usefixtures("app_environment")
class TestDesignDocumentExamples:
    def test_basic_usage_from_settings(self, fake_server: Any, db_path: Path, shut_down_after: Any) -> None:
        settings = AnalyticsSettings()
        telemetry_manager = TelemetryManager.from_settings(settings, str(db_path))
        shut_down_after(telemetry_manager)

        assert telemetry_manager.enabled_providers == ["GA4", "Amplitude"]
        assert telemetry_manager.is_enabled is True
        uuid.UUID(telemetry_manager.get_client_id())
        uuid.UUID(telemetry_manager.get_session_id())
        assert_delivers(telemetry_manager, fake_server)

    def test_custom_provider_configuration_with_from_configs(
        self, fake_server: Any, db_path: Path, shut_down_after: Any
    ) -> None:
        manager = TelemetryManager.from_configs(
            db_path=str(db_path),
            analytics_enabled=True,
            ga4_config=GA4Config(
                enabled=True,
                measurement_id=MEASUREMENT_ID,
                api_secret=GA_SECRET,
                endpoint=fake_server.base_url,
            ),
            amplitude_config=AmplitudeConfig(enabled=True, api_key=AMP_KEY, endpoint=fake_server.base_url),
        )
        shut_down_after(manager)

        assert manager.enabled_providers == ["GA4", "Amplitude"]
        assert_delivers(manager, fake_server)

    def test_old_style_telemetry_client_returns_a_working_manager(
        self, fake_server: Any, db_path: Path, shut_down_after: Any
    ) -> None:
        client = TelemetryClient(AnalyticsSettings(), str(db_path))
        shut_down_after(client)

        assert isinstance(client, TelemetryManager)
        assert client.enabled_providers == ["GA4", "Amplitude"]
        assert_delivers(client, fake_server)

    def test_init_telemetry_helper_returns_a_working_manager(
        self, fake_server: Any, db_path: Path, shut_down_after: Any
    ) -> None:
        manager = init_telemetry(AnalyticsSettings(), str(db_path))
        shut_down_after(manager)
        assert_delivers(manager, fake_server)

    def test_client_id_persists_across_runs_on_the_same_database(
        self, db_path: Path, shut_down_after: Any
    ) -> None:
        first = TelemetryManager.from_settings(AnalyticsSettings(), str(db_path))
        second = TelemetryManager.from_settings(AnalyticsSettings(), str(db_path))
        shut_down_after(first)
        shut_down_after(second)

        assert first.get_client_id() == second.get_client_id()
        assert first.get_session_id() != second.get_session_id()

    def test_configs_report_validity_and_provider_names(self) -> None:
        assert GA4Config(enabled=True, measurement_id="G-X", api_secret="s").is_valid()
        assert not GA4Config(enabled=True, measurement_id="G-X").is_valid()
        assert not GA4Config(enabled=False, measurement_id="G-X", api_secret="s").is_valid()
        assert AmplitudeConfig(enabled=True, api_key="k").is_valid()
        assert not AmplitudeConfig(enabled=True).is_valid()
        assert GA4Config(enabled=True).provider_name == "GA4"
        assert AmplitudeConfig(enabled=True).provider_name == "Amplitude"

    def test_the_documented_import_paths_exist(self) -> None:
        from telemetry.base_telemetry import AmplitudeConfig as BaseAmplitudeConfig
        from telemetry.base_telemetry import BaseTelemetryProvider, TelemetryContext
        from telemetry.base_telemetry import GA4Config as BaseGA4Config

        assert BaseGA4Config is GA4Config
        assert BaseAmplitudeConfig is AmplitudeConfig
        assert BaseTelemetryProvider is telemetry.BaseTelemetryProvider
        assert TelemetryContext is telemetry.TelemetryContext
        assert sorted(telemetry.__all__) == telemetry.__all__

    def test_a_provider_has_the_documented_accessors(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        ga4, amplitude = manager.providers
        assert (ga4.provider_name, amplitude.provider_name) == ("GA4", "Amplitude")
        assert ga4.is_enabled
        assert amplitude.is_enabled
        assert ga4.get_client_id() == amplitude.get_client_id() == manager.get_client_id()
        assert ga4.get_session_id() == manager.get_session_id()
        assert ga4.enrich_params({"a": 1}).keys() >= {"a", "session_id", "runtime", "lib_version"}

        ga4.track_event("ga4_only")
        assert manager.flush()
        assert [(e.vendor, e.name) for e in fake_server.events()] == [("ga4", "ga4_only")]


class TestLifecycle:
    def test_tracking_after_shutdown_is_a_silent_no_op(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager()
        manager.track_event("before")
        assert manager.shutdown(timeout=5.0) is True
        delivered = len(fake_server.requests())
        enqueued = {name: s["enqueued"] for name, s in manager.stats().items()}

        with capture_telemetry_logs(logging.DEBUG) as logs:
            manager.track_event("after")
            manager.track_page_view("/after", "After")
            manager.set_user_properties({"after": True})
            manager.flush(timeout=0.5)

        assert logs.records == []
        assert manager.is_enabled is False
        assert manager.enabled_providers == []
        assert manager.delivery.threads() == []
        assert {name: s["enqueued"] for name, s in manager.stats().items()} == enqueued
        assert len(fake_server.requests()) == delivered
        assert [e.name for e in fake_server.events()] == ["before", "before"]

    def test_shutdown_is_idempotent(self, make_manager: MakeManager) -> None:
        manager = make_manager()
        manager.track_event("once")

        assert manager.shutdown(timeout=5.0) is True
        assert manager.shutdown(timeout=5.0) is True
        assert manager.close() is True
        manager.__exit__(None, None, None)

    def test_the_manager_is_a_context_manager_that_delivers_on_exit(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        with make_manager() as manager:
            manager.track_event("inside")

        assert manager.is_enabled is False
        assert sorted(e.vendor for e in fake_server.events()) == ["amplitude", "ga4"]

    def test_disable_discards_what_is_queued_and_sends_nothing_more(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(delivery=dataclasses.replace(FAST, flush_interval=30.0))
        for i in range(5):
            manager.track_event(f"queued_{i}")
        workers = manager.delivery.threads()
        assert len(workers) == 2

        manager.disable()
        manager.track_event("after_opt_out")
        for worker in workers:
            worker.join(timeout=5.0)

        assert not any(worker.is_alive() for worker in workers)
        assert fake_server.requests() == []
        assert manager.is_enabled is False
        assert all(s["sent"] == 0 for s in manager.stats().values())
