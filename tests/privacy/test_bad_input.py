"""Bad input, proven: thousands of arbitrary calls never raise outside strict mode, and every
payload that reaches a vendor fake passes that vendor's validation."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
import fractions
import io
import logging
import math
import types
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry import AmplitudeTelemetryProvider, DeliveryOptions, GA4TelemetryProvider, TelemetryManager
from telemetry._sanitize import MAX_ITEMS, MAX_STRING, passes_unchanged, sanitize_params
from telemetry.mixpanel_provider import MixpanelConfig, MixpanelTelemetryProvider
from telemetry.policy import InvalidEventError
from telemetry.rudderstack_provider import RudderStackConfig, RudderStackTelemetryProvider

from ._support import amplitude_config, ga4_payload_findings
from .conftest import MakeManager

STORM = DeliveryOptions(
    flush_interval=0.02,
    request_timeout=5.0,
    max_retries=2,
    backoff_base=0.01,
    backoff_max=0.02,
    retry_after_max=0.02,
    exit_grace=0.5,
    queue_capacity=50_000,
)
EXAMPLES = 1000
HUGE = "h\u00e9" * 100_000
BROKEN_TEXT = "half a pair \ud83d and a lone \udc00"
"""Lone surrogates: a Python str, but no UTF-8 payload can carry it."""


class Colour(enum.Enum):
    RED = "red"


class Unprintable:
    """A value whose str and repr raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class ExplodingMapping(Mapping[str, Any]):
    """A mapping that breaks as soon as anyone looks inside."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


class LyingMapping(dict):  # type: ignore[type-arg]
    """A dict whose items() raises after the first look."""

    def items(self) -> Any:
        raise RuntimeError("changed under us")


def cyclic() -> dict[str, Any]:
    cycle: dict[str, Any] = {"name": "cycle"}
    cycle["self"] = cycle
    cycle["list"] = [cycle, 1]
    return cycle


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for i in range(levels):
        value = {"d": value} if i % 2 else [value]
    return value


any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
"""Any code point, lone surrogates included."""

names = st.one_of(
    any_text,
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            HUGE,
            "session_start",
            "first_visit",
            "screen_view",
            "[Amplitude] Revenue",
            "$identify",
            "$groupidentify",
            "Page Viewed",
            "page_view",
            "user_properties_set",
            "firebase_thing",
            "_private",
            "x" * 41,
            "valid_name",
            "Workflow Started!",
            BROKEN_TEXT,
        ]
    ),
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.builds(Unprintable),
    st.builds(object),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.complex_numbers(),
    any_text,
    st.text(max_size=200),
    st.just(HUGE),
    st.just(BROKEN_TEXT),
    st.binary(max_size=64),
    st.builds(bytearray, st.binary(max_size=8)),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.just(PurePosixPath("/home/someone/data/file.mseed")),
    st.just(PureWindowsPath("C:\\Users\\someone\\data")),
    st.just(Colour.RED),
    st.just(range(3)),
    st.builds(Unprintable),
    st.builds(object),
    st.just(math.nan),
    st.just(decimal.Decimal("sNaN")),
    st.just(fractions.Fraction(1, 3)),
    st.just(dt.timezone.utc),
)

keys = st.one_of(
    any_text,
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.just(Colour.RED),
    st.tuples(st.integers(), st.integers()),
    st.builds(object),
    st.sampled_from(
        [
            "",
            "x" * 5_000,
            "items",
            "session_id",
            "engagement_time_msec",
            "runtime",
            "lib_version",
            "_reserved",
            "firebase_x",
            "ga_x",
            "user_id",
            "distinct_id",
            "token",
            "time",
            "$insert_id",
            "$set",
            "page_location",
            "bad key",
            BROKEN_TEXT,
        ]
    ),
)

values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.sets(st.integers() | st.text(max_size=5), max_size=5),
        st.frozensets(st.integers(), max_size=5),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=5),
        st.builds(collections.OrderedDict, st.dictionaries(st.text(max_size=5), children, max_size=3)),
    ),
    max_leaves=20,
)

params = st.one_of(
    st.none(),
    st.dictionaries(keys, values, max_size=30),
    st.dictionaries(st.text(max_size=3), st.just("v"), min_size=40, max_size=120),
    st.builds(cyclic),
    st.builds(ExplodingMapping),
    st.builds(LyingMapping, st.dictionaries(st.text(max_size=3), scalars, max_size=3)),
    st.builds(types.MappingProxyType, st.dictionaries(st.text(max_size=5), scalars, max_size=5)),
    st.builds(lambda n: {"deep": deep(n)}, st.integers(min_value=0, max_value=60)),
    st.integers(),
    st.text(max_size=10),
    st.lists(st.tuples(st.text(max_size=3), scalars), max_size=3),
)

calls = st.one_of(
    st.tuples(st.just("track_event"), names, params),
    st.tuples(st.just("track_page_view"), names, scalars),
    st.tuples(st.just("set_user_properties"), params),
)

STORM_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def every_vendor(make_manager: MakeManager, fake_server: Any, policy: str) -> TelemetryManager:
    base = fake_server.base_url
    return make_manager(
        providers=[
            (GA4TelemetryProvider, _ga4(base)),
            (AmplitudeTelemetryProvider, amplitude_config(base)),
            (MixpanelTelemetryProvider, MixpanelConfig(project_token="mp-token-storm", endpoint=base)),
            (RudderStackTelemetryProvider, RudderStackConfig(write_key="rs-key-storm", data_plane_url=base)),
        ],
        policy=policy,
        delivery=STORM,
    )


def _ga4(base: str) -> Any:
    from ._support import ga4_config

    return ga4_config(base)


def call(manager: TelemetryManager, spec: tuple[Any, ...]) -> None:
    method, *args = spec
    getattr(manager, method)(*args)


def assert_every_payload_valid(manager: TelemetryManager, fake: Any) -> None:
    """Flush, then hold every request and event the fakes recorded to the vendors' rules."""
    assert manager.flush(timeout=20.0), (manager.stats(), [t.name for t in manager.delivery.threads()])
    assert len(manager.delivery.threads()) == 4, "a delivery worker died"
    requests = fake.requests()
    assert requests, "nothing was delivered at all"
    refused = [
        (r.path, r.status, r.body[:300]) for r in requests if r.status is None or not 200 <= r.status < 300
    ]
    assert refused == []
    assert ga4_payload_findings(fake) == []
    rejected = [(e.vendor, e.name[:60], e.problems) for e in fake.events() if not e.accepted or e.problems]
    assert rejected == []
    for name, stats in manager.stats().items():
        assert stats["dropped"].get("rejected", 0) == 0, (name, stats)
        assert stats["dropped"].get("unserialisable", 0) == 0, (name, stats)
        assert stats["dropped"].get("mapping_error", 0) == 0, (name, stats)


