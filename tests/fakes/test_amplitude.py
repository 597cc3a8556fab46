"""AmplitudeFake: the documented HTTP V2 / Batch / Identify behaviour, then the official SDK against it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify

from fakes._model import FakeRequest, Handled
from fakes.amplitude import AmplitudeFake

if TYPE_CHECKING:
    from fakes._server import FakeServer
    from fakes.pytest_plugin import FakeServerFactory

DEVICE = "device-12345"
USER = "user-12345"


def post(
    fake: AmplitudeFake,
    payload: Any,
    *,
    path: str = "/2/httpapi",
    content_type: str = "application/json; charset=UTF-8",
) -> Handled:
    """POST `payload` (JSON-encoded unless already bytes) to the fake."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return fake.handle(FakeRequest("POST", path, {}, {"content-type": content_type}, body))


def upload(*events: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An HTTP V2 body with `events`."""
    return {"api_key": "key", "events": list(events), **extra}


def event(**fields: Any) -> dict[str, Any]:
    """A valid event, overridable field by field (None removes a field)."""
    base: dict[str, Any] = {"event_type": "Button Clicked", "device_id": DEVICE}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def answer(handled: Handled) -> tuple[int, dict[str, Any]]:
    return handled.response.status, json.loads(handled.response.body)


class TestSuccessfulUploads:
    def test_an_accepted_upload_answers_the_documented_success_summary(self) -> None:
        body = json.dumps(upload(event(), event())).encode()
        status, summary = answer(post(AmplitudeFake(), body))
        assert status == 200
        assert summary["code"] == 200
        assert summary["events_ingested"] == 2
        assert summary["payload_size_bytes"] == len(body)
        assert isinstance(summary["server_upload_time"], int)

    def test_the_batch_route_takes_the_same_format(self) -> None:
        handled = post(AmplitudeFake(), upload(event()), path="/batch")
        assert answer(handled)[0] == 200
        assert len(handled.events) == 1

    def test_an_event_is_normalised_with_every_documented_field(self) -> None:
        sent = event(
            user_id=USER,
            time=1_700_000_000_123,
            session_id=1_700_000_000_000,
            insert_id="insert-1",
            event_properties={"button": "save"},
            user_properties={"plan": "pro"},
        )
        (received,) = post(AmplitudeFake(), upload(sent)).events
        assert received.vendor == "amplitude"
        assert received.kind == "event"
        assert received.name == "Button Clicked"
        assert received.params == {"button": "save"}
        assert received.client_id == DEVICE
        assert received.session_id == 1_700_000_000_000
        assert received.time == pytest.approx(1_700_000_000.123)
        assert received.insert_id == "insert-1"
        assert received.user_properties == {"plan": "pro"}
        assert received.accepted
        assert received.raw == sent

    def test_the_client_id_falls_back_to_the_user_id(self) -> None:
        (received,) = post(AmplitudeFake(), upload(event(device_id=None, user_id=USER))).events
        assert received.client_id == USER

    def test_page_viewed_is_a_page_view(self) -> None:
        (received,) = post(AmplitudeFake(), upload(event(event_type="Page Viewed"))).events
        assert received.kind == "page_view"

    def test_an_identify_event_carries_its_flattened_user_property_operations(self) -> None:
        operations = {"$set": {"plan": "pro"}, "$setOnce": {"first": 1}, "$unset": {"old": "-"}}
        sent = event(event_type="$identify", user_properties=operations)
        (received,) = post(AmplitudeFake(), upload(sent)).events
        assert received.kind == "user_properties"
        assert received.name == "$identify"
        assert received.params == {"plan": "pro", "first": 1, "old": None}
        assert received.user_properties == operations

    def test_a_too_short_id_is_stripped_when_the_other_id_is_usable(self) -> None:
        handled = post(AmplitudeFake(), upload(event(user_id="abc")))
        assert answer(handled)[0] == 200
        (received,) = handled.events
        assert received.client_id == DEVICE
        assert "user_id" not in received.raw

    def test_options_min_id_length_lowers_the_id_limit(self) -> None:
        sent = upload(event(device_id="abc"), options={"min_id_length": 3})
        (received,) = post(AmplitudeFake(), sent).events
        assert received.client_id == "abc"


class TestRejectedRequests:
    """Request-level 400s: every body is JSON with `code`, and nothing is ingested."""

    @pytest.mark.parametrize(
        ("body", "content_type", "expected"),
        [
            pytest.param(b"", "application/json", {"error": "Missing request body"}, id="empty"),
            pytest.param(b"{nope", "application/json", {"error": "Invalid JSON request body"}, id="bad-json"),
            pytest.param(b"[1, 2]", "application/json", {"error": "Invalid JSON request body"}, id="array"),
            pytest.param(
                json.dumps(upload(event())).encode(),
                "text/plain",
                {"error": "Invalid JSON request body"},
                id="not-json-content-type",
            ),
            pytest.param(
                json.dumps({"events": [event()]}).encode(),
                "application/json",
                {"error": "Request missing required field", "missing_field": "api_key"},
                id="no-api-key",
            ),
            pytest.param(
                json.dumps({"api_key": "key"}).encode(),
                "application/json",
                {"error": "Request missing required field", "missing_field": "events"},
                id="no-events",
            ),
            pytest.param(
                json.dumps({"api_key": "key", "events": []}).encode(),
                "application/json",
                {"error": "Request missing required field", "missing_field": "events"},
                id="empty-events",
            ),
        ],
    )
    def test_a_malformed_request_gets_the_documented_400(
        self, body: bytes, content_type: str, expected: dict[str, Any]
    ) -> None:
        handled = post(AmplitudeFake(), body, content_type=content_type)
        assert answer(handled) == (400, {"code": 400, **expected})
        assert handled.events == ()

    def test_an_unknown_api_key_is_rejected_with_the_prefix_the_sdk_matches(self) -> None:
        handled = post(AmplitudeFake(valid_api_keys={"right"}), upload(event()))
        assert answer(handled) == (400, {"code": 400, "error": "Invalid API key: key"})
        assert handled.events == ()

    def test_any_non_empty_key_is_valid_by_default(self) -> None:
        assert answer(post(AmplitudeFake(), upload(event())))[0] == 200

    def test_only_post_is_served(self) -> None:
        handled = AmplitudeFake().handle(FakeRequest("GET", "/2/httpapi", {}, {}, b""))
        status, body = answer(handled)
        assert (status, body["code"]) == (405, 405)


class TestRejectedEvents:
    """Event-level 400s list event indices by field; the whole request is rejected."""

    @pytest.mark.parametrize(
        ("bad", "expected"),
        [
            pytest.param(
                event(event_type=None),
                {
                    "error": "Invalid field values on some events",
                    "events_with_missing_fields": {"event_type": [1]},
                },
                id="no-event-type",
            ),
            pytest.param(
                event(device_id=None),
                {
                    "error": "Invalid field values on some events",
                    "events_with_missing_fields": {"user_id": [1], "device_id": [1]},
                },
                id="no-ids",
            ),
            pytest.param(
                event(device_id="abcd"),
                {
                    "error": "Invalid id length for user_id or device_id",
                    "events_with_invalid_id_lengths": {"device_id": [1]},
                },
                id="short-device-id",
            ),
            pytest.param(
                event(device_id=None, user_id="nil"),
                {
                    "error": "Invalid id length for user_id or device_id",
                    "events_with_invalid_id_lengths": {"user_id": [1]},
                },
                id="short-and-invalid-user-id",
            ),
            pytest.param(
                event(device_id="undefined"),
                {
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"device_id": [1]},
                },
                id="invalid-device-id-value",
            ),
            pytest.param(
                event(device_id="00000000-0000-0000-0000-000000000000"),
                {
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"device_id": [1]},
                },
                id="zero-device-id",
            ),
            pytest.param(
                event(device_id=12345678),
                {
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"device_id": [1]},
                },
                id="numeric-device-id",
            ),
            pytest.param(
                event(time=1.7e12),
                {
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"time": [1]},
                },
                id="float-time",
            ),
            pytest.param(
                event(time="2024-01-01T00:00:00Z"),
                {
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"time": [1]},
                },
                id="string-time",
            ),
            pytest.param(
                event(session_id="abc"),
                {
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"session_id": [1]},
                },
                id="string-session-id",
            ),
            pytest.param(
                event(event_properties=["not", "an", "object"]),
                {
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"event_properties": [1]},
                },
                id="event-properties-not-object",
            ),
            pytest.param(
                event(event_type="[Amplitude] Start Session"),
                {
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"event_type": [1]},
                },
                id="reserved-event-type",
            ),
            pytest.param(
                "not an event",
                {
                    "error": "Invalid event JSON",
                    "events_with_invalid_fields": {"event": [1]},
                },
                id="event-not-object",
            ),
        ],
    )
    def test_an_invalid_event_gets_the_documented_400(self, bad: Any, expected: dict[str, Any]) -> None:
        handled = post(AmplitudeFake(), upload(event(), bad))
        assert answer(handled) == (400, {"code": 400, **expected})
        assert handled.events == ()
        assert handled.validation_messages

    def test_the_id_length_limit_follows_options_min_id_length(self) -> None:
        handled = post(AmplitudeFake(), upload(event(device_id="abcdef"), options={"min_id_length": 8}))
        assert answer(handled) == (
            400,
            {
                "code": 400,
                "error": "Invalid id length for user_id or device_id",
                "events_with_invalid_id_lengths": {"device_id": [0]},
            },
        )


class TestPayloadLimits:
    def test_more_than_2000_events_is_too_large(self) -> None:
        handled = post(AmplitudeFake(), upload(*[event()] * 2001))
        assert answer(handled) == (413, {"code": 413, "error": "Payload too large"})
        assert handled.events == ()

    def test_exactly_2000_events_is_accepted(self) -> None:
        assert answer(post(AmplitudeFake(), upload(*[event()] * 2000)))[0] == 200

    def test_a_body_over_1_mb_is_too_large_for_http_v2_but_fine_for_batch(self) -> None:
        big = upload(event(event_properties={"blob": "x" * (1024 * 1024)}))
        assert answer(post(AmplitudeFake(), big))[0] == 413
        assert answer(post(AmplitudeFake(), big, path="/batch"))[0] == 200

    def test_a_body_over_20_mb_is_too_large_for_batch(self) -> None:
        huge = upload(event(event_properties={"blob": "x" * (20 * 1024 * 1024)}))
        assert answer(post(AmplitudeFake(), huge, path="/batch"))[0] == 413

    def test_limits_can_be_lowered_to_provoke_a_413_cheaply(self) -> None:
        fake = AmplitudeFake(max_events_per_request=2, max_request_bytes={"/batch": 10})
        assert answer(post(fake, upload(event(), event(), event())))[0] == 413
        assert answer(post(fake, upload(event()), path="/batch"))[0] == 413


class TestDeduplication:
    def test_a_repeated_insert_id_is_answered_200_but_recorded_once(self) -> None:
        fake = AmplitudeFake()
        first = post(fake, upload(event(insert_id="same")))
        second = post(fake, upload(event(insert_id="same")))
        assert answer(second)[0] == 200
        assert len(first.events) == 1
        assert second.events == ()
        (note,) = second.validation_messages
        assert note["validationCode"] == "DUPLICATE"

    def test_duplicates_inside_one_request_are_recorded_once(self) -> None:
        handled = post(AmplitudeFake(), upload(event(insert_id="same"), event(insert_id="same")))
        assert answer(handled)[1]["events_ingested"] == 2
        assert len(handled.events) == 1

    def test_the_same_insert_id_from_another_device_is_not_a_duplicate(self) -> None:
        fake = AmplitudeFake()
        post(fake, upload(event(insert_id="same")))
        assert len(post(fake, upload(event(insert_id="same", device_id="other-device"))).events) == 1

    def test_events_without_insert_id_are_never_deduplicated(self) -> None:
        fake = AmplitudeFake()
        post(fake, upload(event()))
        assert len(post(fake, upload(event())).events) == 1

    def test_a_rejected_request_does_not_remember_its_insert_ids(self) -> None:
        fake = AmplitudeFake()
        post(fake, upload(event(insert_id="same"), event(time="bad")))
        assert len(post(fake, upload(event(insert_id="same"))).events) == 1

    def test_reset_forgets_seen_insert_ids(self) -> None:
        fake = AmplitudeFake()
        post(fake, upload(event(insert_id="same")))
        fake.reset()
        assert len(post(fake, upload(event(insert_id="same"))).events) == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestThrottling:
    def test_a_device_over_the_eps_threshold_gets_the_documented_429(self) -> None:
        fake = AmplitudeFake(eps_threshold=2)
        busy = event(device_id="busy-device")
        handled = post(fake, upload(busy, event(user_id=USER, device_id=None), busy, busy))
        assert answer(handled) == (
            429,
            {
                "code": 429,
                "error": "Too many requests for some devices and users",
                "eps_threshold": 2,
                "throttled_devices": {"busy-device": 3},
                "throttled_users": {},
                "throttled_events": [0, 2, 3],
            },
        )
        assert handled.events == ()

    def test_users_are_counted_separately_from_devices(self) -> None:
        fake = AmplitudeFake(eps_threshold=1)
        handled = post(fake, upload(event(device_id=None, user_id=USER), event(user_id=USER)))
        body = answer(handled)[1]
        assert body["throttled_users"] == {USER: 2}
        assert body["throttled_events"] == [0, 1]

    def test_the_threshold_applies_over_a_rolling_second(self) -> None:
        clock = FakeClock()
        fake = AmplitudeFake(eps_threshold=2, clock=clock)
        assert answer(post(fake, upload(event(), event())))[0] == 200
        assert answer(post(fake, upload(event())))[0] == 429
        clock.now += 1.0
        assert answer(post(fake, upload(event())))[0] == 200

    def test_there_is_no_throttling_by_default(self) -> None:
        assert answer(post(AmplitudeFake(), upload(*[event()] * 500)))[0] == 200

    def test_an_injected_429_has_the_documented_shape(self) -> None:
        response = AmplitudeFake().error_body(429)
        assert response is not None
        assert response.status == 429
        body = json.loads(response.body)
        assert body["code"] == 429
        assert body["error"] == "Too many requests for some devices and users"
        assert body["eps_threshold"] == 30
        assert body["throttled_events"] == []

    def test_an_injected_413_has_the_documented_body(self) -> None:
        response = AmplitudeFake().error_body(413)
        assert response is not None
        assert (response.status, json.loads(response.body)) == (
            413,
            {"code": 413, "error": "Payload too large"},
        )

    def test_other_injected_statuses_use_the_servers_default_body(self) -> None:
        assert AmplitudeFake().error_body(503) is None


def identify_request(
    fields: dict[str, str], *, method: str = "POST", content_type: str | None = None
) -> FakeRequest:
    """A form-encoded (or, for GET, query-string) Identify API request."""
    if method == "GET":
        query = {name: [value] for name, value in fields.items()}
        return FakeRequest("GET", "/identify", query, {}, b"")
    headers = {"content-type": content_type or "application/x-www-form-urlencoded"}
    return FakeRequest("POST", "/identify", {}, headers, urlencode(fields).encode())


class TestIdentifyApi:
    def test_a_form_encoded_identification_becomes_a_user_properties_event(self) -> None:
        identification = {"user_id": USER, "user_properties": {"$set": {"plan": "pro"}}}
        fields = {"api_key": "key", "identification": json.dumps(identification)}
        handled = AmplitudeFake().handle(identify_request(fields))
        assert (handled.response.status, handled.response.body) == (200, b"success")
        (received,) = handled.events
        assert (received.kind, received.name, received.client_id) == (
            "user_properties",
            "$identify",
            USER,
        )
        assert received.params == {"plan": "pro"}

    def test_an_array_of_identifications_is_accepted(self) -> None:
        identification = [
            {"device_id": DEVICE, "user_properties": {"color": "red"}},
            {"user_id": USER, "user_properties": {"$add": {"logins": 1}}},
        ]
        fields = {"api_key": "key", "identification": json.dumps(identification)}
        handled = AmplitudeFake().handle(identify_request(fields))
        assert [e.params for e in handled.events] == [{"color": "red"}, {"logins": 1}]

    def test_a_get_with_query_parameters_works_too(self) -> None:
        fields = {"api_key": "key", "identification": json.dumps({"user_id": USER})}
        handled = AmplitudeFake().handle(identify_request(fields, method="GET"))
        assert handled.response.status == 200
        assert len(handled.events) == 1

    def test_multipart_form_data_is_accepted(self) -> None:
        boundary = "XyZ"
        parts = [("api_key", "key"), ("identification", json.dumps({"user_id": USER}))]
        body = (
            "".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                for name, value in parts
            )
            + f"--{boundary}--\r\n"
        )
        request = FakeRequest(
            "POST",
            "/identify",
            {},
            {"content-type": f"multipart/form-data; boundary={boundary}"},
            body.encode(),
        )
        handled = AmplitudeFake().handle(request)
        assert handled.response.status == 200
        assert handled.events[0].client_id == USER

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            pytest.param(
                {"identification": json.dumps({"user_id": USER})},
                {"error": "Request missing required field", "missing_field": "api_key"},
                id="no-api-key",
            ),
            pytest.param({"api_key": "key"}, {"error": "missing_event"}, id="no-identification"),
            pytest.param(
                {"api_key": "key", "identification": "{nope"},
                {"error": "missing_event"},
                id="bad-json",
            ),
            pytest.param(
                {"api_key": "key", "identification": json.dumps({"user_properties": {}})},
                {"error": "missing_event"},
                id="no-id",
            ),
            pytest.param(
                {
                    "api_key": "key",
                    "identification": json.dumps(
                        {"user_id": USER, "user_properties": {"$set": {"a": 1}, "b": 2}}
                    ),
                },
                {"error": "missing_event"},
                id="operations-mixed-with-plain-properties",
            ),
        ],
    )
    def test_a_bad_identify_request_gets_a_400(
        self, fields: dict[str, str], expected: dict[str, Any]
    ) -> None:
        handled = AmplitudeFake().handle(identify_request(fields))
        assert answer(handled) == (400, {"code": 400, **expected})
        assert handled.events == ()

    def test_an_unknown_api_key_is_rejected(self) -> None:
        fields = {"api_key": "wrong", "identification": json.dumps({"user_id": USER})}
        handled = AmplitudeFake(valid_api_keys=["right"]).handle(identify_request(fields))
        assert answer(handled) == (400, {"code": 400, "error": "Invalid API key: wrong"})


# -- the official amplitude-analytics SDK against the fake, over loopback HTTP --------------------


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours HTTP(S)_PROXY; loopback traffic must never go through a proxy."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


class Callbacks:
    """Collects the SDK's `callback(event, code, message)` calls; waits on a condition."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.calls: list[tuple[str, int, str | None]] = []

    def __call__(self, event: BaseEvent, code: int, message: str | None = None) -> None:
        with self._changed:
            self.calls.append((str(event.event_type), code, message))
            self._changed.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[tuple[str, int, str | None]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.calls) >= n, timeout):
                raise AssertionError(f"{len(self.calls)} of {n} callbacks arrived: {self.calls}")
            return list(self.calls)


