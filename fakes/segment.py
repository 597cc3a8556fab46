"""Fake Segment-compatible tracking API: the RudderStack data plane or Segment's api.segment.io.

One class, two modes, each answering as its vendor documents (see
`segment-rudderstack-protocols.md`):

- "rudderstack" (rudder-server >= v1.46): HTTP Basic auth only (401 `failed to read writekey from
  header` / `invalid write key`, 404 `source is disabled`), then the gateway's order of checks:
  JSON (400 `invalid json`), object items (400 `event is not a valid rudder event`), identity, all
  or nothing (400 `request neither has anonymousId nor userId`), size after gunzip (413 above
  4,096,000 bytes), empty batch (400); success is 200 `ok` in plain text. `legacy=True` answers
  in the capitalised pre-1.46 words. Dedup on messageId is off by default, as in the server.
- "segment": Basic auth, a body `writeKey`, or Bearer plus a body `writeKey`; an empty key is a
  400, any other key a 200 (unknown keys are dropped silently; `write_keys` makes that visible).
  A request over 500 KB or a message over 32 KB is a 400; messages beyond 2,500 are dropped with
  a 200; messages without an id or a track without an event are discarded with a 200.
  Dedup on messageId across every key. Success is 200 `{"success": true}`.

Both modes accept `/v1/batch`, `/v1/import` (an alias) and the single-message routes, whose
route sets the message `type`, and gunzip `Content-Encoding: gzip` bodies. Accepted messages are
normalised to `ReceivedEvent`; discarded ones are recorded with `accepted=False` and the reason.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import threading
import uuid
import zlib
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from fakes._model import FakeRequest, FakeResponse, Handled, ReceivedEvent

if TYPE_CHECKING:
    from collections.abc import Iterable

BATCH_PATH = "/v1/batch"
IMPORT_PATH = "/v1/import"
SINGLE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
SINGLE_PATHS = tuple(f"/v1/{kind}" for kind in SINGLE_TYPES)

RUDDER_MAX_REQUEST_BYTES = 4_096_000
"""Gateway.maxReqSizeInKB x 1024, measured after gunzip."""
SEGMENT_MAX_REQUEST_BYTES = 500_000
"""500 KB per batch request (read as decimal: the strictest reading of the docs)."""
SEGMENT_MAX_MESSAGE_BYTES = 32 * 1024
SEGMENT_MAX_MESSAGES = 2500
SEGMENT_MAX_MESSAGE_ID = 100
"""messageIds must be shorter than 100 characters."""

Mode = Literal["rudderstack", "segment"]

_RUDDER_TEXT = {
    "ok": ("ok", "OK"),
    "no_key": ("failed to read writekey from header", "Failed to read writeKey from header"),
    "bad_key": ("invalid write key", "Invalid Write Key"),
    "disabled": ("source is disabled", "Source is disabled"),
    "json": ("invalid json", "Invalid JSON"),
    "not_event": ("event is not a valid rudder event", "Event is not a valid rudder event"),
    "no_id": ("request neither has anonymousId nor userId", "Request neither has anonymousId nor userId"),
    "too_large": ("request size exceeds max limit", "Request size exceeds max limit"),
    "empty": ("empty batch payload", "Empty batch payload"),
    "rate": ("max requests limit reached", "Max Requests Limit reached"),
    "read": ("failed to read body from request", "Failed to read body from request"),
}


class _Reject(Exception):
    """A request-level answer (nothing in it is stored)."""

    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


class SegmentFake:
    """Answers Segment-compatible tracking requests the way the chosen vendor does.

    mode: "rudderstack" (the default) or "segment". write_keys: the known keys (None accepts any
    non-empty key). disabled_keys: keys whose source is disabled (RudderStack: 404). dedup: drop
    messages whose messageId was seen (default: on for Segment, off for RudderStack).
    """

    routes: tuple[str, ...] = (BATCH_PATH, IMPORT_PATH, *SINGLE_PATHS)

    def __init__(
        self,
        mode: Mode = "rudderstack",
        write_keys: Iterable[str] | None = None,
        *,
        disabled_keys: Iterable[str] = (),
        legacy: bool = False,
        dedup: bool | None = None,
        max_request_bytes: int | None = None,
        max_message_bytes: int = SEGMENT_MAX_MESSAGE_BYTES,
        max_messages: int = SEGMENT_MAX_MESSAGES,
    ) -> None:
        if mode not in ("rudderstack", "segment"):
            raise ValueError(f"mode must be 'rudderstack' or 'segment', not {mode!r}")
        self.mode: Mode = mode
        self.name: str = mode
        self.write_keys = None if write_keys is None else frozenset(write_keys)
        self.disabled_keys = frozenset(disabled_keys)
        self.legacy = legacy
        self.dedup = (mode == "segment") if dedup is None else dedup
        default_limit = RUDDER_MAX_REQUEST_BYTES if mode == "rudderstack" else SEGMENT_MAX_REQUEST_BYTES
        self.max_request_bytes = max_request_bytes or default_limit
        self.max_message_bytes = max_message_bytes
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._seen: set[str] = set()

    # -- VendorFake protocol ---------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> Handled:
        """Answer one request the way the vendor's ingestion endpoint does."""
        if request.method != "POST":
            return Handled(self._text(405, "method not allowed"))
        try:
            if self.mode == "rudderstack":
                return self._rudderstack(request)
            return self._segment(request)
        except _Reject as reject:
            return Handled(reject.response)

    def reset(self) -> None:
        """Forget the messageIds seen."""
        with self._lock:
            self._seen.clear()

    def error_body(self, status: int) -> FakeResponse | None:
        """The vendor's answer for an injected 429 or 413; None for other statuses."""
        if status == 429:
            if self.mode == "rudderstack":
                return self._rudder_error(429, "rate")  # no Retry-After: the gateway sets none
            return FakeResponse.json(
                429,
                {"code": "rate_limited", "message": "Too Many Requests"},
                {"Retry-After": "1", "X-RateLimit-Reset": "1"},
            )
        if status == 413:
            if self.mode == "rudderstack":
                return self._rudder_error(413, "too_large")
            return self._segment_error(400, "request too large")
        return None

    # -- RudderStack -----------------------------------------------------------------------------

    def _rudder_error(self, status: int, key: str) -> FakeResponse:
        return self._text(status, _RUDDER_TEXT[key][1 if self.legacy else 0] + "\n")

    def _rudderstack(self, request: FakeRequest) -> Handled:
        # The gateway gunzips only for exactly "gzip", and reads the body after authenticating.
        key = _basic_user(request.headers.get("authorization", ""))
        if not key:
            raise _Reject(self._rudder_error(401, "no_key"))
        if key in self.disabled_keys:
            raise _Reject(self._rudder_error(404, "disabled"))
        if self.write_keys is not None and key not in self.write_keys:
            raise _Reject(self._rudder_error(401, "bad_key"))
        if request.headers.get("content-encoding", "") == "gzip":
            try:
                body = gzip.decompress(request.body)
            except (OSError, EOFError, zlib.error):
                raise _Reject(self._rudder_error(500, "read")) from None
        else:
            body = request.body
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _Reject(self._rudder_error(400, "json")) from None
        messages = self._rudder_messages(request.path, payload)
        for message in messages:
            if not (_identity(message.get("anonymousId")) or _identity(message.get("userId"))):
                raise _Reject(self._rudder_error(400, "no_id"))
        if len(body) > self.max_request_bytes:
            raise _Reject(self._rudder_error(413, "too_large"))
        if not messages:
            raise _Reject(self._rudder_error(400, "empty"))
        received: list[ReceivedEvent] = []
        notes: list[dict[str, Any]] = []
        with self._lock:
            for index, message in enumerate(messages):
                message_id = str(message.get("messageId") or "").strip() or str(uuid.uuid4())
                message["messageId"] = message_id
                if self.dedup and message_id in self._seen:
                    notes.append(_note(index, "messageId", f"duplicate messageId {message_id}", "DUPLICATE"))
                    continue
                self._seen.add(message_id)
                received.append(_normalise(self.name, message, accepted=True))
        ok = _RUDDER_TEXT["ok"][1 if self.legacy else 0]
        return Handled(self._text(200, ok), tuple(received), tuple(notes))

    def _rudder_messages(self, path: str, payload: Any) -> list[dict[str, Any]]:
        if path in (BATCH_PATH, IMPORT_PATH):
            items = payload.get("batch") if isinstance(payload, dict) else None
            if items is None and isinstance(payload, dict):
                items = []
            if not isinstance(items, list):
                raise _Reject(self._rudder_error(400, "not_event"))
        else:
            if not isinstance(payload, dict):
                raise _Reject(self._rudder_error(400, "not_event"))
            items = [{**payload, "type": path.rsplit("/", 1)[1]}]
        if not all(isinstance(item, dict) for item in items):
            raise _Reject(self._rudder_error(400, "not_event"))
        return [dict(item) for item in items]

    # -- Segment ---------------------------------------------------------------------------------

    def _segment_error(self, status: int, message: str) -> FakeResponse:
        return FakeResponse.json(status, {"code": "bad_request", "message": message})

    def _segment(self, request: FakeRequest) -> Handled:
        body = request.body
        if "gzip" in request.headers.get("content-encoding", "").lower():
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                raise _Reject(self._segment_error(400, "body is not valid gzip")) from None
        if len(body) > self.max_request_bytes:
            raise _Reject(self._segment_error(400, "request too large"))
        if "json" not in request.content_type.lower():
            raise _Reject(self._segment_error(400, "Content-Type must be application/json"))
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _Reject(self._segment_error(400, "invalid JSON")) from None
        if not isinstance(payload, dict):
            raise _Reject(self._segment_error(400, "body must be a JSON object"))
        key = self._segment_key(request, payload)
        if not key:
            raise _Reject(self._segment_error(400, "missing write key"))
        if request.path in (BATCH_PATH, IMPORT_PATH):
            items = payload.get("batch", [])
            if not isinstance(items, list):
                raise _Reject(self._segment_error(400, "batch must be an array"))
        else:
            items = [{**payload, "type": request.path.rsplit("/", 1)[1]}]
        for item in items:
            size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())
            if size > self.max_message_bytes:
                raise _Reject(self._segment_error(400, f"message of {size} bytes exceeds 32 KB"))
        known = self.write_keys is None or key in self.write_keys
        received: list[ReceivedEvent] = []
        notes: list[dict[str, Any]] = []
        with self._lock:
            for index, item in enumerate(items):
                problem = _segment_problem(item)
                if index >= self.max_messages:
                    problem = f"beyond {self.max_messages} messages in one batch"
                elif problem is None and not known:
                    problem = "unknown write key (dropped without an error)"
                if problem is not None:
                    notes.append(_note(index, "", problem, "DISCARDED"))
                    if isinstance(item, dict):
                        received.append(_normalise(self.name, item, accepted=False, problems=(problem,)))
                    continue
                message_id = str(item.get("messageId") or "") or str(uuid.uuid4())
                if self.dedup and message_id in self._seen:
                    notes.append(_note(index, "messageId", f"duplicate messageId {message_id}", "DUPLICATE"))
                    continue
                self._seen.add(message_id)
                received.append(_normalise(self.name, {**item, "messageId": message_id}, accepted=True))
        return Handled(FakeResponse.json(200, {"success": True}), tuple(received), tuple(notes))

    @staticmethod
    def _segment_key(request: FakeRequest, payload: dict[str, Any]) -> str:
        """The write key from Basic auth, else from the body (alone or next to a Bearer token)."""
        header = request.headers.get("authorization", "")
        from_header = _basic_user(header)
        if from_header:
            return from_header
        body_key = payload.get("writeKey")
        return body_key if isinstance(body_key, str) else ""

    @staticmethod
    def _text(status: int, text: str) -> FakeResponse:
        return FakeResponse.text(status, text, {"X-Content-Type-Options": "nosniff"})


