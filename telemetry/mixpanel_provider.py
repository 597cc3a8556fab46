"""Mixpanel through its ingestion API, delivered by the engine (never on the caller's thread).

Events go to `/track?verbose=1&ip=0` as a plain JSON array (documented beside the form `data=`
field, and a third of its size and cost: no percent-encoding), `ip=0` so the sender's address is
not geolocated, each event with `$insert_id` for dedup; page views are "Page Viewed". User
properties are profile updates (`$set`) on `/engage`, a route of their own so the engine batches
them separately. With service-account credentials, events go to `/import?strict=1` instead.
Answers are classified as Mixpanel documents them: the verbose `status`, the strict import's
partial success (only the failed records are dropped), 413 splits, 429 and 5xx are retried.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, quote_from_bytes

from ._log import get_logger, redact
from .base_telemetry import BaseTelemetryProvider, ProviderConfig
from .config_files import Setting
from .delivery.types import BatchLimits, HttpRequest, HttpResponse, Outcome, classify_status
from .events import PAGE_VIEW, USER_PROPERTIES, Event
from .registry import CheckVerdict, ProviderRegistration, ValidationCheck, probe_context

__all__ = ["MIXPANEL_HOSTS", "REGISTRATION", "MixpanelConfig", "MixpanelTelemetryProvider"]

log = get_logger("telemetry.mixpanel")

MIXPANEL_HOSTS = {
    "us": "https://api.mixpanel.com",
    "eu": "https://api-eu.mixpanel.com",
    "in": "https://api-in.mixpanel.com",
}
PAGE_VIEW_EVENT = "Page Viewed"
ENGAGE_ROUTE = "engage"
MAX_EVENTS = 2000
"""Events (or profile updates) per request on /track, /import and /engage."""
MAX_WIRE_BYTES = 2 * 1024 * 1024
"""The strictest documented request size (2 MiB, the sample 413); the current page says 10 MB."""
MAX_STRING = 255
"""Mixpanel truncates longer strings; cutting them here keeps batches small."""
MAX_PROPERTIES = 240
"""Events must have fewer than 255 properties; eight are ours (token, distinct_id, enrichment...)."""
MAX_NESTING = 3
MAX_ITEMS = 254
_OURS = frozenset({"token", "distinct_id", "time", "$insert_id", "mp_lib"})


@dataclass
class MixpanelConfig(ProviderConfig):
    """Mixpanel settings (MIXPANEL_PROJECT_TOKEN; a service account for /import).

    The service account (username, secret and project id) sends events through `/import`; it is a
    server-side credential: never ship it inside an application handed to users.
    """

    project_token: str | None = field(default=None, repr=False)
    region: str = field(default="us", kw_only=True)
    """"us" (api.mixpanel.com), "eu" (api-eu) or "in" (api-in)."""
    service_account_username: str | None = field(default=None, kw_only=True)
    service_account_secret: str | None = field(default=None, kw_only=True, repr=False)
    project_id: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self.provider_name = self.provider_name or "Mixpanel"

    @property
    def uses_import(self) -> bool:
        """Whether events go to /import (a complete service account is configured)."""
        return bool(self.service_account_username and self.service_account_secret and self.project_id)

    def invalid_reason(self) -> str | None:
        if not self.project_token:
            return "MIXPANEL_PROJECT_TOKEN is not set"
        if self.region not in MIXPANEL_HOSTS:
            return f"region must be one of {sorted(MIXPANEL_HOSTS)}, not {self.region!r}"
        account = {
            "MIXPANEL_SERVICE_ACCOUNT_USERNAME": self.service_account_username,
            "MIXPANEL_SERVICE_ACCOUNT_SECRET": self.service_account_secret,
            "MIXPANEL_PROJECT_ID": self.project_id,
        }
        missing = [name for name, value in account.items() if not value]
        if 0 < len(missing) < len(account):
            needs = "/import needs the service account's username, secret and project id"
            return f"{', '.join(missing)} not set ({needs})"
        return super().invalid_reason()

    def secrets(self) -> tuple[str, ...]:
        values = [self.project_token, self.service_account_secret]
        if self.uses_import:
            values.append(_basic(str(self.service_account_username), str(self.service_account_secret)))
        return tuple(v for v in values if v)

    @property
    def base_url(self) -> str:
        return self.endpoint or MIXPANEL_HOSTS.get(self.region, MIXPANEL_HOSTS["us"])

    @classmethod
    def from_env(cls, environ: Mapping[str, str], enabled: bool = True) -> MixpanelConfig:
        """Read MIXPANEL_PROJECT_TOKEN, MIXPANEL_REGION, the service account, MIXPANEL_ENDPOINT."""
        return cls(
            enabled=enabled,
            project_token=environ.get("MIXPANEL_PROJECT_TOKEN") or None,
            region=(environ.get("MIXPANEL_REGION") or "us").lower(),
            service_account_username=environ.get("MIXPANEL_SERVICE_ACCOUNT_USERNAME") or None,
            service_account_secret=environ.get("MIXPANEL_SERVICE_ACCOUNT_SECRET") or None,
            project_id=environ.get("MIXPANEL_PROJECT_ID") or None,
            endpoint=environ.get("MIXPANEL_ENDPOINT") or environ.get("TELEMETRY_ENDPOINT") or None,
        )


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


_PLAIN = frozenset({int, float, bool, type(None)})
"""Property value types `_fit` returns unchanged."""


def _fit(value: Any, depth: int = 1) -> Any:
    """A property value within Mixpanel's limits: strings cut, nesting and sizes bounded."""
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, (dict, list)):
        if depth > MAX_NESTING:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)[:MAX_STRING]
        if isinstance(value, dict):
            items = list(value.items())[:MAX_ITEMS]
            return {str(k)[:MAX_STRING]: _fit(v, depth + 1) for k, v in items}
        return [_fit(v, depth + 1) for v in value[:MAX_ITEMS]]
    return value


