"""Fake Mixpanel ingestion backend: `/track`, `/engage`, `/groups` and `/import`.

It decodes every payload shape the docs and the official library use (form `data=` holding JSON
or base64 JSON, a plain JSON body, NDJSON for /import, optional gzip), validates events per the
Import Events page, answers in the form the request asked for (plain `1`/`0`, `verbose=1` JSON,
or the `strict=1` import summary), deduplicates on (event, time, distinct_id, $insert_id) and
normalises what it accepts to `ReceivedEvent`. Events the real service would silently drop are
recorded with `accepted=False`, so a test can see them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fakes._json import CHUNK_ITEMS, MISSING, orjson_length, orjson_loads
from fakes._model import FakeRequest, FakeResponse, Handled, ReceivedEvent, make_received_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

VENDOR = "mixpanel"
TRACK_PATH = "/track"
ENGAGE_PATH = "/engage"
GROUPS_PATH = "/groups"
IMPORT_PATH = "/import"

MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""The current Import Events page: 10 MB uncompressed per request (read as MiB, like the
2097152-byte figure in the documented 413 sample). Applies to every route, measured after gzip."""
MAX_EVENTS_PER_REQUEST = 2000
MAX_EVENT_BYTES = 1024 * 1024
MAX_PROPERTIES = 255
"""Events must have fewer than 255 properties, 255 keys per nested object, 255 array elements."""
MAX_NESTING = 3
MAX_STRING_LENGTH = 255
"""Longer strings are truncated, not rejected."""
MAX_INSERT_ID_BYTES = 36
EARLIEST_TIME = 31_536_000.0
"""1971-01-01T00:00:00Z: earlier event times are rejected."""
MAX_FUTURE_SECONDS = 3600.0
TRACK_MAX_AGE_SECONDS = 5 * 24 * 3600.0
"""/track silently drops events older than five days (and still answers 1)."""

INVALID_DISTINCT_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "<nil>",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
    }
)
"""distinct_id values the docs reject (compared case-insensitively; "" is allowed)."""

PROFILE_OPERATIONS = (
    "$set",
    "$set_once",
    "$add",
    "$union",
    "$append",
    "$remove",
    "$unset",
    "$delete",
)
PAGE_VIEW_EVENT = "Page Viewed"
_INSERT_ID_PATTERN = re.compile(r"[A-Za-z0-9-]+")
_STRIPPED_KEYS = ("token", "distinct_id", "time", "$insert_id")
_STRIPPED_PROPERTIES = frozenset(_STRIPPED_KEYS)
_CONTAINERS = (dict, list)
_EXACT_NUMBER_TYPES = frozenset({int, float})
_SIZE_CHUNK = CHUNK_ITEMS
"""Events whose JSON is measured together: one encoding under 1 MB clears them all."""
_SIZE_ENCODER = json.JSONEncoder(default=str)
"""Encodes exactly like `json.dumps(value, default=str)`, without building an encoder per call."""
_SIZE_GROWTH = 6
"""`_SIZE_ENCODER`'s output is at most this many times orjson's for the same value: a DEL or
non-ASCII character takes up to 6 bytes as an ASCII escape (against 1 to 4 raw in orjson), a
separator 2 (against 1), Infinity 9 bytes (against `null`); numbers and the rest take the same."""

ERROR_NO_DATA = "data, missing or empty"
ERROR_BAD_DATA = "data, could not decode as JSON or base64 JSON"
ERROR_PARTIAL = "some data points in the request failed validation"
ERROR_RATE_LIMIT = "Project exceeded rate limits. Please retry the request with exponential backoff."
ERROR_CREDENTIALS = "Invalid credentials"


class _BadRequest(Exception):
    """A request-level problem (nothing in it is looked at further)."""


@dataclass(slots=True)
class _Verdict:
    """The outcome for one item: why it failed (`failures`) or why it is dropped (`dropped`)."""

    failures: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    time: float | None = None
    distinct_id: str | None = None
    insert_id: str | None = None
    """properties.$insert_id when it is a string."""


@dataclass(frozen=True)
class _Mode:
    """How to phrase the answer: /import strict summary, verbose JSON, or plain 1/0."""

    route: str
    verbose: bool
    strict: bool


