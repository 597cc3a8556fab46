"""The Segment-compatible fake answers as RudderStack's gateway and Segment's API document."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
import requests

from fakes import FakeServer
from fakes._model import FakeRequest
from fakes.segment import SegmentFake

KEY = "known-write-key-123"


def auth(key: str | None = KEY, *, colon: bool = True) -> dict[str, str]:
    if key is None:
        return {}
    raw = f"{key}:" if colon else key
    return {"authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def message(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": "track", "event": "clicked", "anonymousId": "anon-1", "messageId": "m-1"}
    base.update(extra)
    return base


def post(
    fake: SegmentFake,
    body: Any,
    *,
    path: str = "/v1/batch",
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    merged = {"content-type": "application/json", **(headers if headers is not None else auth())}
    return fake.handle(FakeRequest("POST", path, {}, merged, data))


def text(handled: Any) -> str:
    return str(handled.response.body.decode())


class TestRudderStackAnswers:
    @pytest.mark.parametrize(
        ("case", "status", "body"),
        [
            ("no auth header", 401, "failed to read writekey from header\n"),
            ("basic auth without a colon", 401, "failed to read writekey from header\n"),
            ("unknown write key", 401, "invalid write key\n"),
            ("disabled source", 404, "source is disabled\n"),
            ("invalid json", 400, "invalid json\n"),
            ("a non-object message", 400, "event is not a valid rudder event\n"),
            ("a message without any id", 400, "request neither has anonymousId nor userId\n"),
            ("an empty batch", 400, "empty batch payload\n"),
            ("a body over 4,096,000 bytes", 413, "request size exceeds max limit\n"),
            ("bad gzip", 500, "failed to read body from request\n"),
            ("a good batch", 200, "ok"),
        ],
    )
    def test_each_documented_case_gets_its_status_and_plain_text_body(
        self, case: str, status: int, body: str
    ) -> None:
        fake = SegmentFake("rudderstack", write_keys=[KEY, "off-key-123"], disabled_keys=["off-key-123"])
        good = {"batch": [message()]}
        handled = {
            "no auth header": lambda: post(fake, good, headers={}),
            "basic auth without a colon": lambda: post(fake, good, headers=auth(KEY, colon=False)),
            "unknown write key": lambda: post(fake, good, headers=auth("nope-key-123")),
            "disabled source": lambda: post(fake, good, headers=auth("off-key-123")),
            "invalid json": lambda: post(fake, None, raw=b"{not json"),
            "a non-object message": lambda: post(fake, {"batch": [message(), 7]}),
            "a message without any id": lambda: post(fake, {"batch": [message(), message(anonymousId=None)]}),
            "an empty batch": lambda: post(fake, {"batch": []}),
            "a body over 4,096,000 bytes": lambda: post(fake, {"batch": [message(pad="x" * 4_100_000)]}),
            "bad gzip": lambda: post(
                fake, None, raw=b"not gzip", headers={**auth(), "content-encoding": "gzip"}
            ),
            "a good batch": lambda: post(fake, good),
        }[case]()
        assert (handled.response.status, text(handled)) == (status, body)
        assert handled.response.headers["Content-Type"].startswith("text/plain")

    def test_legacy_data_planes_answer_in_capitalised_words(self) -> None:
        fake = SegmentFake("rudderstack", legacy=True)
        assert text(post(fake, {"batch": [message()]})) == "OK"
        assert text(post(fake, {"batch": [message()]}, headers={})) == "Failed to read writeKey from header\n"

    def test_identity_is_checked_for_the_whole_request_before_anything_is_stored(self) -> None:
        fake = SegmentFake("rudderstack")
        handled = post(fake, {"batch": [message(), message(anonymousId=" ", userId=None)]})
        assert handled.response.status == 400
        assert handled.events == ()

    def test_a_numeric_user_id_counts_as_an_identity(self) -> None:
        handled = post(SegmentFake("rudderstack"), {"batch": [message(anonymousId=None, userId=42)]})
        assert handled.response.status == 200
        assert handled.events[0].client_id == "42"

    def test_a_single_message_route_sets_the_type_from_the_route(self) -> None:
        handled = post(SegmentFake("rudderstack"), message(type="track", name="Home"), path="/v1/page")
        assert handled.response.status == 200
        assert handled.events[0].kind == "page_view"

    def test_the_body_write_key_is_ignored(self) -> None:
        handled = post(SegmentFake("rudderstack"), {"batch": [message()], "writeKey": KEY}, headers={})
        assert handled.response.status == 401

    def test_dedup_is_off_unless_asked_for(self) -> None:
        for fake, recorded_again in (
            (SegmentFake("rudderstack"), 1),
            (SegmentFake("rudderstack", dedup=True), 0),
        ):
            post(fake, {"batch": [message()]})
            handled = post(fake, {"batch": [message()]})
            assert handled.response.status == 200
            assert len(handled.events) == recorded_again

    def test_a_message_without_message_id_gets_one(self) -> None:
        handled = post(SegmentFake("rudderstack"), {"batch": [message(messageId=None)]})
        assert handled.events[0].insert_id


class TestSegmentAnswers:
    def test_a_good_batch_is_200_success_true(self) -> None:
        handled = post(SegmentFake("segment"), {"batch": [message()]})
        assert handled.response.status == 200
        assert json.loads(handled.response.body) == {"success": True}

    @pytest.mark.parametrize(
        ("headers", "body"),
        [
            (auth(), {"batch": [message()]}),
            ({}, {"batch": [message()], "writeKey": KEY}),
            ({"authorization": "Bearer oauth-token"}, {"batch": [message()], "writeKey": KEY}),
        ],
        ids=["basic", "body-write-key", "bearer-plus-body-key"],
    )
    def test_the_three_documented_authentications_are_accepted(
        self, headers: dict[str, str], body: dict[str, Any]
    ) -> None:
        assert post(SegmentFake("segment"), body, headers=headers).response.status == 200

    def test_a_missing_write_key_is_a_400(self) -> None:
        assert post(SegmentFake("segment"), {"batch": [message()]}, headers={}).response.status == 400

    def test_an_unknown_key_is_answered_200_but_its_events_are_dropped(self) -> None:
        handled = post(
            SegmentFake("segment", write_keys=[KEY]), {"batch": [message()]}, headers=auth("other-123")
        )
        assert handled.response.status == 200
        assert [e.accepted for e in handled.events] == [False]

    @pytest.mark.parametrize(
        ("body", "description"),
        [
            ({"batch": [message(pad="x" * 33_000)]}, "a message over 32 KB"),
            (
                {"batch": [message(pad="x" * 20_000, messageId=str(n)) for n in range(26)]},
                "a request over 500 KB",
            ),
        ],
        ids=["message", "request"],
    )
    def test_oversized_requests_are_400(self, body: dict[str, Any], description: str) -> None:
        assert post(SegmentFake("segment"), body).response.status == 400, description

    def test_messages_beyond_2500_are_dropped_with_a_200(self) -> None:
        fake = SegmentFake("segment", max_messages=3)
        handled = post(fake, {"batch": [message(messageId=f"m{n}") for n in range(5)]})
        assert handled.response.status == 200
        assert [e.accepted for e in handled.events] == [True, True, True, False, False]

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            ({"anonymousId": None}, "no_user_anon_id"),
            ({"event": None}, "event_not_string"),
            ({"properties": []}, "properties_not_object"),
            ({"type": "nonsense"}, "type_not_defined"),
            ({"messageId": "m" * 100}, "message_id_too_long"),
        ],
    )
    def test_invalid_messages_are_discarded_with_a_200_and_the_reason(
        self, bad: dict[str, Any], reason: str
    ) -> None:
        handled = post(SegmentFake("segment"), {"batch": [message(**bad)]})
        assert handled.response.status == 200
        assert [e.problems for e in handled.events] == [(reason,)]

    def test_duplicates_are_dropped_on_message_id_across_write_keys(self) -> None:
        fake = SegmentFake("segment")
        post(fake, {"batch": [message(messageId="same")]}, headers=auth("key-one-123"))
        handled = post(fake, {"batch": [message(messageId="same")]}, headers=auth("key-two-123"))
        assert handled.response.status == 200
        assert handled.events == ()

    def test_an_injected_429_carries_retry_after_and_rate_limit_reset(self) -> None:
        answer = SegmentFake("segment").error_body(429)
        assert answer is not None
        assert answer.status == 429
        assert {"Retry-After", "X-RateLimit-Reset"} <= set(answer.headers)


class TestOverTheWire:
    def test_gzip_bodies_are_decoded_and_normalised_events_recorded(self, fake_server_factory: Any) -> None:
        server: FakeServer = fake_server_factory([SegmentFake("rudderstack")])
        body = gzip.compress(
            json.dumps({"batch": [message(properties={"session_id": "s-1", "n": 1})]}).encode()
        )
        with requests.Session() as session:
            session.trust_env = False
            answer = session.post(
                server.url("/v1/batch"),
                data=body,
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json", **auth()},
                timeout=5,
            )
        assert (answer.status_code, answer.text) == (200, "ok")
        (event,) = server.events()
        assert (event.vendor, event.kind, event.name, event.session_id) == (
            "rudderstack",
            "event",
            "clicked",
            "s-1",
        )

    def test_the_default_fake_server_hosts_it(self, fake_server: FakeServer) -> None:
        assert "/v1/batch" in fake_server.vendor("rudderstack").routes
