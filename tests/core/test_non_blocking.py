"""The caller's thread only queues: mapping, serialisation and HTTP happen on background workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from telemetry import AmplitudeTelemetryProvider, DeliveryOptions, GA4TelemetryProvider, TelemetryManager
from telemetry.delivery.http_stdlib import HttpClientTransport

from ._support import AMP_KEY, GA_SECRET, MEASUREMENT_ID, refused_endpoint, run_python
from .conftest import MakeManager

CALL_BOUND = 0.05
"""A track call returns in well under this, whatever the backend does."""
MARGIN = 0.5

SLOW_RETRIES = DeliveryOptions(flush_interval=0.05, max_retries=5, backoff_base=0.5, request_timeout=30.0)
"""Retries that would take seconds if any of it ran on the caller's thread."""

EXIT_SCRIPT = f"""
    import sys
    from telemetry import AmplitudeConfig, DeliveryOptions, GA4Config, TelemetryManager

    def main():
        endpoint, db = sys.argv[1], sys.argv[2]
        manager = TelemetryManager.from_configs(
            db,
            True,
            ga4_config=GA4Config(
                measurement_id="{MEASUREMENT_ID}", api_secret="{GA_SECRET}", endpoint=endpoint
            ),
            amplitude_config=AmplitudeConfig(api_key="{AMP_KEY}", endpoint=endpoint),
            delivery=DeliveryOptions(request_timeout=30.0),
            environ={{}},
        )
        manager.track_event("last_words")
        return manager

    CALL_MAIN
"""
"""A program whose main() tracks one event and returns without flushing or shutting down."""

KEEPS_MANAGER = EXIT_SCRIPT.replace("CALL_MAIN", "kept = main()")
"""The manager stays referenced (a module global) until the interpreter exits."""
DROPS_MANAGER = EXIT_SCRIPT.replace("CALL_MAIN", "main()")
"""The manager is a local of main(): nothing references it once main() has returned."""


