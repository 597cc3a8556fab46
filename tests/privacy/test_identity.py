"""Anonymous by construction: the random client_id is the only identifier, and no vendor is asked
to geolocate the sender where the vendor lets us say so."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

import pytest

from telemetry import AmplitudeTelemetryProvider, GA4TelemetryProvider, TelemetryManager
from telemetry.mixpanel_provider import MixpanelConfig, MixpanelTelemetryProvider
from telemetry.rudderstack_provider import RudderStackConfig, RudderStackTelemetryProvider

from ._support import amplitude_config, ga4_config
from .conftest import MakeManager

GA4_TOP_LEVEL = {"client_id", "events", "user_properties"}
AMPLITUDE_EVENT_FIELDS = {
    "device_id",
    "session_id",
    "time",
    "insert_id",
    "library",
    "event_type",
    "event_properties",
    "user_properties",
}
USER_AGENT = re.compile(r"[\w.-]+/[\w.+-]+")
IDENTIFYING_HEADERS = {"cookie", "x-forwarded-for", "forwarded", "x-real-ip", "authorization-user"}


def track_everything(manager: TelemetryManager) -> None:
    """Every kind of call, with params that try to smuggle identifiers in."""
    manager.track_page_view("/event-search", "Event Search")
    manager.track_event(
        "workflow_started",
        {"workflow_type": "event_based", "user_id": "alice", "distinct_id": "alice", "ip": "1.2.3.4"},
    )
    manager.set_user_properties({"app_channel": "stable", "email": "alice@example.org", "$user_id": "alice"})
    assert manager.flush()


def all_keys(value: Any) -> set[str]:
    """Every key at any depth of a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


@pytest.fixture
def everything_sent(make_manager: MakeManager, fake_server: Any) -> tuple[TelemetryManager, Any]:
    manager = make_manager(
        providers=[
            (GA4TelemetryProvider, ga4_config(fake_server.base_url)),
            (AmplitudeTelemetryProvider, amplitude_config(fake_server.base_url)),
            (
                MixpanelTelemetryProvider,
                MixpanelConfig(project_token="mp-token-1", endpoint=fake_server.base_url),
            ),
            (
                RudderStackTelemetryProvider,
                RudderStackConfig(write_key="rs-write-key-1", data_plane_url=fake_server.base_url),
            ),
        ]
    )
    track_everything(manager)
    return manager, fake_server


class TestTheOnlyIdentifierIsTheRandomClientId:
    def test_ga4_is_sent_client_id_and_nothing_that_identifies_or_locates(
        self, everything_sent: tuple[TelemetryManager, Any]
    ) -> None:
        manager, fake = everything_sent
        requests = fake.requests(path="/mp/collect")
        assert requests
        for request in requests:
            payload = json.loads(request.body)
            assert set(payload) <= GA4_TOP_LEVEL  # no user_id, ip_override, user_location, device, ...
            assert payload["client_id"] == manager.get_client_id()

    def test_amplitude_is_sent_device_id_and_no_user_id_ip_or_location(
        self, everything_sent: tuple[TelemetryManager, Any]
    ) -> None:
        manager, fake = everything_sent
        events = [e for r in fake.requests(path="/2/httpapi") for e in json.loads(r.body)["events"]]
        assert len(events) == 3
        for event in events:
            assert set(event) <= AMPLITUDE_EVENT_FIELDS  # no user_id, ip, location_lat, idfa, country, ...
            assert event["device_id"] == manager.get_client_id()

    def test_mixpanel_is_asked_not_to_geolocate_and_sent_only_the_client_id(
        self, everything_sent: tuple[TelemetryManager, Any]
    ) -> None:
        manager, fake = everything_sent
        requests = fake.requests(vendor="mixpanel")
        assert {r.path for r in requests} == {"/track", "/engage"}
        for request in requests:
            if request.path == "/track":  # a JSON body; the switches are in the query
                fields, items = request.query, json.loads(request.body)
            else:  # /engage: a form
                fields = parse_qs(request.body.decode())
                items = json.loads(fields["data"][0])
            assert fields["ip"] == ["0"]
            for item in items:
                properties = item.get("properties", item)
                assert (
                    properties.get("distinct_id", properties.get("$distinct_id")) == manager.get_client_id()
                )
                assert "$user_id" not in all_keys(item)
                if request.path == "/engage":
                    assert item["$ip"] == "0"

    def test_rudderstack_is_sent_an_anonymous_id_only_and_no_ip(
        self, everything_sent: tuple[TelemetryManager, Any]
    ) -> None:
        manager, fake = everything_sent
        messages = [m for r in fake.requests(path="/v1/batch") for m in json.loads(r.body)["batch"]]
        assert len(messages) == 3
        for message in messages:
            assert message["anonymousId"] == manager.get_client_id()
            assert "userId" not in message
            assert not {"ip", "direct"} & set(message.get("context", {}))

    def test_identifier_params_never_reach_any_vendor(
        self, everything_sent: tuple[TelemetryManager, Any]
    ) -> None:
        manager, fake = everything_sent
        wire = "\n".join(r.body.decode("utf-8", "replace") for r in fake.requests())

        assert "alice" not in wire
        assert "1.2.3.4" not in wire
        for name, stats in manager.stats().items():
            assert stats["privacy"]["pii_params_dropped"] == {"identifier": 5}, name

    def test_no_request_carries_an_identifying_header(
        self, everything_sent: tuple[TelemetryManager, Any]
    ) -> None:
        _, fake = everything_sent

        for request in fake.requests():
            assert not IDENTIFYING_HEADERS & set(request.headers)
            assert USER_AGENT.fullmatch(request.headers["user-agent"])  # a product and version only
