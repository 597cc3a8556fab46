"""RudderStack and Segment: one Segment-compatible batch provider, its auth, limits and answers."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import pytest

from fakes import FakeServer
from fakes.segment import SegmentFake
from telemetry import (
    HttpResponse,
    RudderStackConfig,
    RudderStackTelemetryProvider,
    SegmentConfig,
    SegmentTelemetryProvider,
)
from telemetry.context import TelemetryContext
from telemetry.events import EVENT, Event

from .conftest import MakeManager

WRITE_KEY = "RUDDER-WRITE-KEY-providers-test-3"
SEGMENT_KEY = "SEGMENT-WRITE-KEY-providers-test-4"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def batch_of(request: Any) -> list[dict[str, Any]]:
    return list(json.loads(request.body)["batch"])


def rudder_config(base_url: str, key: str = WRITE_KEY) -> RudderStackConfig:
    return RudderStackConfig(write_key=key, data_plane_url=base_url)


@pytest.fixture
def rudder(fake_server_factory: Any) -> FakeServer:
    server: FakeServer = fake_server_factory([SegmentFake("rudderstack", write_keys=[WRITE_KEY])])
    return server


@pytest.fixture
def segment(fake_server_factory: Any) -> FakeServer:
    server: FakeServer = fake_server_factory([SegmentFake("segment", write_keys=[SEGMENT_KEY])])
    return server


def unit(config: RudderStackConfig | SegmentConfig) -> Any:
    context = TelemetryContext(None, analytics_enabled=True, runtime="cli")
    cls = SegmentTelemetryProvider if isinstance(config, SegmentConfig) else RudderStackTelemetryProvider
    return cls(config, context)


class TestTheBatchEndpointWithTheWriteKeyAsBasicAuth:
    def test_every_kind_is_one_batch_with_basic_auth_anonymous_id_and_message_ids(
        self, make_manager: MakeManager, rudder: FakeServer
    ) -> None:
        manager = make_manager([(RudderStackTelemetryProvider, rudder_config(rudder.base_url))])
        manager.track_page_view("/event-search", "Event Search")
        manager.track_event("workflow_started", {"workflow_type": "event_based"})
        manager.set_user_properties({"app_channel": "stable"})
        assert manager.flush(5.0)

        (request,) = rudder.requests()
        assert request.path == "/v1/batch"
        assert request.headers["authorization"] == basic(WRITE_KEY)
        assert request.headers["content-type"] == "application/json"
        body = json.loads(request.body)
        assert "writeKey" not in body
        assert "sentAt" in body
        page, track, identify = body["batch"]
        assert (page["type"], page["name"], page["properties"]["path"]) == (
            "page",
            "Event Search",
            "/event-search",
        )
        assert (track["type"], track["event"]) == ("track", "workflow_started")
        assert track["properties"]["workflow_type"] == "event_based"
        assert (identify["type"], identify["traits"]["app_channel"]) == ("identify", "stable")
        for message in (page, track, identify):
            assert message["anonymousId"] == manager.get_client_id()
            assert "userId" not in message
            assert "ip" not in message["context"]
            assert "ip" not in message.get("properties", {})
        assert len({m["messageId"] for m in (page, track, identify)}) == 3
        assert [e.kind for e in rudder.events()] == ["page_view", "event", "user_properties"]

    def test_message_ids_are_the_events_dedup_ids_and_survive_a_retry(
        self, make_manager: MakeManager, rudder: FakeServer
    ) -> None:
        rudder.faults.add("status", count=1, status=503)
        manager = make_manager([(RudderStackTelemetryProvider, rudder_config(rudder.base_url))])
        for n in range(4):
            manager.track_event("step", {"n": n})
        assert manager.flush(5.0)

        first, second = rudder.requests()
        assert [m["messageId"] for m in batch_of(first)] == [m["messageId"] for m in batch_of(second)]
        assert (first.status, second.status) == (503, 200)

    def test_timestamps_are_iso_8601_in_utc_with_milliseconds(self) -> None:
        stamped = Event(EVENT, "clicked", {}, 1_700_000_000.25, 1, "abc")
        message = unit(rudder_config("http://127.0.0.1:9")).map_event(stamped)
        assert message["timestamp"] == "2023-11-14T22:13:20.250+00:00"


class TestDocumentedLimits:
    def test_a_message_over_32_kb_is_dropped_before_sending_and_the_others_arrive(
        self, make_manager: MakeManager, segment: FakeServer
    ) -> None:
        config = SegmentConfig(write_key=SEGMENT_KEY, endpoint=segment.base_url)
        manager = make_manager([(SegmentTelemetryProvider, config)])
        manager.track_event("small", {"n": 1})
        manager.track_event("huge", {f"k{n}": "x" * 1000 for n in range(40)})
        manager.track_event("small", {"n": 2})
        assert manager.flush(5.0)

        assert [e.name for e in segment.events()] == ["small", "small"]
        assert manager.stats()["Segment"]["dropped"] == {"invalid_event": 1}
        assert all(r.status == 200 for r in segment.requests())

    def test_batches_stay_under_500_kb_so_segment_never_refuses_one(
        self, make_manager: MakeManager, segment: FakeServer
    ) -> None:
        config = SegmentConfig(write_key=SEGMENT_KEY, endpoint=segment.base_url)
        manager = make_manager([(SegmentTelemetryProvider, config)])
        for n in range(400):
            manager.track_event("bulky", {"n": n, "blob": "y" * 3000})
        assert manager.flush(10.0)

        requests = segment.requests()
        assert len(requests) >= 3
        assert all(len(r.body) <= 500_000 and r.status == 200 for r in requests)
        assert sorted(e.params["n"] for e in segment.events()) == list(range(400))

    def test_a_413_from_the_data_plane_splits_the_batch(
        self, make_manager: MakeManager, fake_server_factory: Any
    ) -> None:
        server = fake_server_factory([SegmentFake("rudderstack", max_request_bytes=4_000)])
        manager = make_manager([(RudderStackTelemetryProvider, rudder_config(server.base_url))])
        for n in range(16):
            manager.track_event("split_me", {"n": n, "pad": "z" * 100})
        assert manager.flush(5.0)

        statuses = [r.status for r in server.requests()]
        assert statuses[0] == 413
        assert statuses[-1] == 200
        assert sorted(e.params["n"] for e in server.events()) == list(range(16))


class TestAnswers:
    def test_an_unknown_write_key_drops_the_batch_without_retry_and_warns_once(
        self, make_manager: MakeManager, rudder: FakeServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="telemetry")
        manager = make_manager(
            [(RudderStackTelemetryProvider, rudder_config(rudder.base_url, "WRONG-key-123"))]
        )
        manager.track_event("one")
        assert manager.flush(5.0)
        manager.track_event("two")
        assert manager.flush(5.0)

        assert [r.status for r in rudder.requests()] == [401, 401]
        stats = manager.stats()["RudderStack"]
        assert stats["dropped"] == {"rejected": 2}
        assert "invalid write key" in stats["last_error"]
        assert len([r for r in caplog.records if "rejected the write key" in r.getMessage()]) == 1
        assert all("WRONG-key-123" not in r.getMessage() for r in caplog.records)

    def test_a_disabled_source_drops_the_batch(
        self, make_manager: MakeManager, fake_server_factory: Any
    ) -> None:
        server = fake_server_factory([SegmentFake("rudderstack", disabled_keys=[WRITE_KEY])])
        manager = make_manager([(RudderStackTelemetryProvider, rudder_config(server.base_url))])
        manager.track_event("nowhere")
        assert manager.flush(5.0)

        assert [r.status for r in server.requests()] == [404]
        assert manager.stats()["RudderStack"]["dropped"] == {"rejected": 1}

    def test_a_429_without_retry_after_is_retried_with_backoff(
        self, make_manager: MakeManager, rudder: FakeServer
    ) -> None:
        rudder.faults.add("429", count=2)
        manager = make_manager([(RudderStackTelemetryProvider, rudder_config(rudder.base_url))])
        manager.track_event("throttled")
        assert manager.flush(5.0)

        assert [r.status for r in rudder.requests()] == [429, 429, 200]
        assert "retry-after" not in {k.lower() for k in rudder.requests()[0].headers}
        assert [e.name for e in rudder.events()] == ["throttled"]

    @pytest.mark.parametrize(
        ("status", "body", "expected"),
        [
            (200, b"ok", "ok"),
            (200, b'{"success": true}', "ok"),
            (204, b"", "ok"),
            (400, b"invalid json\n", "drop"),
            (401, b"invalid write key\n", "drop"),
            (404, b"source is disabled\n", "drop"),
            (413, b"request size exceeds max limit\n", "split"),
            (429, b"max requests limit reached\n", "retry"),
            (500, b"failed to read body from request\n", "retry"),
            (503, b"Service Unavailable\n", "retry"),
            (504, b"gateway timeout\n", "retry"),
        ],
    )
    def test_each_documented_answer_gets_its_verdict(self, status: int, body: bytes, expected: str) -> None:
        outcome = unit(rudder_config("http://127.0.0.1:9")).classify(HttpResponse(status, body), 3)
        assert outcome.status == expected

    def test_a_retry_after_header_is_honoured(self) -> None:
        response = HttpResponse(429, b"{}", {"retry-after": "7"})
        assert unit(SegmentConfig(write_key=SEGMENT_KEY)).classify(response, 1).retry_after == 7.0


class TestConfiguration:
    def test_rudderstack_needs_its_write_key_and_a_data_plane_url(self) -> None:
        assert RudderStackConfig().invalid_reason() == "RUDDERSTACK_WRITE_KEY is not set"
        assert (
            RudderStackConfig(write_key=WRITE_KEY).invalid_reason() == "RUDDERSTACK_DATA_PLANE_URL is not set"
        )
        assert RudderStackConfig(
            write_key=WRITE_KEY, data_plane_url="https://acme.dataplane.rudderstack.com"
        ).is_valid()

    def test_a_plain_http_data_plane_is_refused_unless_it_is_loopback(self) -> None:
        remote = RudderStackConfig(write_key=WRITE_KEY, data_plane_url="http://dataplane.example.com")
        assert "use https" in (remote.invalid_reason() or "")
        assert RudderStackConfig(write_key=WRITE_KEY, data_plane_url="http://127.0.0.1:8080").is_valid()

    @pytest.mark.parametrize(
        ("config", "url"),
        [
            (
                RudderStackConfig(write_key=WRITE_KEY, data_plane_url="https://x.dataplane.rudderstack.com/"),
                "https://x.dataplane.rudderstack.com/v1/batch",
            ),
            (SegmentConfig(write_key=SEGMENT_KEY), "https://api.segment.io/v1/batch"),
            (
                SegmentConfig(write_key=SEGMENT_KEY, region="eu"),
                "https://events.eu1.segmentapis.com/v1/batch",
            ),
        ],
    )
    def test_each_flavour_posts_to_its_documented_host(self, config: Any, url: str) -> None:
        assert unit(config).build_request([b"{}"]).url == url

    def test_the_write_key_and_its_basic_form_are_secrets_kept_out_of_repr(self) -> None:
        config = SegmentConfig(write_key=SEGMENT_KEY)
        assert SEGMENT_KEY not in repr(config)
        assert set(config.secrets()) == {SEGMENT_KEY, basic(SEGMENT_KEY).removeprefix("Basic ")}

    def test_segment_also_delivers_through_its_own_fake(
        self, make_manager: MakeManager, segment: FakeServer
    ) -> None:
        manager = make_manager(
            [(SegmentTelemetryProvider, SegmentConfig(write_key=SEGMENT_KEY, endpoint=segment.base_url))]
        )
        manager.track_event("hello", {"t": time.time() > 0})
        assert manager.flush(5.0)
        (received,) = segment.events()
        assert received.accepted
        assert received.vendor == "segment"
        assert segment.requests()[0].headers["authorization"] == basic(SEGMENT_KEY)
