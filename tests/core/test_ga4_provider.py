"""GA4 Measurement Protocol: what reaches GA4 is what GA4 accepts, and nothing GA4 would drop."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fakes.ga4 import validate_payload
from telemetry import DeliveryOptions, GA4TelemetryProvider, TelemetryManager
from telemetry.events import Event

from ._support import FAST, GA_SECRET, MEASUREMENT_ID, capture_telemetry_logs, ga4_config
from .conftest import MakeManager

ENRICHMENT = {"session_id", "runtime", "lib_version", "engagement_time_msec"}


def ga4_payloads(fake: Any, path: str = "/mp/collect") -> list[tuple[dict[str, Any], bytes]]:
    return [(r.json(), r.body) for r in fake.requests(path=path)]


def assert_ga4_accepts_everything(fake: Any) -> None:
    """Every request passes the fake's validator and every event is recorded without a note."""
    requests = fake.requests(vendor="ga4")
    assert requests
    for payload, body in ga4_payloads(fake):
        assert validate_payload(payload, body_size=len(body)) == [], payload
    for event in fake.events(vendor="ga4"):
        assert event.accepted, event.problems
        assert event.problems == ()


class Unchecked(GA4TelemetryProvider):
    """Sends event names as given, skipping the provider's clean-up, to provoke GA4's validator."""

    def map_event(self, event: Event) -> dict[str, Any] | None:
        mapped = super().map_event(event.replace(name="placeholder"))
        assert mapped is not None
        mapped["name"] = event.name
        return mapped


