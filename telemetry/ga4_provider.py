"""Google Analytics 4 through the Measurement Protocol (HTTP, no SDK).

Events are normalised to the documented rules before they leave (names, reserved names and
prefixes, 25 params, value lengths), batched 25 to a request under 130 kB, and sent with the
numeric session_id and engagement_time_msec GA4 needs to build sessions.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from ._log import get_logger
from .base_telemetry import ENRICHMENT_KEYS, BaseTelemetryProvider, ProviderConfig
from .delivery.types import BatchLimits, HttpRequest, HttpResponse, Outcome, classify_status
from .events import PAGE_VIEW, USER_PROPERTIES, Event
from .policy import EventRules

__all__ = ["GA4Config", "GA4TelemetryProvider", "normalise_name"]

log = get_logger("telemetry.ga4")

GA_ENDPOINT = "https://www.google-analytics.com"
GA_EU_ENDPOINT = "https://region1.google-analytics.com"
DEFAULT_APP_BASE_URL = "http://localhost:8501"

MAX_NAME = 40
MAX_PARAMS = 25
MAX_VALUE = 100
MAX_VALUE_GA360 = 500
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME = 24
MAX_USER_PROPERTY_VALUE = 36

RESERVED_EVENT_NAMES = frozenset(
    [
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_clear_data",
        "app_exception",
        "app_install",
        "app_remove",
        "app_store_refund",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "notification_send",
        "os_update",
        "session_start",
        "user_engagement",
        "ad_impression",
        "in_app_purchase",
        "screen_view",
    ]
)
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
STRUCTURED_PARAM_NAMES = frozenset({"items"})
"""GA4 parses `items` as an e-commerce array of objects (anything else voids the whole request);
this provider sends text and numbers only, so a caller param of that name is dropped."""
RESERVED_PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_USER_PROPERTY_NAMES = frozenset(
    {
        "first_open_time",
        "first_visit_time",
        "last_deep_link_referrer",
        "user_id",
        "first_open_after_install",
    }
)
RESERVED_USER_PROPERTY_PREFIXES = ("_", "firebase_", "ga_", "google_")

_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_]+")
_VALID_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def normalise_name(raw: Any, max_length: int = MAX_NAME) -> str | None:
    """A GA4-valid name from `raw`: invalid characters become "_", a leading non-letter gets an
    "n" prefix, the result is cut to `max_length`. None when nothing usable remains."""
    if not isinstance(raw, str):
        return None
    if _VALID_NAME.fullmatch(raw):
        return raw[:max_length]
    name = _INVALID_CHARS.sub("_", raw.strip()).strip("_")
    if not name:
        return None
    if not name[0].isascii() or not name[0].isalpha():
        name = "n_" + name
    return name[:max_length]


def _param_name(raw: str) -> str | None:
    """The GA4 name a param is sent under, or None when GA4 reserves it or nothing valid remains."""
    key = normalise_name(raw)
    if key is None or key in RESERVED_PARAM_NAMES or key in STRUCTURED_PARAM_NAMES:
        return None
    return None if key.startswith(RESERVED_PARAM_PREFIXES) else key


_HEAD_ENCODER = json.JSONEncoder(separators=(",", ":"))
"""`json.dumps(..., separators=...)` builds an encoder per call; GA4 sends a request per 25 events."""

_UNSEEN: Any = object()
_MAX_REMEMBERED_NAMES = 1024
"""Param and event names map to GA4 names through memos of this size (callers use a small
vocabulary)."""


def join_page_location(base_url: str, page_path: str) -> str:
    """APP_BASE_URL joined with a page path: exactly one "/" between them; absolute URLs kept."""
    if urlsplit(page_path).scheme in ("http", "https"):
        return page_path
    return base_url.rstrip("/") + "/" + page_path.lstrip("/")


@dataclass
class GA4Config(ProviderConfig):
    """GA4 Measurement Protocol settings (GA_MEASUREMENT_ID, GA_API_SECRET, APP_BASE_URL)."""

    measurement_id: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    app_base_url: str = field(default=DEFAULT_APP_BASE_URL, kw_only=True)
    region: str = field(default="global", kw_only=True)
    """"global" or "eu" (region1.google-analytics.com)."""
    validation_mode: bool = field(default=False, kw_only=True)
    """Send to /debug/mp/collect and log GA4's validation messages; events are not recorded."""
    ga360: bool = field(default=False, kw_only=True)
    """GA360 properties accept 500-character param values instead of 100."""

    def __post_init__(self) -> None:
        self.provider_name = self.provider_name or "GA4"

    def invalid_reason(self) -> str | None:
        if not self.measurement_id:
            return "GA_MEASUREMENT_ID is not set"
        if not self.api_secret:
            return "GA_API_SECRET is not set"
        if self.region not in ("global", "eu"):
            return f"region must be 'global' or 'eu', not {self.region!r}"
        return super().invalid_reason()

    def secrets(self) -> tuple[str, ...]:
        return (self.api_secret,) if self.api_secret else ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], enabled: bool = True) -> GA4Config:
        """Read GA_MEASUREMENT_ID, GA_API_SECRET, APP_BASE_URL, GA_REGION, GA_VALIDATION_MODE."""
        return cls(
            enabled=enabled,
            measurement_id=environ.get("GA_MEASUREMENT_ID") or None,
            api_secret=environ.get("GA_API_SECRET") or None,
            app_base_url=environ.get("APP_BASE_URL") or DEFAULT_APP_BASE_URL,
            region=(environ.get("GA_REGION") or "global").lower(),
            validation_mode=_truthy(environ.get("GA_VALIDATION_MODE")),
            endpoint=environ.get("GA_ENDPOINT") or environ.get("TELEMETRY_ENDPOINT") or None,
        )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