# -- helpers -----------------------------------------------------------------------------------------


def _basic_user(header: str) -> str:
    """The user name of an `Authorization: Basic` header ("" when absent or malformed).

    Like Go's `BasicAuth()`, credentials without a ":" are malformed.
    """
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    user, colon, _ = decoded.partition(":")
    return user if colon else ""


def _identity(value: Any) -> str:
    """userId/anonymousId as the gateway reads them: null is "", numbers their JSON text, trimmed."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value).strip()


def _segment_problem(item: Any) -> str | None:
    """Why Segment would discard this message (it still answers 200), or None."""
    if not isinstance(item, dict):
        return "message must be an object"
    kind = item.get("type")
    if kind not in SINGLE_TYPES:
        return "type_not_defined"
    if not (_identity(item.get("anonymousId")) or _identity(item.get("userId"))):
        return "no_user_anon_id"
    message_id = item.get("messageId")
    if message_id is not None and len(str(message_id)) >= SEGMENT_MAX_MESSAGE_ID:
        return "message_id_too_long"
    if kind == "track":
        if "event" not in item:
            return "event_not_defined"
        if not isinstance(item["event"], str):
            return "event_not_string"
    if "properties" in item and not isinstance(item["properties"], dict):
        return "properties_not_object"
    if "traits" in item and not isinstance(item["traits"], dict):
        return "traits_not_object"
    if kind in ("page", "screen"):
        for name in ("name", "category"):
            value = item.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                return f"{name}_not_string"
    return None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _normalise(
    vendor: str, message: dict[str, Any], *, accepted: bool, problems: tuple[str, ...] = ()
) -> ReceivedEvent:
    """One message as a ReceivedEvent (track: event, page/screen: page_view, identify: user_properties)."""
    kind = message.get("type")
    properties = _object(message.get("properties"))
    context = _object(message.get("context"))
    traits = _object(message.get("traits")) or _object(context.get("traits"))
    if kind in ("page", "screen"):
        normalised_kind, name, params = "page_view", str(message.get("name") or kind), dict(properties)
    elif kind == "identify":
        normalised_kind, name, params = "user_properties", "identify", dict(traits)
    else:
        normalised_kind, name, params = "event", str(message.get("event") or kind or ""), dict(properties)
    session = params.get("session_id", context.get("sessionId"))
    client = _identity(message.get("anonymousId")) or _identity(message.get("userId")) or None
    message_id = message.get("messageId")
    return ReceivedEvent(
        vendor=vendor,
        kind=normalised_kind,
        name=name,
        params=params,
        client_id=client,
        session_id=session,
        time=_seconds(message.get("timestamp")),
        insert_id=str(message_id) if message_id is not None else None,
        accepted=accepted,
        problems=problems,
        user_properties=dict(traits) if kind == "identify" else {},
        raw=message,
    )


def _note(index: int, field_path: str, description: str, code: str) -> dict[str, Any]:
    """One validation note kept with the recorded request (GA4 debug-style keys)."""
    path = f"[{index}].{field_path}" if field_path else f"[{index}]"
    return {"fieldPath": path, "description": description, "validationCode": code}