class MixpanelTelemetryProvider(BaseTelemetryProvider):
    """Describes Mixpanel's /track, /engage and /import for the delivery engine."""

    name: ClassVar[str] = "Mixpanel"
    config_class: ClassVar[type[ProviderConfig]] = MixpanelConfig
    envelope_bytes: ClassVar[int] = 64
    # Sized for the JSON of /track and /import. /engage is form-encoded, where a byte may become
    # three (%XX): a batch of profile updates that outgrows the limit is split on Mixpanel's 413.
    batch_limits: ClassVar[BatchLimits] = BatchLimits(max_events=MAX_EVENTS, max_bytes=MAX_WIRE_BYTES)

    config: MixpanelConfig

    def __init__(self, config: MixpanelConfig, context: Any) -> None:
        super().__init__(config, context)
        base = config.base_url.rstrip("/")
        self._track_url = base + "/track?verbose=1&ip=0"
        self._engage_url = base + "/engage"
        self._import_url = f"{base}/import?strict=1&project_id={quote(str(config.project_id or ''), safe='')}"
        self._import_auth = (
            "Basic " + _basic(str(config.service_account_username), str(config.service_account_secret))
            if config.uses_import
            else ""
        )
        self._rejected_logged = False

    # -- mapping -------------------------------------------------------------------------------

    def route(self, event: Event) -> str:
        return ENGAGE_ROUTE if event.kind == USER_PROPERTIES else "default"

    def _properties(self, params: Any, name: str | None) -> dict[str, Any]:
        """The cleaned params as the properties of event `name` (None: of the profile)."""
        cleaned = self._scanned_params(params)
        properties: dict[str, Any] = {}
        for key, value in cleaned.items():
            if key in _OURS:
                log.debug("Mixpanel %s: property %r is reserved; replaced", _where(name), key)
                continue
            if len(properties) >= MAX_PROPERTIES:
                log.debug(
                    "Mixpanel %s: more than %d properties; %r and later dropped",
                    _where(name),
                    MAX_PROPERTIES,
                    key,
                )
                break
            kind = type(value)  # the common types inline: this runs for every param of every event
            properties[key[:MAX_STRING]] = (
                value[:MAX_STRING] if kind is str else value if kind in _PLAIN else _fit(value)
            )
        return properties

    def map_event(self, event: Event) -> dict[str, Any] | None:
        if event.kind == USER_PROPERTIES:
            return {
                "$token": self.config.project_token,
                "$distinct_id": self.context.client_id,
                "$ip": "0",
                "$set": self._enrich(self._properties(event.params, None)),
            }
        if event.kind == PAGE_VIEW:
            name = PAGE_VIEW_EVENT
            page = event.params if isinstance(event.params, dict) else {}
            params = {k: page.get(k) for k in ("page_path", "page_title") if page.get(k) is not None}
        else:
            if not isinstance(event.name, str) or not event.name.strip():
                log.debug("Mixpanel: event name %r is empty or not text; dropped", event.name)
                return None
            name = event.name[:MAX_STRING]
            params = event.params
        properties = self._enrich(self._properties(params, name))
        properties["token"] = self.config.project_token
        properties["distinct_id"] = self.context.client_id
        properties["time"] = int(event.time * 1000)
        properties["$insert_id"] = event.insert_id
        properties["mp_lib"] = "telemetry-toolkit"
        return {"event": name, "properties": properties}

    # -- requests ------------------------------------------------------------------------------

    def build_request(self, encoded_events: Sequence[bytes], route: str = "default") -> HttpRequest:
        data = b"[" + b",".join(encoded_events) + b"]"
        if route == ENGAGE_ROUTE:
            return _form(self._engage_url, data)
        if self._import_auth:
            headers = {"Content-Type": "application/json", "Authorization": self._import_auth}
            return HttpRequest(self._import_url, data, headers)
        return HttpRequest(self._track_url, data, {"Content-Type": "application/json"})

    def classify(self, response: HttpResponse, batch_size: int) -> Outcome:
        status = response.status
        body = response.json()
        if status == 200:
            return self._classify_200(body)
        if status == 400 and isinstance(body, dict) and isinstance(body.get("failed_records"), list):
            return _partial(body, batch_size)
        if status in (401, 403):
            if not self._rejected_logged:
                self._rejected_logged = True
                log.error("Mixpanel rejected the credentials (HTTP %d); events are dropped", status)
            return Outcome.drop(f"HTTP {status}: credentials rejected")
        return classify_status(response)

    @staticmethod
    def _classify_200(body: Any) -> Outcome:
        if isinstance(body, dict):
            if body.get("status") == 1 or body.get("status") == "OK" or "num_records_imported" in body:
                return Outcome.ok()
            if body.get("status") == 0:
                return Outcome.drop(str(body.get("error") or "Mixpanel accepted nothing"))
        elif body == 1 and not isinstance(body, bool):
            return Outcome.ok()
        elif body == 0 and not isinstance(body, bool):
            return Outcome.drop("Mixpanel accepted nothing")
        # Unreadable: resending is safe ($insert_id deduplicates; $set is idempotent).
        return Outcome.retry("unreadable answer")


