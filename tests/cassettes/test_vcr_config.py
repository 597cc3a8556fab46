"""The vcrpy configuration: scrubbing every provider's secret, matching, stable serialisation."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
import vcr
from hypothesis import given, settings
from hypothesis import strategies as st
from vcr.request import Request

from contract_tests.cassettes import (
    FAKE_HOST,
    REDACTED,
    SERIALIZER,
    CassetteYaml,
    Scrubber,
    body_matcher,
    cassette_vcr,
    decode_body,
    encode_body,
    normalise,
)

JSON_UTF8 = "application/json; charset=UTF-8"
FORM = "application/x-www-form-urlencoded"
GA4_SECRET = "aB3dEfGhIjKlMnOpQrStUv"
AMPLITUDE_KEY = "0123456789abcdef0123456789abcdef"
MIXPANEL_TOKEN = "fedcba9876543210fedcba9876543210"

secret_text = st.from_regex(r"\A[A-Za-z0-9_-]{16,40}\Z").filter(
    lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s)
)
"""Key-like values (a digit and a letter, 16+ characters): never a word the file holds anyway."""


def _request(uri: str, body: bytes, content_type: str = "application/json", **headers: str) -> Request:
    return Request("POST", uri, body, {"Content-Type": content_type, **headers})


def _cassette_text(
    request: Request, response: dict[str, Any] | None = None, known: tuple[str, ...] = ()
) -> str:
    """What the cassette file would hold for this interaction after the hooks ran.

    `known`: the secret values the recorder is told about; by default none, so only the rule on
    field names can redact.
    """
    scrubber = Scrubber(known)
    scrubbed = scrubber.request(request)
    answer = response or {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b""}}
    stored = scrubbed._to_dict()
    stored["body"] = stored["body"].decode()
    data = {"version": 1, "interactions": [{"request": stored, "response": scrubber.response(answer)}]}
    return str(CassetteYaml.serialize(data))


def _amplitude_body(key: str, time_ms: int = 1_700_000_000_000, insert_id: str = "ab12-1") -> bytes:
    event = {"event_type": "x", "device_id": "d", "time": time_ms, "insert_id": insert_id}
    return json.dumps({"api_key": key, "events": [event]}).encode()


def _mixpanel_body(token: str, time_ms: int = 1_700_000_000_000) -> bytes:
    data = [{"event": "x", "properties": {"token": token, "time": time_ms, "$insert_id": "ab-1"}}]
    return urlencode({"data": json.dumps(data), "verbose": 1, "ip": 0}).encode()


class TestEveryProvidersSecretIsScrubbed:
    def test_the_ga4_api_secret_in_the_query_string_is_redacted(self) -> None:
        uri = f"http://127.0.0.1:5555/mp/collect?measurement_id=G-X1&api_secret={GA4_SECRET}"
        text = _cassette_text(_request(uri, b'{"client_id":"c","events":[]}'))
        assert GA4_SECRET not in text
        assert f"api_secret={REDACTED}" in text

    def test_the_amplitude_key_in_a_json_body_whose_content_type_has_a_charset_is_redacted(self) -> None:
        request = _request("https://api2.amplitude.com/2/httpapi", _amplitude_body(AMPLITUDE_KEY), JSON_UTF8)
        text = _cassette_text(request)
        assert AMPLITUDE_KEY not in text
        assert f"api_key: {REDACTED}" in text

    def test_vcrpys_built_in_post_data_filter_would_have_missed_that_key(self) -> None:
        from vcr.filters import replace_body_parameters

        request = _request("https://api2.amplitude.com/2/httpapi", _amplitude_body(AMPLITUDE_KEY), JSON_UTF8)
        filtered = replace_body_parameters(request, [("api_key", None)])
        assert AMPLITUDE_KEY.encode() in filtered.body  # why before_record_request does the scrubbing

    def test_the_mixpanel_token_inside_the_form_data_json_is_redacted(self) -> None:
        request = _request("https://api.mixpanel.com/track", _mixpanel_body(MIXPANEL_TOKEN), FORM)
        text = _cassette_text(request)
        assert MIXPANEL_TOKEN not in text
        assert f"token: {REDACTED}" in text

    def test_basic_auth_is_redacted_and_its_scheme_kept(self) -> None:
        credentials = base64.b64encode(f"{MIXPANEL_TOKEN}:".encode()).decode()
        request = _request(
            "https://api.mixpanel.com/import", b"[]", "application/json", Authorization=f"Basic {credentials}"
        )
        text = _cassette_text(request)
        assert credentials not in text
        assert f"Basic {REDACTED}" in text

    def test_a_key_the_vendor_echoes_in_its_response_is_redacted(self) -> None:
        echoed = json.dumps({"code": 400, "error": f"Invalid API key: {AMPLITUDE_KEY}"}).encode()
        response = {
            "status": {"code": 400, "message": "Bad Request"},
            "headers": {"Content-Type": ["application/json"], "Date": ["Tue, 1 Jan 2030 00:00:00 GMT"]},
            "body": {"string": echoed},
        }
        request = _request("https://api2.amplitude.com/2/httpapi", _amplitude_body(AMPLITUDE_KEY))
        text = _cassette_text(request, response, known=(AMPLITUDE_KEY,))
        assert AMPLITUDE_KEY not in text
        assert f"Invalid API key: {REDACTED}" in text
        assert "Date" not in text

    @settings(max_examples=60, deadline=None)
    @given(secret=secret_text, where=st.sampled_from(["query", "json", "form", "header"]))
    def test_any_configured_secret_never_reaches_the_cassette_wherever_it_is_sent(
        self, secret: str, where: str
    ) -> None:
        uri = "http://127.0.0.1:1/collect"
        if where == "query":
            request = _request(f"{uri}?api_secret={secret}&id=1", b"{}")
        elif where == "json":
            request = _request(
                uri, json.dumps({"api_key": secret, "note": f"key {secret}"}).encode(), JSON_UTF8
            )
        elif where == "form":
            request = _request(uri, _mixpanel_body(secret), FORM)
        else:
            request = _request(uri, b"{}", Authorization=f"Bearer {secret}")
        scrubbed = Scrubber([secret]).request(request)
        serialized = CassetteYaml.serialize(
            {
                "version": 1,
                "interactions": [
                    {
                        "request": {**scrubbed._to_dict(), "body": scrubbed.body.decode()},
                        "response": {
                            "status": {"code": 204, "message": ""},
                            "headers": {},
                            "body": {"string": b""},
                        },
                    }
                ],
            }
        )
        assert secret not in serialized


class TestTheMatcher:
    def test_host_port_and_volatile_values_are_ignored(self) -> None:
        live = _request("http://127.0.0.1:41234/2/httpapi", _amplitude_body("k", 1_700_000_000_001, "aa-1"))
        stored = _request(
            "https://api2.amplitude.com/2/httpapi", _amplitude_body("k", 1_711_111_111_111, "bb-2")
        )
        body_matcher(live, stored)

    def test_a_changed_field_does_not_match_and_says_what_differs(self) -> None:
        live = _request(
            "http://127.0.0.1:1/2/httpapi", json.dumps({"events": [{"event_type": "a"}]}).encode()
        )
        stored = _request(
            "http://127.0.0.1:1/2/httpapi", json.dumps({"events": [{"event_type": "b"}]}).encode()
        )
        with pytest.raises(AssertionError, match="bodies differ"):
            body_matcher(live, stored)

    def test_a_time_in_seconds_instead_of_milliseconds_is_a_change(self) -> None:
        live = _request("http://127.0.0.1:1/x", _amplitude_body("k", 1_700_000_000))
        stored = _request("http://127.0.0.1:1/x", _amplitude_body("k", 1_700_000_000_000))
        with pytest.raises(AssertionError):
            body_matcher(live, stored)

    @settings(max_examples=60, deadline=None)
    @given(
        first=st.integers(min_value=10**12, max_value=10**13 - 1),
        second=st.integers(min_value=10**12, max_value=10**13 - 1),
    )
    def test_form_bodies_match_whatever_their_times(self, first: int, second: int) -> None:
        body_matcher(
            _request("http://127.0.0.1:1/track", _mixpanel_body("t" * 8, first), FORM),
            _request("http://127.0.0.1:2/track", _mixpanel_body("t" * 8, second), FORM),
        )

    def test_the_configured_vcr_matches_on_method_path_query_and_body_only(self) -> None:
        recorder = cassette_vcr("/nonexistent", record_mode="none")
        assert isinstance(recorder, vcr.VCR)
        assert recorder.record_mode == "none"
        assert recorder.match_on == ("method", "path", "query", "telemetry_body")
        assert SERIALIZER in recorder.serializers


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


class TestTheSerialiser:
    @settings(max_examples=40, deadline=None)
    @given(payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
    def test_a_json_body_survives_the_round_trip_through_the_file(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        data = {
            "version": 1,
            "interactions": [
                {
                    "request": {
                        "method": "POST",
                        "uri": "http://h/p",
                        "body": raw.decode(),
                        "headers": {"Content-Type": ["application/json"]},
                    },
                    "response": {
                        "status": {"code": 200, "message": "OK"},
                        "headers": {"Content-Type": ["application/json"]},
                        "body": {"string": raw},
                    },
                }
            ],
        }
        text = CassetteYaml.serialize(data)
        back = CassetteYaml.deserialize(text)["interactions"][0]
        assert json.loads(back["request"]["body"]) == payload
        assert json.loads(back["response"]["body"]["string"]) == payload

    def test_bodies_are_stored_as_key_sorted_structures_not_one_long_line(self) -> None:
        body = json.dumps({"zeta": 1, "alpha": {"b": 2, "a": 1}}).encode()
        request = _request("http://127.0.0.1:1/p", body)
        text = _cassette_text(request)
        assert "json:\n        alpha:\n          a: 1\n          b: 2\n        zeta: 1\n" in text
        assert body.decode() not in text

    def test_the_same_interaction_always_serialises_to_the_same_text(self) -> None:
        body = _amplitude_body(AMPLITUDE_KEY)
        first = _cassette_text(_request("http://127.0.0.1:1111/2/httpapi", body))
        second = _cassette_text(_request("http://127.0.0.1:2222/2/httpapi", body))
        assert first == second
        assert f"http://{FAKE_HOST}/2/httpapi" in first

    def test_form_fields_keep_their_order_and_json_values_are_structured(self) -> None:
        structured = decode_body(_mixpanel_body("t" * 8), FORM)
        assert [name for name, _ in structured["form"]] == ["data", "verbose", "ip"]
        assert structured["form"][0][1]["json"][0]["event"] == "x"
        assert decode_body(encode_body(structured), FORM) == structured

    def test_volatile_values_become_shape_tokens(self) -> None:
        payload = {
            "time": 1_700_000_000_000,
            "timestamp_micros": 1_700_000_000_000_000,
            "insert_id": "0123abcd-1f",
            "client_id": "5ca1ab1e-0000-4000-8000-000000000001",
            "nested": [{"$insert_id": "x-y-z", "sentAt": "2024-01-01T00:00:00.000Z", "kept": 7}],
            "library": "telemetry-toolkit/0.1.0",
        }
        assert normalise(payload) == {
            "time": "<int:13 digits>",
            "timestamp_micros": "<int:16 digits>",
            "insert_id": "<hex-id>",
            "client_id": "<uuid>",
            "nested": [{"$insert_id": "<str>", "sentAt": "<datetime>", "kept": 7}],
            "library": "telemetry-toolkit/<version>",
        }
