"""The engine's JSON encoding: the same bytes as the standard library, and the same refusals."""

from __future__ import annotations

import dataclasses
import datetime
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.delivery import encoding
from telemetry.delivery.encoding import encode_json

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(min_value=1e-4, max_value=1e15)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def stdlib(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@given(JSON_VALUES)
def test_encoding_writes_the_same_bytes_as_the_standard_library(value: Any) -> None:
    assert encode_json(value) == stdlib(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_reads_back_as_itself(value: float) -> None:
    # Both write the shortest repr; exponents may be spelled differently (1e16, 1e+16).
    assert json.loads(encode_json({"x": value})) == {"x": value}


def test_an_integer_beyond_64_bits_and_a_non_string_key_are_written_as_json_dumps_would() -> None:
    value = {"big": 2**70, 2: "two", None: 1}
    assert encode_json(value) == stdlib(value)


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        {"when": datetime.datetime(2026, 1, 1)},
        {"point": _Point(1)},
        {"object": object()},
    ],
    ids=["datetime", "dataclass", "object"],
)
def test_values_the_standard_library_refuses_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        encode_json(value)


def test_a_lone_surrogate_is_refused_as_a_value_error() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        encode_json({"text": "\ud800"})


def test_the_standard_library_alone_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    value = {"name": "é", "params": {"n": 1, "ok": True, "list": [1, "two", None]}}
    fast = encode_json(value)
    monkeypatch.setattr(encoding, "orjson", None)
    assert encode_json(value) == fast == stdlib(value)


def test_an_encoded_event_holds_no_more_memory_than_its_length() -> None:
    # orjson's own output keeps a 4 KiB buffer per object; what the engine queues must not.
    script = """
import resource
from telemetry.delivery.encoding import encode_json
event = {"event_type": "e", "event_properties": {"s": "x" * 300, "n": 1}}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kept = [encode_json(event) for _ in range(50_000)]
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
    growth_mib = float(
        subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, text=True).stdout
    )

    assert growth_mib < 50  # 50,000 events of 350 bytes: about 20 MiB; with orjson's buffers, 200
