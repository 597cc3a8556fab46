"""orjson decodes a body only when its result is the stdlib's, and the fast paths of the vendor
fakes (orjson or not, shortcut checks or full ones, fast constructors or dataclass ones) answer
exactly as the plain code does."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import subprocess
import sys
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import _json
from fakes._json import MISSING, orjson_loads
from fakes._model import (
    FakeRequest,
    Handled,
    ReceivedEvent,
    make_fake_request,
    make_received_event,
)
from fakes._recorder import RecordedRequest, make_recorded_request
from fakes.amplitude import AmplitudeFake, _check_event, _plain_events
from fakes.ga4 import GA4Fake, _pairs_hook, check_payload, parse_body
from fakes.mixpanel import (
    _SIZE_ENCODER,
    _SIZE_GROWTH,
    MixpanelFake,
    _PlainTrackCheck,
    _size_suspects,
)

NOW = 1_700_000_000.0

# Bodies the stdlib reads differently from orjson, or that orjson refuses: all go to the stdlib.
STDLIB_ONLY = [
    b'{"a": NaN}',
    b'{"a": Infinity, "b": -Infinity}',
    b'{"a": 1e400}',
    b'{"s": "\\ud800"}',
    b'{"s": "\\udc00\\ud800"}',
    '{"s": "\ud800"}'.encode("utf-8", "surrogatepass"),
    b'{"n": 18446744073709551616}',
    b'{"n": -9223372036854775809}',
    b'{"n": 123456789012345678901234567890}',
    b'{"f": 1.00000000000000000001}',
    b'{"n": 18446744073709551615, "m": -9223372036854775808}',  # in range, but 19 digits in a row
    b'\xef\xbb\xbf{"a": 1}',
    '{"a": 1}'.encode("utf-16"),
    '{"a": 1}'.encode("utf-32"),
    b'{"a": "\xff"}',
    b"[" * 300 + b"]" * 300,
    b'{"deep": ' + b"[" * 990 + b"]" * 990 + b"}",
    b"[" * 1030 + b"]" * 1030,
    b"",
    b"nope",
]
# Bodies both read alike: orjson's result must be the stdlib's, value for value and type for type.
BOTH = [
    b'{"a": 1, "b": [1.5, -0.0, 0, -0, 1E2, 5e-324, 1.7976931348623157e308], "c": null}',
    b'{"n": 999999999999999999, "m": -999999999999999999, "f": 0.3000000000000000, "g": 1e-7}',
    b'{"s": "caf\\u00e9 \\ud83d\\ude00 \\" \\\\ \\/ \\n", "t": "\xc3\xa9\xf0\x9f\x98\x80"}',
    b'  {"a": {"b": {"c": [[], {}]}}}\r\n',
    b'{"a": 1, "b": 2, "a": 3}',
    b"[" * 254 + b"]" * 254,
    b'"just a string"',
]


def same(a: Any, b: Any) -> bool:
    """Equal with the same types throughout (and -0.0 told from 0.0, nan equal to nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.fixture
def without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run with `import orjson` as if it had failed."""
    monkeypatch.setattr(_json, "orjson", None)


class TestOrjsonLoads:
    @pytest.mark.parametrize("body", STDLIB_ONLY)
    def test_what_orjson_would_read_differently_is_left_to_the_stdlib(self, body: bytes) -> None:
        assert orjson_loads(body) is MISSING
        assert orjson_loads(body, unique_keys=True) is MISSING

    @pytest.mark.parametrize("body", BOTH)
    def test_what_it_reads_is_what_the_stdlib_reads(self, body: bytes) -> None:
        value = orjson_loads(body)
        assert value is not MISSING
        assert same(value, json.loads(body))

    def test_repeated_keys_are_left_to_the_stdlib_when_they_matter(self) -> None:
        assert orjson_loads(b'{"a": 1, "a": 2}', unique_keys=True) is MISSING
        assert orjson_loads(b'{"a": {"b": 1, "b": 2}}', unique_keys=True) is MISSING
        assert orjson_loads(b'{"a": "x:y", "b": "1:2"}', unique_keys=True) == {"a": "x:y", "b": "1:2"}
        assert orjson_loads(b'{"a": "\\u0041", "b": 1}', unique_keys=True) is MISSING  # an escape

    def test_a_long_digit_run_across_a_scanning_piece_is_found(self) -> None:
        body = b'["' + b"x" * (_json._PIECE - 12) + b'", ' + b"9" * 20 + b"]"
        assert orjson_loads(body) is MISSING
        shorter = b'["' + b"x" * (_json._PIECE - 12) + b'", ' + b"9" * 18 + b"]"
        assert same(orjson_loads(shorter), json.loads(shorter))

    def test_a_long_list_is_checked_for_depth_item_by_item(self) -> None:
        deep_item = b"[" * 300 + b"1" + b"]" * 300
        body = b'{"events": [' + b",".join([b"1"] * 500 + [deep_item]) + b"]}"
        assert orjson_loads(body) is MISSING
        assert same(
            orjson_loads(body.replace(deep_item, b"[[1]]")), json.loads(body.replace(deep_item, b"[[1]]"))
        )

    @settings(max_examples=300, deadline=None)
    @given(
        value=st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
            ),
            max_leaves=20,
        ),
        ascii_only=st.booleans(),
    )
    def test_any_json_the_stdlib_writes_reads_the_same_or_goes_to_the_stdlib(
        self, value: Any, ascii_only: bool
    ) -> None:
        body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        for unique_keys in (False, True):
            fast = orjson_loads(body, unique_keys=unique_keys)
            assert fast is MISSING or same(fast, json.loads(body))

    def test_without_orjson_everything_goes_to_the_stdlib(self, without_orjson: None) -> None:
        assert orjson_loads(b'{"a": 1}') is MISSING

    def test_the_fakes_import_without_orjson(self) -> None:
        code = (
            "import sys; sys.modules['orjson'] = None\n"
            "from fakes import _json, ga4, amplitude, mixpanel\n"
            "assert _json.orjson is None and _json.orjson_length([1]) is None\n"
            "assert ga4.parse_body(b'{\"a\": 1, \"a\": 2}').duplicates == ('a',)\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


def ga4_handled(body: bytes) -> Handled:
    query = {"measurement_id": ["G-1"], "api_secret": ["s"]}
    return GA4Fake(clock=lambda: NOW).handle(FakeRequest("POST", "/mp/collect", query, {}, body))


def amplitude_handled(body: bytes) -> Handled:
    headers = {"content-type": "application/json"}
    return AmplitudeFake().handle(FakeRequest("POST", "/2/httpapi", {}, headers, body))


def mixpanel_handled(body: bytes) -> Handled:
    headers = {"content-type": "application/json"}
    request = FakeRequest("POST", "/track", {"verbose": ["1"]}, headers, body)
    return MixpanelFake(now=lambda: NOW).handle(request)


EDGE_BODIES = {
    ga4_handled: [
        b'{"client_id": "1.2", "events": [{"name": "e", "params": {"v": 18446744073709551616}}]}',
        b'{"client_id": "1.2", "events": [{"name": "e", "params": {"v": NaN, "w": 1, "w": 2}}]}',
        b'{"client_id": "1.2", "events": [{"name": "e", "timestamp_micros": 1e400}]}',
        b'{"client_id": "1.2", "client_id": "3.4",'
        b' "events": [{"name": "e", "params": {"a": {"b": 1, "b": 2}}}]}',
        b'{"client_id": "1.2", "events": [{"name": "e", "params": {"s": "\\ud800"}}]}',
    ],
    amplitude_handled: [
        b'{"api_key": "k", "events": [{"event_type": "e", "device_id": "device-1", '
        b'"time": 18446744073709551616}]}',
        b'{"api_key": "k", "events": [{"event_type": "e", "device_id": "device-1", "price": NaN}]}',
        b'{"api_key": "k", "events": [{"event_type": "e", "device_id": "device-1", "x": '
        + b"[" * 995
        + b"]" * 995
        + b"}]}",
    ],
    mixpanel_handled: [
        b'[{"event": "e", "properties": {"token": "t", "time": 17000000000000000000000}}]',
        b'[{"event": "e", "properties": {"token": "t", "distinct_id": 99999999999999999999}}]',
        b'[{"event": "e", "properties": {"token": "t", "v": Infinity, "$insert_id": "\\udc00"}}]',
    ],
}


def outcome(handle: Any, body: bytes) -> Any:
    """What a fake answers for `body`, as comparable data (a crash as its exception)."""
    try:
        handled = handle(body)
    except Exception as error:  # noqa: BLE001 - a crash is an outcome to compare too
        return ("crash", type(error).__name__, str(error))
    return pickle.dumps(handled)


class TestVendorsWithAndWithoutOrjson:
    @pytest.mark.parametrize(
        ("handle", "body"), [(handle, body) for handle, bodies in EDGE_BODIES.items() for body in bodies]
    )
    def test_the_answer_does_not_depend_on_orjson(
        self, handle: Any, body: bytes, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(time, "time", lambda: NOW)  # Amplitude answers its upload time
        with_orjson = outcome(handle, body)
        monkeypatch.setattr(_json, "orjson", None)
        assert outcome(handle, body) == with_orjson

    def test_parse_body_marks_repeated_keys_as_the_stdlib_hook_does(self) -> None:
        body = b'{"a": 1, "e": [{"p": {"x": 1, "x": 2}}], "a": 2}'
        parsed = parse_body(body)
        expected = json.loads(body, object_pairs_hook=_pairs_hook)
        assert parsed == expected
        assert parsed.duplicates == ("a",)
        assert parsed["e"][0]["p"].duplicates == ("x",)


class TestFastConstructors:
    def test_a_received_event_is_the_one_the_dataclass_builds(self) -> None:
        values = ("ga4", "event", "n", {"p": 1}, "c", 5, 1.5, None, False, ("why",), {"u": 1}, {"r": 2})
        fast, slow = make_received_event(*values), ReceivedEvent(*values)
        assert fast == slow
        assert list(vars(fast).items()) == list(vars(slow).items())
        assert pickle.dumps(fast) == pickle.dumps(slow)
        assert [f.name for f in dataclasses.fields(ReceivedEvent)] == list(vars(fast))
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.name = "other"  # type: ignore[misc]

    def test_a_request_and_a_recording_are_the_ones_the_dataclasses_build(self) -> None:
        request = ("POST", "/p", {"q": ["1"]}, {"h": "v"}, b"body")
        assert list(vars(make_fake_request(*request)).items()) == list(vars(FakeRequest(*request)).items())
        recorded = (*request, "ga4", 204, 1.0, None, 0.0, (), ({"m": 1},))
        fast, slow = make_recorded_request(*recorded), RecordedRequest(*recorded)
        assert list(vars(fast).items()) == list(vars(slow).items())
        assert [f.name for f in dataclasses.fields(RecordedRequest)] == list(vars(fast))


# -- the shortcut checks against the full ones ---------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.just(10**400)
    | st.floats(allow_nan=True)
    | st.sampled_from(["", "e", "x" * 37, "x" * 101, "z" * 256, "null", "0000", "-1", "a b", "Page Viewed"])
    | st.text(max_size=8)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
)


def maybe_replace(draw: st.DrawFn, event: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """`event` with some of `keys` removed or given an arbitrary value."""
    for key in keys:
        choice = draw(st.integers(0, 9))
        if choice == 0:
            event.pop(key, None)
        elif choice == 1:
            event[key] = draw(VALUES)
    return event


@st.composite
def amplitude_events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(VALUES)
    event: dict[str, Any] = {
        "event_type": draw(st.sampled_from(["e", "[Amplitude] Revenue", "Page Viewed", "$identify"])),
        "device_id": draw(st.sampled_from(["device-1", "device-2", "dev", "null", "0000-00", "00a00"])),
        "user_id": draw(st.sampled_from(["user-1", "NULL", "u"])),
        "time": 1_700_000_000_000,
        "session_id": 1,
        "insert_id": draw(st.sampled_from(["i-1", "i-2"])),
        "event_properties": {"a": 1, "s": "x"},
    }
    keys = [*event, "event_id", "quantity", "price", "revenue", "location_lat", "location_lng"]
    keys += ["user_properties", "groups", "group_properties"]
    return maybe_replace(draw, event, keys)


@st.composite
def mixpanel_events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(VALUES)
    properties: dict[str, Any] = {
        "token": draw(st.sampled_from(["t", "other", ""])),
        "distinct_id": draw(st.sampled_from(["d-1", " null ", "<nil>", 12345, 1.5, True, "d-2"])),
        "time": draw(
            st.sampled_from(
                [NOW - 60, (NOW - 60) * 1000, NOW + 7200, NOW - 6 * 86400, 31_535_999, NOW * 2000]
            )
        ),
        "$insert_id": draw(st.sampled_from(["id-1", "a" * 37, "bad id", "null", "---", "é"])),
        "s": draw(st.sampled_from(["short", "z" * 300])),
    }
    properties = maybe_replace(draw, properties, [*properties, "nested"])
    event: dict[str, Any] = {
        "event": draw(st.sampled_from(["e", "", "Page Viewed"])),
        "properties": properties,
    }
    return maybe_replace(draw, event, ["event", "properties"])


class TestShortcutChecks:
    @settings(max_examples=400, deadline=None)
    @given(
        events=st.lists(amplitude_events(), min_size=1, max_size=4), min_id_length=st.sampled_from([1, 5, 7])
    )
    def test_amplitude_plain_events_are_those_the_full_check_passes_untouched(
        self, events: list[Any], min_id_length: int
    ) -> None:
        checks = [_check_event(event, min_id_length) for event in events]
        plain = _plain_events(events, min_id_length)
        if plain is not None:
            assert plain is events
            assert all(
                check.ok and check.cleaned == event for check, event in zip(checks, events, strict=True)
            )

    @settings(max_examples=400, deadline=None)
    @given(event=mixpanel_events(), tokens=st.sampled_from([None, frozenset({"t"})]))
    def test_mixpanel_plain_verdicts_agree_with_the_full_check(
        self, event: Any, tokens: frozenset[str] | None
    ) -> None:
        fake = MixpanelFake(tokens, now=lambda: NOW)
        try:
            full = fake._check_event(event, "/track", NOW, measure_size=False)
        except (OverflowError, ValueError) as error:
            # The shortcut raises alike, or gives up (and the caller then runs the full check).
            try:
                assert _PlainTrackCheck(NOW, tokens).verdict(event) is None
            except type(error):
                pass
            return
        plain = _PlainTrackCheck(NOW, tokens).verdict(event)
        if plain is not None:
            assert not full.failures
            assert not full.dropped
            time, distinct_id, insert_id, _ = plain
            assert same(time, full.time) or (math.isnan(time) and math.isnan(full.time or 0.0))
            assert (distinct_id, insert_id) == (full.distinct_id, full.insert_id)

    @settings(max_examples=300, deadline=None)
    @given(
        names=st.lists(st.sampled_from(["e", "page_view", "screen_view", "1x", "session_start"]), min_size=1),
        params=st.lists(
            st.dictionaries(st.sampled_from(["a", "_b", "items", "x" * 41]), SCALARS), min_size=1
        ),
        enforce=st.booleans(),
        firebase=st.booleans(),
    )
    def test_ga4_findings_do_not_depend_on_names_seen_before(
        self, names: list[str], params: list[dict[str, Any]], enforce: bool, firebase: bool
    ) -> None:
        events = [{"name": name, "params": p} for name, p in zip(names, params * len(names), strict=False)]
        payload: dict[str, Any] = {"client_id": "1.2", "app_instance_id": "a", "events": events}
        if enforce:
            payload["validation_behavior"] = "ENFORCE_RECOMMENDATIONS"
        first = check_payload(payload, firebase=firebase, now=NOW)
        assert check_payload(payload, firebase=firebase, now=NOW) == first


class TestSizeBound:
    @settings(max_examples=300, deadline=None)
    @given(value=VALUES)
    def test_the_stdlib_encoding_is_at_most_size_growth_times_orjsons(self, value: Any) -> None:
        length = _json.orjson_length([value])
        if length is not None:
            assert len(_SIZE_ENCODER.encode([value])) <= _SIZE_GROWTH * length

    def test_the_worst_characters_stay_within_the_bound(self) -> None:
        for value in ["\x7f" * 50, "é" * 50, "\U0001f600" * 50, [float("inf")] * 50, {"a": [0] * 50}]:
            length = _json.orjson_length([value])
            assert length is not None
            assert len(_SIZE_ENCODER.encode([value])) <= _SIZE_GROWTH * length

    def test_without_orjson_every_chunk_is_measured_by_the_stdlib(self, without_orjson: None) -> None:
        items = [{"event": "e", "properties": {"big": "z" * (1024 * 1024)}}, {"event": "e"}]
        assert _size_suspects(items) == {0, 1}


class TestMixpanelDedupKeys:
    def test_events_sharing_an_insert_id_are_compared_on_every_part_of_the_key(self) -> None:
        def event(time: float, distinct_id: str = "d-1", name: str = "e") -> dict[str, Any]:
            properties = {"token": "t", "distinct_id": distinct_id, "time": time, "$insert_id": "same-id"}
            return {"event": name, "properties": properties}

        events = [
            event(NOW - 60.0001),
            event(NOW - 50),  # another time: a new event
            event(NOW - 60.0003),  # the first one's time to the millisecond: a duplicate
            event(NOW - 50, distinct_id="d-2"),  # another user: a new event
            event(NOW - 50, name="other"),  # another name: a new event
            event(NOW - 50),  # the second one again
        ]
        body = json.dumps(events).encode()
        handled = mixpanel_handled(body)
        assert [e.time for e in handled.events] == [NOW - 60.0001, NOW - 50, NOW - 50, NOW - 50]
        assert [m["fieldPath"] for m in handled.validation_messages] == [
            "[2].properties.$insert_id",
            "[5].properties.$insert_id",
        ]