class MixpanelFake:
    """Answers Mixpanel ingestion requests the way api.mixpanel.com does.

    `project_tokens=None` accepts any token. `service_accounts` maps service-account usernames
    to secrets (None accepts any non-empty pair). `api_secrets` lists legacy project API
    secrets for /import Basic auth; when both it and `project_tokens` are None any username is
    accepted, otherwise the username must be a listed token or secret.
    """

    name = VENDOR
    routes: tuple[str, ...] = (TRACK_PATH, ENGAGE_PATH, GROUPS_PATH, IMPORT_PATH)

    def __init__(
        self,
        project_tokens: Iterable[str] | None = None,
        service_accounts: Mapping[str, str] | None = None,
        *,
        api_secrets: Iterable[str] | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        max_events_per_request: int = MAX_EVENTS_PER_REQUEST,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.project_tokens = None if project_tokens is None else frozenset(project_tokens)
        self.service_accounts = None if service_accounts is None else dict(service_accounts)
        self.api_secrets = None if api_secrets is None else frozenset(api_secrets)
        self.max_request_bytes = max_request_bytes
        self.max_events_per_request = max_events_per_request
        self._now = now
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen | list[_Seen]] = {}
        """Recorded dedup keys by $insert_id: (event, time, distinct_id), or a list when several."""

    # -- VendorFake protocol -------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> Handled:
        """Answer one request the way the real ingestion API does."""
        if request.path not in self.routes:
            return Handled(FakeResponse.json(404, {"error": "not found", "status": 0}))
        if request.method not in ("GET", "POST") or (
            request.path == IMPORT_PATH and request.method != "POST"
        ):
            return Handled(
                FakeResponse.json(405, {"error": "method not allowed", "status": 0}, {"Allow": "POST"})
            )
        if request.path == IMPORT_PATH and not self._import_auth_ok(request):
            return Handled(
                FakeResponse.json(401, {"code": 401, "error": ERROR_CREDENTIALS, "status": "Unauthorized"})
            )
        try:
            body = _decompressed(request, self.max_request_bytes)
        except _BadRequest as problem:
            query_mode = _Mode(
                route=request.path,
                verbose=request.query_value("verbose") == "1",
                strict=request.query_value("strict") == "1",
            )
            return _request_error(query_mode, str(problem))
        if len(body) > self.max_request_bytes:
            return Handled(self._too_large())
        fields = _form_fields(request, body)
        mode = _Mode(
            route=request.path,
            verbose=fields.get("verbose") == "1",
            strict=request.path == IMPORT_PATH and fields.get("strict") == "1",
        )
        chunk_lengths: list[int] = []
        try:
            items = _payload_items(request, body, fields, chunk_lengths)
        except _BadRequest as problem:
            return _request_error(mode, str(problem))
        if len(items) > self.max_events_per_request:
            return _request_error(mode, f"request exceeds max limit of {self.max_events_per_request} events")
        if request.path in (ENGAGE_PATH, GROUPS_PATH):
            return self._profiles(items, mode)
        return self._events(items, mode, chunk_lengths)

    def reset(self) -> None:
        """Forget dedup keys."""
        with self._lock:
            self._seen.clear()

    def error_body(self, status: int) -> FakeResponse | None:
        """The documented /import body for an injected 413 or 429; None for other statuses."""
        if status == 413:
            return self._too_large()
        if status == 429:
            return FakeResponse.json(
                429, {"code": 429, "error": ERROR_RATE_LIMIT, "status": "Too Many Requests"}
            )
        return None

    # -- auth ------------------------------------------------------------------------------------

    def _import_auth_ok(self, request: FakeRequest) -> bool:
        """/import Basic auth: a service account with ?project_id=, a project token or a secret."""
        credentials = _basic_credentials(request.headers.get("authorization", ""))
        if credentials is None:
            return False
        username, secret = credentials
        if not username:
            return False
        if request.query_value("project_id"):
            if not secret:
                return False
            return self.service_accounts is None or self.service_accounts.get(username) == secret
        if secret:
            return False  # a service account without project_id
        if self.project_tokens is None and self.api_secrets is None:
            return True
        return username in (self.project_tokens or frozenset()) | (self.api_secrets or frozenset())

    def _too_large(self) -> FakeResponse:
        return FakeResponse.json(
            413,
            {
                "code": 413,
                "error": f"request exceeds max limit of {self.max_request_bytes} bytes",
                "status": "Request Entity Too Large",
            },
        )

    # -- events (/track and /import) -------------------------------------------------------------

    def _events(self, items: list[Any], mode: _Mode, chunk_lengths: list[int]) -> Handled:
        """Validate, deduplicate and record events; answer in the form `mode` asks for.

        `chunk_lengths`: orjson's encoded length of each `_SIZE_CHUNK` items, when known.
        """
        now = self._now()
        unmeasured = _size_suspects(items, chunk_lengths)
        verdicts: list[_Verdict | _Plain] = []
        if mode.route == TRACK_PATH:
            plain_check = _PlainTrackCheck(now, self.project_tokens)
            for index, item in enumerate(items):
                plain = None if index in unmeasured else plain_check.verdict(item)
                verdicts.append(
                    plain
                    if plain is not None
                    else self._check_event(item, mode.route, now, index in unmeasured)
                )
        else:
            verdicts.extend(
                self._check_event(item, mode.route, now, index in unmeasured)
                for index, item in enumerate(items)
            )
        received: list[ReceivedEvent] = []
        messages: list[dict[str, Any]] = []
        failed_records: list[dict[str, Any]] = []
        imported = 0
        with self._lock:
            for index, (item, verdict) in enumerate(zip(items, verdicts, strict=True)):
                if isinstance(verdict, tuple):  # no failures, nothing dropped
                    imported += 1
                    event_time, distinct_id, insert_id, long_strings = verdict
                    if insert_id and self._seen_before(
                        item["event"], event_time, distinct_id or "", insert_id
                    ):
                        messages.append(_duplicate_message(index, insert_id))
                        continue
                    received.append(
                        _normalise_plain_event(item, event_time, distinct_id, insert_id, long_strings)
                    )
                    continue
                insert_id = verdict.insert_id
                for field_path, message in verdict.failures:
                    failed_records.append(
                        {
                            "index": index,
                            "$insert_id": insert_id or "",
                            "field": field_path,
                            "message": message,
                        }
                    )
                    messages.append(_message(index, field_path, message, "VALUE_INVALID"))
                if verdict.failures:
                    if isinstance(item, dict):
                        received.append(_normalise_event(item, verdict, accepted=False))
                    continue
                imported += 1
                if verdict.dropped:
                    messages.extend(
                        _message(index, "properties", reason, "DROPPED") for reason in verdict.dropped
                    )
                    received.append(_normalise_event(item, verdict, accepted=False))
                    continue
                if (
                    insert_id
                    and verdict.time is not None
                    and self._seen_before(
                        str(item["event"]), verdict.time, verdict.distinct_id or "", insert_id
                    )
                ):
                    messages.append(_duplicate_message(index, insert_id))
                    continue
                received.append(_normalise_event(item, verdict, accepted=True))
        response = _events_response(mode, imported, failed_records)
        return Handled(response, tuple(received), tuple(messages))

    def _seen_before(self, name: str, event_time: float, distinct_id: str, insert_id: str) -> bool:
        """Whether the dedup key (event, time to the millisecond, distinct_id, $insert_id) was
        recorded before; record it if not. Caller holds the lock.

        Keys are kept by $insert_id, so the time is rounded only when two events share one.
        """
        earlier = self._seen.get(insert_id)
        if earlier is None:
            self._seen[insert_id] = (name, event_time, distinct_id)
            return False
        if isinstance(earlier, tuple):
            earlier = self._seen[insert_id] = [earlier]
        key = (name, round(event_time, 3), distinct_id)
        for other_name, other_time, other_distinct in earlier:
            if key == (other_name, round(other_time, 3), other_distinct):
                return True
        earlier.append((name, event_time, distinct_id))
        return False

    def _check_event(self, item: Any, route: str, now: float, measure_size: bool) -> _Verdict:
        """Per-event validation from the Import Events page (/track is laxer on required fields).

        `measure_size` False: the event is known to be under MAX_EVENT_BYTES (`_size_suspects`).
        """
        verdict = _Verdict()
        importing = route == IMPORT_PATH
        if not isinstance(item, dict):
            verdict.failures.append(("", "event must be a JSON object"))
            return verdict
        name = item.get("event")
        if not isinstance(name, str) or not name:
            verdict.failures.append(("event", "'event' is required and must be a string"))
        properties = item.get("properties", None if importing else {})
        if not isinstance(properties, dict):
            verdict.failures.append(("properties", "'properties' must be an object"))
            return verdict
        insert_id = properties.get("$insert_id")
        verdict.insert_id = insert_id if isinstance(insert_id, str) else None

        if not importing:
            token = properties.get("token")
            if not isinstance(token, str) or not token:
                verdict.failures.append(("properties.token", "'properties.token' is required"))
            elif self.project_tokens is not None and token not in self.project_tokens:
                verdict.dropped.append(f"unknown project token {token!r}")

        _check_time(verdict, properties.get("time"), now, required=importing)
        if not importing and verdict.time is not None and verdict.time < now - (TRACK_MAX_AGE_SECONDS):
            verdict.dropped.append("older than 5 days: /track drops it (use /import)")
        _check_distinct_id(verdict, properties, required=importing)
        _check_insert_id(verdict, properties, required=importing)
        _check_shape(verdict, item, properties, measure_size)
        return verdict

    # -- profiles (/engage and /groups) ----------------------------------------------------------

    def _profiles(self, items: list[Any], mode: _Mode) -> Handled:
        """Profile updates: each needs a token, an id and one known operation."""
        received: list[ReceivedEvent] = []
        messages: list[dict[str, Any]] = []
        valid = 0
        first_error: str | None = None
        for index, item in enumerate(items):
            problem = self._profile_problem(item, mode.route)
            if problem is not None:
                first_error = first_error or problem
                messages.append(_message(index, "", problem, "VALUE_INVALID"))
                continue
            valid += 1
            token = item.get("$token")
            accepted = self.project_tokens is None or token in self.project_tokens
            if not accepted:
                messages.append(_message(index, "$token", "unknown project token", "DROPPED"))
            received.append(_normalise_profile(item, mode.route, self._now(), accepted))
        if valid:
            return Handled(_status_response(mode, True, None), tuple(received), tuple(messages))
        return Handled(_status_response(mode, False, first_error or ERROR_NO_DATA), (), tuple(messages))

    @staticmethod
    def _profile_problem(item: Any, route: str) -> str | None:
        """Why a profile update is invalid, or None."""
        if not isinstance(item, dict):
            return "update must be a JSON object"
        token = item.get("$token")
        if not isinstance(token, str) or not token:
            return "$token, missing or empty"
        if route == ENGAGE_PATH and not isinstance(item.get("$distinct_id"), (str, int)):
            return "$distinct_id, missing or empty"
        if route == GROUPS_PATH and not (item.get("$group_key") and "$group_id" in item):
            return "$group_key or $group_id, missing or empty"
        operations = [key for key in item if key in PROFILE_OPERATIONS]
        if len(operations) != 1:
            return "exactly one operation ($set, $set_once, $add, ...) is required"
        return None


