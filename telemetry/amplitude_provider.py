"""Amplitude through its HTTP V2 API (or the Batch API), delivered by the engine.

Page views are "Page Viewed" events, user properties an `$identify` event with `$set`, and
`session_id` is the session's start in milliseconds, as Amplitude expects. Responses are
classified the way Amplitude documents them: a 400 names the bad events (only those are dropped),
413 splits the batch, 429 and 5xx are retried, an invalid API key drops the batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ._amplitude_sdk import sdk_missing_reason
from ._log import get_logger
from ._version import installed_version
from .base_telemetry import BaseTelemetryProvider, ProviderConfig
from .delivery.types import (
    BatchLimits,
    HttpRequest,
    HttpResponse,
    Outcome,
    Transport,
    classify_status,
    parse_retry_after,
)
from .events import PAGE_VIEW, USER_PROPERTIES, Event
from .policy import EventRules

__all__ = ["AmplitudeConfig", "AmplitudeTelemetryProvider"]

log = get_logger("telemetry.amplitude")

AMPLITUDE_ENDPOINT = "https://api2.amplitude.com"
AMPLITUDE_EU_ENDPOINT = "https://api.eu.amplitude.com"
MAX_STRING = 1024
RESERVED_PREFIX = "[Amplitude]"
THROTTLE_PAUSE_SECONDS = 30.0
_INDEX_FIELDS = (
    "events_with_invalid_fields",
    "events_with_missing_fields",
    "events_with_invalid_id_lengths",
)


@dataclass
class AmplitudeConfig(ProviderConfig):
    """Amplitude settings (AMPLITUDE_API_KEY)."""

    api_key: str | None = field(default=None, repr=False)
    region: str = field(default="us", kw_only=True)
    """"us" (api2.amplitude.com) or "eu" (api.eu.amplitude.com)."""
    use_batch: bool = field(default=False, kw_only=True)
    """Send to the Batch API (/batch) instead of HTTP V2 (/2/httpapi)."""
    transport: str = field(default="http", kw_only=True)
    """"http": the delivery engine sends (default). "sdk": the official amplitude-analytics SDK
    delivers what the engine hands it (its callback feeds our logging; see the README's trade-off)."""

    def __post_init__(self) -> None:
        self.provider_name = self.provider_name or "Amplitude"

    def invalid_reason(self) -> str | None:
        if not self.api_key:
            return "AMPLITUDE_API_KEY is not set"
        if self.region not in ("us", "eu"):
            return f"region must be 'us' or 'eu', not {self.region!r}"
        if self.transport not in ("http", "sdk"):
            return f"transport must be 'http' or 'sdk', not {self.transport!r}"
        if self.transport == "sdk":
            missing = sdk_missing_reason()
            if missing:
                return missing
        return super().invalid_reason()

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key else ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], enabled: bool = True) -> AmplitudeConfig:
        """Read AMPLITUDE_API_KEY, AMPLITUDE_REGION, AMPLITUDE_USE_BATCH."""
        return cls(
            enabled=enabled,
            api_key=environ.get("AMPLITUDE_API_KEY") or None,
            region=(environ.get("AMPLITUDE_REGION") or "us").lower(),
            use_batch=(environ.get("AMPLITUDE_USE_BATCH") or "").lower() in {"1", "true", "yes"},
            transport=(environ.get("AMPLITUDE_TRANSPORT") or "http").lower(),
            endpoint=environ.get("AMPLITUDE_ENDPOINT") or environ.get("TELEMETRY_ENDPOINT") or None,
        )


def _text(value: Any) -> str:
    return str(value)[:MAX_STRING]


def _truncate(value: Any) -> Any:
    """`value` with keys and text cut to Amplitude's limit; plain scalars are not recursed into
    (this runs on every event's params)."""
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                item = item[:MAX_STRING]
            elif kind is not int and kind is not float and kind is not bool and item is not None:
                item = _truncate(item)
            out[key[:MAX_STRING]] = item
        return out
    if isinstance(value, list):
        return [_truncate(v) for v in value]
    return value


MAX_REMEMBERED_NAMES = 1024
"""Event names map to event types through a memo of this size (callers use a small vocabulary)."""

EVENT_RULES = EventRules(
    max_name_length=MAX_STRING,
    reserved_names=frozenset({"$identify", "$groupidentify"}),
    reserved_name_prefixes=(RESERVED_PREFIX,),
    max_key_length=MAX_STRING,
    max_value_length=MAX_STRING,
)
"""Amplitude's documented rules, which the manager's policy enforces ("drop", "strict")."""


