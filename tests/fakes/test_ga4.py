"""The GA4 Measurement Protocol fake: documented validation rules, both endpoints, ga4mp fidelity."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes import FakeRequest, FakeServer
from fakes.ga4 import (
    APP_ONLY_EVENT_NAMES,
    RESERVED_EVENT_NAMES,
    GA4Fake,
    check_payload,
    validate_payload,
)

NOW = 1_700_000_000.0
HOUR_MICROS = 3600 * 1_000_000


def valid_payload() -> dict[str, Any]:
    return {
        "client_id": "123456.7654321",
        "user_properties": {"plan": {"value": "pro"}},
        "events": [
            {"name": "page_view", "params": {"session_id": 1, "engagement_time_msec": 1}},
            {"name": "signup", "params": {"method": "email"}},
        ],
    }


def mutated(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    payload = valid_payload()
    change(payload)
    return payload


def codes(messages: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(m.get("fieldPath"), m["validationCode"]) for m in messages]


def many(prefix: str, n: int, value: Any = "v") -> dict[str, Any]:
    return {f"{prefix}{i}": value for i in range(n)}


# (id, payload, options, expected (fieldPath, validationCode) pairs); [] means valid.
RULE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[tuple[str | None, str]]]] = [
    ("valid payload", valid_payload(), {}, []),
    ("missing client_id", mutated(lambda p: p.pop("client_id")), {},
     [("client_id", "VALUE_REQUIRED")]),
    ("firebase needs app_instance_id", valid_payload(), {"firebase": True},
     [("app_instance_id", "VALUE_REQUIRED")]),
    ("firebase with app_instance_id",
     mutated(lambda p: p.update(app_instance_id=p.pop("client_id"))), {"firebase": True}, []),
    ("event name starting with underscore",
     mutated(lambda p: p["events"][0].update(name="_badEventName")), {},
     [("events", "NAME_INVALID")]),
    ("event name starting with a digit",
     mutated(lambda p: p["events"][0].update(name="1st_event")), {}, [("events", "NAME_INVALID")]),
    ("event name with punctuation",
     mutated(lambda p: p["events"][0].update(name="campaign@details")), {},
     [("events", "NAME_INVALID")]),
    ("event name of 40 characters", mutated(lambda p: p["events"][0].update(name="e" * 40)), {},
     []),
    ("event name of 41 characters", mutated(lambda p: p["events"][0].update(name="e" * 41)), {},
     [("events", "NAME_INVALID")]),
    ("reserved event name", mutated(lambda p: p["events"][0].update(name="session_start")), {},
     [("events", "NAME_RESERVED")]),
    ("screen_view on a web stream", mutated(lambda p: p["events"][0].update(name="screen_view")),
     {}, [("events", "NAME_RESERVED")]),
    ("screen_view on an app stream",
     mutated(lambda p: (p["events"][0].update(name="screen_view"),
                        p.update(app_instance_id=p.pop("client_id")))),
     {"firebase": True}, []),
    ("25 events", mutated(lambda p: p.update(events=[{"name": "e"}] * 25)), {}, []),
    ("26 events", mutated(lambda p: p.update(events=[{"name": "e"}] * 26)), {},
     [("events", "EXCEEDED_MAX_ENTITIES")]),
    ("no events", mutated(lambda p: p.update(events=[])), {}, [("events", "VALUE_REQUIRED")]),
    ("events missing", mutated(lambda p: p.pop("events")), {}, [("events", "VALUE_REQUIRED")]),
    ("25 params", mutated(lambda p: p["events"][1].update(params=many("p", 25))), {}, []),
    ("26 params", mutated(lambda p: p["events"][1].update(params=many("p", 26))), {},
     [("events.params", "EXCEEDED_MAX_ENTITIES")]),
    ("reserved param firebase_conversion",
     mutated(lambda p: p["events"][1]["params"].update(firebase_conversion=1)), {},
     [("events.params", "NAME_RESERVED")]),
    ("param prefix _", mutated(lambda p: p["events"][1]["params"].update(_x=1)), {},
     [("events.params", "NAME_RESERVED")]),
    ("param prefix firebase_", mutated(lambda p: p["events"][1]["params"].update(firebase_x=1)),
     {}, [("events.params", "NAME_RESERVED")]),
    ("param prefix ga_", mutated(lambda p: p["events"][1]["params"].update(ga_x=1)), {},
     [("events.params", "NAME_RESERVED")]),
    ("param prefix google_", mutated(lambda p: p["events"][1]["params"].update(google_x=1)), {},
     [("events.params", "NAME_RESERVED")]),
    ("param prefix gtag.", mutated(lambda p: p["events"][1]["params"].update({"gtag.x": 1})), {},
     [("events.params", "NAME_RESERVED")]),
    ("param name with a dash", mutated(lambda p: p["events"][1]["params"].update({"a-b": 1})), {},
     [("events.params", "NAME_INVALID")]),
    ("param name of 41 characters",
     mutated(lambda p: p["events"][1]["params"].update({"p" * 41: 1})), {},
     [("events.params", "NAME_INVALID")]),
    ("param value of 100 characters",
     mutated(lambda p: p["events"][1]["params"].update(v="x" * 100)), {}, []),
    ("param value of 101 characters",
     mutated(lambda p: p["events"][1]["params"].update(v="x" * 101)), {},
     [("events.params", "VALUE_OUT_OF_BOUNDS")]),
    ("GA360 param value of 500 characters",
     mutated(lambda p: p["events"][1]["params"].update(v="x" * 500)), {"ga360": True}, []),
    ("GA360 param value of 501 characters",
     mutated(lambda p: p["events"][1]["params"].update(v="x" * 501)), {"ga360": True},
     [("events.params", "VALUE_OUT_OF_BOUNDS")]),
    ("item param name invalid",
     mutated(lambda p: p["events"][1]["params"].update(items=[{"item-id": "a"}])), {},
     [("events.params.items", "NAME_INVALID")]),
    ("201 items",
     mutated(lambda p: p["events"][1]["params"].update(items=[{"item_id": "a"}] * 201)), {},
     [("events.params.items", "EXCEEDED_MAX_ENTITIES")]),
    ("25 user properties",
     mutated(lambda p: p.update(user_properties=many("u", 25, {"value": 1}))), {}, []),
    ("26 user properties",
     mutated(lambda p: p.update(user_properties=many("u", 26, {"value": 1}))), {},
     [("user_properties", "EXCEEDED_MAX_ENTITIES")]),
    ("user property name of 24 characters",
     mutated(lambda p: p["user_properties"].update({"u" * 24: {"value": 1}})), {}, []),
    ("user property name of 25 characters",
     mutated(lambda p: p["user_properties"].update({"u" * 25: {"value": 1}})), {},
     [("user_properties", "NAME_INVALID")]),
    ("user property value of 36 characters",
     mutated(lambda p: p["user_properties"].update(plan={"value": "x" * 36})), {}, []),
    ("user property value of 37 characters",
     mutated(lambda p: p["user_properties"].update(plan={"value": "x" * 37})), {},
     [("user_properties", "VALUE_OUT_OF_BOUNDS")]),
    ("reserved user property name",
     mutated(lambda p: p["user_properties"].update(first_open_time={"value": 1})), {},
     [("user_properties", "NAME_RESERVED")]),
    ("user property named user_id",
     mutated(lambda p: p["user_properties"].update(user_id={"value": 1})), {},
     [("user_properties", "NAME_RESERVED")]),
    ("user property prefix google_",
     mutated(lambda p: p["user_properties"].update(google_x={"value": 1})), {},
     [("user_properties", "NAME_RESERVED")]),
    ("user property as a bare value",
     mutated(lambda p: p["user_properties"].update(plan="pro")), {}, [(None, "VALUE_INVALID")]),
    ("body of 129999 bytes", valid_payload(), {"body_size": 129_999}, []),
    ("body of 130000 bytes", valid_payload(), {"body_size": 130_000},
     [(None, "VALUE_OUT_OF_BOUNDS")]),
    ("73 h old timestamp, relaxed",
     mutated(lambda p: p.update(timestamp_micros=NOW * 1e6 - 73 * HOUR_MICROS)), {}, []),
    ("73 h old timestamp, enforced",
     mutated(lambda p: p.update(timestamp_micros=NOW * 1e6 - 73 * HOUR_MICROS,
                                validation_behavior="ENFORCE_RECOMMENDATIONS")), {},
     [("timestamp_micros", "VALUE_INVALID")]),
    ("71 h old timestamp, enforced",
     mutated(lambda p: p.update(timestamp_micros=NOW * 1e6 - 71 * HOUR_MICROS,
                                validation_behavior="ENFORCE_RECOMMENDATIONS")), {}, []),
    ("73 h old event timestamp, enforced",
     mutated(lambda p: (p["events"][0].update(timestamp_micros=NOW * 1e6 - 73 * HOUR_MICROS),
                        p.update(validation_behavior="ENFORCE_RECOMMENDATIONS"))), {},
     [("events.timestamp_micros", "VALUE_INVALID")]),
    ("client_id format, relaxed", mutated(lambda p: p.update(client_id="18")), {}, []),
    ("client_id format, enforced",
     mutated(lambda p: p.update(client_id="18", validation_behavior="ENFORCE_RECOMMENDATIONS")),
     {}, [("client_id", "VALUE_INVALID")]),
    ("unknown validation_behavior", mutated(lambda p: p.update(validation_behavior="STRICT")), {},
     [("validation_behavior", "VALUE_INVALID")]),
    ("unknown top-level field", mutated(lambda p: p.update(clientId="1.2")), {},
     [(None, "VALUE_INVALID")]),
    ("unknown event field", mutated(lambda p: p["events"][0].update(names="x")), {},
     [(None, "VALUE_INVALID")]),
    ("consent granted", mutated(lambda p: p.update(consent={"ad_user_data": "GRANTED"})), {}, []),
    ("consent in lower case", mutated(lambda p: p.update(consent={"ad_user_data": "granted"})),
     {}, [("consent.ad_user_data", "VALUE_INVALID")]),
    ("user_id of 257 characters", mutated(lambda p: p.update(user_id="u" * 257)), {},
     [("user_id", "VALUE_OUT_OF_BOUNDS")]),
]  # fmt: skip


class TestValidationRules:
    @pytest.mark.parametrize(
        ("payload", "options", "expected"),
        [pytest.param(p, o, e, id=i) for i, p, o, e in RULE_CASES],
    )
    def test_payload_gets_exactly_the_documented_messages(self, payload, options, expected):
        """Each documented rule yields its validationCode at its fieldPath, and nothing else."""
        messages = validate_payload(copy.deepcopy(payload), now=NOW, **options)
        assert codes(messages) == expected

    def test_official_invalid_name_description_is_reproduced(self):
        """The one official example message is matched word for word."""
        payload = mutated(lambda p: p["events"][0].update(name="_badEventName"))
        assert validate_payload(payload, now=NOW) == [
            {
                "fieldPath": "events",
                "description": "Event at index: [0] has invalid name [_badEventName]. Names must "
                "start with an alphabetic character.",
                "validationCode": "NAME_INVALID",
            }
        ]

    def test_missing_client_id_description_matches_the_real_server(self):
        """Captures of the real server say "Measurement requires a client_id."."""
        (message,) = validate_payload(mutated(lambda p: p.pop("client_id")), now=NOW)
        assert message["description"] == "Measurement requires a client_id."

    def test_unknown_event_field_is_a_parse_error_without_field_path(self):
        """Parse errors carry no fieldPath, as in captures of the real server."""
        (message,) = validate_payload(mutated(lambda p: p["events"][0].update(names="x")), now=NOW)
        assert "fieldPath" not in message
        assert message["description"] == (
            "Unable to parse Measurement Protocol JSON payload. (events[0]) names: Cannot find field."
        )

    def test_body_size_defaults_to_the_compact_json_encoding(self):
        """Without body_size the limit applies to the payload's compact JSON encoding."""
        payload = mutated(lambda p: p["events"][1]["params"].update(big="x" * 100))
        payload["user_data"] = {"blob": "x" * 130_000}
        assert (None, "VALUE_OUT_OF_BOUNDS") in codes(validate_payload(payload, now=NOW))

    def test_param_problems_only_drop_the_event_under_enforce_recommendations(self):
        """RELAXED ignores an over-long param (a note); ENFORCE_RECOMMENDATIONS drops the event."""
        relaxed = mutated(lambda p: p["events"][1]["params"].update(v="x" * 101))
        enforced = copy.deepcopy(relaxed)
        enforced["validation_behavior"] = "ENFORCE_RECOMMENDATIONS"
        assert [f.scope for f in check_payload(relaxed, now=NOW)] == ["note"]
        assert [f.scope for f in check_payload(enforced, now=NOW)] == ["event"]