# -- per-event checks ----------------------------------------------------------------------------

_Seen = tuple[str, float, str]
"""A recorded event's (event, time, distinct_id): its dedup key, less the $insert_id it is kept by."""
_Plain = tuple[float, "str | None", "str | None", bool]
"""The verdict on an event with no failure and nothing dropped: (time, distinct_id, $insert_id,
whether some property is a string longer than MAX_STRING_LENGTH)."""


class _PlainTrackCheck:
    """`MixpanelFake._check_event` on /track for the common event, in fewer steps.

    It answers None unless the full check would find no failure and drop nothing; the caller then
    runs the full check. It checks in the same order, so an input that makes the full check raise
    makes this raise alike or answer None. The caller has already measured the event's size.
    Decoded JSON holds only exact types.
    """

    def __init__(self, now: float, project_tokens: frozenset[str] | None) -> None:
        self.now = now
        self.latest = now + MAX_FUTURE_SECONDS
        self.oldest = now - TRACK_MAX_AGE_SECONDS
        self.project_tokens = project_tokens
        self.usable_ids: set[str] = set()

    def verdict(self, item: Any) -> _Plain | None:
        if type(item) is not dict:
            return None
        name = item.get("event")
        properties = item.get("properties", _NO_PROPERTIES)
        if type(name) is not str or not name or type(properties) is not dict:
            return None
        token = properties.get("token")
        if type(token) is not str or not token:
            return None
        if self.project_tokens is not None and token not in self.project_tokens:
            return None
        value = properties.get("time")
        if value is None:
            event_time = self.now
        elif type(value) in _EXACT_NUMBER_TYPES:
            seconds = float(value)
            if seconds > self.latest and seconds / 1000 >= EARLIEST_TIME:
                seconds /= 1000
            if seconds < EARLIEST_TIME or seconds > self.latest:
                return None
            event_time = self.now if self.now < seconds else seconds  # min(seconds, now)
            if event_time < self.oldest:
                return None
        else:
            return None
        distinct_id: str | None = None
        if "distinct_id" in properties:
            value = properties["distinct_id"]
            if type(value) is str and value in self.usable_ids:
                distinct_id = value
            else:
                distinct_id = _usable_distinct_id(value, self.usable_ids)
                if distinct_id is None:
                    return None
        insert_id = properties.get("$insert_id")
        # Matching the pattern makes it ASCII, so its length in characters is its length in bytes.
        if (insert_id is not None or "$insert_id" in properties) and (
            type(insert_id) is not str
            or len(insert_id) > MAX_INSERT_ID_BYTES
            or not _INSERT_ID_PATTERN.fullmatch(insert_id)
            or insert_id.lower() in INVALID_DISTINCT_IDS
        ):
            return None
        if len(properties) >= MAX_PROPERTIES:
            return None
        long_strings = False
        for value in properties.values():
            kind = type(value)
            if kind is str:
                if len(value) > MAX_STRING_LENGTH:
                    long_strings = True
            elif kind is dict or kind is list:
                return None  # nested values are checked (and truncated) by the full path
        return (event_time, distinct_id, insert_id, long_strings)


