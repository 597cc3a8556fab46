"""A broken provider or a broken backend never reaches the caller, nor the other providers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from telemetry import (
    AmplitudeTelemetryProvider,
    BaseTelemetryProvider,
    GA4TelemetryProvider,
    TelemetryManager,
)

from ._support import FAST, amplitude_config, ga4_config
from .conftest import MakeManager

EVENTS = 12
ROUTES = {"ga4": "/mp/collect", "amplitude": "/2/httpapi"}


class ProviderBug(RuntimeError):
    pass


def broken_subclass(base: type[BaseTelemetryProvider], method: str) -> type[BaseTelemetryProvider]:
    """A subclass of `base` whose `method` raises."""

    def raiser(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise ProviderBug(f"{method} is broken")

    return type(f"Broken{base.__name__}", (base,), {method: raiser, "name": f"Broken{base.name}"})


def specs(fake: Any, broken: str, method: str) -> tuple[list[Any], str, str]:
    """(provider specs with the broken one first, the broken provider's name, the healthy vendor)."""
    ga4 = (GA4TelemetryProvider, ga4_config(fake.base_url))
    amplitude = (AmplitudeTelemetryProvider, amplitude_config(fake.base_url))
    if broken == "ga4":
        cls = broken_subclass(GA4TelemetryProvider, method)
        return [(cls, ga4[1]), amplitude], cls.name, "amplitude"
    cls = broken_subclass(AmplitudeTelemetryProvider, method)
    return [(cls, amplitude[1]), ga4], cls.name, "ga4"


def track_everything(manager: TelemetryManager, tag: str = "event") -> None:
    for i in range(EVENTS):
        manager.track_event(f"{tag}_{i}", {"i": i})
    manager.track_page_view("/somewhere", "Somewhere")
    manager.set_user_properties({"plan": "pro"})


class TestBrokenProvider:
    @pytest.mark.parametrize("broken", ["ga4", "amplitude"])
    @pytest.mark.parametrize("method", ["__init__", "map_event", "build_request", "classify"])
    def test_a_provider_raising_never_reaches_the_caller_and_the_other_delivers_everything(
        self, make_manager: MakeManager, fake_server: Any, broken: str, method: str
    ) -> None:
        providers, broken_name, healthy = specs(fake_server, broken, method)
        manager = make_manager(providers=providers)

        track_everything(manager)
        assert manager.flush(timeout=5.0)
        track_everything(manager, tag="later")
        assert manager.flush(timeout=5.0)

        received = fake_server.wait_for(2 * (EVENTS + 2), vendor=healthy)
        assert len(received) == 2 * (EVENTS + 2)
        names = {e.name for e in received}
        assert {f"event_{i}" for i in range(EVENTS)} | {f"later_{i}" for i in range(EVENTS)} <= names
        if method == "__init__":
            assert manager.disabled_providers == {broken_name: "failed to start: ProviderBug"}
            assert broken_name not in manager.enabled_providers
        else:
            stats = manager.stats()[broken_name]
            assert stats["sent"] == 0
            assert sum(stats["dropped"].values()) == 2 * (EVENTS + 2)
            assert stats["queued"] == 0
        if method in ("__init__", "map_event", "build_request"):
            assert fake_server.events(vendor=broken) == []

    def test_a_provider_whose_map_event_fails_for_one_event_still_sends_the_others(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        class Picky(AmplitudeTelemetryProvider):
            def map_event(self, event: Any) -> Any:
                if event.name == "poison":
                    raise ProviderBug("poison")
                return super().map_event(event)

        manager = make_manager(providers=[(Picky, amplitude_config(fake_server.base_url))])
        manager.track_event("before")
        manager.track_event("poison")
        manager.track_event("after")
        assert manager.flush()

        assert [e.name for e in fake_server.events(vendor="amplitude")] == ["before", "after"]
        assert manager.stats()["Amplitude"]["dropped"] == {"mapping_error": 1}


BACKEND_FAULTS = {
    "http-500-with-garbage": ({"kind": "status", "status": 500, "body": b"\xff\xfe<garbage"}, False),
    "http-400-with-garbage": ({"kind": "status", "status": 400, "body": b"{not json"}, False),
    "garbage-with-200": ({"kind": "malformed"}, True),
    "connection-reset": ({"kind": "close"}, False),
    "hang-past-the-timeout": ({"kind": "hang"}, False),
}


class TestBrokenBackend:
    @pytest.mark.parametrize("broken", ["ga4", "amplitude"])
    @pytest.mark.parametrize("fault", list(BACKEND_FAULTS))
    def test_a_failing_backend_never_reaches_the_caller_and_the_other_delivers_everything(
        self, make_manager: MakeManager, fake_server: Any, broken: str, fault: str
    ) -> None:
        spec, counts_as_sent = BACKEND_FAULTS[fault]
        added = fake_server.faults.add(route=ROUTES[broken], **spec)
        manager = make_manager(delivery=dataclasses.replace(FAST, request_timeout=0.3))
        healthy = "amplitude" if broken == "ga4" else "ga4"
        name = "GA4" if broken == "ga4" else "Amplitude"

        track_everything(manager)
        assert manager.flush(timeout=10.0)

        assert len(fake_server.wait_for(EVENTS + 2, vendor=healthy)) == EVENTS + 2
        stats = manager.stats()[name]
        assert stats["queued"] == 0
        if counts_as_sent:
            assert stats["sent"] == EVENTS + 2
        else:
            assert stats["sent"] == 0
            assert sum(stats["dropped"].values()) == EVENTS + 2
            assert stats["last_error"]

        added.remove()
        manager.track_event("after_recovery")
        assert manager.flush(timeout=5.0)
        assert [e.name for e in fake_server.events(vendor=broken)] == ["after_recovery"]