_NAME_CHARS = st.sampled_from(list("aZ9_-. é$ß\n"))
EVENT_NAMES = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,44}", fullmatch=True),
    st.text(_NAME_CHARS, max_size=45),
    st.sampled_from(sorted(RESERVED_EVENT_NAMES | APP_ONLY_EVENT_NAMES)),
)


def name_follows_the_documented_rules(name: str) -> bool:
    """The rules as the docs word them, written independently of the fake."""
    return (
        len(name) <= 40
        and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) is not None
        and name not in RESERVED_EVENT_NAMES
        and name not in {"ad_impression", "in_app_purchase", "screen_view"}
    )


class TestEventNameProperty:
    @given(name=EVENT_NAMES)
    def test_random_event_name_is_accepted_exactly_when_it_follows_the_rules(self, name):
        """validate_payload and /mp/collect's accepted flag both agree with the documented rules."""
        payload = {"client_id": "1.2", "events": [{"name": name}]}
        expected = name_follows_the_documented_rules(name)
        assert (validate_payload(payload, now=NOW) == []) is expected
        request = FakeRequest(
            "POST",
            "/mp/collect",
            {"measurement_id": ["G-1"], "api_secret": ["s"]},
            {},
            json.dumps(payload).encode(),
        )
        (event,) = GA4Fake(clock=lambda: NOW).handle(request).events
        assert event.accepted is expected


