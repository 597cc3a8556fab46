"""Mixpanel: /track and /engage through the engine, /import with a service account, and its answers."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import FakeServer
from fakes._model import FakeRequest
from fakes.mixpanel import MixpanelFake
from telemetry import HttpResponse, MixpanelConfig, MixpanelTelemetryProvider
from telemetry.context import TelemetryContext
from telemetry.events import EVENT, PAGE_VIEW, USER_PROPERTIES, Event

from .conftest import MakeManager

TOKEN = "MIX-TOKEN-providers-test-1"
SA_USER = "sa-user.telemetry"
SA_SECRET = "SA-SECRET-providers-test-2"
PROJECT_ID = "31415"


def form(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def sent_items(request: Any) -> list[dict[str, Any]]:
    if request.headers.get("content-type", "").startswith("application/json"):
        return list(json.loads(request.body))
    return list(json.loads(form(request)["data"]))


def config(base_url: str, **extra: Any) -> MixpanelConfig:
    return MixpanelConfig(project_token=TOKEN, endpoint=base_url, **extra)


def import_config(base_url: str, secret: str = SA_SECRET) -> MixpanelConfig:
    return config(
        base_url,
        service_account_username=SA_USER,
        service_account_secret=secret,
        project_id=PROJECT_ID,
    )


@pytest.fixture
def mixpanel(fake_server_factory: Any) -> FakeServer:
    server: FakeServer = fake_server_factory([MixpanelFake(project_tokens=[TOKEN])])
    return server


def event(kind: str = EVENT, name: Any = "clicked", params: Any = None, sequence: int = 1) -> Event:
    return Event(kind, name, params if params is not None else {}, time.time(), sequence, "feedc0de")


def provider(cfg: MixpanelConfig | None = None) -> MixpanelTelemetryProvider:
    context = TelemetryContext(None, analytics_enabled=True, runtime="cli", app_version="9.9.9")
    return MixpanelTelemetryProvider(cfg or config("http://127.0.0.1:9"), context)


class TestEventsGoToTrack:
    def test_events_are_posted_as_a_json_array_with_verbose_answers_and_no_geolocation(
        self, make_manager: MakeManager, mixpanel: FakeServer
    ) -> None:
        manager = make_manager([(MixpanelTelemetryProvider, config(mixpanel.base_url))])
        manager.track_event("workflow_started", {"workflow_type": "event_based"})
        assert manager.flush(5.0)

        (request,) = mixpanel.requests(path="/track")
        assert request.headers["content-type"] == "application/json"
        assert (request.query["verbose"], request.query["ip"]) == (["1"], ["0"])
        (item,) = json.loads(request.body)
        assert item["event"] == "workflow_started"
        assert item["properties"]["workflow_type"] == "event_based"
        assert item["properties"]["token"] == TOKEN
        assert item["properties"]["distinct_id"] == manager.get_client_id()
        assert "ip" not in item["properties"]
        assert request.status == 200
        assert manager.stats()["Mixpanel"]["sent"] == 1

    def test_every_event_carries_its_own_insert_id_stable_across_a_retry(
        self, make_manager: MakeManager, mixpanel: FakeServer
    ) -> None:
        mixpanel.faults.add("status", route="/track", count=1, status=503)
        manager = make_manager([(MixpanelTelemetryProvider, config(mixpanel.base_url))])
        for n in range(5):
            manager.track_event("step", {"n": n})
        assert manager.flush(5.0)

        first, second = mixpanel.requests(path="/track")
        ids_first = [i["properties"]["$insert_id"] for i in sent_items(first)]
        ids_second = [i["properties"]["$insert_id"] for i in sent_items(second)]
        assert ids_first == ids_second
        assert len(set(ids_first)) == 5
        assert all(len(i) <= 36 for i in ids_first)
        assert [e.params["n"] for e in mixpanel.events()] == [0, 1, 2, 3, 4]

    def test_page_views_are_page_viewed_events_with_path_and_title(
        self, make_manager: MakeManager, mixpanel: FakeServer
    ) -> None:
        manager = make_manager([(MixpanelTelemetryProvider, config(mixpanel.base_url))])
        manager.track_page_view("/event-search", "Event Search")
        assert manager.flush(5.0)

        (page,) = mixpanel.events(kind="page_view")
        assert page.name == "Page Viewed"
        assert page.params["page_path"] == "/event-search"
        assert page.params["page_title"] == "Event Search"

    def test_event_time_is_sent_in_milliseconds(self) -> None:
        stamped = event()
        mapped = provider().map_event(stamped)
        assert mapped is not None
        assert mapped["properties"]["time"] == int(stamped.time * 1000)


class TestProfilesGoToEngage:
    def test_user_properties_are_a_set_on_engage_batched_apart_from_events(
        self, make_manager: MakeManager, mixpanel: FakeServer
    ) -> None:
        manager = make_manager([(MixpanelTelemetryProvider, config(mixpanel.base_url))])
        manager.track_page_view("/home", "Home")
        manager.set_user_properties({"app_channel": "stable"})
        manager.track_event("after")
        assert manager.flush(5.0)

        (track,) = mixpanel.requests(path="/track")
        (engage,) = mixpanel.requests(path="/engage")
        assert [i["event"] for i in sent_items(track)] == ["Page Viewed", "after"]
        (update,) = sent_items(engage)
        assert update["$token"] == TOKEN
        assert update["$distinct_id"] == manager.get_client_id()
        assert update["$ip"] == "0"
        assert update["$set"]["app_channel"] == "stable"
        assert update["$set"]["session_id"] == manager.get_session_id()
        assert form(engage)["ip"] == "0"
        (profile,) = mixpanel.events(kind="user_properties")
        assert profile.accepted

    def test_only_profile_events_take_the_engage_route(self) -> None:
        mixpanel = provider()
        assert mixpanel.route(event(USER_PROPERTIES, "user_properties")) == "engage"
        assert mixpanel.route(event(PAGE_VIEW, "page_view")) == "default"
        assert mixpanel.route(event(EVENT, "clicked")) == "default"


class TestImportWithAServiceAccount:
    def test_events_go_to_strict_import_with_basic_auth_and_the_project_id(
        self, make_manager: MakeManager, fake_server_factory: Any
    ) -> None:
        server = fake_server_factory([MixpanelFake(service_accounts={SA_USER: SA_SECRET})])
        manager = make_manager([(MixpanelTelemetryProvider, import_config(server.base_url))])
        manager.track_event("imported", {"n": 1})
        manager.set_user_properties({"plan": "gold"})
        assert manager.flush(5.0)

        (request,) = server.requests(path="/import")
        assert request.query == {"strict": ["1"], "project_id": [PROJECT_ID]}
        expected = base64.b64encode(f"{SA_USER}:{SA_SECRET}".encode()).decode()
        assert request.headers["authorization"] == f"Basic {expected}"
        assert request.headers["content-type"] == "application/json"
        assert request.status == 200
        assert [e.name for e in server.events(kind="event")] == ["imported"]
        assert [r.path for r in server.requests(path="/engage")] == ["/engage"]
        assert manager.stats()["Mixpanel"]["sent"] == 2

    def test_rejected_credentials_drop_the_batch_once_and_are_logged_once(
        self, make_manager: MakeManager, fake_server_factory: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        server = fake_server_factory([MixpanelFake(service_accounts={SA_USER: SA_SECRET})])
        manager = make_manager(
            [(MixpanelTelemetryProvider, import_config(server.base_url, "WRONG-secret-xx"))]
        )
        caplog.set_level(logging.ERROR, logger="telemetry")
        manager.track_event("one")
        assert manager.flush(5.0)
        manager.track_event("two")
        assert manager.flush(5.0)

        assert [r.status for r in server.requests(path="/import")] == [401, 401]
        assert manager.stats()["Mixpanel"]["dropped"] == {"rejected": 2}
        assert len([r for r in caplog.records if "rejected the credentials" in r.getMessage()]) == 1

    def test_a_strict_partial_success_drops_only_the_failed_records(
        self, make_manager: MakeManager, fake_server_factory: Any
    ) -> None:
        server = fake_server_factory([MixpanelFake(service_accounts={SA_USER: SA_SECRET})])
        body = {
            "code": 400,
            "error": "some data points in the request failed validation",
            "status": "Bad Request",
            "num_records_imported": 3,
            "failed_records": [{"index": 1, "$insert_id": "x", "field": "properties.time", "message": "bad"}],
        }
        server.faults.add("status", route="/import", count=1, status=400, body=json.dumps(body))
        manager = make_manager([(MixpanelTelemetryProvider, import_config(server.base_url))])
        for n in range(4):
            manager.track_event("row", {"n": n})
        assert manager.flush(5.0)

        stats = manager.stats()["Mixpanel"]
        assert (stats["sent"], stats["dropped"]) == (3, {"rejected": 1})
        assert len(server.requests(path="/import")) == 1  # the valid rows are ingested: no resend

    def test_a_partial_service_account_is_an_invalid_config_naming_what_is_missing(self) -> None:
        reason = config("http://127.0.0.1:9", service_account_username=SA_USER).invalid_reason()
        assert reason is not None
        assert "MIXPANEL_SERVICE_ACCOUNT_SECRET" in reason
        assert "MIXPANEL_PROJECT_ID" in reason
        assert "MIXPANEL_SERVICE_ACCOUNT_USERNAME" not in reason


class TestAnswersAreClassifiedAsMixpanelDocumentsThem:
    @pytest.mark.parametrize(
        ("status", "body", "expected"),
        [
            (200, {"status": 1, "error": None}, "ok"),
            (200, {"status": 0, "error": "data, missing or empty"}, "drop"),
            (200, 1, "ok"),
            (200, 0, "drop"),
            (200, {"code": 200, "num_records_imported": 5, "status": "OK"}, "ok"),
            (200, "<html>", "retry"),
            (400, {"code": 400, "error": "request exceeds max limit of 2000 events"}, "drop"),
            (401, {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}, "drop"),
            (403, {"error": "forbidden", "status": "error"}, "drop"),
            (413, {"code": 413, "error": "request exceeds max limit of 2097152 bytes"}, "split"),
            (429, {"code": 429, "error": "Project exceeded rate limits."}, "retry"),
            (502, None, "retry"),
            (503, None, "retry"),
        ],
    )
    def test_each_documented_answer_gets_its_verdict(self, status: int, body: Any, expected: str) -> None:
        raw = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        assert provider().classify(HttpResponse(status, raw), 5).status == expected

    def test_a_strict_partial_failure_of_every_record_drops_the_batch(self) -> None:
        body = {"code": 400, "error": "failed", "failed_records": [{"index": 0}, {"index": 1}]}
        outcome = provider().classify(HttpResponse(400, json.dumps(body).encode()), 2)
        assert outcome.status == "drop"

    def test_413_from_the_fake_splits_the_batch_until_it_fits(
        self, make_manager: MakeManager, mixpanel: FakeServer
    ) -> None:
        mixpanel.faults.add("413", route="/track", count=1)
        manager = make_manager([(MixpanelTelemetryProvider, config(mixpanel.base_url))])
        for n in range(6):
            manager.track_event("big", {"n": n})
        assert manager.flush(5.0)

        assert [len(sent_items(r)) for r in mixpanel.requests(path="/track")] == [6, 3, 3]
        assert sorted(e.params["n"] for e in mixpanel.events()) == list(range(6))

    def test_429_is_retried_and_then_delivered(self, make_manager: MakeManager, mixpanel: FakeServer) -> None:
        mixpanel.faults.add("429", route="/track", count=2)
        manager = make_manager([(MixpanelTelemetryProvider, config(mixpanel.base_url))])
        manager.track_event("throttled")
        assert manager.flush(5.0)

        assert [r.status for r in mixpanel.requests(path="/track")] == [429, 429, 200]
        assert [e.name for e in mixpanel.events()] == ["throttled"]


json_leaves = st.one_of(
    st.text(max_size=300), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()
)
nested = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def accepted_by_the_fake(mapped: dict[str, Any]) -> None:
    """Send `mapped` through build_request to the fake's validator (no socket) and require a yes."""
    encoded = json.dumps(mapped, separators=(",", ":"), ensure_ascii=False).encode()
    request = provider().build_request([encoded])
    headers = {k.lower(): v for k, v in request.headers.items()}
    split = urlsplit(request.url)
    query = parse_qs(split.query)
    handled = MixpanelFake().handle(FakeRequest("POST", split.path, query, headers, request.body))
    assert json.loads(handled.response.body) == {"status": 1, "error": None}
    (received,) = handled.events
    assert received.accepted, received.problems


