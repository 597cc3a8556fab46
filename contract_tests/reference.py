"""A minimal correct provider and its fake: the suite's healthy neighbour and its own yardstick."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from fakes._model import FakeRequest, FakeResponse, Handled, ReceivedEvent
from telemetry.base_telemetry import BaseTelemetryProvider, ProviderConfig
from telemetry.delivery.types import BatchLimits, HttpRequest
from telemetry.events import PAGE_VIEW, USER_PROPERTIES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from telemetry.events import Event

ROUTE = "/reference/collect"


@dataclass
class ReferenceConfig(ProviderConfig):
    """Config of the reference provider: an endpoint and a token (a secret, never logged)."""

    token: str | None = None
    path: str = ROUTE

    def invalid_reason(self) -> str | None:
        if not self.token:
            return "token is not set"
        if not self.endpoint:
            return "endpoint is not set"
        return super().invalid_reason()

    def secrets(self) -> tuple[str, ...]:
        return (self.token,) if self.token else ()

    def __repr__(self) -> str:
        return f"ReferenceConfig(enabled={self.enabled}, endpoint={self.endpoint!r})"


class ReferenceProvider(BaseTelemetryProvider):
    """Posts `{"token", "client_id", "events": [...]}` JSON to /reference/collect."""

    name: ClassVar[str] = "Reference"
    config_class: ClassVar[type[ProviderConfig]] = ReferenceConfig
    batch_limits: ClassVar[BatchLimits] = BatchLimits(max_events=50, max_bytes=200_000)

    config: ReferenceConfig

    def map_event(self, event: Event) -> dict[str, Any] | None:
        if not isinstance(event.name, str) or not event.name:
            return None
        params = self.clean_params(event.params)
        kind = event.kind
        item: dict[str, Any] = {
            "kind": kind,
            "name": event.name,
            "time": event.time,
            "insert_id": event.insert_id,
        }
        if kind == USER_PROPERTIES:
            item["user_properties"] = params
            item["params"] = self.enrich_params({})
        elif kind == PAGE_VIEW:
            item["params"] = self.enrich_params(
                {k: v for k, v in params.items() if k in ("page_path", "page_title") and v is not None}
            )
        else:
            item["params"] = self.enrich_params(params)
        return item

    def build_request(self, encoded_events: Sequence[bytes], route: str = "default") -> HttpRequest:
        head = json.dumps({"token": self.config.token, "client_id": self.context.client_id})
        body = head[:-1].encode() + b',"events":[' + b",".join(encoded_events) + b"]}"
        return HttpRequest(
            (self.config.endpoint or "").rstrip("/") + self.config.path,
            body,
            {"Content-Type": "application/json"},
        )


class ReferenceFake:
    """Decodes the reference wire format; answers 200 `{"ok": true}`."""

    def __init__(self, name: str = "reference", route: str = ROUTE) -> None:
        self.name = name
        self.routes = (route,)

    def handle(self, request: FakeRequest) -> Handled:
        try:
            payload = json.loads(request.body)
        except ValueError:
            return Handled(FakeResponse.json(400, {"ok": False, "error": "invalid JSON"}))
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            return Handled(FakeResponse.json(400, {"ok": False, "error": "events missing"}))
        events = []
        for item in payload["events"]:
            if not isinstance(item, dict):
                continue
            params = item.get("params") if isinstance(item.get("params"), dict) else {}
            events.append(
                ReceivedEvent(
                    vendor=self.name,
                    kind=str(item.get("kind", "event")),
                    name=str(item.get("name")),
                    params=params,
                    client_id=payload.get("client_id"),
                    session_id=params.get("session_id"),
                    time=item.get("time"),
                    insert_id=item.get("insert_id"),
                    user_properties=item.get("user_properties") or {},
                    raw=item,
                )
            )
        return Handled(FakeResponse.json(200, {"ok": True}), tuple(events))

    def reset(self) -> None:
        """Nothing is kept between requests."""


REFERENCE_TOKEN = "REF-TOKEN-never-logged-789"
NEIGHBOUR_ROUTE = "/neighbour/collect"


class NeighbourProvider(ReferenceProvider):
    """The healthy provider the failure checks place next to the one under test."""

    name: ClassVar[str] = "Neighbour"


def neighbour_fake() -> ReferenceFake:
    return ReferenceFake("neighbour", NEIGHBOUR_ROUTE)


def _reference_config(base_url: str) -> ReferenceConfig:
    return ReferenceConfig(token=REFERENCE_TOKEN, endpoint=base_url)


def reference_spec() -> Any:
    """The reference provider's spec (built lazily: the spec module imports telemetry)."""
    from .spec import ProviderSpec

    return ProviderSpec(
        name="Reference",
        provider_class=ReferenceProvider,
        make_config=_reference_config,
        make_fake=ReferenceFake,
        capabilities=frozenset({"page_views", "custom_events", "user_properties", "dedup_ids"}),
        import_path="contract_tests.reference:reference_spec",
    )