class TestCollectEndpoint:
    def test_valid_request_gets_204_with_an_empty_body(self, post_ga4):
        """Production answers 204 No Content."""
        response = post_ga4({"client_id": "1.2", "events": [{"name": "signup"}]})
        assert response.status_code == 204
        assert response.content == b""

    def test_invalid_events_still_get_204_but_are_recorded_as_dropped(self, post_ga4, ga4_server):
        """The real endpoint never reports problems; the fake records them on the event."""
        response = post_ga4({"client_id": "1.2", "events": [{"name": "ok"}, {"name": "bad-name"}]})
        assert response.status_code == 204
        ok, bad = ga4_server.events("ga4")
        assert ok.accepted
        assert ok.problems == ()
        assert not bad.accepted
        assert "Only alphanumeric characters and underscores are allowed." in bad.problems[0]

    def test_over_long_param_keeps_the_event_but_notes_the_problem(self, post_ga4, ga4_server):
        """Under RELAXED an over-limit param is ignored, not the whole event."""
        post_ga4({"client_id": "1.2", "events": [{"name": "e", "params": {"v": "x" * 101}}]})
        (event,) = ga4_server.events()
        assert event.accepted
        assert "the limit is 100" in event.problems[0]

    def test_body_that_is_not_json_gets_204_and_yields_no_event(self, session, ga4_server):
        """A garbage body is still 2xx, and nothing is decoded."""
        response = session.post(ga4_server.url("/mp/collect?api_secret=s"), data=b"{not json")
        assert response.status_code == 204
        assert ga4_server.events() == []
        assert ga4_server.requests()[0].status == 204

    def test_missing_api_secret_gets_204_but_events_are_not_accepted(self, post_ga4, ga4_server):
        """Choice: without api_secret Google records nothing; the fake says so on each event."""
        post_ga4({"client_id": "1.2", "events": [{"name": "e"}]}, query="?measurement_id=G-1")
        (event,) = ga4_server.events()
        assert not event.accepted
        assert event.problems == ("api_secret is missing: Google does not record the request.",)

    def test_get_is_refused_with_405(self, session, ga4_server):
        """Only POST is supported."""
        response = session.get(ga4_server.url("/mp/collect"))
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"

    def test_events_are_normalised_to_received_events(self, post_ga4, ga4_server):
        """Name, kind, params, client_id, session_id, time and user properties are mapped."""
        stamp = time.time() - 60
        post_ga4(
            {
                "client_id": "123.456",
                "timestamp_micros": int(stamp * 1e6),
                "user_properties": {"plan": {"value": "pro"}, "seats": {"value": 3}},
                "events": [
                    {"name": "page_view", "params": {"session_id": "170", "page_title": "Home"}},
                    {"name": "signup", "timestamp_micros": int((stamp + 1) * 1e6)},
                ],
            }
        )
        page, signup = ga4_server.events("ga4")
        assert (page.vendor, page.kind, page.name) == ("ga4", "page_view", "page_view")
        assert page.params == {"session_id": "170", "page_title": "Home"}
        assert page.client_id == "123.456"
        assert page.session_id == "170"
        assert page.time == pytest.approx(stamp, abs=1e-3)
        assert page.insert_id is None
        assert page.user_properties == {"plan": "pro", "seats": 3}
        assert (signup.kind, signup.session_id) == ("event", None)
        assert signup.time == pytest.approx(stamp + 1, abs=1e-3)
        assert ga4_server.events(kind="page_view") == [page]

    def test_old_timestamp_is_clamped_to_72_hours_under_relaxed(self):
        """RELAXED accepts a too-old event and resets its time to 72 h ago."""
        fake = GA4Fake(clock=lambda: NOW)
        body = {"client_id": "1.2", "timestamp_micros": 0, "events": [{"name": "e"}]}
        request = FakeRequest("POST", "/mp/collect", {"api_secret": ["s"], "measurement_id": ["G"]},
                              {}, json.dumps(body).encode())  # fmt: skip
        (event,) = fake.handle(request).events
        assert event.accepted
        assert event.time == NOW - 72 * 3600

    def test_old_timestamp_drops_the_request_under_enforce_recommendations(self):
        """ENFORCE_RECOMMENDATIONS rejects timestamps over 72 h old."""
        body = {
            "client_id": "1.2",
            "timestamp_micros": 0,
            "validation_behavior": "ENFORCE_RECOMMENDATIONS",
            "events": [{"name": "e"}],
        }
        request = FakeRequest("POST", "/mp/collect", {"api_secret": ["s"], "measurement_id": ["G"]},
                              {}, json.dumps(body).encode())  # fmt: skip
        (event,) = GA4Fake(clock=lambda: NOW).handle(request).events
        assert not event.accepted
        assert event.time == 0

    def test_firebase_variant_uses_app_instance_id_as_client_id(self, post_ga4, ga4_server):
        """firebase_app_id= with app_instance_id in the body; app-only names are allowed."""
        body = {"app_instance_id": "abcdef0123456789abcdef0123456789",
                "events": [{"name": "screen_view"}]}  # fmt: skip
        post_ga4(body, query="?firebase_app_id=1:2:android:3&api_secret=s")
        (event,) = ga4_server.events()
        assert event.accepted
        assert event.client_id == "abcdef0123456789abcdef0123456789"