MakeClient = Callable[..., tuple[Amplitude, Callbacks]]


@pytest.fixture
def amplitude_client() -> Iterator[MakeClient]:
    """Builds SDK clients with a short flush interval; shuts every one down afterwards."""
    made: list[Amplitude] = []

    def make(server_url: str, api_key: str = "test-api-key", **config: Any) -> tuple[Amplitude, Callbacks]:
        callbacks = Callbacks()
        options: dict[str, Any] = {"flush_interval_millis": 200, **config}
        client = Amplitude(api_key, Config(server_url=server_url, callback=callbacks, **options))
        made.append(client)
        return client, callbacks

    yield make
    for client in made:
        client.shutdown()


def flush(client: Amplitude) -> None:
    """Flush and wait for the first send of every batch (retries run on the SDK's own thread)."""
    for future in client.flush():
        if future is not None:
            future.result(timeout=10)


def sent_batches(server: FakeServer) -> list[tuple[int | None, int]]:
    """(status, number of events) for every /2/httpapi request, in arrival order."""
    return [(r.status, len(r.json()["events"])) for r in server.requests(path="/2/httpapi")]


class TestSdkDelivery:
    def test_tracked_events_arrive_with_the_sdk_context_fields(
        self, fake_server: FakeServer, amplitude_client: MakeClient
    ) -> None:
        client, callbacks = amplitude_client(fake_server.url("/2/httpapi"))
        for n in range(3):
            client.track(
                BaseEvent(
                    "Button Clicked",
                    device_id=DEVICE,
                    session_id=1_700_000_000_000,
                    event_properties={"n": n},
                )
            )
        flush(client)
        events = fake_server.wait_for(3, vendor="amplitude")
        assert [e.params for e in events] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert {e.client_id for e in events} == {DEVICE}
        assert {e.session_id for e in events} == {1_700_000_000_000}
        assert all(e.time is not None and e.insert_id for e in events)
        assert events[0].raw["library"].startswith("amplitude-python/")
        assert callbacks.wait_for(3) == [("Button Clicked", 200, "Event sent successfully.")] * 3
        (request,) = fake_server.requests(path="/2/httpapi")
        assert request.headers["content-type"] == "application/json; charset=UTF-8"
        assert request.json()["api_key"] == "test-api-key"

    def test_a_page_view_is_recorded_as_one(
        self, fake_server: FakeServer, amplitude_client: MakeClient
    ) -> None:
        client, _ = amplitude_client(fake_server.url("/2/httpapi"))
        client.track(BaseEvent("Page Viewed", user_id=USER, event_properties={"page": "/home"}))
        flush(client)
        (page_view,) = fake_server.wait_for(1, vendor="amplitude", kind="page_view")
        assert page_view.params == {"page": "/home"}

    def test_the_batch_route_serves_use_batch_clients(
        self, fake_server: FakeServer, amplitude_client: MakeClient
    ) -> None:
        client, _ = amplitude_client(fake_server.url("/batch"), use_batch=True)
        client.track(BaseEvent("Button Clicked", device_id=DEVICE))
        flush(client)
        fake_server.wait_for(1, vendor="amplitude")
        assert [r.path for r in fake_server.requests(vendor="amplitude")] == ["/batch"]

    def test_a_5xx_is_retried_and_the_events_arrive_once(
        self, fake_server: FakeServer, amplitude_client: MakeClient
    ) -> None:
        fake_server.faults.add("status", route="/2/httpapi", count=1, status=503)
        client, callbacks = amplitude_client(fake_server.url("/2/httpapi"))
        client.track(BaseEvent("Button Clicked", device_id=DEVICE))
        flush(client)
        assert callbacks.wait_for(1) == [("Button Clicked", 200, "Event sent successfully.")]
        assert len(fake_server.wait_for(1, vendor="amplitude")) == 1
        assert sent_batches(fake_server) == [(503, 1), (200, 1)]