class AmplitudeTelemetryProvider(BaseTelemetryProvider):
    """Describes Amplitude's HTTP V2 / Batch ingestion for the delivery engine."""

    name: ClassVar[str] = "Amplitude"
    config_class: ClassVar[type[ProviderConfig]] = AmplitudeConfig
    batch_limits: ClassVar[BatchLimits] = BatchLimits(max_events=1000, max_bytes=1_000_000 - 1)
    envelope_bytes: ClassVar[int] = 256
    event_rules = EVENT_RULES

    config: AmplitudeConfig

    def __init__(self, config: AmplitudeConfig, context: Any) -> None:
        super().__init__(config, context)
        base = config.endpoint or (AMPLITUDE_EU_ENDPOINT if config.region == "eu" else AMPLITUDE_ENDPOINT)
        self._url = base.rstrip("/") + ("/batch" if config.use_batch else "/2/httpapi")
        self._library = f"telemetry-toolkit/{installed_version()}"
        self._invalid_key_logged = False
        self._event_types: dict[str, str] = {}

    def map_event(self, event: Event) -> dict[str, Any] | None:
        params = _truncate(self._scanned_params(event.params, "Amplitude params"))
        context = self.context
        mapped: dict[str, Any] = {
            "device_id": context.client_id,
            "session_id": context.session.start_ms,
            "time": int(event.time * 1000),
            "insert_id": event.insert_id,
            "library": self._library,
        }
        if event.kind == PAGE_VIEW:
            mapped["event_type"] = "Page Viewed"
            page = {"page_path": params.get("page_path"), "page_title": params.get("page_title")}
            mapped["event_properties"] = self._enrich({k: v for k, v in page.items() if v is not None})
        elif event.kind == USER_PROPERTIES:
            mapped["event_type"] = "$identify"
            mapped["user_properties"] = {"$set": self._enrich(params)}
        else:
            event_type = self._event_types.get(event.name) if type(event.name) is str else None
            if event_type is None:
                event_type = self._event_type(event.name)
                if event_type is None:
                    return None
            mapped["event_type"] = event_type
            mapped["event_properties"] = self._enrich(params)
        return mapped

    def _event_type(self, name: Any) -> str | None:
        """The event_type Amplitude gets for event `name` (remembered), or None to drop it."""
        if not isinstance(name, str) or not name.strip():
            log.debug("Amplitude: event name %r is empty or not text; dropped", name)
            return None
        if name.startswith(RESERVED_PREFIX) or name in ("$identify", "$groupidentify"):
            log.debug("Amplitude: event name %r is reserved; dropped", name)
            return None
        event_type = _text(name)
        if type(name) is str and len(self._event_types) < MAX_REMEMBERED_NAMES:
            self._event_types[name] = event_type
        return event_type

    def create_transport(self) -> Transport | None:
        if self.config.transport != "sdk":
            return None
        from ._amplitude_sdk import AmplitudeSdkTransport

        return AmplitudeSdkTransport(self.config.api_key or "", self._url)

    def build_request(self, encoded_events: Sequence[bytes], route: str = "default") -> HttpRequest:
        head = json.dumps({"api_key": self.config.api_key}, separators=(",", ":"))[:-1].encode()
        body = head + b',"events":[' + b",".join(encoded_events) + b"]}"
        return HttpRequest(self._url, body, {"Content-Type": "application/json"})

    def classify(self, response: HttpResponse, batch_size: int) -> Outcome:
        status = response.status
        if 200 <= status < 300:
            return Outcome.ok()
        body = response.json()
        body = body if isinstance(body, dict) else {}
        error = str(body.get("error") or f"HTTP {status}")
        if status == 400:
            return self._classify_400(body, error, batch_size)
        if status == 429:
            quota = body.get("exceeded_daily_quota_devices") or body.get("exceeded_daily_quota_users")
            if quota:
                return Outcome.drop("exceeded daily quota")
            told = parse_retry_after(response.headers.get("retry-after"))
            return Outcome.retry(error, THROTTLE_PAUSE_SECONDS if told is None else told)
        return classify_status(response)

    def _classify_400(self, body: dict[str, Any], error: str, batch_size: int) -> Outcome:
        if error.startswith("Invalid API key"):
            if not self._invalid_key_logged:
                self._invalid_key_logged = True
                log.error("Amplitude rejected the API key; events are dropped")
            return Outcome.drop("invalid API key")
        if body.get("missing_field"):
            return Outcome.drop(f"request missing field {body['missing_field']}")
        bad: set[int] = set()
        for key in _INDEX_FIELDS:
            groups = body.get(key)
            if isinstance(groups, dict):
                for indices in groups.values():
                    if isinstance(indices, list):
                        bad.update(i for i in indices if isinstance(i, int))
        silenced = body.get("silenced_events")
        if isinstance(silenced, list):
            bad.update(i for i in silenced if isinstance(i, int))
        if not bad or len(bad) >= batch_size:
            return Outcome.drop(error)
        return Outcome.partial(frozenset(bad), error, rest="retry")