class TestPageLocation:
    @pytest.mark.parametrize(
        ("base", "path", "expected"),
        [
            ("http://localhost:8501", "/event-search", "http://localhost:8501/event-search"),
            ("http://localhost:8501/", "/event-search", "http://localhost:8501/event-search"),
            ("http://localhost:8501/", "event-search", "http://localhost:8501/event-search"),
            ("http://localhost:8501", "event-search", "http://localhost:8501/event-search"),
            ("https://app.example.org/seed/", "/db/explorer", "https://app.example.org/seed/db/explorer"),
            ("https://app.example.org", "/", "https://app.example.org/"),
            ("https://app.example.org", "https://docs.example.org/page", "https://docs.example.org/page"),
            ("https://app.example.org", "http://other.example.org/x?y=1", "http://other.example.org/x?y=1"),
        ],
    )
    def test_page_location_joins_the_app_base_url_and_the_path(
        self, make_manager: MakeManager, fake_server: Any, base: str, path: str, expected: str
    ) -> None:
        manager = make_manager(amplitude=False, ga4_options={"app_base_url": base})
        manager.track_page_view(path, "Title")
        (event,) = fake_server.wait_for(1, vendor="ga4")

        assert event.name == "page_view"
        assert event.params["page_location"] == expected
        assert event.params["page_path"] == path
        assert event.params["page_title"] == "Title"

    def test_the_default_base_url_is_the_local_streamlit_address(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        make_manager(amplitude=False).track_page_view("/settings")
        (event,) = fake_server.wait_for(1, vendor="ga4")
        assert event.params["page_location"] == "http://localhost:8501/settings"
        assert "page_title" not in event.params


class TestEndpoint:
    def test_the_eu_region_sends_to_region1_without_an_endpoint(self) -> None:
        manager = TelemetryManager.from_configs(
            None, True, ga4_config=ga4_config(None, region="eu"), environ={}, delivery=FAST
        )
        try:
            (provider,) = manager.providers
            url = urlsplit(provider._url)  # nothing is tracked: nothing may leave for Google
            assert (url.scheme, url.hostname, url.path) == (
                "https",
                "region1.google-analytics.com",
                "/mp/collect",
            )
            assert parse_qs(url.query) == {"measurement_id": [MEASUREMENT_ID], "api_secret": [GA_SECRET]}
        finally:
            manager.disable()

    def test_the_global_region_sends_to_www_google_analytics_com(self) -> None:
        manager = TelemetryManager.from_configs(None, True, ga4_config=ga4_config(None), environ={})
        try:
            (provider,) = manager.providers
            assert urlsplit(provider._url).hostname == "www.google-analytics.com"
        finally:
            manager.disable()

    def test_an_explicit_endpoint_wins_over_the_region(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        make_manager(amplitude=False, ga4_options={"region": "eu"}).track_event("hello")
        (request,) = fake_server.wait_for_requests(1)
        assert request.path == "/mp/collect"
        assert request.query == {"measurement_id": [MEASUREMENT_ID], "api_secret": [GA_SECRET]}

    def test_an_unknown_region_disables_ga4_with_a_reason(self, make_manager: MakeManager) -> None:
        manager = make_manager(amplitude=False, ga4_options={"region": "mars"})
        assert manager.enabled_providers == []
        assert "region" in manager.disabled_providers["GA4"]


class TestBatching:
    def test_sixty_big_events_go_in_requests_of_at_most_25_events_under_130_kb(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(amplitude=False, delivery=dataclasses.replace(FAST, flush_interval=5.0))
        big = {f"p{i:02d}_{'x' * 36}": "\N{GRINNING FACE}" * 150 for i in range(21)}
        for i in range(60):
            manager.track_event(f"big_{i}", big)
        assert manager.flush()

        events = fake_server.wait_for(60, vendor="ga4")
        assert sorted(e.name for e in events) == sorted(f"big_{i}" for i in range(60))
        bodies = [r.body for r in fake_server.requests(vendor="ga4")]
        assert len(bodies) > 3  # the byte limit, not only the 25-event limit, cut these batches
        for body in bodies:
            assert len(body) < 130_000
            assert 1 <= len(json.loads(body)["events"]) <= 25
        assert_ga4_accepts_everything(fake_server)

    def test_many_small_events_fill_batches_of_exactly_25(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(amplitude=False, delivery=dataclasses.replace(FAST, flush_interval=5.0))
        for i in range(60):
            manager.track_event(f"small_{i}")
        assert manager.flush()

        sizes = [len(r.json()["events"]) for r in fake_server.requests(vendor="ga4")]
        assert sorted(sizes, reverse=True) == [25, 25, 10]  # two requests in flight may swap


class TestValidationMode:
    def test_validation_mode_posts_to_the_debug_endpoint_and_logs_ga4_messages_as_warnings(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        config = ga4_config(fake_server.base_url, validation_mode=True)
        with capture_telemetry_logs(logging.WARNING) as logs:
            manager = make_manager(providers=[(Unchecked, config)])
            manager.track_event("session_start")
            assert manager.flush()

        (request,) = fake_server.requests()
        assert request.path == "/debug/mp/collect"
        assert request.query == {"measurement_id": [MEASUREMENT_ID], "api_secret": [GA_SECRET]}
        messages = fake_server.validation_messages(vendor="ga4")
        assert [m["validationCode"] for m in messages] == ["NAME_RESERVED"]
        warnings = [r for r in logs.records if r.name.startswith("telemetry")]
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        assert "NAME_RESERVED" in warnings[0].getMessage()
        assert messages[0]["description"] in warnings[0].getMessage()
        assert fake_server.events() == []  # the validation server records nothing

    def test_validation_mode_with_valid_events_logs_no_warning(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        with capture_telemetry_logs(logging.WARNING) as logs:
            manager = make_manager(amplitude=False, ga4_options={"validation_mode": True})
            manager.track_page_view("/p", "P")
            manager.track_event("fine", {"a": 1})
            assert manager.flush()

        assert {r.path for r in fake_server.requests()} == {"/debug/mp/collect"}
        assert fake_server.validation_messages() == []
        assert logs.records == []


class TestNormalisation:
    @pytest.mark.parametrize(
        "reserved",
        ["session_start", "first_visit", "user_engagement", "error", "screen_view", "ad_impression"],
    )
    def test_reserved_event_names_are_dropped_for_ga4_only(
        self, manager: TelemetryManager, fake_server: Any, reserved: str
    ) -> None:
        for name in (reserved, "allowed_after", reserved):
            manager.track_event(name)
        assert manager.flush()

        assert [e.name for e in fake_server.events(vendor="ga4")] == ["allowed_after"]
        assert [e.name for e in fake_server.events(vendor="amplitude")] == [
            reserved,
            "allowed_after",
            reserved,
        ]
        assert manager.stats()["GA4"]["dropped"] == {"invalid_event": 2}

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("my event-name!", "my_event_name"),
            ("a.b.c", "a_b_c"),
            ("  padded  ", "padded"),
            ("x" * 60, "x" * 40),
            ("123start", None),
            ("événement", None),
            ("Ünïcode 名前 event", None),
        ],
    )
    def test_invalid_event_names_are_normalised_to_valid_ones(
        self, make_manager: MakeManager, fake_server: Any, raw: str, expected: str | None
    ) -> None:
        manager = make_manager(amplitude=False)
        manager.track_event(raw)
        manager.track_event(raw)
        event, again = fake_server.wait_for(2, vendor="ga4")

        assert again.name == event.name
        if expected is not None:
            assert event.name == expected
        assert event.name[0].isascii()
        assert event.name[0].isalpha()
        assert len(event.name) <= 40
        assert_ga4_accepts_everything(fake_server)

    @pytest.mark.parametrize("hopeless", ["", "   ", "!!!", "ü"])
    def test_names_with_nothing_usable_are_dropped(
        self, make_manager: MakeManager, fake_server: Any, hopeless: str
    ) -> None:
        manager = make_manager(amplitude=False)
        for name in (hopeless, "next", hopeless):
            manager.track_event(name)
        assert manager.flush()
        assert [e.name for e in fake_server.events(vendor="ga4")] == ["next"]

    def test_more_than_25_params_are_trimmed_keeping_the_enrichment(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        params = {f"param_{i:02d}": i for i in range(40)}
        make_manager(amplitude=False).track_event("wide", params)
        (event,) = fake_server.wait_for(1, vendor="ga4")

        assert len(event.params) == 25
        assert set(event.params) >= ENRICHMENT
        caller = {k: v for k, v in event.params.items() if k not in ENRICHMENT}
        assert caller.items() <= params.items()
        assert_ga4_accepts_everything(fake_server)

    def test_long_values_are_cut_to_100_characters(self, make_manager: MakeManager, fake_server: Any) -> None:
        make_manager(amplitude=False).track_event(
            "long", {"text": "x" * 500, "structure": {"k": ["v" * 300]}, "short": "ok"}
        )
        (event,) = fake_server.wait_for(1, vendor="ga4")

        assert event.params["text"] == "x" * 100
        assert len(event.params["structure"]) == 100
        assert event.params["short"] == "ok"
        assert_ga4_accepts_everything(fake_server)

    def test_ga360_properties_keep_500_characters(self, make_manager: MakeManager, fake_server: Any) -> None:
        make_manager(amplitude=False, ga4_options={"ga360": True}).track_event("long", {"text": "y" * 800})
        (event,) = fake_server.wait_for(1, vendor="ga4")
        assert event.params["text"] == "y" * 500

    def test_invalid_and_reserved_param_names_never_reach_ga4(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(amplitude=False)
        params = {"_hidden": 1, "ga_thing": 2, "google_x": 3, "firebase_conversion": 4}
        params |= {"with space": 5, "ok": 6}
        manager.track_event("params", params)
        manager.track_event("params", params)  # the names' verdicts now come from the provider's memo
        events = fake_server.wait_for(2, vendor="ga4")

        for event in events:
            assert event.params["ok"] == 6
            assert event.params["with_space"] == 5
            assert not {"_hidden", "ga_thing", "google_x", "firebase_conversion"} & set(event.params)
        assert_ga4_accepts_everything(fake_server)

    def test_user_properties_follow_ga4_limits(self, manager: TelemetryManager, fake_server: Any) -> None:
        manager.set_user_properties(
            {
                "plan": "pro",
                "first_open_time": 1,
                "user_id": "me",
                "_private": "x",
                "ga_flag": "x",
                "a_rather_long_user_property_name": "v",
                "long_value": "z" * 100,
            }
        )
        manager.track_event("after_properties")
        events = fake_server.wait_for(2, vendor="ga4")

        properties = events[-1].user_properties
        assert properties["plan"] == "pro"
        assert properties["long_value"] == "z" * 36
        assert not {"first_open_time", "user_id", "_private", "ga_flag"} & set(properties)
        assert all(len(name) <= 24 for name in properties)
        assert_ga4_accepts_everything(fake_server)


class TestEverythingGA4Receives:
    def test_every_payload_of_a_messy_session_passes_ga4_validation(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(amplitude=False, delivery=DeliveryOptions(flush_interval=0.05))
        manager.set_user_properties({"plan": "x" * 80, "Ünïcode prop": "v", "n": 3, "flag": True})
        for i in range(40):
            manager.track_page_view(f"/page/{i}?q=ü", f"Page {i} " + "t" * 200)
            manager.track_event(
                f"event name {i} ✓",
                {
                    **{f"k{j} with spaces": "v" * (j * 10) for j in range(30)},
                    "nested": {"deep": {"deeper": [1, 2, {"x": "y"}]}},
                    "number": i * 1.5,
                    "flag": i % 2 == 0,
                    "none": None,
                },
            )
        assert manager.flush()

        assert len(fake_server.wait_for(81, vendor="ga4")) == 81
        assert_ga4_accepts_everything(fake_server)


class TestNoDuplicates:
    def test_a_batch_that_timed_out_is_not_sent_again_since_ga4_cannot_deduplicate(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        fake_server.faults.add("hang", route="/mp/collect", count=1)
        manager = make_manager(amplitude=False, delivery=dataclasses.replace(FAST, request_timeout=0.3))
        manager.track_event("maybe_recorded")
        assert manager.flush(timeout=5.0)
        manager.track_event("next_one")
        assert manager.flush(timeout=5.0)

        assert [r.fault for r in fake_server.requests()] == ["hang", None]
        assert [e.name for e in fake_server.events()] == ["next_one"]
        assert manager.stats()["GA4"]["dropped"] == {"timeout": 1}
