"""RudderStack and Segment through the Segment-compatible HTTP tracking API, delivered by the engine.

One implementation speaks the batch endpoint (`POST /v1/batch`) that RudderStack data planes and
Segment both accept, with the write key as HTTP Basic auth (the only form RudderStack reads).
Two registered providers use it: "RudderStack" (RUDDERSTACK_WRITE_KEY and
RUDDERSTACK_DATA_PLANE_URL) and "Segment" (SEGMENT_WRITE_KEY, api.segment.io or the EU host).

Page views are `page` calls, events `track` calls, user properties an `identify` call's traits;
every message carries the random `anonymousId` (no `userId`), a `messageId` (the event's dedup
id) and its `timestamp`. Batches stay within the documented limits: 32 KB per message, 500 KB
per request (Segment's, the stricter of the two), 2,500 messages.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from ._log import get_logger, redact
from ._version import installed_version
from .base_telemetry import BaseTelemetryProvider, ProviderConfig, endpoint_problem
from .config_files import Setting
from .delivery.types import BatchLimits, HttpRequest, HttpResponse, Outcome, classify_status
from .events import PAGE_VIEW, USER_PROPERTIES, Event
from .registry import CheckVerdict, ProviderRegistration, ValidationCheck, probe_context

__all__ = [
    "RUDDERSTACK_REGISTRATION",
    "SEGMENT_REGISTRATION",
    "RudderStackConfig",
    "RudderStackTelemetryProvider",
    "SegmentConfig",
    "SegmentTelemetryProvider",
]

log = get_logger("telemetry.rudderstack")

SEGMENT_ENDPOINT = "https://api.segment.io"
SEGMENT_EU_ENDPOINT = "https://events.eu1.segmentapis.com"
BATCH_PATH = "/v1/batch"
MAX_MESSAGE_BYTES = 32 * 1024
"""32 KB per message (Segment's limit; RudderStack SDKs drop larger events too)."""
MAX_BATCH_BYTES = 500_000
"""500 KB per batch request (Segment; RudderStack allows 4 MB). Read as decimal: the stricter."""
MAX_BATCH_MESSAGES = 2500
"""Above this Segment answers 200 and drops the rest."""


@dataclass
class _WriteKeyConfig(ProviderConfig):
    """The write key both flavours share: a secret, kept out of repr and logs."""

    write_key: str | None = field(default=None, repr=False)

    def secrets(self) -> tuple[str, ...]:
        if not self.write_key:
            return ()
        return (self.write_key, _basic(self.write_key))

    def base_url(self) -> str | None:
        """The base URL messages are posted under (`/v1/batch` is appended)."""
        return self.endpoint


@dataclass
class RudderStackConfig(_WriteKeyConfig):
    """RudderStack settings: RUDDERSTACK_WRITE_KEY and RUDDERSTACK_DATA_PLANE_URL (both needed)."""

    data_plane_url: str | None = None

    def __post_init__(self) -> None:
        self.provider_name = self.provider_name or "RudderStack"

    def invalid_reason(self) -> str | None:
        if not self.write_key:
            return "RUDDERSTACK_WRITE_KEY is not set"
        if not self.data_plane_url and not self.endpoint:
            return "RUDDERSTACK_DATA_PLANE_URL is not set"
        return endpoint_problem(self.data_plane_url) or super().invalid_reason()

    def base_url(self) -> str | None:
        return self.endpoint or self.data_plane_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str], enabled: bool = True) -> RudderStackConfig:
        """Read RUDDERSTACK_WRITE_KEY, RUDDERSTACK_DATA_PLANE_URL, RUDDERSTACK_ENDPOINT."""
        return cls(
            enabled=enabled,
            write_key=environ.get("RUDDERSTACK_WRITE_KEY") or None,
            data_plane_url=environ.get("RUDDERSTACK_DATA_PLANE_URL") or None,
            endpoint=environ.get("RUDDERSTACK_ENDPOINT") or environ.get("TELEMETRY_ENDPOINT") or None,
        )


