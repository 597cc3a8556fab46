"""Session, runtime and version: what every event says about the run it comes from."""

from __future__ import annotations

import importlib.metadata
import sys
import time
import types
import uuid
from typing import Any

import pytest

from telemetry import TelemetryManager

from .conftest import MakeManager


def fake_streamlit(running: bool) -> types.ModuleType:
    """A stand-in `streamlit` package whose `runtime.exists()` answers `running`."""
    package = types.ModuleType("streamlit")
    runtime = types.ModuleType("streamlit.runtime")
    runtime.exists = lambda: running  # type: ignore[attr-defined]
    package.runtime = runtime  # type: ignore[attr-defined]
    return package


def track_a_little(manager: TelemetryManager) -> None:
    manager.track_page_view("/start", "Start")
    manager.track_event("clicked", {"button": "go"})
    manager.track_event("clicked_again")


class TestSession:
    def test_ga4_gets_the_session_start_in_seconds_as_a_number_with_engagement_time(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        track_a_little(manager)
        events = fake_server.wait_for(3, vendor="ga4")

        expected = int(manager.context.session.started_at)
        for event in events:
            assert type(event.params["session_id"]) is int
            assert event.params["session_id"] == expected
            assert type(event.params["engagement_time_msec"]) is int
            assert event.params["engagement_time_msec"] > 0
            assert event.accepted, event.problems

    def test_amplitude_gets_the_session_start_in_milliseconds(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        before_ms = time.time() * 1000
        manager = make_manager()
        after_ms = time.time() * 1000
        track_a_little(manager)
        events = fake_server.wait_for(3, vendor="amplitude")

        start_ms = manager.context.session.start_ms
        assert before_ms - 1000 <= start_ms <= after_ms + 1000
        assert [e.session_id for e in events] == [start_ms] * 3
        assert all(type(e.raw["session_id"]) is int for e in events)

    def test_both_vendors_describe_the_same_session(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        track_a_little(manager)
        ga4 = fake_server.wait_for(3, vendor="ga4")
        amplitude = fake_server.wait_for(3, vendor="amplitude")

        assert {e.params["session_id"] for e in ga4} == {amplitude[0].session_id // 1000}

    def test_one_manager_keeps_one_session_across_all_its_events(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        session_id = manager.get_session_id()
        for i in range(5):
            manager.track_event(f"step_{i}")
            assert manager.flush()
        events = fake_server.wait_for(10)

        assert manager.get_session_id() == session_id
        assert len({e.session_id for e in events if e.vendor == "amplitude"}) == 1
        assert len({e.session_id for e in events if e.vendor == "ga4"}) == 1

    def test_a_second_manager_has_a_different_session_and_each_sends_its_own(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        first = make_manager()
        second = make_manager()
        first.track_event("from_first")
        second.track_event("from_second")
        fake_server.wait_for(2, vendor="amplitude")

        uuid.UUID(first.get_session_id())
        assert first.get_session_id() != second.get_session_id()
        assert first.get_client_id() == second.get_client_id()
        by_name = {e.name: e.session_id for e in fake_server.events(vendor="amplitude")}
        assert by_name == {
            "from_first": first.context.session.start_ms,
            "from_second": second.context.session.start_ms,
        }


class TestRuntime:
    def test_a_plain_process_is_a_cli_run(self, manager: TelemetryManager, fake_server: Any) -> None:
        manager.track_event("hello")
        events = fake_server.wait_for(2)

        assert manager.context.runtime == "cli"
        assert {e.params["runtime"] for e in events} == {"cli"}

    @pytest.mark.parametrize(("running", "expected"), [(False, "cli"), (True, "streamlit")])
    def test_importing_streamlit_is_not_enough_a_streamlit_runtime_must_exist(
        self,
        make_manager: MakeManager,
        fake_server: Any,
        monkeypatch: pytest.MonkeyPatch,
        running: bool,
        expected: str,
    ) -> None:
        package = fake_streamlit(running)
        monkeypatch.setitem(sys.modules, "streamlit", package)
        monkeypatch.setitem(sys.modules, "streamlit.runtime", package.runtime)

        manager = make_manager()
        manager.track_event("hello")
        events = fake_server.wait_for(2)

        assert manager.context.runtime == expected
        assert {e.params["runtime"] for e in events} == {expected}

    def test_a_broken_streamlit_module_means_cli(
        self, make_manager: MakeManager, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "streamlit", types.ModuleType("streamlit"))
        monkeypatch.delitem(sys.modules, "streamlit.runtime", raising=False)

        assert make_manager().context.runtime == "cli"


class TestLibVersion:
    def test_lib_version_defaults_to_the_installed_distribution_version(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        manager.track_event("hello")
        events = fake_server.wait_for(2)

        installed = importlib.metadata.version("telemetry-toolkit")
        assert manager.context.lib_version == installed
        assert {e.params["lib_version"] for e in events} == {installed}

    def test_app_version_overrides_lib_version_on_the_wire(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(app_version="7.8.9-app")
        manager.track_page_view("/p", "P")
        manager.track_event("hello")
        events = fake_server.wait_for(4)

        assert manager.context.lib_version == "7.8.9-app"
        assert {e.params["lib_version"] for e in events} == {"7.8.9-app"}

    def test_a_caller_param_cannot_override_the_enrichment(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        manager.track_event("hello", {"session_id": "forged", "runtime": "forged", "lib_version": "forged"})
        events = fake_server.wait_for(2)

        for event in events:
            assert "forged" not in {event.params["runtime"], event.params["lib_version"]}
            assert event.params["session_id"] != "forged"
