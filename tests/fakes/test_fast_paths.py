"""The vendor fakes' shortcuts for common payloads give the same verdicts as the full checks."""

from __future__ import annotations

import json
from typing import Any

from fakes._model import FakeRequest, Handled
from fakes.amplitude import AmplitudeFake
from fakes.ga4 import GA4Fake, validate_payload
from fakes.mixpanel import MixpanelFake

NOW = 1_700_000_000.0


def json_request(path: str, payload: Any, query: dict[str, list[str]] | None = None) -> FakeRequest:
    body = json.dumps(payload).encode()
    return FakeRequest("POST", path, query or {}, {"content-type": "application/json"}, body)


def ga4_payload(params: dict[str, Any]) -> dict[str, Any]:
    return {"client_id": "1.2", "events": [{"name": "signup", "params": params}]}


class TestGA4ParamNamesSeenBefore:
    def test_a_valid_name_seen_before_still_has_its_value_length_checked(self) -> None:
        assert validate_payload(ga4_payload({"fast_path_v": "short"}), now=NOW) == []
        messages = validate_payload(ga4_payload({"fast_path_v": "x" * 101}), now=NOW)
        assert [m["validationCode"] for m in messages] == ["VALUE_OUT_OF_BOUNDS"]

    def test_repeated_names_and_too_many_params_are_reported_when_every_name_was_seen(self) -> None:
        names = {f"fast_path_p{i}": 1 for i in range(26)}
        assert [m["validationCode"] for m in validate_payload(ga4_payload(names), now=NOW)] == [
            "EXCEEDED_MAX_ENTITIES"
        ]
        body = b'{"client_id":"1.2","events":[{"name":"e","params":{"fast_path_p1":1,"fast_path_p1":2}}]}'
        request = FakeRequest("POST", "/debug/mp/collect", {}, {}, body)
        messages = GA4Fake(clock=lambda: NOW).handle(request).validation_messages
        assert [m["validationCode"] for m in messages] == ["NAME_DUPLICATED"]

    def test_items_and_reserved_names_are_never_taken_for_plain_names(self) -> None:
        for _ in range(2):
            params = {"items": "not a list", "_private": 1}
            codes = [m["validationCode"] for m in validate_payload(ga4_payload(params), now=NOW)]
            assert codes == ["VALUE_INVALID", "NAME_RESERVED"]

    def test_every_event_of_a_clean_request_is_accepted_with_its_own_dicts(self) -> None:
        payload = {"client_id": "1.2", "user_properties": {"plan": {"value": "pro"}}}
        payload["events"] = [{"name": "e", "params": {"n": i}} for i in range(3)]
        query = {"measurement_id": ["G-1"], "api_secret": ["s"]}
        events = GA4Fake(clock=lambda: NOW).handle(json_request("/mp/collect", payload, query)).events
        assert [(e.accepted, e.problems, e.params["n"]) for e in events] == [(True, (), i) for i in range(3)]
        assert events[0].user_properties == {"plan": "pro"}
        assert events[0].user_properties is not events[1].user_properties


class TestAmplitudeIdsAndDepth:
    def test_a_device_id_of_zeros_and_dashes_only_is_invalid(self) -> None:
        events = [{"event_type": "e", "device_id": "0000-0000"}]
        handled = AmplitudeFake().handle(json_request("/2/httpapi", {"api_key": "k", "events": events}))
        assert json.loads(handled.response.body)["events_with_invalid_fields"] == {"device_id": [0]}

    def test_event_properties_may_nest_40_levels_but_not_41(self) -> None:
        def nested(depth: int) -> dict[str, Any]:
            value: Any = 1
            for level in range(depth):  # objects and arrays alternate, the outermost an object
                value = [2, value] if (depth - level) % 2 == 0 else {"n": 1, "a": value}
            return dict(value)

        def status(depth: int) -> int:
            event = {"event_type": "e", "device_id": "device-1", "event_properties": nested(depth)}
            request = json_request("/2/httpapi", {"api_key": "k", "events": [event]})
            return AmplitudeFake().handle(request).response.status

        assert (status(1), status(40), status(41)) == (200, 200, 400)


class TestMixpanelEventSize:
    def test_only_the_event_over_1_mb_in_a_large_batch_fails(self) -> None:
        def event(i: int) -> dict[str, Any]:
            properties = {"token": "t", "distinct_id": "d", "time": NOW - 60, "$insert_id": f"id-{i}"}
            return {"event": "e", "properties": properties}

        events = [event(i) for i in range(150)]
        events[70]["properties"]["big"] = "z" * (1024 * 1024)
        handled: Handled = MixpanelFake(now=lambda: NOW).handle(
            FakeRequest("POST", "/track", {"verbose": ["1"]}, {"content-type": "application/json"},
                        json.dumps(events).encode())
        )  # fmt: skip
        rejected = [e.raw["properties"]["$insert_id"] for e in handled.events if not e.accepted]
        assert rejected == ["id-70"]
        assert handled.events[70].problems == ("event must be smaller than 1 MB",)
        assert sum(e.accepted for e in handled.events) == 149
