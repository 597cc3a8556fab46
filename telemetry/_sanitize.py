"""Turn whatever the caller passed as params into JSON-safe values, on the worker thread.

Nothing here raises: a value that cannot be represented is dropped with a debug line naming the
key (never the value, which might be personal data), and the rest of the event survives.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import math
import numbers
import uuid
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from ._log import get_logger

log = get_logger("telemetry.sanitize")

MAX_DEPTH = 4
MAX_ITEMS = 100
MAX_STRING = 10_000

JSONValue = Any
_MAX_INT_BITS = 63
_SAFE_SCALARS = frozenset({bool, type(None)})


class _Drop:
    """Marker for a value that cannot be represented."""


DROP = _Drop()


def sanitize_params(params: Any, *, where: str = "params") -> dict[str, JSONValue]:
    """A new dict of JSON-safe values; `params` itself is never mutated."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        log.debug("%s: expected a mapping, got %s; ignored", where, type(params).__name__)
        return {}
    result = _sanitize_mapping(params, 0, where)
    return result if isinstance(result, dict) else {}


def passes_unchanged(params: dict[str, Any]) -> bool:
    """Whether `sanitize_params(params)` would equal `params`: at most MAX_ITEMS items, each one
    `_kept_as_is`. A cheap test, so that such params need no copy."""
    if len(params) > MAX_ITEMS:
        return False
    for key, value in params.items():  # noqa: SIM110 - all() costs a third more, on every event
        if not _kept_as_is(key, value):
            return False
    return True


def _kept_as_is(key: Any, value: Any) -> bool:
    """The common case, already JSON-safe: an ASCII key with None, a bool, a 64-bit int or ASCII
    text within MAX_STRING."""
    kind = type(value)
    return (
        type(key) is str
        and key.isascii()
        and (
            kind in _SAFE_SCALARS
            or (kind is str and len(value) <= MAX_STRING and value.isascii())
            or (kind is int and value.bit_length() <= _MAX_INT_BITS)
        )
    )


def valid_text(text: str) -> str:
    """`text` as valid Unicode: lone surrogates (which no UTF-8 payload can carry) become U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 pairs up surrogates that form a character and replaces the lone ones.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _key(key: Any, where: str) -> str | None:
    if isinstance(key, str):
        return valid_text(key)
    if isinstance(key, (bool, int, float, enum.Enum)) or key is None:
        try:
            converted = str(key.value if isinstance(key, enum.Enum) else key)
        except ValueError:  # an int past Python's int-to-str digit limit
            log.debug("%s: key of type %s cannot be written; dropped", where, type(key).__name__)
            return None
        log.debug("%s: non-string key of type %s converted to %r", where, type(key).__name__, converted)
        return converted
    log.debug("%s: key of type %s dropped", where, type(key).__name__)
    return None


def _sanitize_mapping(mapping: Mapping[Any, Any], depth: int, where: str) -> dict[str, Any] | _Drop:
    if depth >= MAX_DEPTH:
        log.debug("%s: nested deeper than %d levels; dropped", where, MAX_DEPTH)
        return DROP
    out: dict[str, Any] = {}
    try:
        items = list(mapping.items())
    except Exception:  # noqa: BLE001 - a broken mapping from the caller must not break delivery
        log.debug("%s: mapping could not be read; dropped", where)
        return DROP
    for key, value in items[:MAX_ITEMS]:
        if _kept_as_is(key, value):
            out[key] = value
            continue
        name = _key(key, where)
        if name is None:
            continue
        clean = sanitize_value(value, depth + 1, f"{where}.{name}")
        if clean is not DROP:
            out[name] = clean
    if len(items) > MAX_ITEMS:
        log.debug("%s: more than %d keys; the rest dropped", where, MAX_ITEMS)
    return out


def sanitize_value(value: Any, depth: int = 0, where: str = "value") -> JSONValue | _Drop:
    """One JSON-safe value, or DROP."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return valid_text(value[:MAX_STRING])
    if isinstance(value, int):
        if value.bit_length() <= _MAX_INT_BITS:
            return value
        try:  # beyond 64 bits no vendor keeps it exact: send it as a float, or drop it
            return sanitize_value(float(value), depth, where)
        except OverflowError:
            return _drop(where, value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        log.debug("%s: non-finite number dropped", where)
        return DROP
    if isinstance(value, decimal.Decimal):
        return sanitize_value(float(value), depth, where) if value.is_finite() else _drop(where, value)
    if isinstance(value, enum.Enum):
        return sanitize_value(value.value, depth, where)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            return valid_text(bytes(value).decode("utf-8")[:MAX_STRING])
        except UnicodeDecodeError:
            return _drop(where, value)
    if isinstance(value, Mapping):
        return _sanitize_mapping(value, depth, where)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _sanitize_sequence(value, depth, where)
    if isinstance(value, numbers.Integral):
        return sanitize_value(int(value), depth, where)
    if isinstance(value, numbers.Real):
        return sanitize_value(float(value), depth, where)
    return _drop(where, value)


def _sort_key(item: Any) -> tuple[str, str]:
    """A stable order for set members that never raises (a member's repr() may)."""
    try:
        return (type(item).__name__, repr(item))
    except Exception:  # noqa: BLE001 - a broken __repr__ must not lose the event
        return (type(item).__name__, "")


def _sanitize_sequence(value: Any, depth: int, where: str) -> list[Any] | _Drop:
    if depth >= MAX_DEPTH:
        log.debug("%s: nested deeper than %d levels; dropped", where, MAX_DEPTH)
        return DROP
    items = list(value)
    if isinstance(value, (set, frozenset)):
        items.sort(key=_sort_key)
    out = []
    for item in items[:MAX_ITEMS]:
        clean = sanitize_value(item, depth + 1, f"{where}[]")
        if clean is not DROP:
            out.append(clean)
    return out


def _drop(where: str, value: Any) -> _Drop:
    log.debug("%s: value of type %s cannot be sent; dropped", where, type(value).__name__)
    return DROP
