"""Decoding request bodies with orjson where its result is provably what `json.loads` gives.

orjson parses several times faster than the stdlib but differs at the edges. It rejects NaN and
Infinity, lone surrogates, byte order marks, UTF-16/32 bodies and nesting over 1024 levels: then
the caller uses the stdlib, which raises or parses exactly as it always did. It also accepts two
things the stdlib treats differently, which `orjson_loads` checks for before trusting its result:
integers outside 64 bits (orjson silently makes them floats) and nesting between about 990 and
1024 levels (the stdlib raises RecursionError there).
"""

from __future__ import annotations

from typing import Any, Final

try:
    import orjson
except ImportError:  # optional: without it every body goes through the stdlib, only slower
    orjson = None  # type: ignore[assignment]


class _Missing:
    """The type of `MISSING`."""


MISSING: Final = _Missing()
"""What `orjson_loads` answers when the body must go through the stdlib."""

_LONG_DIGITS = b"0" * 19
"""19 digits in a row: the shortest integer literal that may fall outside 64 bits."""
_DIGITS_AS_ZEROS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
"""A `bytes.translate` table that turns every digit into "0" and every other byte into a space."""
_PIECE = 65_536
"""Large bodies are scanned this many bytes at a time: temporary copies that size are reused by
the allocator, while copies of a whole large body would fault in fresh pages on every request."""
CHUNK_ITEMS = 64
"""Lists are encoded this many items at a time, for the same reason."""


def orjson_loads(body: bytes, *, unique_keys: bool = False, chunk_lengths: list[int] | None = None) -> Any:
    """`json.loads(body)` by orjson when that is certainly the stdlib's result; else `MISSING`.

    `unique_keys`: also require that no object repeats a key (the stdlib keeps the last value,
    as orjson does, but a caller may need to know about the repetition).
    `chunk_lengths`: when the body is a JSON array, receives the length of orjson's encoding of
    each run of `CHUNK_ITEMS` items (the depth check encodes them anyway).
    """
    if orjson is None or type(body) is not bytes:
        return MISSING
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return MISSING
    if _has_long_digit_run(body):
        return MISSING  # maybe an integer beyond 64 bits, which orjson turned into a float
    if not unique_keys:
        return value if _nests_shallowly(value, chunk_lengths) else MISSING
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return MISSING  # nested deeper than orjson.dumps allows: maybe too deep for the stdlib
    if b"\\" in body or body.count(b":") != encoded.count(b":"):
        # Without escapes every string reads the same in the body and in `encoded`, so the colons
        # differ exactly when a repeated key (and its separator) was dropped.
        return MISSING
    return value


def _has_long_digit_run(body: bytes) -> bool:
    """Whether `body` holds 19 digits in a row (anywhere, strings included)."""
    if len(body) <= _PIECE:
        return _LONG_DIGITS in body.translate(_DIGITS_AS_ZEROS)
    overlap = len(_LONG_DIGITS) - 1
    return any(
        _LONG_DIGITS in body[start : start + _PIECE + overlap].translate(_DIGITS_AS_ZEROS)
        for start in range(0, len(body), _PIECE)
    )


def _nests_shallowly(value: Any, chunk_lengths: list[int] | None) -> bool:
    """Whether decoded `value` nests at most 255 levels deep (orjson.dumps encodes nothing deeper
    than 254). Lists, at the top or in the top object, are encoded `CHUNK_ITEMS` items at a time;
    the lengths of a top list's chunks go to `chunk_lengths`."""
    parts = value.values() if type(value) is dict else (value,)
    lengths = chunk_lengths if type(value) is list and chunk_lengths is not None else []
    try:
        for part in parts:
            if type(part) is list:
                for start in range(0, len(part), CHUNK_ITEMS):
                    lengths.append(len(orjson.dumps(part[start : start + CHUNK_ITEMS])))
            else:
                orjson.dumps(part)
    except orjson.JSONEncodeError:
        if chunk_lengths is not None:
            chunk_lengths.clear()
        return False
    return True


def orjson_length(value: Any) -> int | None:
    """`len(orjson.dumps(value))`, or None without orjson or when orjson cannot encode `value`."""
    if orjson is None:
        return None
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        return None
