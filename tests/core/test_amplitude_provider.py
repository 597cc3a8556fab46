"""Amplitude HTTP V2: the event shapes Amplitude expects and its documented answers honoured."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest

from fakes.amplitude import AmplitudeFake
from telemetry import AmplitudeTelemetryProvider, GA4TelemetryProvider, TelemetryManager
from telemetry.amplitude_provider import MAX_STRING
from telemetry.events import Event

from ._support import AMP_KEY, FAST, amplitude_config, capture_telemetry_logs, ga4_config
from .conftest import MakeManager

ROUTE = "/2/httpapi"
ONE_BATCH = dataclasses.replace(FAST, flush_interval=30.0)
"""Nothing is sent until flush(): everything tracked before it travels in one batch."""


class Poisoned(AmplitudeTelemetryProvider):
    """Gives events named "poison" a `time` Amplitude rejects, so the fake answers 400 naming them."""

    def map_event(self, event: Event) -> dict[str, Any] | None:
        mapped = super().map_event(event)
        if mapped is not None and event.name == "poison":
            mapped["time"] = "yesterday"
        return mapped


def sent_batches(fake: Any) -> list[tuple[int | None, list[str]]]:
    """(status, event names) of every request that reached the Amplitude route."""
    return [(r.status, [e["event_type"] for e in r.json()["events"]]) for r in fake.requests(path=ROUTE)]


class TestEventShape:
    def test_page_views_are_page_viewed_events_with_path_and_title(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(ga4=False)
        manager.track_page_view("/event-search", "Event Search")
        (event,) = fake_server.wait_for(1, vendor="amplitude")

        assert event.name == "Page Viewed"
        assert event.kind == "page_view"
        assert event.params["page_path"] == "/event-search"
        assert event.params["page_title"] == "Event Search"
        assert event.client_id == manager.get_client_id()
        assert event.raw["device_id"] == manager.get_client_id()

    def test_user_properties_become_an_identify_event_with_set(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(ga4=False)
        manager.set_user_properties({"plan": "pro", "seats": 3})
        (event,) = fake_server.wait_for(1, vendor="amplitude")

        assert event.name == "$identify"
        assert event.kind == "user_properties"
        assert set(event.raw["user_properties"]) == {"$set"}
        assert event.raw["user_properties"]["$set"]["plan"] == "pro"
        assert event.raw["user_properties"]["$set"]["seats"] == 3
        assert "event_properties" not in event.raw

    @pytest.mark.parametrize("refused", ["[Amplitude] Revenue", "$identify", "$groupidentify", "", "   "])
    def test_reserved_and_empty_event_names_are_dropped_every_time(
        self, make_manager: MakeManager, fake_server: Any, refused: str
    ) -> None:
        manager = make_manager(ga4=False)
        for name in (refused, "kept", refused, "kept"):
            manager.track_event(name)
        assert manager.flush()

        assert [e.name for e in fake_server.events(vendor="amplitude")] == ["kept", "kept"]
        assert manager.stats()["Amplitude"]["dropped"] == {"invalid_event": 2}

    def test_a_long_event_name_is_cut_to_the_same_event_type_every_time(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(ga4=False)
        manager.track_event("x" * 3000)
        manager.track_event("x" * 3000)
        events = fake_server.wait_for(2, vendor="amplitude")

        assert [e.name for e in events] == ["x" * MAX_STRING] * 2

    def test_custom_events_carry_their_params_as_event_properties(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        make_manager(ga4=False).track_event("workflow_started", {"workflow_type": "event_based", "n": 2})
        (event,) = fake_server.wait_for(1, vendor="amplitude")

        assert event.name == "workflow_started"
        assert event.params["workflow_type"] == "event_based"
        assert event.params["n"] == 2

    def test_every_event_has_a_unique_insert_id(self, make_manager: MakeManager, fake_server: Any) -> None:
        first = make_manager(ga4=False)
        second = make_manager(ga4=False)
        for i in range(40):
            first.track_event(f"first_{i}")
            second.track_event(f"second_{i}")
        first.track_page_view("/p", "P")
        first.set_user_properties({"a": 1})
        events = fake_server.wait_for(82, vendor="amplitude")

        insert_ids = [e.raw.get("insert_id") for e in events]
        assert all(isinstance(i, str) and i for i in insert_ids)
        assert len(set(insert_ids)) == 82

    def test_a_retried_batch_keeps_its_insert_ids(self, make_manager: MakeManager, fake_server: Any) -> None:
        fake_server.faults.add("status", route=ROUTE, count=1, status=503)
        manager = make_manager(ga4=False, delivery=ONE_BATCH)
        for i in range(5):
            manager.track_event(f"retry_{i}")
        assert manager.flush()

        failed, succeeded = fake_server.requests(path=ROUTE)
        assert failed.status == 503
        assert succeeded.status == 200
        assert [e["insert_id"] for e in failed.json()["events"]] == [
            e["insert_id"] for e in succeeded.json()["events"]
        ]

    def test_the_batch_api_is_used_when_asked(self, make_manager: MakeManager, fake_server: Any) -> None:
        make_manager(ga4=False, amplitude_options={"use_batch": True}).track_event("batched")
        (request,) = fake_server.wait_for_requests(1)
        assert request.path == "/batch"
        assert request.json()["api_key"] == AMP_KEY


class TestAmplitudeAnswers:
    def test_a_400_naming_bad_events_drops_only_those_and_delivers_the_rest(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(
            providers=[(Poisoned, amplitude_config(fake_server.base_url))], delivery=ONE_BATCH
        )
        for name in ("ok_1", "poison", "ok_2", "ok_3"):
            manager.track_event(name)
        assert manager.flush()

        assert sent_batches(fake_server) == [
            (400, ["ok_1", "poison", "ok_2", "ok_3"]),
            (200, ["ok_1", "ok_2", "ok_3"]),
        ]
        assert [e.name for e in fake_server.events(vendor="amplitude")] == ["ok_1", "ok_2", "ok_3"]
        stats = manager.stats()["Amplitude"]
        assert (stats["sent"], stats["dropped"]) == (3, {"rejected": 1})

    def test_a_413_splits_the_batch_in_halves(self, make_manager: MakeManager, fake_server: Any) -> None:
        fake_server.faults.add("413", route=ROUTE, count=1)
        manager = make_manager(ga4=False, delivery=ONE_BATCH)
        for i in range(10):
            manager.track_event(f"split_{i}")
        assert manager.flush()

        assert [(status, len(names)) for status, names in sent_batches(fake_server)] == [
            (413, 10),
            (200, 5),
            (200, 5),
        ]
        assert [e.name for e in fake_server.events()] == [f"split_{i}" for i in range(10)]

    def test_a_429_is_retried_after_the_pause_capped_by_retry_after_max(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        fake_server.faults.add("429", route=ROUTE, count=2, retry_after=0)
        manager = make_manager(ga4=False, delivery=dataclasses.replace(ONE_BATCH, retry_after_max=0.05))
        manager.track_event("throttled")
        assert manager.flush(timeout=5.0)

        assert [status for status, _ in sent_batches(fake_server)] == [429, 429, 200]
        assert [e.name for e in fake_server.events()] == ["throttled"]
        stats = manager.stats()["Amplitude"]
        assert (stats["sent"], stats["retried"], stats["dropped"]) == (1, 2, {})

    def test_a_429_for_an_exhausted_daily_quota_is_dropped_not_retried(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        body = {"code": 429, "error": "Too many requests", "exceeded_daily_quota_devices": {"d": 1}}
        fake_server.faults.add(
            "status", route=ROUTE, status=429, body=json.dumps(body), content_type="application/json"
        )
        manager = make_manager(ga4=False)
        manager.track_event("over_quota")
        assert manager.flush()

        assert len(fake_server.requests(path=ROUTE)) == 1
        assert manager.stats()["Amplitude"]["dropped"] == {"rejected": 1}

    def test_an_invalid_api_key_drops_each_batch_and_logs_one_error(
        self, make_manager: MakeManager, fake_server: Any, fake_server_factory: Any
    ) -> None:
        strict = fake_server_factory([AmplitudeFake(valid_api_keys=["some-other-key"])])
        with capture_telemetry_logs(logging.WARNING) as logs:
            manager = make_manager(
                providers=[
                    (AmplitudeTelemetryProvider, amplitude_config(strict.base_url)),
                    (GA4TelemetryProvider, ga4_config(fake_server.base_url)),
                ]
            )
            for i in range(3):
                manager.track_event(f"rejected_{i}")
                assert manager.flush()

        assert [r.status for r in strict.requests()] == [400, 400, 400]
        assert strict.events() == []
        assert manager.stats()["Amplitude"]["dropped"] == {"rejected": 3}
        assert len(logs.records) == 1
        assert logs.records[0].levelno == logging.ERROR
        assert "API key" in logs.records[0].getMessage()
        assert [e.name for e in fake_server.events(vendor="ga4")] == [f"rejected_{i}" for i in range(3)]

    def test_every_event_amplitude_gets_passes_its_validation(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        manager.set_user_properties({"nested": {"a": [1, 2]}, "x" * 2000: "y" * 5000})
        for i in range(30):
            manager.track_page_view(f"/p/{i}", None)
            manager.track_event(f"event {i} ✓", {"deep": {"a": {"b": {"c": {"d": 1}}}}, "s": "z" * 5000})
        assert manager.flush()

        assert {r.status for r in fake_server.requests(path=ROUTE)} == {200}
        assert len(fake_server.events(vendor="amplitude")) == 61


class TestRetries:
    def test_a_batch_that_timed_out_is_sent_again_with_the_same_insert_ids(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        fake_server.faults.add("hang", route=ROUTE, count=1)
        manager = make_manager(ga4=False, delivery=dataclasses.replace(FAST, request_timeout=0.3))
        manager.track_event("resent")
        assert manager.flush(timeout=5.0)

        first, second = fake_server.requests(path=ROUTE)
        assert (first.fault, second.status) == ("hang", 200)
        assert first.json()["events"][0]["insert_id"] == second.json()["events"][0]["insert_id"]
        assert [e.name for e in fake_server.events()] == ["resent"]


class TestThrottlingHonoursRetryAfter:
    def test_a_429_with_retry_after_waits_what_amplitude_said_not_the_default_pause(self) -> None:
        from telemetry import AmplitudeConfig, AmplitudeTelemetryProvider, HttpResponse, TelemetryContext

        config = AmplitudeConfig(api_key="k-1234567")
        provider = AmplitudeTelemetryProvider(config, TelemetryContext(None, False))
        told = HttpResponse(429, b'{"code":429,"error":"Too many requests"}', {"retry-after": "2"})
        silent = HttpResponse(429, b'{"code":429,"error":"Too many requests"}', {})
        assert provider.classify(told, 3).retry_after == 2.0
        assert provider.classify(silent, 3).retry_after == 30.0