@dataclass
class SegmentConfig(_WriteKeyConfig):
    """Segment settings: SEGMENT_WRITE_KEY; SEGMENT_REGION=eu for events.eu1.segmentapis.com."""

    region: str = field(default="us", kw_only=True)

    def __post_init__(self) -> None:
        self.provider_name = self.provider_name or "Segment"

    def invalid_reason(self) -> str | None:
        if not self.write_key:
            return "SEGMENT_WRITE_KEY is not set"
        if self.region not in ("us", "eu"):
            return f"region must be 'us' or 'eu', not {self.region!r}"
        return super().invalid_reason()

    def base_url(self) -> str | None:
        return self.endpoint or (SEGMENT_EU_ENDPOINT if self.region == "eu" else SEGMENT_ENDPOINT)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], enabled: bool = True) -> SegmentConfig:
        """Read SEGMENT_WRITE_KEY, SEGMENT_REGION, SEGMENT_ENDPOINT."""
        return cls(
            enabled=enabled,
            write_key=environ.get("SEGMENT_WRITE_KEY") or None,
            region=(environ.get("SEGMENT_REGION") or "us").lower(),
            endpoint=environ.get("SEGMENT_ENDPOINT") or environ.get("TELEMETRY_ENDPOINT") or None,
        )


def _basic(write_key: str) -> str:
    """The Basic credentials: the write key as user name, an empty password (note the colon)."""
    return base64.b64encode(f"{write_key}:".encode()).decode()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


class _SegmentCompatibleProvider(BaseTelemetryProvider):
    """Describes the Segment-compatible batch API; the subclasses only name the flavour."""

    config_class: ClassVar[type[ProviderConfig]] = _WriteKeyConfig
    batch_limits: ClassVar[BatchLimits] = BatchLimits(
        max_events=MAX_BATCH_MESSAGES, max_bytes=MAX_BATCH_BYTES
    )
    envelope_bytes: ClassVar[int] = 128

    config: _WriteKeyConfig

    def __init__(self, config: _WriteKeyConfig, context: Any) -> None:
        super().__init__(config, context)
        self._url = (config.base_url() or "").rstrip("/") + BATCH_PATH
        self._auth = "Basic " + _basic(config.write_key or "")
        self._library = {"name": "telemetry-toolkit", "version": installed_version()}
        self._logged: set[int] = set()

    def map_event(self, event: Event) -> dict[str, Any] | None:
        params = self._scanned_params(event.params)
        message: dict[str, Any]
        if event.kind == PAGE_VIEW:
            path, title = params.get("page_path"), params.get("page_title")
            page = {k: v for k, v in (("path", path), ("title", title)) if v is not None}
            message = {"type": "page", "name": str(title if title is not None else path or "/")}
            message["properties"] = self._enrich(page)
        elif event.kind == USER_PROPERTIES:
            message = {"type": "identify", "traits": self.enrich_params(params)}
        else:
            if not isinstance(event.name, str) or not event.name.strip():
                log.debug("%s: event name %r is empty or not text; dropped", self.name, event.name)
                return None
            message = {"type": "track", "event": event.name, "properties": self.enrich_params(params)}
        message["anonymousId"] = self.context.client_id
        message["messageId"] = event.insert_id
        message["timestamp"] = _iso(event.time)
        message["context"] = {"library": self._library}
        size = len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_MESSAGE_BYTES:
            log.debug(
                "%s: %s %r is %d bytes, over the 32 KB limit; dropped",
                self.name,
                event.kind,
                event.name,
                size,
            )
            return None
        return message

    def build_request(self, encoded_events: Sequence[bytes], route: str = "default") -> HttpRequest:
        sent_at = _iso(time.time()).encode()
        body = b'{"batch":[' + b",".join(encoded_events) + b'],"sentAt":"' + sent_at + b'"}'
        return HttpRequest(self._url, body, {"Content-Type": "application/json", "Authorization": self._auth})

    def classify(self, response: HttpResponse, batch_size: int) -> Outcome:
        status = response.status
        if 200 <= status < 300:
            return Outcome.ok()
        text = redact(response.body.decode("utf-8", "replace").strip()[:120]) or f"HTTP {status}"
        if status == 401:
            self._log_once(status, "%s rejected the write key (%s); events are dropped", text)
            return Outcome.drop(f"HTTP 401: {text}")
        if status == 404:
            self._log_once(status, "%s: the source is disabled or unknown (%s); events are dropped", text)
            return Outcome.drop(f"HTTP 404: {text}")
        if status == 400:
            # Our messages stay within the documented limits, so a 400 is systematic: do not resend.
            self._log_once(status, "%s refused a batch (%s); it is dropped", text)
            return Outcome.drop(f"HTTP 400: {text}")
        outcome = classify_status(response)
        return Outcome(outcome.status, f"HTTP {status}: {text}", outcome.retry_after)

    def _log_once(self, status: int, message: str, text: str) -> None:
        if status not in self._logged:
            self._logged.add(status)
            log.warning(message, self.name, text)


