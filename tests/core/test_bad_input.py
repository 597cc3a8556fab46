"""Whatever the caller passes, tracking never raises, never mutates its data, never stops delivery."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import fractions
import math
import uuid
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry import TelemetryManager

from .conftest import MakeManager


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


def cyclic_dict() -> dict[str, Any]:
    cycle: dict[str, Any] = {"name": "cycle"}
    cycle["self"] = cycle
    cycle["list"] = [cycle, 1]
    return cycle


huge_text = st.builds(str.__mul__, st.just("h"), st.just(300_000))
"""300 kB of text (built, so that no strategy repr carries it)."""

names = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60),
    st.just(""),
    huge_text,
    st.just("[Amplitude] Revenue"),
    st.just("$identify"),
    st.just("session_start"),
    st.builds(Unprintable),
    st.binary(max_size=20),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**40),
    st.builds(pow, st.just(10), st.just(5000)),  # more digits than int-to-str allows: JSON cannot encode it
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.text(),
    huge_text,
    st.binary(max_size=64),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.just(PurePosixPath("/data/file.mseed")),
    st.just(Colour.RED),
    st.builds(Unprintable),
    st.builds(object),
    st.just(math.nan),
    st.just(decimal.Decimal("sNaN")),
    st.just(fractions.Fraction(1, 3)),
)

keys = st.one_of(
    st.text(),
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.just(Colour.RED),
    st.tuples(st.integers(), st.integers()),
    st.just("x" * 5_000),
    st.just("session_id"),
    st.just("_reserved"),
)

values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.sets(st.integers() | st.text(max_size=5), max_size=5),
        st.frozensets(st.integers(), max_size=5),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=20,
)

params = st.one_of(
    st.none(),
    st.dictionaries(keys, values, max_size=30),
    st.builds(cyclic_dict),
    st.builds(ExplodingMapping),
    st.dictionaries(st.text(max_size=3), st.just("v"), min_size=40, max_size=60),
    st.integers(),
    st.text(max_size=10),
    st.lists(st.tuples(st.text(max_size=3), scalars), max_size=3),
)


def safe_repr(value: Any) -> str:
    """A fingerprint of `value`, stable while nothing inside it changes."""
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - an unprintable value has its own stable fingerprint
        return f"<unprintable {type(exc).__name__}>"


class TestAnythingGoes:
    def test_track_calls_never_raise_never_mutate_and_delivery_survives(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager()

        @settings(
            max_examples=200,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(name=names, params=params, call=st.sampled_from(["event", "page_view", "user_properties"]))
        def track_anything(name: Any, params: Any, call: str) -> None:
            before = safe_repr(params)
            if call == "event":
                manager.track_event(name, params)
            elif call == "page_view":
                manager.track_page_view(name, params)
            else:
                manager.set_user_properties(params)
            assert manager.flush(timeout=5.0)
            assert safe_repr(params) == before

        track_anything()

        assert len(manager.delivery.threads()) == 2
        manager.track_event("still_alive", {"ok": True})
        assert manager.flush()
        arrived = {(e.vendor, e.name) for e in fake_server.events() if e.name == "still_alive"}
        assert arrived == {("ga4", "still_alive"), ("amplitude", "still_alive")}

    def test_the_callers_dict_is_not_mutated(self, manager: TelemetryManager, fake_server: Any) -> None:
        nested = {"inner": [1, 2, {"x": dt.date(2024, 1, 1)}], "set": {3, 1, 2}}
        params = {
            "session_id": "mine",
            "runtime": "mine",
            "when": dt.datetime(2024, 5, 1, 12, 0),
            "amount": decimal.Decimal("1.50"),
            "raw": b"bytes",
            "nan": math.nan,
            "id": uuid.UUID(int=7),
            "long": "l" * 20_000,
            "nested": nested,
            7: "int key",
        }
        before = repr(params)
        manager.track_event("mutation_check", params)
        manager.track_page_view("/p", None)
        manager.set_user_properties(params)
        assert manager.flush()

        assert repr(params) == before
        assert params["nested"] is nested
        assert len(fake_server.events()) == 6

    def test_cyclic_and_deeply_nested_params_are_cut_and_the_event_still_arrives(
        self, manager: TelemetryManager, fake_server: Any
    ) -> None:
        deep: dict[str, Any] = {"leaf": 1}
        for level in range(50):
            deep = {f"level_{level}": deep}
        manager.track_event("tangled", {"cycle": cyclic_dict(), "deep": deep, "plain": "kept"})
        assert manager.flush()

        events = [e for e in fake_server.events() if e.name == "tangled"]
        assert sorted(e.vendor for e in events) == ["amplitude", "ga4"]
        assert all(e.params["plain"] == "kept" for e in events)

    @pytest.mark.parametrize(
        "bad",
        [
            pytest.param({"odd": {Unprintable(), Unprintable()}}, id="set-of-unprintable-values"),
            pytest.param({10**5000: "value under a key too long to print"}, id="key-int-with-5000-digits"),
            pytest.param({"odd": 10**5000}, id="int-value-with-5000-digits"),
        ],
    )
    def test_a_value_that_cannot_be_sent_is_dropped_alone_and_the_rest_of_the_event_arrives(
        self, manager: TelemetryManager, fake_server: Any, bad: dict[Any, Any]
    ) -> None:
        manager.track_event("partly_odd", {"plain": "kept", **bad})
        manager.track_event("after")
        assert manager.flush()

        arrived = {(e.vendor, e.name): e.params for e in fake_server.events()}
        assert set(arrived) == {
            ("ga4", "partly_odd"),
            ("ga4", "after"),
            ("amplitude", "partly_odd"),
            ("amplitude", "after"),
        }
        assert arrived["ga4", "partly_odd"]["plain"] == "kept"
        assert arrived["amplitude", "partly_odd"]["plain"] == "kept"
