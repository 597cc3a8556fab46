"""Fake GA4 Measurement Protocol: `POST /mp/collect` and `POST /debug/mp/collect`.

`/mp/collect` answers 204 with an empty body to every POST, as the real endpoint does even for
invalid payloads, but records each event with `accepted=False` and its `problems` when Google
would drop it. `/debug/mp/collect` answers 200 `{"validationMessages": [...]}` and records no
events (the real validation server never records). The rules live in the pure function
`validate_payload` so a contract suite can check a provider's payload without any server.

Choices where the documentation is silent (see also `validate_payload`):
* A request without `api_secret`, or without both `measurement_id` and `firebase_app_id`, still
  gets 204 (the real endpoint answers 2xx for data it does not process) but its events are
  recorded with `accepted=False` and a problem saying why Google would not record them.
* A body that is not JSON gets 204 and decodes to no events.
* Methods other than POST get 405 with `Allow: POST`.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from fakes._json import MISSING, orjson_loads
from fakes._model import FakeRequest, FakeResponse, Handled, ReceivedEvent, make_received_event

COLLECT_PATH = "/mp/collect"
DEBUG_PATH = "/debug/mp/collect"

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
"""Event and parameter names: a letter, then letters, digits and underscores."""

MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_NAME_LENGTH = 40
MAX_PARAM_VALUE_LENGTH = 100
MAX_PARAM_VALUE_LENGTH_GA360 = 500
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME_LENGTH = 24
MAX_USER_PROPERTY_VALUE_LENGTH = 36
MAX_BODY_BYTES = 130_000
"""The post body must be smaller than this (the docs say "< 130 kB")."""
MAX_ITEMS = 200
MAX_USER_ID_LENGTH = 256
MAX_BACKDATE_SECONDS = 72 * 3600

RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
        "app_clear_data", "app_exception", "app_install", "app_remove", "app_store_refund",
        "app_update", "app_upgrade", "dynamic_link_app_open", "dynamic_link_app_update",
        "dynamic_link_first_open", "error", "firebase_campaign",
        "firebase_in_app_message_action", "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression", "first_open", "first_visit",
        "notification_dismiss", "notification_foreground", "notification_open",
        "notification_receive", "notification_send", "os_update", "session_start",
        "user_engagement",
    }
)  # fmt: skip
APP_ONLY_EVENT_NAMES = frozenset({"ad_impression", "in_app_purchase", "screen_view"})
"""Allowed for app (Firebase) streams only, so reserved for web streams."""
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
RESERVED_PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_USER_PROPERTY_NAMES = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id",
     "first_open_after_install"}
)  # fmt: skip
RESERVED_USER_PROPERTY_PREFIXES = ("_", "firebase_", "ga_", "google_")

TOP_LEVEL_FIELDS = frozenset(
    {
        "client_id", "app_instance_id", "user_id", "timestamp_micros", "user_properties",
        "user_data", "consent", "non_personalized_ads", "user_location", "ip_override",
        "device", "user_agent", "validation_behavior", "events",
    }
)  # fmt: skip
EVENT_FIELDS = frozenset({"name", "params", "timestamp_micros"})
USER_PROPERTY_FIELDS = frozenset({"value", "timestamp_micros"})
CONSENT_FIELDS = frozenset({"ad_user_data", "ad_personalization"})
CONSENT_VALUES = frozenset({"GRANTED", "DENIED"})
VALIDATION_BEHAVIORS = frozenset({"RELAXED", "ENFORCE_RECOMMENDATIONS"})
_OBJECT_FIELDS = ("user_data", "user_location", "device")
_STRING_FIELDS = ("ip_override", "user_agent")
_CLIENT_ID_FORMAT = re.compile(r"[0-9]+\.[0-9]+\Z")
_PARSE_ERROR = "Unable to parse Measurement Protocol JSON payload."
_NUMBER_TYPES = (int, float)

Scope = Literal["request", "event", "note"]


@dataclass(frozen=True)
class Finding:
    """One validation message and what it costs.

    scope "request": Google drops the whole request. "event": it drops event `event`.
    "note": the data is still recorded (an over-limit param or user property is ignored).
    `event` is the index the finding belongs to, or None for the whole request.
    """

    message: dict[str, Any]
    scope: Scope
    event: int | None = None


class DuplicateKeysDict(dict[str, Any]):
    """A JSON object that had repeated keys (JSON keeps the last); `duplicates` names them."""

    duplicates: tuple[str, ...] = ()


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for key, _ in pairs:
        if key in seen:
            repeated[key] = None
        seen.add(key)
    marked = DuplicateKeysDict(result)
    marked.duplicates = tuple(repeated)
    return marked


def parse_body(body: bytes) -> Any:
    """Decode a body as JSON, marking objects with repeated keys. ValueError if it is not JSON."""
    payload = orjson_loads(body, unique_keys=True)
    if payload is not MISSING:
        return payload  # no key repeats, so there is nothing to mark
    return json.loads(body, object_pairs_hook=_pairs_hook)


def validate_payload(
    payload: dict[str, Any],
    *,
    ga360: bool = False,
    firebase: bool = False,
    body_size: int | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """The `validationMessages` the GA4 validation server would answer for `payload`.

    An empty list means the payload is valid. `firebase` selects the app-stream variant
    (`app_instance_id`, app-only event names allowed); `ga360` raises the param value limit to
    500. `body_size` is the request body length in bytes (default: the compact JSON encoding).
    `now` is epoch seconds for the 72 h backdating check (default: the current time).
    Each message has `validationCode` and `description`, and `fieldPath` except for parse
    errors (unknown fields, wrong JSON types), where captures of the real server show none.
    """
    return [f.message for f in check_payload(
        payload, ga360=ga360, firebase=firebase, body_size=body_size, now=now
    )]  # fmt: skip


def check_payload(
    payload: Any,
    *,
    ga360: bool = False,
    firebase: bool = False,
    body_size: int | None = None,
    now: float | None = None,
) -> list[Finding]:
    """Like `validate_payload`, but each message comes with its scope and event index."""
    return _Checker(ga360=ga360, firebase=firebase, now=time.time() if now is None else now).check(
        payload, body_size
    )


def _message(code: str, description: str, field_path: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {}
    if field_path is not None:
        message["fieldPath"] = field_path
    message["description"] = description
    message["validationCode"] = code
    return message


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool)


@functools.lru_cache(maxsize=4096)
def _name_problem(name: str) -> str | None:
    """Why `name` breaks the event/param naming rule, or None (cached: names repeat a lot)."""
    if not name or not name[0].isascii() or not name[0].isalpha():
        return "Names must start with an alphabetic character."
    if NAME_PATTERN.match(name) is None:
        return "Only alphanumeric characters and underscores are allowed."
    if len(name) > MAX_NAME_LENGTH:
        return f"Names must be at most {MAX_NAME_LENGTH} characters long."
    return None


def _duplicates(obj: Any) -> tuple[str, ...]:
    return obj.duplicates if isinstance(obj, DuplicateKeysDict) else ()


_PLAIN_PARAM_NAMES: set[str] = set()
"""Param names already found valid, unreserved and not `items`: they need no name checks."""
_MAX_PLAIN_PARAM_NAMES = 4096
_PLAIN_EVENT_NAMES: dict[bool, set[str]] = {False: set(), True: set()}
"""Event names already found valid and unreserved, for web (False) and app (True) streams."""
_EXACT_NUMBER_TYPES = frozenset({int, float})
"""What `_is_number` accepts among the exact types JSON decodes to (bool is its own type)."""


def _has_long_string(values: Iterable[Any], limit: int) -> bool:
    for value in values:  # noqa: SIM110 - twice as fast as any() over a generator
        if isinstance(value, str) and len(value) > limit:
            return True
    return False


class _Checker:
    """One pass over a payload, collecting findings in document order."""

    def __init__(self, *, ga360: bool, firebase: bool, now: float) -> None:
        self.firebase = firebase
        self.value_limit = MAX_PARAM_VALUE_LENGTH_GA360 if ga360 else MAX_PARAM_VALUE_LENGTH
        self.oldest_micros = (now - MAX_BACKDATE_SECONDS) * 1_000_000
        self.enforce = False
        self.findings: list[Finding] = []

    def add(
        self,
        code: str,
        description: str,
        field_path: str | None,
        scope: Scope,
        event: int | None = None,
    ) -> None:
        self.findings.append(Finding(_message(code, description, field_path), scope, event))

    def parse_error(self, detail: str, event: int | None = None) -> None:
        self.add("VALUE_INVALID", f"{_PARSE_ERROR} {detail}", None, "request", event)

    def check(self, payload: Any, body_size: int | None) -> list[Finding]:
        if not isinstance(payload, dict):
            self.parse_error("The payload must be a JSON object.")
            return self.findings
        if body_size is None:
            body_size = len(json.dumps(payload, separators=(",", ":")).encode())
        if body_size >= MAX_BODY_BYTES:
            self.add(
                "VALUE_OUT_OF_BOUNDS",
                f"Measurement post body is {body_size} bytes; it must be smaller than "
                f"{MAX_BODY_BYTES} bytes.",
                None,
                "request",
            )
        for name in _duplicates(payload):
            self.add("NAME_DUPLICATED", f"Field [{name}] appears more than once.", name, "request")
        for name in payload:
            if name not in TOP_LEVEL_FIELDS:
                self.parse_error(f"{name}: Cannot find field.")
        self.check_behavior(payload)
        self.check_identity(payload)
        self.check_optional_fields(payload)
        self.check_user_properties(payload.get("user_properties"))
        self.check_events(payload)
        return self.findings

    def check_behavior(self, payload: dict[str, Any]) -> None:
        behavior = payload.get("validation_behavior", "RELAXED")
        if behavior not in VALIDATION_BEHAVIORS:
            self.add(
                "VALUE_INVALID",
                f"validation_behavior [{behavior}] is invalid. It must be RELAXED or "
                "ENFORCE_RECOMMENDATIONS.",
                "validation_behavior",
                "request",
            )
        self.enforce = behavior == "ENFORCE_RECOMMENDATIONS"

    def check_identity(self, payload: dict[str, Any]) -> None:
        key = "app_instance_id" if self.firebase else "client_id"
        value = payload.get(key)
        if value is None or value == "":
            article = "an" if self.firebase else "a"
            self.add("VALUE_REQUIRED", f"Measurement requires {article} {key}.", key, "request")
        elif not isinstance(value, str):
            self.add("VALUE_INVALID", f"{key} [{value}] must be a string.", key, "request")
        elif self.enforce and not self.firebase and _CLIENT_ID_FORMAT.match(value) is None:
            self.add(
                "VALUE_INVALID",
                f"client_id [{value}] has invalid format. It should be in <number>.<number> format.",
                "client_id",
                "request",
            )
        user_id = payload.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            self.parse_error("user_id: must be a string.")
        elif isinstance(user_id, str) and len(user_id) > MAX_USER_ID_LENGTH:
            self.add(
                "VALUE_OUT_OF_BOUNDS",
                f"user_id is {len(user_id)} characters long; the limit is {MAX_USER_ID_LENGTH}.",
                "user_id",
                "note",
            )
        self.check_timestamp(payload.get("timestamp_micros"), "timestamp_micros", None)

    def check_timestamp(self, value: Any, field_path: str, event: int | None) -> None:
        """Type-check a timestamp_micros; under ENFORCE_RECOMMENDATIONS reject one over 72 h old."""
        if value is None:
            return
        if not _is_number(value):
            self.parse_error(f"{field_path}: must be a number.", event)
        elif self.enforce and value < self.oldest_micros:
            scope: Scope = "request" if event is None else "event"
            self.add(
                "VALUE_INVALID",
                f"Measurement timestamp_micros has timestamp [{value}] that is more than 72 "
                "hours in the past.",
                field_path,
                scope,
                event,
            )

    def check_optional_fields(self, payload: dict[str, Any]) -> None:
        for key in _OBJECT_FIELDS:
            if key in payload and not isinstance(payload[key], dict):
                self.parse_error(f"{key}: must be an object.")
        for key in _STRING_FIELDS:
            if key in payload and not isinstance(payload[key], str):
                self.parse_error(f"{key}: must be a string.")
        if "non_personalized_ads" in payload and not isinstance(payload["non_personalized_ads"], bool):
            self.parse_error("non_personalized_ads: must be a boolean.")
        consent = payload.get("consent")
        if consent is None:
            return
        if not isinstance(consent, dict):
            self.parse_error("consent: must be an object.")
            return
        for key, value in consent.items():
            if key not in CONSENT_FIELDS:
                self.parse_error(f"(consent) {key}: Cannot find field.")
            elif value not in CONSENT_VALUES:
                self.add(
                    "VALUE_INVALID",
                    f"consent.{key} [{value}] is invalid. It must be GRANTED or DENIED.",
                    f"consent.{key}",
                    "request",
                )

    def check_user_properties(self, properties: Any) -> None:
        if properties is None:
            return
        if not isinstance(properties, dict):
            self.parse_error("user_properties: must be an object.")
            return
        for name in _duplicates(properties):
            self.add(
                "NAME_DUPLICATED",
                f"User property [{name}] appears more than once.",
                "user_properties",
                "note",
            )
        if len(properties) > MAX_USER_PROPERTIES:
            self.add(
                "EXCEEDED_MAX_ENTITIES",
                f"Measurement has {len(properties)} user properties; at most "
                f"{MAX_USER_PROPERTIES} are allowed.",
                "user_properties",
                "note",
            )
        for name, entry in properties.items():
            self.check_user_property(name, entry)

    def check_user_property(self, name: str, entry: Any) -> None:
        if not isinstance(entry, dict):
            self.parse_error(f"(user_properties) {name}: must be an object with a value.")
            return
        for key in entry:
            if key not in USER_PROPERTY_FIELDS:
                self.parse_error(f"(user_properties.{name}) {key}: Cannot find field.")
        if name in RESERVED_USER_PROPERTY_NAMES or name.startswith(RESERVED_USER_PROPERTY_PREFIXES):
            self.add(
                "NAME_RESERVED",
                f"User property name [{name}] is reserved.",
                "user_properties",
                "note",
            )
        elif len(name) > MAX_USER_PROPERTY_NAME_LENGTH:
            self.add(
                "NAME_INVALID",
                f"User property name [{name}] is {len(name)} characters long; the limit is "
                f"{MAX_USER_PROPERTY_NAME_LENGTH}.",
                "user_properties",
                "note",
            )
        value = entry.get("value")
        if isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE_LENGTH:
            self.add(
                "VALUE_OUT_OF_BOUNDS",
                f"User property [{name}] has a value of {len(value)} characters; the limit is "
                f"{MAX_USER_PROPERTY_VALUE_LENGTH}.",
                "user_properties",
                "note",
            )
        stamp = entry.get("timestamp_micros")
        if stamp is not None and self.enforce and _is_number(stamp):
            if stamp < self.oldest_micros:
                self.add(
                    "VALUE_INVALID",
                    f"User property [{name}] has timestamp_micros [{stamp}] that is more than "
                    "72 hours in the past.",
                    "user_properties",
                    "note",
                )
        elif stamp is not None and not _is_number(stamp):
            self.parse_error(f"(user_properties.{name}) timestamp_micros: must be a number.")

    def check_events(self, payload: dict[str, Any]) -> None:
        events = payload.get("events")
        if events is None:
            self.add("VALUE_REQUIRED", "Measurement requires at least one event.", "events", "request")
            return
        if not isinstance(events, list):
            self.parse_error("events: must be a list.")
            return
        if not events:
            self.add("VALUE_REQUIRED", "Measurement requires at least one event.", "events", "request")
        elif len(events) > MAX_EVENTS:
            self.add(
                "EXCEEDED_MAX_ENTITIES",
                f"Measurement has {len(events)} events; at most {MAX_EVENTS} are allowed per request.",
                "events",
                "request",
            )
        check_event = self.check_event
        if self.enforce:
            for index, event in enumerate(events):
                check_event(index, event)
            return
        plain_names = _PLAIN_EVENT_NAMES[self.firebase]
        limit = self.value_limit
        for index, event in enumerate(events):
            # The common event, decided without the full check: it would find nothing to report.
            if type(event) is dict and EVENT_FIELDS.issuperset(event):
                name = event.get("name")
                stamp = event.get("timestamp_micros")
                if (
                    type(name) is str
                    and name in plain_names
                    and (stamp is None or type(stamp) in _EXACT_NUMBER_TYPES)
                ):
                    params = event.get("params")
                    if params is None:
                        continue
                    if (
                        type(params) is dict
                        and len(params) <= MAX_PARAMS
                        and _PLAIN_PARAM_NAMES.issuperset(params)
                    ):
                        for value in params.values():
                            if isinstance(value, str) and len(value) > limit:
                                break
                        else:
                            continue
            check_event(index, event)

    def check_event(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            self.parse_error(f"(events[{i}]): must be an object.", i)
            return
        if not EVENT_FIELDS.issuperset(event):
            for key in event:
                if key not in EVENT_FIELDS:
                    self.parse_error(f"(events[{i}]) {key}: Cannot find field.", i)
        name = event.get("name")
        if name is None:
            self.add("VALUE_REQUIRED", f"Event at index: [{i}] requires a name.", "events", "event", i)
        elif not isinstance(name, str):
            self.parse_error(f"(events[{i}]) name: must be a string.", i)
        else:
            self.check_event_name(i, name)
        self.check_timestamp(event.get("timestamp_micros"), "events.timestamp_micros", i)
        params = event.get("params")
        if params is None:
            return
        if not isinstance(params, dict):
            self.parse_error(f"(events[{i}]) params: must be an object.", i)
            return
        self.check_params(i, params)

    def check_event_name(self, i: int, name: str) -> None:
        problem = _name_problem(name)
        if problem is not None:
            self.add(
                "NAME_INVALID",
                f"Event at index: [{i}] has invalid name [{name}]. {problem}",
                "events",
                "event",
                i,
            )
        elif name in RESERVED_EVENT_NAMES or (not self.firebase and name in APP_ONLY_EVENT_NAMES):
            self.add(
                "NAME_RESERVED",
                f"Event at index: [{i}] has name [{name}] which is reserved.",
                "events",
                "event",
                i,
            )
        else:
            plain_names = _PLAIN_EVENT_NAMES[self.firebase]
            if len(plain_names) < _MAX_PLAIN_PARAM_NAMES:
                plain_names.add(name)

    def check_params(self, i: int, params: dict[str, Any]) -> None:
        if (
            type(params) is dict
            and len(params) <= MAX_PARAMS
            and _PLAIN_PARAM_NAMES.issuperset(params)
            and not _has_long_string(params.values(), self.value_limit)
        ):
            return  # the common case, decided without looking at each name
        # RELAXED ignores params over the limits; ENFORCE_RECOMMENDATIONS rejects the event.
        scope: Scope = "event" if self.enforce else "note"
        for name in _duplicates(params):
            self.add(
                "NAME_DUPLICATED",
                f"Event at index: [{i}] has parameter [{name}] more than once.",
                "events.params",
                scope,
                i,
            )
        if len(params) > MAX_PARAMS:
            self.add(
                "EXCEEDED_MAX_ENTITIES",
                f"Event at index: [{i}] has {len(params)} parameters; at most {MAX_PARAMS} are allowed.",
                "events.params",
                scope,
                i,
            )
        for name, value in params.items():
            if name in RESERVED_PARAM_NAMES or name.startswith(RESERVED_PARAM_PREFIXES):
                self.add(
                    "NAME_RESERVED",
                    f"Event at index: [{i}] has parameter [{name}] whose name is reserved.",
                    "events.params",
                    scope,
                    i,
                )
                continue
            problem = _name_problem(name)
            if problem is not None:
                self.add(
                    "NAME_INVALID",
                    f"Event at index: [{i}] has invalid parameter name [{name}]. {problem}",
                    "events.params",
                    scope,
                    i,
                )
            elif name == "items":
                self.check_items(i, value, scope)
            else:
                if len(_PLAIN_PARAM_NAMES) < _MAX_PLAIN_PARAM_NAMES:
                    _PLAIN_PARAM_NAMES.add(name)
                if isinstance(value, str) and len(value) > self.value_limit:
                    self.add(
                        "VALUE_OUT_OF_BOUNDS",
                        f"Event at index: [{i}] has parameter [{name}] with a value of "
                        f"{len(value)} characters; the limit is {self.value_limit}.",
                        "events.params",
                        scope,
                        i,
                    )

    def check_items(self, i: int, items: Any, scope: Scope) -> None:
        if not isinstance(items, list):
            self.parse_error(f"(events[{i}].params) items: must be a list.", i)
            return
        if len(items) > MAX_ITEMS:
            self.add(
                "EXCEEDED_MAX_ENTITIES",
                f"Event at index: [{i}] has {len(items)} items; at most {MAX_ITEMS} are allowed.",
                "events.params.items",
                scope,
                i,
            )
        for j, item in enumerate(items):
            if not isinstance(item, dict):
                self.parse_error(f"(events[{i}].params.items[{j}]): must be an object.", i)
                continue
            for name, value in item.items():
                problem = _name_problem(name)
                if problem is not None:
                    self.add(
                        "NAME_INVALID",
                        f"Event at index: [{i}] has item [{j}] with invalid parameter name "
                        f"[{name}]. {problem}",
                        "events.params.items",
                        scope,
                        i,
                    )
                elif isinstance(value, str) and len(value) > self.value_limit:
                    self.add(
                        "VALUE_OUT_OF_BOUNDS",
                        f"Event at index: [{i}] has item [{j}] with parameter [{name}] of "
                        f"{len(value)} characters; the limit is {self.value_limit}.",
                        "events.params.items",
                        scope,
                        i,
                    )


class GA4Fake:
    """The GA4 Measurement Protocol ingestion and validation endpoints, without sockets.

    `ga360=True` models a GA360 property (param values up to 500 characters). `clock` gives
    epoch seconds and is used for the 72 h backdating rule.
    """

    name = "ga4"
    routes: tuple[str, ...] = (COLLECT_PATH, DEBUG_PATH)

    def __init__(self, *, ga360: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.ga360 = ga360
        self.clock = clock

    def handle(self, request: FakeRequest) -> Handled:
        """Answer like Google: 204 on /mp/collect, 200 and validation messages on the debug path."""
        if request.method != "POST":
            return Handled(FakeResponse(405, b"", {"Allow": "POST"}))
        if request.path == DEBUG_PATH:
            return self._debug(request)
        return self._collect(request)

    def reset(self) -> None:
        """Nothing to forget: GA4 keeps no state between requests that the fake models."""

    def error_body(self, status: int) -> FakeResponse | None:
        """GA4 documents no error bodies (no 429 or 413 at all): faults answer with none."""
        return None

    def _firebase(self, request: FakeRequest) -> bool:
        return (
            request.query_value("firebase_app_id") is not None
            and request.query_value("measurement_id") is None
        )

    def _debug(self, request: FakeRequest) -> Handled:
        try:
            payload = parse_body(request.body)
        except ValueError as error:
            messages = [_message("VALUE_INVALID", f"{_PARSE_ERROR} {error}")]
        else:
            messages = validate_payload(
                payload,
                ga360=self.ga360,
                firebase=self._firebase(request),
                body_size=len(request.body),
                now=self.clock(),
            )
        response = FakeResponse.json(200, {"validationMessages": messages})
        return Handled(response, (), tuple(messages))

    def _collect(self, request: FakeRequest) -> Handled:
        response = FakeResponse(204)
        try:
            payload = parse_body(request.body)
        except ValueError:
            return Handled(response)
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            return Handled(response)
        firebase = self._firebase(request)
        now = self.clock()
        findings = check_payload(
            payload, ga360=self.ga360, firebase=firebase, body_size=len(request.body), now=now
        )
        unrecorded = _stream_problems(request)
        return Handled(response, self._normalise(payload, findings, unrecorded, now))

    def _normalise(
        self,
        payload: dict[str, Any],
        findings: list[Finding],
        unrecorded: list[str],
        now: float,
    ) -> tuple[ReceivedEvent, ...]:
        """The request's object events as ReceivedEvents, each with the findings that concern it."""
        client_id = payload.get("client_id", payload.get("app_instance_id"))
        client_id = None if client_id is None else str(client_id)
        relaxed = payload.get("validation_behavior") != "ENFORCE_RECOMMENDATIONS"
        user_properties = _flatten_user_properties(payload.get("user_properties"))
        accepted, problems = not unrecorded, tuple(unrecorded)
        request_micros = payload.get("timestamp_micros")
        if not _is_number(request_micros):
            request_micros = None
        oldest = now - MAX_BACKDATE_SECONDS
        vendor = self.name
        received = []
        for index, event in enumerate(payload["events"]):
            if not isinstance(event, dict):
                continue
            if findings:
                mine = [f for f in findings if f.event is None or f.event == index]
                accepted = not unrecorded and all(f.scope == "note" for f in mine)
                problems = tuple(unrecorded + [f.message["description"] for f in mine])
            params = event.get("params")
            params = dict(params) if isinstance(params, dict) else {}
            name = event.get("name")
            # Epoch seconds from the event's timestamp_micros, else the request's; RELAXED resets a
            # time over 72 h old to 72 h ago, as Google does. (Decoded JSON has exact types.)
            micros = event.get("timestamp_micros")
            if type(micros) not in _EXACT_NUMBER_TYPES:
                micros = request_micros
            seconds: float | None = None
            if micros is not None:
                seconds = float(micros) / 1_000_000
                if relaxed and oldest > seconds:  # max(seconds, oldest), without the call
                    seconds = oldest
            received.append(
                make_received_event(
                    vendor,
                    "page_view" if name == "page_view" else "event",
                    name if isinstance(name, str) else "",
                    params,
                    client_id,
                    params.get("session_id"),
                    seconds,
                    None,
                    accepted,
                    problems,
                    dict(user_properties),
                    # The decoded event is referenced nowhere else, so it need not be copied.
                    event if type(event) is dict else dict(event),
                )
            )
        return tuple(received)


def _stream_problems(request: FakeRequest) -> list[str]:
    """Why Google would not record this request at all, judging from its query string."""
    problems = []
    if not request.query_value("api_secret"):
        problems.append("api_secret is missing: Google does not record the request.")
    if not request.query_value("measurement_id") and not request.query_value("firebase_app_id"):
        problems.append("measurement_id or firebase_app_id is missing: Google does not record the request.")
    return problems


def _flatten_user_properties(properties: Any) -> dict[str, Any]:
    if not isinstance(properties, dict):
        return {}
    return {
        name: entry.get("value")
        for name, entry in properties.items()
        if isinstance(entry, dict) and "value" in entry
    }