_NO_PROPERTIES: dict[str, Any] = {}
"""What /track reads when an event has no properties (never modified)."""


def _usable_distinct_id(value: Any, usable: set[str]) -> str | None:
    """`_check_distinct_id`'s accepted text for `value`, or None when it would fail.

    `usable` remembers accepted strings: a request repeats the same few ids.
    """
    if type(value) is str:
        if value in usable:
            return value
        if value.strip().lower() in INVALID_DISTINCT_IDS:
            return None
        usable.add(value)
        return value
    if type(value) not in _EXACT_NUMBER_TYPES:
        return None
    text = str(value)
    return None if text.strip().lower() in INVALID_DISTINCT_IDS else text


def _check_time(verdict: _Verdict, value: Any, now: float, *, required: bool) -> None:
    """`time` in seconds or ms; not before 1971 nor over 1 h ahead; a nearer future means now."""
    if value is None:
        if required:
            verdict.failures.append(("properties.time", "'properties.time' is required"))
        else:
            verdict.time = now
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        verdict.failures.append(
            (
                "properties.time",
                "'properties.time' is invalid: must be specified as seconds since epoch",
            )
        )
        return
    seconds = float(value)
    if seconds > now + MAX_FUTURE_SECONDS and seconds / 1000 >= EARLIEST_TIME:
        seconds /= 1000  # too far ahead as seconds but a plausible time in milliseconds
    if seconds < EARLIEST_TIME:
        verdict.failures.append(("properties.time", "'properties.time' is invalid: before 1971-01-01"))
    elif seconds > now + MAX_FUTURE_SECONDS:
        verdict.failures.append(
            ("properties.time", "'properties.time' is invalid: more than 1 hour in the future")
        )
    else:
        verdict.time = min(seconds, now)


