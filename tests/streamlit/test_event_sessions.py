"""A per-event session (one per browser session) reaches the wire through every provider."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from contract_tests import ProviderSpec
from contract_tests.builtin import AMPLITUDE_SPEC, GA4_SPEC
from examples.mixpanel_provider import MIXPANEL_SPEC
from fakes import FakeServer
from telemetry import TelemetryManager
from telemetry.context import Session
from telemetry.events import EVENT, Event

# (spec, fake vendor name, what the vendor should receive as the session of `Session`)
CASES: list[tuple[ProviderSpec, str, Any]] = [
    (GA4_SPEC, "ga4", lambda s: s.number),
    (AMPLITUDE_SPEC, "amplitude", lambda s: s.start_ms),
    (MIXPANEL_SPEC, "mixpanel", lambda s: s.id),
]
IDS = [spec.name for spec, _, _ in CASES]


def manager_for(spec: ProviderSpec, fake: FakeServer, tmp_path: Path) -> TelemetryManager:
    return TelemetryManager.from_providers(
        tmp_path / "db.sqlite", [(spec.provider_class, spec.make_config(fake.base_url))], environ={}
    )


class TestEventSessions:
    @pytest.mark.parametrize(("spec", "vendor", "wire"), CASES, ids=IDS)
    def test_an_event_with_its_own_session_is_sent_in_it_and_others_in_the_runs(
        self, spec: ProviderSpec, vendor: str, wire: Any, fake_server: FakeServer, tmp_path: Path
    ) -> None:
        browser = Session("browser-session-1", time.time() - 3600)
        with manager_for(spec, fake_server, tmp_path) as manager:
            manager.track_page_view("/home", "Home", session=browser)
            manager.track_event("clicked", {"button": "go"}, session=browser)
            manager.track_event("cli_started")
            assert manager.flush(10.0)
            run = manager.context.session

        received = {e.name: e for e in fake_server.wait_for(3, vendor=vendor)}
        sessions = {name: event.session_id for name, event in received.items()}
        page_view = next(name for name in sessions if name not in ("clicked", "cli_started"))
        assert sessions[page_view] == sessions["clicked"] == wire(browser)
        assert sessions["cli_started"] == wire(run) != wire(browser)
        assert received["clicked"].params["session_id"] in (wire(browser), browser.id)  # enrichment too

    @pytest.mark.parametrize(("spec", "vendor", "wire"), CASES, ids=IDS)
    def test_a_provider_called_directly_honours_the_event_session_too(
        self, spec: ProviderSpec, vendor: str, wire: Any, fake_server: FakeServer, tmp_path: Path
    ) -> None:
        browser = Session("browser-session-2", time.time() - 60)
        with manager_for(spec, fake_server, tmp_path) as manager:
            provider = manager.providers[0]
            mapped = provider.describe(Event(EVENT, "clicked", {}, time.time(), 1, "ab", browser))
            assert provider.context is manager.context  # the view exists only while mapping

        assert mapped is not None
        assert wire(browser) in _values(mapped)


def _values(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [v for value in tree.values() for v in [value, *_values(value)]]
    if isinstance(tree, list):
        return [v for value in tree for v in _values(value)]
    return []
