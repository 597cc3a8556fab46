"""Fake Amplitude ingestion backend: HTTP V2 (`/2/httpapi`), Batch (`/batch`) and `/identify`.

It answers with the documented JSON bodies, each carrying `code`, because the official SDK
classifies a response by that field and silently loses events when it is missing. It validates
events the way the HTTP V2 docs describe, rejects the whole request on a 400, 413 or 429 (as the
real API does), deduplicates on (device_id or user_id, insert_id) and normalises what it accepts
to `ReceivedEvent`.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fakes._json import MISSING, orjson_loads
from fakes._model import FakeRequest, FakeResponse, Handled, ReceivedEvent, make_received_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

VENDOR = "amplitude"
HTTP_V2_PATH = "/2/httpapi"
BATCH_PATH = "/batch"
IDENTIFY_PATH = "/identify"

HTTP_V2_MAX_BYTES = 1024 * 1024
"""HTTP V2: "keep request sizes under 1 MB" (read as 1 MiB); larger requests get 413."""
BATCH_MAX_BYTES = 20 * 1024 * 1024
"""Batch API: "the JSON serialized payload must not exceed 20MB"."""
MAX_EVENTS_PER_REQUEST = 2000
"""Both APIs: fewer than 2000 events per request (the Batch 413 text repeats this limit)."""
DEFAULT_MIN_ID_LENGTH = 5
MAX_OBJECT_DEPTH = 40
DEFAULT_EPS_THRESHOLD = 30
"""The events-per-second figure the HTTP V2 docs give; only reported in injected 429 bodies."""
THROTTLE_WINDOW_SECONDS = 1.0

INVALID_ID_VALUES = frozenset(
    {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        '""',
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    }
)
"""Id values the docs say Amplitude rejects (compared case-insensitively)."""

RESERVED_EVENT_TYPES = frozenset(
    {
        "[Amplitude] Start Session",
        "[Amplitude] End Session",
        "[Amplitude] Revenue",
        "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)",
        "[Amplitude] Merged User",
    }
)

IDENTIFY_EVENT = "$identify"
GROUP_IDENTIFY_EVENT = "$groupidentify"
PAGE_VIEW_EVENT = "Page Viewed"

USER_PROPERTY_OPERATIONS = (
    "$set",
    "$setOnce",
    "$add",
    "$append",
    "$prepend",
    "$unset",
    "$preInsert",
    "$postInsert",
    "$remove",
    "$clearAll",
)

_INT_FIELDS = ("time", "event_id", "session_id", "quantity")
_NUMBER_FIELDS = ("price", "revenue", "location_lat", "location_lng")
_OBJECT_FIELDS = ("event_properties", "user_properties", "groups", "group_properties")
_ID_FIELDS = ("user_id", "device_id")
_CONTAINERS = (dict, list)
_CONTAINER_TYPES = frozenset(_CONTAINERS)
_EXACT_NUMBER_TYPES = frozenset({int, float})
_SELDOM_SENT_FIELDS = frozenset(
    {"event_id", "quantity", "price", "revenue", "location_lat", "location_lng", "user_properties", "groups",
     "group_properties"}
)  # fmt: skip
"""Fields `_check_event` checks that events seldom carry: `_plain_events` looks at them only when present."""

ERROR_MISSING_BODY = "Missing request body"
ERROR_INVALID_JSON = "Invalid JSON request body"
ERROR_MISSING_FIELD = "Request missing required field"
ERROR_INVALID_EVENT_JSON = "Invalid event JSON"
ERROR_INVALID_FIELDS = "Invalid field values on some events"
ERROR_INVALID_ID_LENGTH = "Invalid id length for user_id or device_id"
ERROR_THROTTLED = "Too many requests for some devices and users"
ERROR_TOO_LARGE = "Payload too large"
ERROR_MISSING_EVENT = "missing_event"


@dataclass(slots=True)
class _EventCheck:
    """What checking one event found: problems by category, and the event minus bad ids."""

    missing: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    id_length: list[str] = field(default_factory=list)
    cleaned: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.invalid or self.id_length)


class AmplitudeFake:
    """Answers Amplitude ingestion requests the way api2.amplitude.com does.

    `valid_api_keys=None` accepts any non-empty key. `eps_threshold` turns on per-device and
    per-user throttling (429 with `throttled_events`) above that many events in a rolling second;
    None (the default) never throttles on its own. The limits are attributes so a test can
    lower them to provoke a 413 without megabytes of payload.
    """

    name = VENDOR
    routes: tuple[str, ...] = (HTTP_V2_PATH, BATCH_PATH, IDENTIFY_PATH)

    def __init__(
        self,
        valid_api_keys: Iterable[str] | None = None,
        *,
        eps_threshold: int | None = None,
        max_events_per_request: int = MAX_EVENTS_PER_REQUEST,
        max_request_bytes: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.valid_api_keys: frozenset[str] | None = (
            None if valid_api_keys is None else frozenset(valid_api_keys)
        )
        self.eps_threshold = eps_threshold
        self.max_events_per_request = max_events_per_request
        self.max_request_bytes: dict[str, int] = {
            HTTP_V2_PATH: HTTP_V2_MAX_BYTES,
            BATCH_PATH: BATCH_MAX_BYTES,
        }
        self.max_request_bytes.update(max_request_bytes or {})
        self._clock = clock
        self._lock = threading.Lock()
        self._seen_insert_ids: set[tuple[str, str]] = set()
        self._recent: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)

    # -- VendorFake protocol -------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> Handled:
        """Answer one request the way the real ingestion API does."""
        if request.path == IDENTIFY_PATH:
            return self._handle_identify(request)
        if request.path in (HTTP_V2_PATH, BATCH_PATH):
            return self._handle_events(request)
        return _error(400, "Invalid request path")

    def reset(self) -> None:
        """Forget dedup ids and throttling counters."""
        with self._lock:
            self._seen_insert_ids.clear()
            self._recent.clear()

    def error_body(self, status: int) -> FakeResponse | None:
        """The documented body for an injected 413 or 429; None for other statuses."""
        if status == 413:
            return FakeResponse.json(413, {"code": 413, "error": ERROR_TOO_LARGE})
        if status == 429:
            return FakeResponse.json(
                429,
                {
                    "code": 429,
                    "error": ERROR_THROTTLED,
                    "eps_threshold": self.eps_threshold or DEFAULT_EPS_THRESHOLD,
                    "throttled_devices": {},
                    "throttled_users": {},
                    "throttled_events": [],
                },
            )
        return None

    # -- HTTP V2 and Batch ---------------------------------------------------------------------

    def _handle_events(self, request: FakeRequest) -> Handled:
        """Validate a JSON upload and ingest it whole, or reject it whole."""
        if request.method != "POST":
            return Handled(
                FakeResponse.json(405, {"code": 405, "error": "Method not allowed"}, {"Allow": "POST"})
            )
        body = request.body
        if not body or (body[:1].isspace() and not body.strip()):  # blank, without copying it all
            return _error(400, ERROR_MISSING_BODY)
        if len(body) > self.max_request_bytes[request.path]:
            return _error(413, ERROR_TOO_LARGE)
        if "application/json" not in request.content_type.lower():
            return _error(400, ERROR_INVALID_JSON)
        payload = orjson_loads(body)
        if payload is MISSING:
            try:
                payload = json.loads(body)
            except (UnicodeDecodeError, ValueError):
                return _error(400, ERROR_INVALID_JSON)
        if not isinstance(payload, dict):
            return _error(400, ERROR_INVALID_JSON)

        api_key = payload.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            return _error(400, ERROR_MISSING_FIELD, missing_field="api_key")
        events = payload.get("events")
        if not isinstance(events, list) or not events:
            return _error(400, ERROR_MISSING_FIELD, missing_field="events")
        if len(events) > self.max_events_per_request:
            return _error(413, ERROR_TOO_LARGE)
        if not self._key_is_valid(api_key):
            return _error(400, f"Invalid API key: {api_key}")

        min_id_length = _min_id_length(payload.get("options"))
        if min_id_length is None:
            return _error(400, ERROR_INVALID_FIELDS, events_with_invalid_fields={"options": []})

        cleaned = _plain_events(events, min_id_length)
        if cleaned is None:
            checks = [_check_event(event, min_id_length) for event in events]
            if not all(check.ok for check in checks):
                return _validation_error(events, checks)
            cleaned = [check.cleaned for check in checks]
        with self._lock:
            throttled = self._throttle(cleaned)
            if throttled is not None:
                return throttled
            return self._ingest(cleaned, len(request.body))

    def _key_is_valid(self, api_key: str) -> bool:
        return self.valid_api_keys is None or api_key in self.valid_api_keys

    def _throttle(self, events: list[dict[str, Any]]) -> Handled | None:
        """A 429 naming the devices and users over `eps_threshold`, or None. Caller holds the lock.

        Each device_id and user_id is counted separately over a rolling one-second window; the
        events of a rejected request do not count, since nothing of it is ingested.
        """
        if self.eps_threshold is None:
            return None
        now = self._clock()
        sent: dict[tuple[str, str], int] = {}
        for event in events:
            for id_field in _ID_FIELDS:
                if id_field in event:
                    key = (id_field, event[id_field])
                    sent[key] = sent.get(key, 0) + 1
        totals = {key: self._recent_count(key, now) + count for key, count in sent.items()}
        over = {key: total for key, total in totals.items() if total > self.eps_threshold}
        if not over:
            for key, count in sent.items():
                self._recent[key].extend([now] * count)
            return None
        throttled_events = [
            index for index, event in enumerate(events) if any((f, event.get(f)) in over for f in _ID_FIELDS)
        ]
        body = {
            "code": 429,
            "error": ERROR_THROTTLED,
            "eps_threshold": self.eps_threshold,
            "throttled_devices": {i: n for (f, i), n in over.items() if f == "device_id"},
            "throttled_users": {i: n for (f, i), n in over.items() if f == "user_id"},
            "throttled_events": throttled_events,
        }
        messages = tuple(
            _message(f"events[{index}]", "over the eps threshold", "THROTTLED") for index in throttled_events
        )
        return Handled(FakeResponse.json(429, body), validation_messages=messages)

    def _recent_count(self, key: tuple[str, str], now: float) -> int:
        """How many events `key` sent inside the rolling window, forgetting older ones."""
        window = self._recent[key]
        while window and window[0] <= now - THROTTLE_WINDOW_SECONDS:
            window.popleft()
        return len(window)

    def _ingest(self, events: list[dict[str, Any]], size: int) -> Handled:
        """Record each event not seen before; answer the success summary. Caller holds the lock."""
        received: list[ReceivedEvent] = []
        messages: list[dict[str, Any]] = []
        seen = self._seen_insert_ids
        for index, event in enumerate(events):
            insert_id = event.get("insert_id")
            if insert_id:  # the dedup key: (device_id or user_id, insert_id)
                dedup_key = (str(event.get("device_id") or event.get("user_id")), str(insert_id))
                if dedup_key in seen:
                    messages.append(
                        _message(
                            f"events[{index}].insert_id",
                            f"duplicate insert_id {dedup_key[1]!r} for {dedup_key[0]!r}; not recorded",
                            "DUPLICATE",
                        )
                    )
                    continue
                seen.add(dedup_key)
            received.append(_normalise(event))
        body = {
            "code": 200,
            "events_ingested": len(events),
            "payload_size_bytes": size,
            "server_upload_time": int(time.time() * 1000),
        }
        return Handled(FakeResponse.json(200, body), tuple(received), tuple(messages))

    # -- Identify API --------------------------------------------------------------------------

    def _handle_identify(self, request: FakeRequest) -> Handled:
        """The form-encoded Identify API: `api_key` plus `identification` (object or array)."""
        form = _form_fields(request)
        api_key = form.get("api_key", "")
        if not api_key:
            return _error(400, ERROR_MISSING_FIELD, missing_field="api_key")
        if not self._key_is_valid(api_key):
            return _error(400, f"Invalid API key: {api_key}")
        try:
            identification = json.loads(form.get("identification", ""))
        except ValueError:
            return _error(400, ERROR_MISSING_EVENT)
        items = identification if isinstance(identification, list) else [identification]
        if not items or not all(_identification_is_valid(item) for item in items):
            return _error(400, ERROR_MISSING_EVENT)
        received = tuple(_normalise_identification(item) for item in items)
        return Handled(FakeResponse.text(200, "success"), received)


# -- validation helpers --------------------------------------------------------------------------


def _min_id_length(options: Any) -> int | None:
    """`options.min_id_length`, the default when absent, None when it is not a positive int."""
    if options is None:
        return DEFAULT_MIN_ID_LENGTH
    if not isinstance(options, dict):
        return None
    value = options.get("min_id_length", DEFAULT_MIN_ID_LENGTH)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _check_event(event: Any, min_id_length: int) -> _EventCheck:
    """Validate one event per the HTTP V2 docs; strip ids that are too short or invalid."""
    check = _EventCheck()
    if not isinstance(event, dict):
        check.invalid.append("event")
        return check
    cleaned = dict(event)

    event_type = event.get("event_type")
    if event_type is None or event_type == "":
        check.missing.append("event_type")
    elif not isinstance(event_type, str) or event_type in RESERVED_EVENT_TYPES:
        check.invalid.append("event_type")

    bad_ids: list[tuple[str, str]] = []  # (field, "length" | "value")
    for id_field in _ID_FIELDS:
        value = event.get(id_field)
        if value is None:
            cleaned.pop(id_field, None)
            continue
        if not isinstance(value, str):
            check.invalid.append(id_field)
            continue
        if len(value) < min_id_length:
            bad_ids.append((id_field, "length"))
            cleaned.pop(id_field)
        elif value.lower() in INVALID_ID_VALUES or (id_field == "device_id" and not value.strip("0-")):
            bad_ids.append((id_field, "value"))
            cleaned.pop(id_field)
    if "user_id" not in cleaned and "device_id" not in cleaned and not check.invalid:
        if not bad_ids:
            check.missing.extend(_ID_FIELDS)
        for id_field, reason in bad_ids:
            (check.id_length if reason == "length" else check.invalid).append(id_field)

    for name in _INT_FIELDS:
        if name in event and not _is_int(event[name]):
            check.invalid.append(name)
    for name in _NUMBER_FIELDS:
        if name in event and not _is_number(event[name]):
            check.invalid.append(name)
    for name in _OBJECT_FIELDS:
        if name in event and not (isinstance(event[name], dict) and _depth(event[name]) <= MAX_OBJECT_DEPTH):
            check.invalid.append(name)
    if "insert_id" in event and not isinstance(event["insert_id"], str):
        check.invalid.append("insert_id")
    check.cleaned = cleaned
    return check


def _plain_events(events: list[Any], min_id_length: int) -> list[dict[str, Any]] | None:
    """`events` themselves when `_check_event` would pass each one and strip nothing; else None.

    The same verdict for the common event in fewer steps (ids repeat, so each is judged once);
    None sends the request through `_check_event`. Decoded JSON holds only exact types.
    """
    usable_devices: set[str] = set()
    usable_users: set[str] = set()
    for event in events:
        if type(event) is not dict:
            return None
        event_type = event.get("event_type")
        if type(event_type) is not str or not event_type or event_type in RESERVED_EVENT_TYPES:
            return None
        device_id = event.get("device_id")
        if type(device_id) is str:
            if device_id not in usable_devices:
                if not _usable_id(device_id, min_id_length) or not device_id.strip("0-"):
                    return None
                usable_devices.add(device_id)
        elif device_id is not None or "device_id" in event:
            return None  # not a string, or a null that would be stripped
        user_id = event.get("user_id")
        if type(user_id) is str:
            if user_id not in usable_users:
                if not _usable_id(user_id, min_id_length):
                    return None
                usable_users.add(user_id)
        elif user_id is not None or "user_id" in event or device_id is None:
            return None
        if (
            type(event.get("time", 0)) is not int
            or type(event.get("session_id", 0)) is not int
            or type(event.get("insert_id", "")) is not str
        ):
            return None
        properties = event.get("event_properties")
        if properties is None:
            if "event_properties" in event:
                return None
        elif type(properties) is not dict or not _shallow(properties):
            return None
        if not _SELDOM_SENT_FIELDS.isdisjoint(event) and not _seldom_sent_fields_ok(event):
            return None
    return events


def _usable_id(value: str, min_id_length: int) -> bool:
    """Long enough and not a placeholder (the device_id rule on zeros and dashes aside)."""
    return len(value) >= min_id_length and value.lower() not in INVALID_ID_VALUES


def _shallow(value: dict[str, Any]) -> bool:
    """Whether an object is nested at most MAX_OBJECT_DEPTH deep (flat objects at C speed)."""
    return _CONTAINER_TYPES.isdisjoint(map(type, value.values())) or _depth(value) <= MAX_OBJECT_DEPTH


def _seldom_sent_fields_ok(event: dict[str, Any]) -> bool:
    """`_check_event`'s type rules for the fields in `_SELDOM_SENT_FIELDS`."""
    for name in ("event_id", "quantity"):
        if name in event and not _is_int(event[name]):
            return False
    for name in _NUMBER_FIELDS:
        if name in event and not _is_number(event[name]):
            return False
    for name in ("user_properties", "groups", "group_properties"):
        if name in event and not (isinstance(event[name], dict) and _depth(event[name]) <= MAX_OBJECT_DEPTH):
            return False
    return True