EVENT_RULES = EventRules(
    name_pattern=_VALID_NAME.pattern,
    max_name_length=MAX_NAME,
    reserved_names=RESERVED_EVENT_NAMES,
    key_pattern=_VALID_NAME.pattern,
    max_key_length=MAX_NAME,
    reserved_keys=frozenset(
        {*ENRICHMENT_KEYS, "engagement_time_msec", *RESERVED_PARAM_NAMES, *STRUCTURED_PARAM_NAMES}
    ),
    reserved_key_prefixes=RESERVED_PARAM_PREFIXES,
    max_params=MAX_PARAMS - 4,
    max_value_length=MAX_VALUE,
    scalar_values_only=True,
    max_user_properties=MAX_USER_PROPERTIES,
    max_user_property_name_length=MAX_USER_PROPERTY_NAME,
    max_user_property_value_length=MAX_USER_PROPERTY_VALUE,
    reserved_user_property_names=RESERVED_USER_PROPERTY_NAMES,
    reserved_user_property_prefixes=RESERVED_USER_PROPERTY_PREFIXES,
)
"""GA4's documented rules, which the manager's policy enforces ("drop", "strict")."""


class GA4TelemetryProvider(BaseTelemetryProvider):
    """Describes GA4's Measurement Protocol for the delivery engine."""

    name: ClassVar[str] = "GA4"
    config_class: ClassVar[type[ProviderConfig]] = GA4Config
    batch_limits: ClassVar[BatchLimits] = BatchLimits(max_events=25, max_bytes=130_000 - 1)
    envelope_bytes: ClassVar[int] = 2_048
    retry_read_timeouts: ClassVar[bool] = False  # GA4 has no dedup id: a blind resend duplicates
    event_rules = EVENT_RULES

    config: GA4Config

    def __init__(self, config: GA4Config, context: Any) -> None:
        super().__init__(config, context)
        self._user_properties: dict[str, dict[str, Any]] = {}
        self._max_value = MAX_VALUE_GA360 if config.ga360 else MAX_VALUE
        self.event_rules = dataclasses.replace(EVENT_RULES, max_value_length=self._max_value)
        self._warned_reserved: set[str] = set()
        self._param_names: dict[str, str | None] = {}
        self._event_names: dict[str, str] = {}
        """Event names already seen valid and not reserved, with the name GA4 gets."""
        base = config.endpoint or (GA_EU_ENDPOINT if config.region == "eu" else GA_ENDPOINT)
        path = "/debug/mp/collect" if config.validation_mode else "/mp/collect"
        self._url = (
            f"{base.rstrip('/')}{path}?measurement_id={quote(config.measurement_id or '', safe='')}"
            f"&api_secret={quote(config.api_secret or '', safe='')}"
        )

    def session_value(self) -> int:
        return self.context.session.number

    def map_event(self, event: Event) -> dict[str, Any] | None:
        params = self._scanned_params(event.params, "GA4 params")
        if event.kind == USER_PROPERTIES:
            self._set_user_properties(params)
            name: str | None = "user_properties_set"
            params = {}
        elif event.kind == PAGE_VIEW:
            name = "page_view"
            path = str(params.get("page_path") or "/")
            title = params.get("page_title")
            params = {
                "page_location": join_page_location(self.config.app_base_url, path),
                "page_path": path,
                **({"page_title": str(title)} if title is not None else {}),
            }
        else:
            raw = event.name
            name = self._event_names.get(raw) if type(raw) is str else None
            if name is None:
                name = normalise_name(raw)
                if name is None:
                    log.debug("GA4: event name %r cannot be made valid; dropped", raw)
                    return None
                if name in RESERVED_EVENT_NAMES:
                    self._warn_once(name, "GA4: event name %r is reserved by GA4; dropped")
                    return None
                if type(raw) is str and len(self._event_names) < _MAX_REMEMBERED_NAMES:
                    self._event_names[raw] = name
        enriched = self._enrich(self._clean_params(params, str(name)))
        enriched["engagement_time_msec"] = 1
        return {
            "name": name,
            "params": enriched,
            "timestamp_micros": int(event.time * 1_000_000),
        }

    def _clean_params(self, params: Mapping[str, Any], event_name: str) -> dict[str, Any]:
        budget = MAX_PARAMS - 4  # session_id, runtime, lib_version, engagement_time_msec
        out: dict[str, Any] = {}
        names = self._param_names
        max_value = self._max_value
        for raw_key, value in params.items():
            key = names.get(raw_key, _UNSEEN)
            if key is _UNSEEN:
                key = _param_name(raw_key)
                if len(names) < _MAX_REMEMBERED_NAMES:
                    names[raw_key] = key
            if key is None:
                log.debug("GA4 %s: param %r is not a valid GA4 name; dropped", event_name, raw_key)
                continue
            kind = type(value)
            if kind is str:  # the common types inline: this runs for every param of every event
                clean = value[:max_value]
            elif kind is int or kind is float:
                clean = value
            else:
                clean = self._param_value(value)
            if clean is None:
                continue
            if len(out) >= budget:
                log.debug("GA4 %s: more than %d params; %r and later dropped", event_name, MAX_PARAMS, key)
                break
            out[key] = clean
        return out

    def _param_value(self, value: Any) -> str | int | float | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (int, float)):
            return value
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return text[: self._max_value]

    def _set_user_properties(self, params: Mapping[str, Any]) -> None:
        for raw_key, value in params.items():
            key = normalise_name(raw_key, MAX_USER_PROPERTY_NAME)
            if (
                key is None
                or key in RESERVED_USER_PROPERTY_NAMES
                or key.startswith(RESERVED_USER_PROPERTY_PREFIXES)
            ):
                log.debug("GA4: user property %r is not a valid GA4 name; dropped", raw_key)
                continue
            if value is None:
                self._user_properties.pop(key, None)
                continue
            if key not in self._user_properties and len(self._user_properties) >= MAX_USER_PROPERTIES:
                log.debug("GA4: more than %d user properties; %r dropped", MAX_USER_PROPERTIES, key)
                continue
            clean = self._param_value(value)
            if isinstance(clean, str):
                clean = clean[:MAX_USER_PROPERTY_VALUE]
            self._user_properties[key] = {"value": clean}

    def _warn_once(self, name: str, message: str) -> None:
        if name not in self._warned_reserved:
            self._warned_reserved.add(name)
            log.warning(message, name)

    def build_request(self, encoded_events: Sequence[bytes], route: str = "default") -> HttpRequest:
        head: dict[str, Any] = {"client_id": self.context.client_id}
        if self._user_properties:
            head["user_properties"] = self._user_properties
        prefix = _HEAD_ENCODER.encode(head)[:-1].encode()
        body = prefix + b',"events":[' + b",".join(encoded_events) + b"]}"
        return HttpRequest(self._url, body, {"Content-Type": "application/json"})

    def classify(self, response: HttpResponse, batch_size: int) -> Outcome:
        outcome = classify_status(response)
        if self.config.validation_mode and outcome.status == "ok":
            self._log_validation(response)
        return outcome

    def _log_validation(self, response: HttpResponse) -> None:
        payload = response.json()
        messages = payload.get("validationMessages") if isinstance(payload, dict) else None
        if not isinstance(messages, list):
            log.warning("GA4 validation: unexpected answer (HTTP %d)", response.status)
            return
        if not messages:
            log.debug("GA4 validation: no messages")
        for message in messages:
            if isinstance(message, dict):
                log.warning(
                    "GA4 validation: %s %s: %s",
                    message.get("validationCode"),
                    message.get("fieldPath", "-"),
                    message.get("description"),
                )