class TestSdkPayloadTooLarge:
    def test_a_413_makes_the_sdk_halve_its_batch(
        self, fake_server: FakeServer, amplitude_client: MakeClient
    ) -> None:
        fake_server.faults.add("413", route="/2/httpapi", count=1)
        client, _ = amplitude_client(fake_server.url("/2/httpapi"), flush_queue_size=10)
        for n in range(10):
            client.track(BaseEvent("Button Clicked", device_id=DEVICE, event_properties={"n": n}))
        flush(client)
        assert len(fake_server.wait_for(10, vendor="amplitude")) == 10
        first, *retries = sent_batches(fake_server)
        assert first == (413, 10)
        # Halved to 5; the SDK's consumer may split further by what is due at the moment.
        assert all(status == 200 and size <= 5 for status, size in retries)
        assert sum(size for _, size in retries) == 10

    def test_the_fakes_own_limit_drives_the_batch_down_until_it_fits(
        self, fake_server_factory: FakeServerFactory, amplitude_client: MakeClient
    ) -> None:
        server = fake_server_factory([AmplitudeFake(max_events_per_request=4)])
        client, _ = amplitude_client(server.url("/2/httpapi"), flush_queue_size=10)
        for n in range(10):
            client.track(BaseEvent("Button Clicked", device_id=DEVICE, event_properties={"n": n}))
        flush(client)
        events = server.wait_for(10, vendor="amplitude", timeout=10)
        assert sorted(e.params["n"] for e in events) == list(range(10))
        batches = sent_batches(server)
        assert batches[0] == (413, 10)
        assert all(size <= 4 for status, size in batches if status == 200)
        assert {status for status, size in batches if size > 4} == {413}


