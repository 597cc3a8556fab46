"""MixpanelFake: the documented /track, /engage, /groups and /import behaviour, then the official
library against it."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

import pytest
from mixpanel import BufferedConsumer, Consumer, Mixpanel, MixpanelException
from mixpanel import ServiceAccountCredentials as Credentials

from fakes._model import FakeRequest, Handled
from fakes.mixpanel import MixpanelFake

if TYPE_CHECKING:
    from fakes._server import FakeServer
    from fakes.pytest_plugin import FakeServerFactory

NOW = 1_700_000_000.0
TOKEN = "project-token"
DISTINCT = "user-12345"


def fixed_now() -> float:
    return NOW


def make_fake(**options: Any) -> MixpanelFake:
    """A fake whose clock reads NOW."""
    return MixpanelFake(now=fixed_now, **options)


def track_event(**properties: Any) -> dict[str, Any]:
    """A valid /track event, overridable property by property (None removes one)."""
    base: dict[str, Any] = {
        "token": TOKEN,
        "distinct_id": DISTINCT,
        "time": NOW - 60,
        "$insert_id": "insert-1",
    }
    base.update(properties)
    name = base.pop("event", "Button Clicked")
    return {"event": name, "properties": {k: v for k, v in base.items() if v is not None}}


def import_event(**properties: Any) -> dict[str, Any]:
    """A valid /import event (no token needed: auth is Basic)."""
    return track_event(token=None, **properties)


def form(
    path: str,
    data: Any,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> FakeRequest:
    """A form-encoded request with `data=` (JSON-encoded unless already a string)."""
    encoded = data if isinstance(data, str) else json.dumps(data)
    all_headers = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
    return FakeRequest(
        "POST",
        path,
        {name: [value] for name, value in (query or {}).items()},
        all_headers,
        urlencode({"data": encoded, **fields}).encode(),
    )


def raw(
    path: str,
    body: bytes,
    content_type: str,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> FakeRequest:
    return FakeRequest(
        "POST",
        path,
        {name: [value] for name, value in (query or {}).items()},
        {"content-type": content_type, **(headers or {})},
        body,
    )


def basic(username: str, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


SERVICE_ACCOUNT = {"svc.user": "svc-secret"}
SA_AUTH = basic("svc.user", "svc-secret")
SA_QUERY = {"project_id": "12345"}


def import_request(events: Any, *, strict: bool = True, **extra: str) -> FakeRequest:
    query = {**SA_QUERY, **({"strict": "1"} if strict else {}), **extra}
    body = json.dumps(events).encode()
    return raw("/import", body, "application/json", query=query, headers=SA_AUTH)


def as_json(handled: Handled) -> tuple[int, Any]:
    return handled.response.status, json.loads(handled.response.body)


class TestTrackAnswers:
    def test_a_plain_request_is_answered_with_a_bare_1(self) -> None:
        handled = make_fake().handle(form("/track", track_event()))
        assert (handled.response.status, handled.response.body) == (200, b"1")

    def test_verbose_1_in_the_form_gets_the_status_object(self) -> None:
        handled = make_fake().handle(form("/track", track_event(), verbose="1"))
        assert as_json(handled) == (200, {"status": 1, "error": None})

    def test_verbose_1_in_the_query_string_works_too(self) -> None:
        handled = make_fake().handle(form("/track", track_event(), query={"verbose": "1"}))
        assert as_json(handled) == (200, {"status": 1, "error": None})

    def test_nothing_valid_is_answered_with_a_bare_0(self) -> None:
        handled = make_fake().handle(form("/track", track_event(token=None)))
        assert handled.response.body == b"0"

    def test_a_verbose_failure_names_the_problem(self) -> None:
        handled = make_fake().handle(form("/track", track_event(token=None), verbose="1"))
        assert as_json(handled) == (200, {"status": 0, "error": "'properties.token' is required"})

    def test_missing_data_is_reported_as_documented(self) -> None:
        request = FakeRequest(
            "POST",
            "/track",
            {},
            {"content-type": "application/x-www-form-urlencoded"},
            b"verbose=1",
        )
        assert as_json(make_fake().handle(request)) == (
            200,
            {"status": 0, "error": "data, missing or empty"},
        )

    def test_one_valid_object_is_enough_for_a_1(self) -> None:
        handled = make_fake().handle(form("/track", [track_event(), {"oops": 1}]))
        assert handled.response.body == b"1"
        assert len([e for e in handled.events if e.accepted]) == 1


class TestTrackPayloadShapes:
    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(json.dumps(track_event()), id="json-object"),
            pytest.param(json.dumps([track_event()]), id="json-array"),
            pytest.param(base64.b64encode(json.dumps(track_event()).encode()).decode(), id="base64"),
            pytest.param(
                base64.urlsafe_b64encode(json.dumps([track_event()]).encode()).decode().rstrip("="),
                id="unpadded-urlsafe-base64",
            ),
        ],
    )
    def test_form_data_may_hold_json_or_base64_json(self, data: str) -> None:
        handled = make_fake().handle(form("/track", data))
        assert handled.response.body == b"1"
        assert [e.name for e in handled.events] == ["Button Clicked"]

    def test_a_plain_json_body_is_accepted(self) -> None:
        body = json.dumps([track_event()]).encode()
        handled = make_fake().handle(raw("/track", body, "application/json"))
        assert handled.response.body == b"1"
        assert len(handled.events) == 1

    def test_a_gzipped_body_is_accepted(self) -> None:
        body = gzip.compress(json.dumps([track_event()]).encode())
        request = raw("/track", body, "application/json", headers={"content-encoding": "gzip"})
        assert len(make_fake().handle(request).events) == 1

    def test_legacy_get_with_data_in_the_query_is_accepted(self) -> None:
        data = base64.b64encode(json.dumps(track_event()).encode()).decode()
        request = FakeRequest("GET", "/track", {"data": [data]}, {}, b"")
        assert make_fake().handle(request).response.body == b"1"

    def test_undecodable_data_is_a_0(self) -> None:
        handled = make_fake().handle(form("/track", "!!not json!!", verbose="1"))
        assert as_json(handled)[1]["status"] == 0


class TestNormalisation:
    def test_a_tracked_event_is_normalised(self) -> None:
        sent = track_event(session_id="s-1", button="save", mp_lib="python")
        (received,) = make_fake().handle(form("/track", sent)).events
        assert received.vendor == "mixpanel"
        assert received.kind == "event"
        assert received.name == "Button Clicked"
        assert received.params == {"session_id": "s-1", "button": "save", "mp_lib": "python"}
        assert received.client_id == DISTINCT
        assert received.session_id == "s-1"
        assert received.time == NOW - 60
        assert received.insert_id == "insert-1"
        assert received.accepted
        assert received.raw == sent

    def test_page_viewed_is_a_page_view(self) -> None:
        (received,) = make_fake().handle(form("/track", track_event(event="Page Viewed"))).events
        assert received.kind == "page_view"

    def test_millisecond_times_are_read_as_milliseconds(self) -> None:
        sent = track_event(time=int((NOW - 60) * 1000))
        (received,) = make_fake().handle(form("/track", sent)).events
        assert received.time == NOW - 60

    def test_a_time_slightly_in_the_future_is_overwritten_with_now(self) -> None:
        (received,) = make_fake().handle(form("/track", track_event(time=NOW + 600))).events
        assert received.time == NOW

    def test_a_missing_time_on_track_means_now(self) -> None:
        (received,) = make_fake().handle(form("/track", track_event(time=None))).events
        assert received.time == NOW

    def test_long_strings_are_truncated_to_255_characters(self) -> None:
        (received,) = make_fake().handle(form("/track", track_event(note="x" * 300))).events
        assert received.params["note"] == "x" * 255


class TestTrackDrops:
    """What /track answers 1 for but the real service silently drops."""

    def test_an_event_older_than_five_days_is_dropped_silently(self) -> None:
        handled = make_fake().handle(form("/track", track_event(time=NOW - 6 * 86400)))
        assert handled.response.body == b"1"
        (received,) = handled.events
        assert not received.accepted
        assert "older than 5 days" in received.problems[0]

    def test_an_unknown_project_token_is_dropped_silently(self) -> None:
        fake = make_fake(project_tokens={"the-real-token"})
        handled = fake.handle(form("/track", track_event()))
        assert handled.response.body == b"1"
        assert not handled.events[0].accepted

    def test_a_known_project_token_is_accepted(self) -> None:
        fake = make_fake(project_tokens={TOKEN})
        assert fake.handle(form("/track", track_event())).events[0].accepted


class TestImportAnswers:
    def test_a_strict_import_answers_the_documented_summary(self) -> None:
        handled = make_fake(service_accounts=SERVICE_ACCOUNT).handle(
            import_request([import_event(), import_event(**{"$insert_id": "insert-2"})])
        )
        assert as_json(handled) == (
            200,
            {"code": 200, "num_records_imported": 2, "status": "OK"},
        )
        assert len(handled.events) == 2

    def test_a_strict_import_with_bad_rows_is_a_partial_success(self) -> None:
        events = [import_event(), import_event(time=None, **{"$insert_id": "bad-time"})]
        handled = make_fake().handle(import_request(events))
        assert as_json(handled) == (
            400,
            {
                "code": 400,
                "error": "some data points in the request failed validation",
                "status": "Bad Request",
                "num_records_imported": 1,
                "failed_records": [
                    {
                        "index": 1,
                        "$insert_id": "bad-time",
                        "field": "properties.time",
                        "message": "'properties.time' is required",
                    }
                ],
            },
        )
        assert [e.accepted for e in handled.events] == [True, False]

    def test_without_strict_the_sdks_verbose_form_is_answered(self) -> None:
        request = form("/import", import_event(), query=SA_QUERY, headers=SA_AUTH, verbose="1", ip="0")
        assert as_json(make_fake().handle(request)) == (200, {"status": 1, "error": None})

    def test_without_strict_or_verbose_the_import_summary_is_answered(self) -> None:
        handled = make_fake().handle(import_request([import_event()], strict=False))
        assert as_json(handled) == (200, {"code": 200, "num_records_imported": 1, "status": "OK"})

    def test_ndjson_is_accepted(self) -> None:
        lines = [import_event(), import_event(**{"$insert_id": "insert-2"})]
        body = "\n".join(json.dumps(line) for line in lines).encode() + b"\n"
        request = raw(
            "/import",
            body,
            "application/x-ndjson",
            query={**SA_QUERY, "strict": "1"},
            headers=SA_AUTH,
        )
        assert as_json(make_fake().handle(request))[1]["num_records_imported"] == 2

    def test_an_unparsable_body_is_a_400(self) -> None:
        request = raw(
            "/import",
            b"[{",
            "application/json",
            query={**SA_QUERY, "strict": "1"},
            headers=SA_AUTH,
        )
        assert as_json(make_fake().handle(request)) == (
            400,
            {"code": 400, "error": "body is not valid JSON", "status": "Bad Request"},
        )


class TestImportValidation:
    """Per-event validation: one table row per documented rule, as `failed_records`."""

    @pytest.mark.parametrize(
        ("bad", "field", "message"),
        [
            pytest.param(
                {"properties": import_event()["properties"]},
                "event",
                "'event' is required and must be a string",
                id="no-event-name",
            ),
            pytest.param(
                import_event(time=None),
                "properties.time",
                "'properties.time' is required",
                id="no-time",
            ),
            pytest.param(
                import_event(time="yesterday"),
                "properties.time",
                "'properties.time' is invalid: must be specified as seconds since epoch",
                id="string-time",
            ),
            pytest.param(
                import_event(time=86_400),
                "properties.time",
                "'properties.time' is invalid: before 1971-01-01",
                id="before-1971",
            ),
            pytest.param(
                import_event(time=NOW + 7200),
                "properties.time",
                "'properties.time' is invalid: more than 1 hour in the future",
                id="two-hours-ahead",
            ),
            pytest.param(
                import_event(distinct_id=None),
                "properties.distinct_id",
                "'properties.distinct_id' is required",
                id="no-distinct-id",
            ),
            *[
                pytest.param(
                    import_event(distinct_id=value),
                    "properties.distinct_id",
                    f"'properties.distinct_id' is invalid: {value!r} is not allowed",
                    id=f"distinct-id-{value}",
                )
                for value in ("anonymous", "NULL", "00000000-0000-0000-0000-000000000000", "-1")
            ],
            pytest.param(
                import_event(**{"$insert_id": None}),
                "properties.$insert_id",
                "'properties.$insert_id' is required",
                id="no-insert-id",
            ),
            *[
                pytest.param(
                    import_event(**{"$insert_id": value}),
                    "properties.$insert_id",
                    "'properties.$insert_id' is invalid: must be at most 36 bytes of [A-Za-z0-9-]",
                    id=f"insert-id-{label}",
                )
                for label, value in (("37-bytes", "a" * 37), ("underscore", "a_b"), ("int", 7))
            ],
            pytest.param(
                import_event(**{f"p{i}": i for i in range(252)}),
                "properties",
                "event must have fewer than 255 properties",
                id="255-properties",
            ),
            pytest.param(
                import_event(deep={"a": {"b": {"c": {"d": 1}}}}),
                "properties.deep",
                "nested more than 3 levels deep",
                id="too-deep",
            ),
            pytest.param(
                import_event(items=list(range(255))),
                "properties.items",
                "nested objects and arrays must have fewer than 255 entries",
                id="long-array",
            ),
        ],
    )
    def test_an_invalid_event_is_listed_in_failed_records(
        self, bad: dict[str, Any], field: str, message: str
    ) -> None:
        handled = make_fake().handle(import_request([import_event(), bad]))
        status, body = as_json(handled)
        assert status == 400
        assert body["num_records_imported"] == 1
        assert [(r["index"], r["field"], r["message"]) for r in body["failed_records"]] == [
            (1, field, message)
        ]

    def test_an_empty_distinct_id_means_no_user_and_is_allowed(self) -> None:
        handled = make_fake().handle(import_request([import_event(distinct_id="")]))
        assert as_json(handled)[0] == 200

    def test_a_time_at_the_one_hour_limit_is_allowed(self) -> None:
        handled = make_fake().handle(import_request([import_event(time=NOW + 3600)]))
        assert as_json(handled)[0] == 200

    def test_more_than_2000_events_is_rejected_whole(self) -> None:
        events = [import_event(**{"$insert_id": f"id-{i}"}) for i in range(2001)]
        handled = make_fake().handle(import_request(events))
        assert as_json(handled) == (
            400,
            {
                "code": 400,
                "error": "request exceeds max limit of 2000 events",
                "status": "Bad Request",
            },
        )
        assert handled.events == ()


class TestImportAuth:
    def test_a_service_account_with_project_id_is_accepted(self) -> None:
        fake = make_fake(service_accounts=SERVICE_ACCOUNT)
        assert as_json(fake.handle(import_request([import_event()])))[0] == 200

    @pytest.mark.parametrize(
        ("headers", "query"),
        [
            pytest.param({}, SA_QUERY, id="no-auth"),
            pytest.param(basic("svc.user", "wrong"), SA_QUERY, id="wrong-secret"),
            pytest.param(basic("stranger", "svc-secret"), SA_QUERY, id="unknown-account"),
            pytest.param(SA_AUTH, {}, id="service-account-without-project-id"),
            pytest.param(basic("not-a-token"), {}, id="unknown-token"),
            pytest.param({"authorization": "Bearer xyz"}, SA_QUERY, id="not-basic"),
        ],
    )
    def test_bad_credentials_get_the_documented_401(
        self, headers: dict[str, str], query: dict[str, str]
    ) -> None:
        fake = make_fake(service_accounts=SERVICE_ACCOUNT, project_tokens={TOKEN})
        body = json.dumps([import_event()]).encode()
        handled = fake.handle(raw("/import", body, "application/json", query=query, headers=headers))
        assert as_json(handled) == (
            401,
            {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"},
        )
        assert handled.events == ()

    def test_a_project_token_as_username_is_accepted(self) -> None:
        fake = make_fake(project_tokens={TOKEN})
        body = json.dumps([import_event()]).encode()
        request = raw("/import", body, "application/json", headers=basic(TOKEN))
        assert as_json(fake.handle(request))[0] == 200

    def test_a_legacy_api_secret_as_username_is_accepted(self) -> None:
        fake = make_fake(project_tokens={TOKEN}, api_secrets={"legacy-secret"})
        body = json.dumps([import_event()]).encode()
        request = raw("/import", body, "application/json", headers=basic("legacy-secret"))
        assert as_json(fake.handle(request))[0] == 200

    def test_any_credentials_are_accepted_when_none_are_configured(self) -> None:
        body = json.dumps([import_event()]).encode()
        request = raw("/import", body, "application/json", headers=basic("whatever"))
        assert as_json(make_fake().handle(request))[0] == 200


class TestProfiles:
    def test_an_engage_update_becomes_a_user_properties_event(self) -> None:
        update = {"$token": TOKEN, "$distinct_id": DISTINCT, "$time": NOW, "$set": {"plan": "pro"}}
        handled = make_fake().handle(form("/engage", update, verbose="1"))
        assert as_json(handled) == (200, {"status": 1, "error": None})
        (received,) = handled.events
        assert (received.kind, received.name, received.client_id) == (
            "user_properties",
            "$set",
            DISTINCT,
        )
        assert received.params == {"plan": "pro"}
        assert received.time == NOW

    def test_an_unset_lists_the_removed_properties(self) -> None:
        update = {"$token": TOKEN, "$distinct_id": DISTINCT, "$unset": ["old"]}
        (received,) = make_fake().handle(form("/engage", [update])).events
        assert received.params == {"old": None}

    def test_a_groups_update_is_accepted(self) -> None:
        update = {"$token": TOKEN, "$group_key": "company", "$group_id": "acme", "$set": {"n": 1}}
        handled = make_fake().handle(form("/groups", update))
        assert handled.response.body == b"1"
        assert handled.events[0].kind == "user_properties"

    @pytest.mark.parametrize(
        ("path", "update", "error"),
        [
            pytest.param(
                "/engage",
                {"$distinct_id": DISTINCT, "$set": {}},
                "$token, missing or empty",
                id="no-token",
            ),
            pytest.param(
                "/engage",
                {"$token": TOKEN, "$set": {}},
                "$distinct_id, missing or empty",
                id="no-distinct-id",
            ),
            pytest.param(
                "/engage",
                {"$token": TOKEN, "$distinct_id": DISTINCT},
                "exactly one operation ($set, $set_once, $add, ...) is required",
                id="no-operation",
            ),
            pytest.param(
                "/groups",
                {"$token": TOKEN, "$group_key": "company", "$set": {}},
                "$group_key or $group_id, missing or empty",
                id="no-group-id",
            ),
        ],
    )
    def test_an_invalid_update_is_a_0(self, path: str, update: dict[str, Any], error: str) -> None:
        handled = make_fake().handle(form(path, update, verbose="1"))
        assert as_json(handled) == (200, {"status": 0, "error": error})
        assert handled.events == ()


class TestDeduplication:
    def test_a_repeated_event_is_answered_but_recorded_once(self) -> None:
        fake = make_fake()
        fake.handle(form("/track", track_event()))
        handled = fake.handle(form("/track", track_event()))
        assert handled.response.body == b"1"
        assert handled.events == ()
        assert [m["validationCode"] for m in handled.validation_messages] == ["DUPLICATE"]

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param({"event": "Other"}, id="event"),
            pytest.param({"time": NOW - 61}, id="time"),
            pytest.param({"distinct_id": "someone-else"}, id="distinct-id"),
            pytest.param({"$insert_id": "insert-2"}, id="insert-id"),
        ],
    )
    def test_any_part_of_the_key_differing_makes_a_new_event(self, change: dict[str, Any]) -> None:
        fake = make_fake()
        fake.handle(form("/track", track_event()))
        assert len(fake.handle(form("/track", track_event(**change))).events) == 1

    def test_the_same_time_in_seconds_and_milliseconds_is_a_duplicate(self) -> None:
        fake = make_fake()
        fake.handle(form("/track", track_event(time=NOW - 60)))
        assert fake.handle(form("/track", track_event(time=int((NOW - 60) * 1000)))).events == ()

    def test_reset_forgets_what_was_seen(self) -> None:
        fake = make_fake()
        fake.handle(form("/track", track_event()))
        fake.reset()
        assert len(fake.handle(form("/track", track_event())).events) == 1


class TestLimits:
    def test_a_body_over_the_size_limit_gets_the_documented_413(self) -> None:
        fake = make_fake(max_request_bytes=1000)
        handled = fake.handle(form("/track", track_event(blob="x" * 2000)))
        assert as_json(handled) == (
            413,
            {
                "code": 413,
                "error": "request exceeds max limit of 1000 bytes",
                "status": "Request Entity Too Large",
            },
        )

    def test_the_default_limit_is_10_mib_measured_uncompressed(self) -> None:
        blob = json.dumps([track_event(blob="x" * (10 * 1024 * 1024))]).encode()
        request = raw("/track", gzip.compress(blob), "application/json", headers={"content-encoding": "gzip"})
        assert make_fake().handle(request).response.status == 413

    def test_injected_413_and_429_use_the_documented_bodies(self) -> None:
        fake = make_fake()
        too_large, throttled = fake.error_body(413), fake.error_body(429)
        assert too_large is not None
        assert throttled is not None
        assert json.loads(too_large.body)["error"] == "request exceeds max limit of 10485760 bytes"
        assert json.loads(throttled.body) == {
            "code": 429,
            "error": "Project exceeded rate limits. Please retry the request with exponential backoff.",
            "status": "Too Many Requests",
        }
        assert fake.error_body(500) is None

    def test_the_clock_defaults_to_wall_time(self) -> None:
        (received,) = MixpanelFake().handle(form("/track", track_event(time=None))).events
        assert received.time == pytest.approx(time.time(), abs=60)


# -- the official mixpanel library against the fake, over loopback HTTP ---------------------------


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests honours HTTP(S)_PROXY; loopback traffic must never go through a proxy."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def consumer(server: FakeServer, **options: Any) -> Consumer:
    """A Consumer pointed at `server` for every endpoint (http: the SDK does not retry)."""
    return Consumer(
        events_url=server.url("/track"),
        people_url=server.url("/engage"),
        groups_url=server.url("/groups"),
        import_url=server.url("/import"),
        request_timeout=2,
        **options,
    )


def form_of(server: FakeServer, path: str) -> dict[str, list[str]]:
    """The form fields of the first request to `path`."""
    return parse_qs(server.requests(path=path)[0].text)


class TestSdkTrack:
    def test_track_reads_status_1_from_the_verbose_answer(self, fake_server: FakeServer) -> None:
        mp = Mixpanel(TOKEN, consumer=consumer(fake_server))
        mp.track(DISTINCT, "Button Clicked", {"session_id": "s-1", "button": "save"})
        (received,) = fake_server.wait_for(1, vendor="mixpanel")
        assert received.name == "Button Clicked"
        assert received.client_id == DISTINCT
        assert received.session_id == "s-1"
        assert received.params["button"] == "save"
        assert received.params["mp_lib"] == "python"
        assert received.time == pytest.approx(time.time(), abs=60)
        assert received.insert_id is not None
        assert len(received.insert_id) == 32
        fields = form_of(fake_server, "/track")
        assert (fields["verbose"], fields["ip"]) == (["1"], ["0"])

    def test_a_page_view_is_recorded_as_one(self, fake_server: FakeServer) -> None:
        Mixpanel(TOKEN, consumer=consumer(fake_server)).track(DISTINCT, "Page Viewed")
        assert fake_server.wait_for(1, vendor="mixpanel", kind="page_view")

    def test_an_invalid_event_surfaces_as_mixpanel_exception(self, fake_server: FakeServer) -> None:
        mp = Mixpanel(TOKEN, consumer=consumer(fake_server))
        with pytest.raises(MixpanelException, match="'anonymous' is not allowed"):
            mp.track("anonymous", "Button Clicked")
        assert [e.accepted for e in fake_server.events(vendor="mixpanel")] == [False]

    def test_an_old_event_is_answered_1_but_dropped(self, fake_server: FakeServer) -> None:
        mp = Mixpanel(TOKEN, consumer=consumer(fake_server))
        mp.track(DISTINCT, "Button Clicked", {"time": time.time() - 6 * 86400})
        (received,) = fake_server.wait_for(1, vendor="mixpanel")
        assert not received.accepted

    def test_the_buffered_consumer_sends_batches_of_50(self, fake_server: FakeServer) -> None:
        buffered = BufferedConsumer(events_url=fake_server.url("/track"), request_timeout=2, max_size=50)
        mp = Mixpanel(TOKEN, consumer=buffered)
        for n in range(120):
            mp.track(DISTINCT, "Button Clicked", {"n": n})
        buffered.flush()
        events = fake_server.wait_for(120, vendor="mixpanel")
        assert [e.params["n"] for e in events] == list(range(120))
        sizes = [len(json.loads(parse_qs(r.text)["data"][0])) for r in fake_server.requests()]
        assert sizes == [50, 50, 20]


class TestSdkProfiles:
    def test_people_set_arrives_as_a_user_properties_event(self, fake_server: FakeServer) -> None:
        Mixpanel(TOKEN, consumer=consumer(fake_server)).people_set(DISTINCT, {"plan": "pro"})
        (received,) = fake_server.wait_for(1, vendor="mixpanel", kind="user_properties")
        assert (received.name, received.client_id, received.params) == (
            "$set",
            DISTINCT,
            {"plan": "pro"},
        )

    def test_group_set_reaches_the_groups_route(self, fake_server: FakeServer) -> None:
        Mixpanel(TOKEN, consumer=consumer(fake_server)).group_set("company", "acme", {"n": 3})
        (received,) = fake_server.wait_for(1, vendor="mixpanel")
        assert received.params == {"n": 3}
        assert [r.path for r in fake_server.requests()] == ["/groups"]


class TestSdkErrors:
    def test_a_429_surfaces_as_mixpanel_exception(self, fake_server: FakeServer) -> None:
        fake_server.faults.add("429", route="/track", count=1)
        mp = Mixpanel(TOKEN, consumer=consumer(fake_server))
        with pytest.raises(MixpanelException, match="Project exceeded rate limits"):
            mp.track(DISTINCT, "Button Clicked")
        assert fake_server.events() == []
        assert [r.status for r in fake_server.requests()] == [429]  # no retries over http

    def test_a_request_over_the_size_limit_surfaces_as_mixpanel_exception(
        self, fake_server_factory: FakeServerFactory
    ) -> None:
        server = fake_server_factory([MixpanelFake(max_request_bytes=500)])
        mp = Mixpanel(TOKEN, consumer=consumer(server))
        with pytest.raises(MixpanelException, match="request exceeds max limit of 500 bytes"):
            mp.track(DISTINCT, "Button Clicked", {"blob": "x" * 1000})
        assert [r.status for r in server.requests()] == [413]


class TestSdkImport:
    def test_import_data_with_a_service_account_reaches_import(
        self, fake_server_factory: FakeServerFactory
    ) -> None:
        server = fake_server_factory([MixpanelFake(service_accounts=SERVICE_ACCOUNT)])
        credentials = Credentials("svc.user", "svc-secret", "12345")
        mp = Mixpanel(TOKEN, consumer=consumer(server, credentials=credentials))
        month_ago = int(time.time()) - 30 * 86400
        mp.import_data(None, DISTINCT, "Signed Up", month_ago, {"plan": "pro"})
        (received,) = server.wait_for(1, vendor="mixpanel")
        assert (received.name, received.time, received.params["plan"]) == (
            "Signed Up",
            month_ago,
            "pro",
        )
        (request,) = server.requests()
        assert request.path == "/import"
        assert request.query == {"project_id": ["12345"]}
        assert (
            request.headers["authorization"] == "Basic " + base64.b64encode(b"svc.user:svc-secret").decode()
        )

    def test_a_wrong_secret_surfaces_as_mixpanel_exception(
        self, fake_server_factory: FakeServerFactory
    ) -> None:
        server = fake_server_factory([MixpanelFake(service_accounts=SERVICE_ACCOUNT)])
        credentials = Credentials("svc.user", "not-the-secret", "12345")
        mp = Mixpanel(TOKEN, consumer=consumer(server, credentials=credentials))
        with pytest.raises(MixpanelException, match="Invalid credentials"):
            mp.import_data(None, DISTINCT, "Signed Up", int(time.time()) - 86400)
        assert server.events() == []