class RudderStackTelemetryProvider(_SegmentCompatibleProvider):
    """RudderStack data plane (`<data plane URL>/v1/batch`)."""

    name: ClassVar[str] = "RudderStack"
    config_class: ClassVar[type[ProviderConfig]] = RudderStackConfig


class SegmentTelemetryProvider(_SegmentCompatibleProvider):
    """Segment's HTTP tracking API (`api.segment.io/v1/batch`)."""

    name: ClassVar[str] = "Segment"
    config_class: ClassVar[type[ProviderConfig]] = SegmentConfig


# -- registrations -------------------------------------------------------------------------------------


def _check_request(config: ProviderConfig) -> HttpRequest:
    assert isinstance(config, _WriteKeyConfig)
    provider_class = (
        SegmentTelemetryProvider if isinstance(config, SegmentConfig) else RudderStackTelemetryProvider
    )
    # An empty batch: RudderStack checks the write key first, then refuses it as empty; nothing is stored.
    return provider_class(config, probe_context()).build_request([])


def _check_verdict(response: HttpResponse) -> CheckVerdict:
    text = redact(response.body.decode("utf-8", "replace").strip()[:120])
    if response.status == 400 and "empty batch" in text.lower():
        return CheckVerdict(True, "write key accepted (an empty batch; nothing stored)")
    if 200 <= response.status < 300:
        return CheckVerdict(
            True, "reachable; write key accepted (Segment accepts any non-empty key silently)"
        )
    if response.status == 401:
        return CheckVerdict(False, f"write key rejected: {text}")
    if response.status == 404:
        return CheckVerdict(False, f"source disabled or unknown: {text}")
    return CheckVerdict(False, text or "no body")


RUDDERSTACK_REGISTRATION = ProviderRegistration(
    provider_class=RudderStackTelemetryProvider,
    table="rudderstack",
    settings=(
        Setting("write_key", ("RUDDERSTACK_WRITE_KEY",), secret=True),
        Setting("data_plane_url", ("RUDDERSTACK_DATA_PLANE_URL",)),
        Setting("endpoint", ("RUDDERSTACK_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint"),
    ),
    contract_spec="contract_tests.builtin:RUDDERSTACK_SPEC",
    check=ValidationCheck(_check_request, _check_verdict, "an empty batch to /v1/batch (never stored)"),
    order=40,
)

SEGMENT_REGISTRATION = ProviderRegistration(
    provider_class=SegmentTelemetryProvider,
    table="segment",
    settings=(
        Setting("write_key", ("SEGMENT_WRITE_KEY",), secret=True),
        Setting("region", ("SEGMENT_REGION",), transform=lambda v: str(v).lower()),
        Setting("endpoint", ("SEGMENT_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint"),
    ),
    contract_spec="contract_tests.builtin:SEGMENT_SPEC",
    check=ValidationCheck(_check_request, _check_verdict, "an empty batch to /v1/batch"),
    order=50,
)