class TestSdkThrottling:
    def test_an_injected_429_is_retried_and_then_delivered(
        self, fake_server: FakeServer, amplitude_client: MakeClient
    ) -> None:
        fake_server.faults.add("429", route="/2/httpapi", count=1)
        client, callbacks = amplitude_client(fake_server.url("/2/httpapi"))
        client.track(BaseEvent("Button Clicked", device_id=DEVICE))
        client.track(BaseEvent("Button Clicked", device_id=DEVICE))
        flush(client)
        assert len(fake_server.wait_for(2, vendor="amplitude")) == 2
        assert sent_batches(fake_server) == [(429, 2), (200, 2)]
        assert {code for _, code, _ in callbacks.wait_for(2)} == {200}

    def test_a_throttled_device_is_held_back_while_the_others_are_retried(
        self, fake_server_factory: FakeServerFactory, amplitude_client: MakeClient
    ) -> None:
        fake = AmplitudeFake(eps_threshold=3)
        server = fake_server_factory([fake])
        client, callbacks = amplitude_client(server.url("/2/httpapi"))
        for _ in range(4):
            client.track(BaseEvent("Busy", device_id="busy-device"))
        client.track(BaseEvent("Calm", device_id="calm-device"))
        flush(client)

        (calm,) = server.wait_for(1, vendor="amplitude")
        assert calm.client_id == "calm-device"
        first = server.requests(path="/2/httpapi")[0]
        assert first.status == 429
        throttled = [m["fieldPath"] for m in first.validation_messages]
        assert throttled == ["events[0]", "events[1]", "events[2]", "events[3]"]
        # The SDK parks throttled events for 30 s; only the calm one has been resent so far.
        assert sent_batches(server) == [(429, 5), (200, 1)]
        assert callbacks.wait_for(1) == [("Calm", 200, "Event sent successfully.")]

        fake.eps_threshold = None
        flush(client)  # flush() sends parked events at once
        assert len(server.wait_for(5, vendor="amplitude")) == 5


