"""Off means off: the switches come before anything else, and opting out at run time is immediate."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from telemetry import AnalyticsSettings, DeliveryOptions, GA4TelemetryProvider, TelemetryManager
from telemetry.base_telemetry import BaseTelemetryProvider, ProviderConfig
from telemetry.consent import Consent
from telemetry.events import Event

from ._support import (
    AMP_KEY,
    FAST,
    GA_SECRET,
    MEASUREMENT_ID,
    capture_connects,
    clean_environ,
    ga4_config,
    run_python,
)
from .conftest import MakeManager

HOLDING = DeliveryOptions(flush_interval=30.0, request_timeout=0.5, max_retries=1, exit_grace=0.2)
"""Events wait in memory: a worker sends only when a batch fills or a flush asks."""


@dataclass
class WatchedConfig(ProviderConfig):
    """A config that records every time anyone looks at it."""

    looked_at: ClassVar[list[str]] = []

    def invalid_reason(self) -> str | None:
        WatchedConfig.looked_at.append("invalid_reason")
        return None

    def secrets(self) -> tuple[str, ...]:
        WatchedConfig.looked_at.append("secrets")
        return ()


class WatchedProvider(BaseTelemetryProvider):
    """A provider that records its construction."""

    name: ClassVar[str] = "Watched"
    config_class: ClassVar[type[ProviderConfig]] = WatchedConfig
    built: ClassVar[int] = 0

    def __init__(self, config: ProviderConfig, context: Any) -> None:
        WatchedProvider.built += 1
        super().__init__(config, context)

    def map_event(self, event: Event) -> dict[str, Any] | None:
        return {"name": event.name}


def wait_for_workers(manager: TelemetryManager) -> None:
    """Block until every worker thread of `manager` has ended (a condition, not a sleep)."""
    for thread in manager.delivery.threads():
        thread.join(10.0)
    assert manager.delivery.threads() == []


def dropped(manager: TelemetryManager) -> dict[str, int]:
    return {name: sum(s["dropped"].values()) for name, s in manager.stats().items()}


class TestTheSwitchesComeFirst:
    @pytest.fixture(autouse=True)
    def _reset(self) -> None:
        WatchedConfig.looked_at.clear()
        WatchedProvider.built = 0

    @pytest.mark.parametrize(
        ("analytics_enabled", "environ"),
        [
            pytest.param(False, {}, id="analytics_enabled-false"),
            pytest.param(True, {"DO_NOT_TRACK": "1"}, id="DO_NOT_TRACK"),
            pytest.param(True, {"TELEMETRY_DISABLED": "1"}, id="TELEMETRY_DISABLED"),
            pytest.param(True, {"TELEMETRY_DISABLED": "yes"}, id="TELEMETRY_DISABLED-yes"),
        ],
    )
    def test_no_provider_is_built_no_database_thread_socket_or_queue_exists(
        self, fake_server: Any, db_path: Path, analytics_enabled: bool, environ: dict[str, str]
    ) -> None:
        threads_before = set(threading.enumerate())
        with capture_connects() as connects:
            manager = TelemetryManager.from_providers(
                db_path,
                [
                    (WatchedProvider, WatchedConfig(endpoint=fake_server.base_url)),
                    (GA4TelemetryProvider, ga4_config(fake_server.base_url)),
                ],
                analytics_enabled=analytics_enabled,
                environ=environ,
                delivery=FAST,
            )
            manager.track_event("must_not_leave", {"n": 1})
            manager.track_page_view("/nowhere", "Nowhere")
            manager.set_user_properties({"plan": "x"})
            manager.flush()
            manager.disable()

        assert WatchedProvider.built == 0
        assert WatchedConfig.looked_at == []
        assert not db_path.parent.exists()
        assert manager.get_client_id() is None
        assert manager.delivery.workers == ()
        assert manager.stats() == {}
        assert set(threading.enumerate()) - threads_before == set()
        assert connects == []
        assert fake_server.requests() == []

    def test_settings_that_say_no_win_over_configured_keys(self, fake_server: Any, db_path: Path) -> None:
        environ = {
            "GA_MEASUREMENT_ID": MEASUREMENT_ID,
            "GA_API_SECRET": GA_SECRET,
            "AMPLITUDE_API_KEY": AMP_KEY,
            "TELEMETRY_ENDPOINT": fake_server.base_url,
        }
        with capture_connects() as connects:
            manager = TelemetryManager.from_settings(
                AnalyticsSettings(analytics_enabled=False), db_path, environ=environ
            )
            manager.track_event("must_not_leave")
            manager.flush()

        assert manager.enabled_providers == []
        assert not db_path.parent.exists()
        assert connects == []
        assert fake_server.requests() == []


class TestOptingOutAtRunTime:
    def test_queued_events_are_discarded_and_nothing_is_sent(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(delivery=HOLDING)
        for i in range(10):
            manager.track_event("queued_before_opt_out", {"i": i})
        assert all(s["queued"] == 10 for s in manager.stats().values())

        with capture_connects() as connects:
            manager.disable()
            wait_for_workers(manager)

        assert connects == []
        assert fake_server.requests() == []
        assert dropped(manager) == {"GA4": 10, "Amplitude": 10}
        assert all(s["queued"] == 0 and s["sent"] == 0 for s in manager.stats().values())

    def test_a_request_in_flight_is_the_last_one_the_vendor_sees(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        hang = fake_server.faults.add("hang", route="/mp/collect")
        manager = make_manager(amplitude=False, delivery=HOLDING)
        manager.track_event("in_flight")
        manager.flush(timeout=0.0)
        fake_server.wait_for_requests(1, path="/mp/collect")
        for i in range(30):  # more than a batch: these would go in two requests
            manager.track_event("behind_it", {"i": i})

        manager.disable()
        hang.remove()  # the held request ends without an answer
        wait_for_workers(manager)

        assert len(fake_server.requests()) == 1
        assert manager.stats()["GA4"]["sent"] == 0
        assert dropped(manager)["GA4"] >= 30  # every event queued behind it, discarded

    def test_tracking_after_opting_out_is_a_silent_no_op(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(delivery=HOLDING)
        manager.track_event("before")
        manager.disable()
        wait_for_workers(manager)

        manager.track_event("after", {"n": 1})
        manager.track_page_view("/after", "After")
        manager.set_user_properties({"plan": "x"})
        assert manager.flush(timeout=1.0)

        assert manager.is_enabled is False
        assert manager.delivery.threads() == []
        assert all(s["enqueued"] == 1 for s in manager.stats().values())
        assert fake_server.requests() == []

    def test_the_act_of_opting_out_sends_no_event(
        self, make_manager: MakeManager, fake_server: Any, tmp_path: Path
    ) -> None:
        consent = Consent.from_config_file(tmp_path / "config.cfg")
        manager = make_manager()
        manager.track_event("before_opt_out")
        assert manager.flush()
        fake_server.clear()

        with capture_connects() as connects:
            assert consent.decline(manager)
            wait_for_workers(manager)

        assert connects == []
        assert fake_server.requests() == []
        assert consent.answer is False

    def test_opting_out_discards_the_offline_queue_too(
        self, make_manager: MakeManager, fake_server: Any, tmp_path: Path
    ) -> None:
        spool = tmp_path / "spool.sqlite"
        holding = DeliveryOptions(flush_interval=30.0, request_timeout=0.5, max_retries=1, spool_path=spool)
        manager = make_manager(amplitude=False, delivery=holding)
        for i in range(5):
            manager.track_event("spooled_before_opt_out", {"i": i})
        manager.disable()
        wait_for_workers(manager)

        later = make_manager(amplitude=False, delivery=holding, db=tmp_path / "later.sqlite")
        later.track_event("after_opting_in_again")
        assert later.flush()

        assert [e.name for e in fake_server.events()] == ["after_opting_in_again"]
        with sqlite3.connect(spool) as db:
            assert db.execute("SELECT count(*) FROM telemetry_spool").fetchone() == (0,)


class TestTheAnswerOutlivesTheProcess:
    def test_after_declining_the_next_run_touches_nothing_and_sends_nothing(
        self, fake_server: Any, tmp_path: Path
    ) -> None:
        config = tmp_path / "config.cfg"
        Consent.from_config_file(config).decline()
        code = """
            import json, sys, threading
            from telemetry import TelemetryManager
            from telemetry.consent import Consent
            consent = Consent.from_config_file(sys.argv[1])
            manager = TelemetryManager.from_settings(consent, sys.argv[2])
            manager.track_event("must_not_leave")
            manager.flush()
            print(json.dumps([consent.asked, consent.answer, manager.enabled_providers,
                              manager.get_client_id(), threading.active_count()]))
        """
        env = clean_environ(
            GA_MEASUREMENT_ID=MEASUREMENT_ID,
            GA_API_SECRET=GA_SECRET,
            AMPLITUDE_API_KEY=AMP_KEY,
            TELEMETRY_ENDPOINT=fake_server.base_url,
        )
        db = tmp_path / "SVdata" / "database.sqlite"

        done = run_python(code, str(config), str(db), env=env)

        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == [True, False, [], None, 1]
        assert not db.parent.exists()
        assert fake_server.requests() == []