def _where(name: str | None) -> str:
    """What a debug line names: the event (quoted) or the profile."""
    return "profile" if name is None else repr(name)


def _form(url: str, data: bytes) -> HttpRequest:
    body = b"data=" + quote_from_bytes(data, safe="").encode("ascii") + b"&verbose=1&ip=0"
    return HttpRequest(url, body, {"Content-Type": "application/x-www-form-urlencoded"})


def _partial(body: dict[str, Any], batch_size: int) -> Outcome:
    """/import?strict=1 answered 400: the valid records are ingested, the failed ones never will be."""
    failed = {r.get("index") for r in body["failed_records"] if isinstance(r, dict)}
    indices = frozenset(i for i in failed if isinstance(i, int) and not isinstance(i, bool))
    first = next((r for r in body["failed_records"] if isinstance(r, dict)), {})
    reason = (
        f"{body.get('error') or 'failed validation'}: {first.get('field', '')} {first.get('message', '')}"
    )
    if not indices or len(indices) >= batch_size:
        return Outcome.drop(reason.strip())
    return Outcome.partial(indices, reason.strip(), rest="ok")


# -- registration ------------------------------------------------------------------------------------


def _check_request(config: ProviderConfig) -> HttpRequest:
    assert isinstance(config, MixpanelConfig)
    provider = MixpanelTelemetryProvider(config, probe_context())
    # An empty batch: credentials (on /import) and reachability are checked, nothing is recorded.
    return provider.build_request([])


def _check_verdict(response: HttpResponse) -> CheckVerdict:
    body = response.json()
    if response.status in (401, 403):
        return CheckVerdict(False, "Mixpanel rejected the credentials")
    if response.status == 200 and isinstance(body, dict) and "status" in body:
        return CheckVerdict(True, "reachable (/track does not validate project tokens)")
    if response.status in (200, 400) and isinstance(body, dict) and "code" in body:
        return CheckVerdict(True, "service account accepted (an empty import; nothing recorded)")
    return CheckVerdict(False, "unexpected answer: " + redact(response.body.decode("utf-8", "replace")[:120]))


REGISTRATION = ProviderRegistration(
    provider_class=MixpanelTelemetryProvider,
    table="mixpanel",
    settings=(
        Setting("project_token", ("MIXPANEL_PROJECT_TOKEN",), secret=True),
        Setting("region", ("MIXPANEL_REGION",), transform=lambda v: str(v).lower()),
        Setting("service_account_username", ("MIXPANEL_SERVICE_ACCOUNT_USERNAME",)),
        Setting("service_account_secret", ("MIXPANEL_SERVICE_ACCOUNT_SECRET",), secret=True),
        Setting("project_id", ("MIXPANEL_PROJECT_ID",)),
        Setting("endpoint", ("MIXPANEL_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint"),
    ),
    contract_spec="contract_tests.builtin:MIXPANEL_SPEC",
    routes=("default", ENGAGE_ROUTE),
    check=ValidationCheck(
        _check_request, _check_verdict, "an empty batch to /track or /import (never recorded)"
    ),
    order=30,
)