class TestDebugEndpoint:
    def test_clean_request_gets_200_with_no_validation_messages(self, post_ga4):
        """A valid payload returns {"validationMessages": []}."""
        response = post_ga4({"client_id": "1.2", "events": [{"name": "signup"}]}, debug=True)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"validationMessages": []}

    def test_debug_endpoint_reports_reserved_event_name(self, post_ga4, ga4_server):
        """The validation server answers with the NAME_RESERVED message."""
        response = post_ga4({"client_id": "1.2", "events": [{"name": "first_visit"}]}, debug=True)
        assert response.json()["validationMessages"] == [
            {
                "fieldPath": "events",
                "description": "Event at index: [0] has name [first_visit] which is reserved.",
                "validationCode": "NAME_RESERVED",
            }
        ]
        assert ga4_server.validation_messages("ga4") == response.json()["validationMessages"]

    def test_debug_endpoint_records_no_events(self, post_ga4, ga4_server):
        """Events sent to the validation server are never recorded."""
        post_ga4({"client_id": "1.2", "events": [{"name": "signup"}]}, debug=True)
        assert ga4_server.events() == []
        assert ga4_server.requests()[0].path == "/debug/mp/collect"

    def test_debug_endpoint_does_not_check_api_secret(self, post_ga4):
        """The validation server ignores api_secret and measurement_id."""
        response = post_ga4({"client_id": "1.2", "events": [{"name": "e"}]}, debug=True, query="")
        assert response.json() == {"validationMessages": []}

    def test_repeated_param_names_are_reported_as_duplicated(self, session, ga4_server):
        """JSON objects with a repeated key give NAME_DUPLICATED."""
        body = b'{"client_id": "1.2", "events": [{"name": "e", "params": {"a": 1, "a": 2}}]}'
        response = session.post(ga4_server.url("/debug/mp/collect"), data=body)
        assert codes(response.json()["validationMessages"]) == [("events.params", "NAME_DUPLICATED")]

    def test_body_that_is_not_json_gets_a_parse_error(self, session, ga4_server):
        """Unparseable JSON is reported as VALUE_INVALID without a fieldPath."""
        response = session.post(ga4_server.url("/debug/mp/collect"), data=b"{nope")
        (message,) = response.json()["validationMessages"]
        assert message["validationCode"] == "VALUE_INVALID"
        assert "fieldPath" not in message