def _check_distinct_id(verdict: _Verdict, properties: dict[str, Any], *, required: bool) -> None:
    """distinct_id: required on /import (may be ""), never one of the placeholder values."""
    if "distinct_id" not in properties:
        if required:
            verdict.failures.append(("properties.distinct_id", "'properties.distinct_id' is required"))
        return
    value = properties["distinct_id"]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        verdict.failures.append(("properties.distinct_id", "'properties.distinct_id' must be a string"))
        return
    text = str(value)
    if text.strip().lower() in INVALID_DISTINCT_IDS:
        verdict.failures.append(
            (
                "properties.distinct_id",
                f"'properties.distinct_id' is invalid: {text!r} is not allowed",
            )
        )
        return
    verdict.distinct_id = text


def _check_insert_id(verdict: _Verdict, properties: dict[str, Any], *, required: bool) -> None:
    """$insert_id: required on /import; at most 36 bytes of [A-Za-z0-9-]."""
    if "$insert_id" not in properties:
        if required:
            verdict.failures.append(("properties.$insert_id", "'properties.$insert_id' is required"))
        return
    value = properties["$insert_id"]
    if (
        not isinstance(value, str)
        or len(value.encode()) > MAX_INSERT_ID_BYTES
        or not _INSERT_ID_PATTERN.fullmatch(value)
        or value.lower() in INVALID_DISTINCT_IDS
    ):
        verdict.failures.append(
            (
                "properties.$insert_id",
                "'properties.$insert_id' is invalid: must be at most 36 bytes of [A-Za-z0-9-]",
            )
        )