HARD_LIMIT = 10.0
"""Past this a blocking call fails the test instead of stalling the suite."""


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """`call()`'s result and duration; run on a helper thread so that a call that blocks fails fast."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        outcome["result"] = call()
        outcome["seconds"] = time.monotonic() - started

    helper = threading.Thread(target=run, name="timed-call", daemon=True)
    helper.start()
    helper.join(HARD_LIMIT)
    if helper.is_alive():
        pytest.fail(f"the call was still blocked after {HARD_LIMIT} s")
    return outcome["result"], outcome["seconds"]


def slowest_call(call: Callable[[], None], times: int = 100) -> float:
    def loop() -> float:
        slowest = 0.0
        for _ in range(times):
            started = time.perf_counter()
            call()
            slowest = max(slowest, time.perf_counter() - started)
        return slowest

    slowest, _ = timed(loop)
    return float(slowest)


class TestWorkHappensOffTheCallerThread:
    def test_no_mapping_serialisation_or_http_runs_on_the_caller_thread(
        self, make_manager: MakeManager, fake_server: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert threading.current_thread() is threading.main_thread()
        seen: list[tuple[str, threading.Thread]] = []

        def spy(owner: Any, name: str) -> None:
            original = getattr(owner, name)

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                seen.append((f"{owner.__name__}.{name}", threading.current_thread()))
                return original(*args, **kwargs)

            monkeypatch.setattr(owner, name, wrapper)

        for provider in (GA4TelemetryProvider, AmplitudeTelemetryProvider):
            spy(provider, "map_event")
            spy(provider, "build_request")
            spy(provider, "classify")
        spy(HttpClientTransport, "start")

        manager = make_manager()
        manager.track_page_view("/home", "Home")
        manager.track_event("clicked", {"big": "x" * 5_000, "nested": {"a": [1, 2, 3]}})
        manager.set_user_properties({"plan": "free"})
        assert manager.flush()
        fake_server.wait_for(6)  # GA4 carries user properties on a `user_properties_set` event
        manager.track_event("at_shutdown")
        assert manager.shutdown(timeout=5.0)

        assert {name for name, _ in seen} == {
            "GA4TelemetryProvider.map_event",
            "GA4TelemetryProvider.build_request",
            "GA4TelemetryProvider.classify",
            "AmplitudeTelemetryProvider.map_event",
            "AmplitudeTelemetryProvider.build_request",
            "AmplitudeTelemetryProvider.classify",
            "HttpClientTransport.start",
        }
        on_caller = [name for name, thread in seen if thread is threading.main_thread()]
        assert on_caller == []
        assert len(fake_server.events()) == 8


class TestTrackingNeverWaits:
    def test_track_calls_return_at_once_while_the_backend_hangs(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        fake_server.faults.add("hang")
        manager = make_manager(delivery=SLOW_RETRIES)
        timed(lambda: manager.track_event("first"))
        fake_server.wait_for_requests(2)  # both workers are now stuck in a request

        assert slowest_call(lambda: manager.track_event("more", {"n": 1})) < CALL_BOUND
        assert slowest_call(lambda: manager.track_page_view("/p", "P")) < CALL_BOUND
        assert slowest_call(lambda: manager.set_user_properties({"k": "v"})) < CALL_BOUND

    def test_track_calls_return_at_once_when_the_port_refuses_connections(
        self, make_manager: MakeManager
    ) -> None:
        manager = make_manager(endpoint=refused_endpoint(), delivery=SLOW_RETRIES)

        assert slowest_call(lambda: manager.track_event("refused", {"n": 1})) < CALL_BOUND
        flushed, seconds = timed(lambda: manager.flush(timeout=0.5))
        assert flushed is False
        assert seconds < 0.5 + MARGIN


class TestBoundedWaits:
    def test_flush_returns_within_its_deadline_when_backend_hangs(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        fake_server.faults.add("hang")
        manager = make_manager(delivery=SLOW_RETRIES)
        timed(lambda: manager.track_event("stuck"))

        flushed, seconds = timed(lambda: manager.flush(timeout=1.0))

        assert flushed is False
        assert seconds < 1.0 + MARGIN  # one deadline shared by both providers, not one each
        assert len(fake_server.requests()) == 2

    def test_shutdown_returns_within_its_deadline_when_backend_hangs(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        fake_server.faults.add("hang")
        manager = make_manager(delivery=SLOW_RETRIES)
        timed(lambda: manager.track_event("stuck"))
        fake_server.wait_for_requests(2)

        finished, seconds = timed(lambda: manager.shutdown(timeout=1.0))

        assert finished is False
        assert seconds < 1.0 + MARGIN

    def test_flush_with_a_healthy_backend_waits_for_delivery(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        for i in range(30):
            manager.track_event(f"event_{i}")

        assert manager.flush(timeout=5.0) is True
        assert len(fake_server.events(vendor="ga4")) == 30
        assert len(fake_server.events(vendor="amplitude")) == 30


class TestProcessExit:
    def test_a_process_with_a_hanging_backend_exits_within_the_grace_period(
        self, fake_server: Any, tmp_path: Any
    ) -> None:
        fake_server.faults.add("hang")

        done = run_python(KEEPS_MANAGER, fake_server.base_url, str(tmp_path / "db.sqlite"), timeout=15.0)

        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert {r.fault for r in fake_server.requests()} == {"hang"}  # it was mid-request at exit
        assert done.seconds < DeliveryOptions().exit_grace + 2.5  # interpreter start-up included

    @pytest.mark.parametrize(
        "script",
        [
            pytest.param(KEEPS_MANAGER, id="manager-still-referenced"),
            pytest.param(DROPS_MANAGER, id="manager-local-to-main"),
        ],
    )
    def test_a_process_that_returns_from_main_delivers_what_it_tracked(
        self, fake_server: Any, tmp_path: Any, script: str
    ) -> None:
        done = run_python(script, fake_server.base_url, str(tmp_path / "db.sqlite"), timeout=15.0)

        assert done.returncode == 0, done.stderr
        assert {(e.vendor, e.name) for e in fake_server.events()} == {
            ("ga4", "last_words"),
            ("amplitude", "last_words"),
        }