class TestSdkInvalidEvents:
    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            pytest.param(
                BaseEvent("Bad", user_id="abc"),
                "Invalid id length for user_id or device_id",
                id="short-user-id",
            ),
            pytest.param(
                BaseEvent("[Amplitude] Revenue", device_id=DEVICE),
                "Invalid field values on some events",
                id="reserved-event-type",
            ),
        ],
    )
    def test_an_invalid_event_gets_its_callback_and_the_rest_are_retried(
        self,
        fake_server: FakeServer,
        amplitude_client: MakeClient,
        bad: BaseEvent,
        message: str,
    ) -> None:
        client, callbacks = amplitude_client(fake_server.url("/2/httpapi"))
        client.track(BaseEvent("Good", device_id=DEVICE))
        client.track(bad)
        flush(client)
        calls = callbacks.wait_for(2)
        assert sorted(calls) == sorted(
            [(bad.event_type, 400, message), ("Good", 200, "Event sent successfully.")]
        )
        assert [e.name for e in fake_server.wait_for(1, vendor="amplitude")] == ["Good"]
        assert sent_batches(fake_server) == [(400, 2), (200, 1)]

    def test_an_invalid_api_key_drops_the_events_and_is_logged(
        self,
        fake_server_factory: FakeServerFactory,
        amplitude_client: MakeClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        server = fake_server_factory([AmplitudeFake(valid_api_keys={"the-right-key"})])
        client, callbacks = amplitude_client(server.url("/2/httpapi"), api_key="a-wrong-key")
        client.track(BaseEvent("Button Clicked", device_id=DEVICE))
        with caplog.at_level(logging.ERROR, logger="amplitude"):
            flush(client)
        assert "Invalid API Key" in caplog.text
        assert sent_batches(server) == [(400, 1)]
        assert server.events() == []
        assert callbacks.calls == []


class TestSdkIdentify:
    def test_identify_arrives_as_a_user_properties_event(
        self, fake_server: FakeServer, amplitude_client: MakeClient
    ) -> None:
        client, _ = amplitude_client(fake_server.url("/2/httpapi"))
        client.identify(
            Identify().set("plan", "pro").set_once("first_seen", "2024-01-01"),
            EventOptions(user_id=USER),
        )
        flush(client)
        (identify,) = fake_server.wait_for(1, vendor="amplitude", kind="user_properties")
        assert identify.name == "$identify"
        assert identify.client_id == USER
        assert identify.params == {"plan": "pro", "first_seen": "2024-01-01"}
        assert identify.user_properties == {
            "$set": {"plan": "pro"},
            "$setOnce": {"first_seen": "2024-01-01"},
        }