class TestAnyInputStaysWithinMixpanelLimits:
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(params=st.dictionaries(st.text(max_size=20), nested, max_size=20))
    def test_any_params_map_to_an_event_the_fakes_validator_accepts(self, params: dict[str, Any]) -> None:
        mapped = provider().map_event(event(params=params))
        assert mapped is not None
        assert all(depth(v) <= 3 for v in mapped["properties"].values())
        assert all(len(v) <= 255 for v in mapped["properties"].values() if isinstance(v, str))
        accepted_by_the_fake(mapped)

    def test_too_many_properties_long_strings_and_wide_values_are_cut_to_the_limits(self) -> None:
        params: dict[str, Any] = {f"p{n}": n for n in range(300)}
        params["p0"] = "x" * 1000
        params["p1"] = list(range(300))
        params["p2"] = {f"k{n}": n for n in range(300)}
        mapped = provider().map_event(event(params=params))
        assert mapped is not None
        properties = mapped["properties"]
        assert len(properties) < 255
        assert len(properties["p0"]) == 255
        assert len(properties["p1"]) < 255
        assert len(properties["p2"]) < 255
        accepted_by_the_fake(mapped)

    @pytest.mark.parametrize("name", [None, "", "   ", 42])
    def test_an_event_without_a_usable_name_is_dropped_before_sending(self, name: Any) -> None:
        assert provider().map_event(event(name=name)) is None