@pytest.fixture
def debug_trace() -> Iterator[io.StringIO]:
    """The `telemetry` loggers at DEBUG, as DEBUG_TELEMETRY=1 sets them, into a buffer; restored after."""
    logger = logging.getLogger("telemetry")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class TestArbitraryInput:
    @pytest.mark.parametrize("policy", ["normalise", "drop"])
    def test_no_call_raises_and_every_delivered_payload_is_valid(
        self, make_manager: MakeManager, fake_server: Any, policy: str
    ) -> None:
        manager = every_vendor(make_manager, fake_server, policy)

        @STORM_SETTINGS
        @given(spec=calls)
        def anything(spec: tuple[Any, ...]) -> None:
            call(manager, spec)

        anything()

        manager.track_event("still_alive", {"ok": True})
        assert_every_payload_valid(manager, fake_server)
        arrived = {e.vendor for e in fake_server.events() if e.name == "still_alive"}
        assert arrived == {"ga4", "amplitude", "mixpanel", "rudderstack"}

    def test_with_the_debug_trace_on_no_call_raises_and_no_worker_dies(
        self, make_manager: MakeManager, fake_server: Any, debug_trace: io.StringIO
    ) -> None:
        manager = every_vendor(make_manager, fake_server, "normalise")

        @settings(STORM_SETTINGS, max_examples=EXAMPLES // 4)
        @given(spec=calls)
        def anything(spec: tuple[Any, ...]) -> None:
            call(manager, spec)

        anything()

        assert_every_payload_valid(manager, fake_server)
        assert "HTTP 2" in debug_trace.getvalue()  # the trace was on: it logged the answers

    def test_in_strict_mode_the_only_exception_is_invalid_event_error(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = every_vendor(make_manager, fake_server, "strict")
        outcomes: collections.Counter[str] = collections.Counter()

        @settings(STORM_SETTINGS, max_examples=EXAMPLES // 3)
        @given(spec=calls)
        def anything(spec: tuple[Any, ...]) -> None:
            try:
                call(manager, spec)
            except InvalidEventError as exc:
                outcomes["rejected" if exc.problems else "rejected without a reason"] += 1
            else:
                outcomes["accepted"] += 1

        anything()

        assert outcomes["rejected"] > 0
        assert outcomes["rejected without a reason"] == 0
        assert_every_payload_valid(manager, fake_server)


plain_keys = st.one_of(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=8), keys)
plain_values = st.one_of(
    scalars,
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=20),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), "x" * MAX_STRING, "x" * (MAX_STRING + 1), 1.5]),
)


class TestTheSanitizerShortcut:
    """`passes_unchanged` lets the first provider skip copying an event's params: it must never
    say so of params that sanitizing would change."""

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(
        st.one_of(
            st.dictionaries(plain_keys, plain_values, max_size=12),
            st.dictionaries(st.text(max_size=4), st.just(1), min_size=MAX_ITEMS - 2, max_size=MAX_ITEMS + 2),
        )
    )
    def test_params_said_to_pass_unchanged_are_exactly_what_sanitizing_returns(
        self, value: dict[Any, Any]
    ) -> None:
        if passes_unchanged(value):
            sanitized = sanitize_params(value)
            assert [(k, type(v), v) for k, v in sanitized.items()] == [
                (k, type(v), v) for k, v in value.items()
            ]

    def test_plain_params_pass_and_each_kind_of_change_is_recognised(self) -> None:
        plain = {"plan": "pro", "n": 42, "flag": True, "none": None, "big": 2**63 - 1}
        assert passes_unchanged(plain)
        changed: list[dict[Any, Any]] = [
            {"caf\u00e9": 1},  # a non-ASCII key is checked for lone surrogates
            {"k": "caf\u00e9"},  # so is non-ASCII text
            {"k": "x" * (MAX_STRING + 1)},  # cut
            {"k": 2**63},  # beyond 64 bits: sent as a float
            {"k": 1.5},  # floats are checked for finiteness
            {1: "v"},  # a key that is not text is converted
            {"k": [1]},  # containers are walked
            {str(n): 1 for n in range(MAX_ITEMS + 1)},  # beyond MAX_ITEMS the rest is dropped
        ]
        for params in changed:
            assert not passes_unchanged(params), params