def _validation_error(events: list[Any], checks: list[_EventCheck]) -> Handled:
    """The 400 InvalidRequestError body listing event indices by field, as the docs shape it."""
    by_category: dict[str, dict[str, list[int]]] = {
        "events_with_missing_fields": {},
        "events_with_invalid_fields": {},
        "events_with_invalid_id_lengths": {},
    }
    messages: list[dict[str, Any]] = []
    for index, check in enumerate(checks):
        for category, fields, code, says in (
            ("events_with_missing_fields", check.missing, "VALUE_REQUIRED", "is missing"),
            ("events_with_invalid_fields", check.invalid, "VALUE_INVALID", "is invalid"),
            ("events_with_invalid_id_lengths", check.id_length, "ID_TOO_SHORT", "is too short"),
        ):
            for name in fields:
                by_category[category].setdefault(name, []).append(index)
                path = f"events[{index}].{name}"
                messages.append(_message(path, f"{name} {says} ({category})", code))
    body: dict[str, Any] = {"code": 400}
    if any(not isinstance(event, dict) for event in events):
        body["error"] = ERROR_INVALID_EVENT_JSON
    elif by_category["events_with_invalid_id_lengths"] and not any(
        by_category[c] for c in ("events_with_missing_fields", "events_with_invalid_fields")
    ):
        body["error"] = ERROR_INVALID_ID_LENGTH
    else:
        body["error"] = ERROR_INVALID_FIELDS
    body.update({category: found for category, found in by_category.items() if found})
    return Handled(FakeResponse.json(400, body), validation_messages=tuple(messages))