class TestGa4mpClient:
    """Fidelity: the third-party `ga4mp` client talks to the fake as it would to Google."""

    @staticmethod
    def point_at(client: Any, server: FakeServer) -> None:
        client._base_domain = server.url("/mp/collect")
        client._validation_domain = server.url("/debug/mp/collect")

    def test_gtag_client_events_arrive_decoded(self, ga4_server):
        """GtagMP's batch arrives with its session_id and engagement_time_msec added."""
        from ga4mp import GtagMP

        client = GtagMP(api_secret="secret", measurement_id="G-TEST", client_id="123.456")
        self.point_at(client, ga4_server)
        client.store.set_user_property("plan", "pro")
        client.send([{"name": "level_up", "params": {"level": "2"}},
                     {"name": "page_view", "params": {}}])  # fmt: skip
        level_up, page_view = ga4_server.wait_for(2, vendor="ga4")
        assert level_up.name == "level_up"
        assert level_up.accepted
        assert level_up.client_id == "123.456"
        assert level_up.params["level"] == "2"
        assert isinstance(level_up.session_id, int)
        assert "engagement_time_msec" in level_up.params
        assert level_up.user_properties == {"plan": "pro"}
        assert page_view.kind == "page_view"
        (request,) = ga4_server.requests()
        assert request.query == {"measurement_id": ["G-TEST"], "api_secret": ["secret"]}
        assert request.headers["content-type"] == "application/json; charset=utf-8"

    def test_gtag_client_batches_of_more_than_25_are_split(self, ga4_server):
        """ga4mp splits 30 events into requests of 25 and 5, all accepted."""
        from ga4mp import GtagMP

        client = GtagMP(api_secret="secret", measurement_id="G-TEST", client_id="123.456")
        self.point_at(client, ga4_server)
        client.send([{"name": f"event_{i}", "params": {}} for i in range(30)])
        events = ga4_server.wait_for(30)
        assert all(e.accepted for e in events)
        assert [len(r.events) for r in ga4_server.requests()] == [25, 5]

    def test_firebase_client_events_arrive_with_app_instance_id(self, ga4_server):
        """FirebaseMP sends firebase_app_id= and app_instance_id."""
        from ga4mp import FirebaseMP

        client = FirebaseMP(api_secret="secret", firebase_app_id="1:23:android:45",
                            app_instance_id="0123456789abcdef0123456789abcdef")  # fmt: skip
        self.point_at(client, ga4_server)
        client.send([{"name": "screen_view", "params": {}}])
        (event,) = ga4_server.wait_for(1)
        assert event.accepted
        assert event.client_id == "0123456789abcdef0123456789abcdef"

    def test_validation_hit_reaches_the_debug_endpoint(self, ga4_server):
        """validation_hit=True goes to /debug/mp/collect, whose messages are recorded."""
        from ga4mp import GtagMP

        client = GtagMP(api_secret="secret", measurement_id="G-TEST", client_id="123.456")
        self.point_at(client, ga4_server)
        client.send([{"name": "session_start", "params": {}}], validation_hit=True)
        (request,) = ga4_server.wait_for_requests(1, path="/debug/mp/collect")
        assert request.status == 200
        assert codes(ga4_server.validation_messages()) == [("events", "NAME_RESERVED")]
        assert ga4_server.events() == []

    def test_postponed_send_posts_events_as_an_object_and_nothing_is_recorded(self, ga4_server):
        """ga4mp 2.0.4's postponed_send() sends `"events": {...}`, which GA4 cannot parse."""
        from ga4mp import GtagMP

        client = GtagMP(api_secret="secret", measurement_id="G-TEST", client_id="123.456")
        self.point_at(client, ga4_server)
        client.send([{"name": "later", "params": {}}], postpone=True)
        client.postponed_send()
        (request,) = ga4_server.wait_for_requests(1)
        assert request.status == 204
        assert isinstance(request.json()["events"], dict)
        assert ga4_server.events() == []
        assert codes(validate_payload(request.json())) == [(None, "VALUE_INVALID")]