def _check_shape(
    verdict: _Verdict, item: dict[str, Any], properties: dict[str, Any], measure_size: bool
) -> None:
    """Size, property count, nesting depth and array length limits."""
    if measure_size and len(_SIZE_ENCODER.encode(item)) >= MAX_EVENT_BYTES:
        verdict.failures.append(("", "event must be smaller than 1 MB"))
    if len(properties) >= MAX_PROPERTIES:
        verdict.failures.append(("properties", "event must have fewer than 255 properties"))
    for name, value in properties.items():
        if isinstance(value, _CONTAINERS):
            problem = _nested_problem(value, 1)
            if problem is not None:
                verdict.failures.append((f"properties.{name}", problem))


def _size_suspects(items: list[Any], chunk_lengths: list[int] | None = None) -> set[int]:
    """Indices of the items whose JSON encoding may reach MAX_EVENT_BYTES, to measure one by one.

    Items are encoded a chunk at a time: a list's encoding is longer than any of its items', so
    a chunk under the limit clears all of its items in one C call. `chunk_lengths`, when it has
    one per chunk, holds orjson's encoded length of each chunk.
    """
    suspects: set[int] = set()
    known = chunk_lengths if chunk_lengths and len(chunk_lengths) == -(-len(items) // _SIZE_CHUNK) else None
    for number, start in enumerate(range(0, len(items), _SIZE_CHUNK)):
        chunk = items[start : start + _SIZE_CHUNK]
        if known is not None and known[number] * _SIZE_GROWTH < MAX_EVENT_BYTES:
            continue
        if known is None and _surely_fits(chunk):
            continue
        try:
            fits = len(_SIZE_ENCODER.encode(chunk)) < MAX_EVENT_BYTES
        except RecursionError:
            fits = False
        if not fits:
            suspects.update(range(start, start + len(chunk)))
    return suspects


def _surely_fits(chunk: list[Any]) -> bool:
    """Whether `_SIZE_ENCODER` would certainly encode `chunk` under MAX_EVENT_BYTES, judged by
    orjson's much faster encoding; False when unsure (or when orjson cannot encode it)."""
    length = orjson_length(chunk)
    return length is not None and length * _SIZE_GROWTH < MAX_EVENT_BYTES


def _nested_problem(value: Any, depth: int) -> str | None:
    """Why a nested property value breaks the limits, or None."""
    if isinstance(value, (dict, list)):
        if depth > MAX_NESTING:
            return f"nested more than {MAX_NESTING} levels deep"
        if len(value) >= MAX_PROPERTIES:
            return "nested objects and arrays must have fewer than 255 entries"
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            problem = _nested_problem(child, depth + 1)
            if problem is not None:
                return problem
    return None


# -- normalisation -------------------------------------------------------------------------------


def _normalise_event(item: dict[str, Any], verdict: _Verdict, *, accepted: bool) -> ReceivedEvent:
    """One /track or /import event as a ReceivedEvent, strings truncated as Mixpanel stores them."""
    properties = item.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    name = item.get("event")
    name = name if isinstance(name, str) else ""
    params = {}
    for key, value in properties.items():
        if key in _STRIPPED_PROPERTIES:
            continue
        if isinstance(value, str):
            value = value[:MAX_STRING_LENGTH]
        elif isinstance(value, _CONTAINERS):
            value = _truncate(value)
        params[key] = value
    problems = tuple([message for _, message in verdict.failures] + verdict.dropped)
    return ReceivedEvent(
        vendor=VENDOR,
        kind="page_view" if name == PAGE_VIEW_EVENT else "event",
        name=name,
        params=params,
        client_id=verdict.distinct_id,
        session_id=properties.get("session_id"),
        time=verdict.time,
        insert_id=verdict.insert_id,
        accepted=accepted,
        problems=problems,
        raw=item,
    )


def _normalise_plain_event(
    item: dict[str, Any],
    event_time: float,
    distinct_id: str | None,
    insert_id: str | None,
    long_strings: bool,
) -> ReceivedEvent:
    """`_normalise_event` for an event that passed `_PlainTrackCheck` (so has no nested values)."""
    properties = item["properties"]
    name = item["event"]
    params = dict(properties)  # then drop what Mixpanel strips: the other keys keep their order
    strip = params.pop
    for key in _STRIPPED_KEYS:
        strip(key, None)
    if long_strings:
        params = {key: _truncate(value) for key, value in params.items()}
    return make_received_event(
        VENDOR,
        "page_view" if name == PAGE_VIEW_EVENT else "event",
        name,
        params,
        distinct_id,
        properties.get("session_id"),
        event_time,
        insert_id,
        True,
        (),
        {},
        item,
    )


def _normalise_profile(item: dict[str, Any], route: str, now: float, accepted: bool) -> ReceivedEvent:
    """One /engage or /groups update as a user_properties ReceivedEvent named by its operation."""
    operation = next(key for key in item if key in PROFILE_OPERATIONS)
    value = item[operation]
    if isinstance(value, dict):
        params = {key: _truncate(v) for key, v in value.items()}
    elif isinstance(value, list):
        params = dict.fromkeys(str(v) for v in value)
    else:
        params = {}
    when = item.get("$time")
    seconds: float | None = None
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        seconds = float(when)
        if seconds > now + MAX_FUTURE_SECONDS and seconds / 1000 >= EARLIEST_TIME:
            seconds /= 1000
    distinct_id = item.get("$distinct_id") if route == ENGAGE_PATH else None
    return ReceivedEvent(
        vendor=VENDOR,
        kind="user_properties",
        name=operation,
        params=params,
        client_id=None if distinct_id is None else str(distinct_id),
        session_id=params.get("session_id"),
        time=seconds,
        insert_id=None,
        accepted=accepted,
        problems=() if accepted else ("unknown project token",),
        user_properties=params,
        raw=item,
    )


def _truncate(value: Any) -> Any:
    """Strings cut to 255 characters, recursively, as Mixpanel stores them."""
    if isinstance(value, str):
        return value[:MAX_STRING_LENGTH]
    if isinstance(value, list):
        return [_truncate(v) for v in value]
    if isinstance(value, dict):
        return {k: _truncate(v) for k, v in value.items()}
    return value


# -- responses -----------------------------------------------------------------------------------


def _status_response(mode: _Mode, ok: bool, error: str | None) -> FakeResponse:
    """/track-style answer: `{"status": 1|0, "error": ...}` when verbose, else plain `1`/`0`."""
    if mode.verbose:
        return FakeResponse.json(200, {"status": 1 if ok else 0, "error": None if ok else error})
    return FakeResponse.text(200, "1" if ok else "0")


def _events_response(mode: _Mode, imported: int, failed_records: list[dict[str, Any]]) -> FakeResponse:
    """The answer for a batch of events in the form the route and query ask for."""
    if mode.route == IMPORT_PATH and mode.strict:
        if not failed_records:
            return FakeResponse.json(200, {"code": 200, "num_records_imported": imported, "status": "OK"})
        return FakeResponse.json(
            400,
            {
                "code": 400,
                "error": ERROR_PARTIAL,
                "status": "Bad Request",
                "num_records_imported": imported,
                "failed_records": failed_records,
            },
        )
    if mode.route == IMPORT_PATH and not mode.verbose:
        return FakeResponse.json(200, {"code": 200, "num_records_imported": imported, "status": "OK"})
    first_error = failed_records[0]["message"] if failed_records else ERROR_NO_DATA
    return _status_response(mode, imported > 0, first_error)


def _request_error(mode: _Mode, error: str) -> Handled:
    """A request-level rejection: 400 JSON on /import, 200 with `0` elsewhere (like /track)."""
    note = (_message(None, "", error, "REJECTED"),)
    if mode.route == IMPORT_PATH and (mode.strict or not mode.verbose):
        body = {"code": 400, "error": error, "status": "Bad Request"}
        return Handled(FakeResponse.json(400, body), validation_messages=note)
    if mode.route == IMPORT_PATH:
        verbose_body = {"status": 0, "error": error}
        return Handled(FakeResponse.json(400, verbose_body), validation_messages=note)
    return Handled(_status_response(mode, False, error), validation_messages=note)


def _duplicate_message(index: int, insert_id: str | None) -> dict[str, Any]:
    return _message(
        index,
        "properties.$insert_id",
        f"duplicate of an earlier event ({insert_id}); not recorded",
        "DUPLICATE",
    )


def _message(index: int | None, field_path: str, description: str, code: str) -> dict[str, Any]:
    """One validation note kept with the recorded request (GA4 debug-style keys)."""
    prefix = "" if index is None else f"[{index}]"
    path = f"{prefix}.{field_path}" if prefix and field_path else prefix or field_path
    return {"fieldPath": path, "description": description, "validationCode": code}


# -- decoding ------------------------------------------------------------------------------------


def _decompressed(request: FakeRequest, limit: int) -> bytes:
    """The body, gunzipped when `Content-Encoding: gzip`, reading at most `limit` + 1 bytes."""
    if "gzip" not in request.headers.get("content-encoding", "").lower():
        return request.body
    decoder = zlib.decompressobj(wbits=31)
    try:
        data = decoder.decompress(request.body, limit + 1)
    except zlib.error as problem:
        raise _BadRequest("body is not valid gzip") from problem
    return data


def _form_fields(request: FakeRequest, body: bytes) -> dict[str, str]:
    """Query parameters, overridden by url-encoded form fields in the body."""
    fields = {name: values[0] for name, values in request.query.items() if values}
    content_type = request.content_type.lower()
    if body and not ("json" in content_type or "ndjson" in content_type):
        text = body.decode("utf-8", "replace")
        for name, values in parse_qs(text, keep_blank_values=True).items():
            fields[name] = values[0]
    return fields


def _payload_items(
    request: FakeRequest, body: bytes, fields: dict[str, str], chunk_lengths: list[int]
) -> list[Any]:
    """The list of events or updates a request carries, from whichever shape it used.

    When orjson decodes a JSON array body, `chunk_lengths` receives its encoded chunk lengths.
    """
    content_type = request.content_type.lower()
    if "ndjson" in content_type:
        try:
            lines = body.decode().splitlines()
            return [json.loads(line) for line in lines if line.strip()]
        except ValueError as problem:
            raise _BadRequest("body is not valid NDJSON") from problem
    if "json" in content_type:
        decoded = orjson_loads(body, chunk_lengths=chunk_lengths)
        if decoded is MISSING:
            try:
                decoded = json.loads(body)
            except ValueError as problem:
                raise _BadRequest("body is not valid JSON") from problem
    else:
        data = fields.get("data", "")
        if not data.strip():
            raise _BadRequest(ERROR_NO_DATA)
        decoded = _decode_data(data)
    items = decoded if isinstance(decoded, list) else [decoded]
    if not items:
        raise _BadRequest(ERROR_NO_DATA)
    return items


def _decode_data(data: str) -> Any:
    """The `data=` field: JSON, or (legacy clients) base64 of JSON."""
    try:
        return json.loads(data)
    except ValueError:
        pass
    padded = data.strip() + "=" * (-len(data.strip()) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return json.loads(decode(padded))
        except (binascii.Error, ValueError):
            continue
    raise _BadRequest(ERROR_BAD_DATA)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic ...` header, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, password = decoded.partition(":")
    return username, password