def _identification_is_valid(item: Any) -> bool:
    """One Identify API entry: an object with a usable id and well-formed user_properties."""
    if not isinstance(item, dict):
        return False
    ids = [item.get(f) for f in _ID_FIELDS]
    if not any(
        isinstance(value, str)
        and len(value) >= DEFAULT_MIN_ID_LENGTH
        and value.lower() not in INVALID_ID_VALUES
        for value in ids
    ):
        return False
    properties = item.get("user_properties", {})
    if not isinstance(properties, dict):
        return False
    operations = [key for key in properties if key.startswith("$")]
    # The docs: operations can't be mixed with plain top-level properties.
    return not operations or len(operations) == len(properties)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _depth(value: Any) -> int:
    """Nesting depth of objects and arrays (a flat object is 1)."""
    if isinstance(value, dict):
        children: Iterable[Any] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return 0
    deepest = 0
    for child in children:
        if isinstance(child, _CONTAINERS):
            deepest = max(deepest, _depth(child))
    return 1 + deepest


# -- normalisation -------------------------------------------------------------------------------


def flatten_user_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `$set`, `$setOnce`, ... into one flat dict; `$unset` keys map to None.

    Plain (non-operation) keys are kept as they are, since the Identify API treats them as `$set`.
    """
    flat: dict[str, Any] = {}
    for key, value in properties.items():
        if not key.startswith("$"):
            flat[key] = value
        elif key == "$unset" and isinstance(value, dict):
            flat.update(dict.fromkeys(value))
        elif key == "$unset" and isinstance(value, list):
            flat.update(dict.fromkeys(str(v) for v in value))
        elif isinstance(value, dict):
            flat.update(value)
    return flat


def _normalise(event: dict[str, Any]) -> ReceivedEvent:
    """One accepted HTTP V2 / Batch event as a ReceivedEvent."""
    event_type = str(event["event_type"])
    user_properties = event.get("user_properties") or {}
    if event_type == IDENTIFY_EVENT:
        kind, params = "user_properties", flatten_user_properties(user_properties)
    elif event_type == GROUP_IDENTIFY_EVENT:
        kind = "user_properties"
        params = flatten_user_properties(event.get("group_properties") or {})
    elif event_type == PAGE_VIEW_EVENT:
        kind, params = "page_view", dict(event.get("event_properties") or {})
    else:
        kind, params = "event", dict(event.get("event_properties") or {})
    event_time = event.get("time")
    seconds = event_time / 1000 if isinstance(event_time, int) else None
    insert_id = event.get("insert_id")
    return make_received_event(
        VENDOR,
        kind,
        event_type,
        params,
        event.get("device_id") or event.get("user_id"),
        event.get("session_id"),
        seconds,
        insert_id if isinstance(insert_id, str) else None,
        True,
        (),
        dict(user_properties),
        event,
    )


def _normalise_identification(item: dict[str, Any]) -> ReceivedEvent:
    """One Identify API entry as a user_properties ReceivedEvent named `$identify`."""
    user_properties = item.get("user_properties") or {}
    client_id = next(
        (
            value
            for value in (item.get("device_id"), item.get("user_id"))
            if isinstance(value, str) and len(value) >= DEFAULT_MIN_ID_LENGTH
        ),
        None,
    )
    return ReceivedEvent(
        vendor=VENDOR,
        kind="user_properties",
        name=IDENTIFY_EVENT,
        params=flatten_user_properties(user_properties),
        client_id=client_id,
        session_id=None,
        time=None,
        insert_id=None,
        user_properties=dict(user_properties),
        raw=item,
    )


# -- wire helpers --------------------------------------------------------------------------------


def _error(status: int, error: str, **fields: Any) -> Handled:
    """A JSON error body carrying `code` (the SDK classifies by it) and `error`."""
    body: dict[str, Any] = {"code": status, "error": error}
    body.update(fields)
    missing_field = fields.get("missing_field")
    note = _message(str(missing_field or ""), error, "VALUE_REQUIRED" if missing_field else "REJECTED")
    return Handled(FakeResponse.json(status, body), validation_messages=(note,))


def _message(path: str, description: str, code: str) -> dict[str, Any]:
    """One validation note kept with the recorded request (GA4 debug-style keys)."""
    return {"fieldPath": path, "description": description, "validationCode": code}


def _form_fields(request: FakeRequest) -> dict[str, str]:
    """Query parameters plus url-encoded or multipart form fields (the body wins)."""
    fields = {name: values[0] for name, values in request.query.items() if values}
    content_type = request.content_type.lower()
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {request.content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload.decode("utf-8", "replace")
    elif request.body:
        text = request.body.decode("utf-8", "replace")
        for name, values in parse_qs(text, keep_blank_values=True).items():
            fields[name] = values[0]
    return fields
