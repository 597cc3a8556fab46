"""Acme Analytics: a third-party provider for telemetry-toolkit, registered by entry point only.

It posts `{"token", "client_id", "events": [...]}` JSON to `<endpoint>/acme/collect`. The
package also ships its fake (`AcmeFake`) and its contract spec (`acme_spec`), so
`telemetry certify acme_telemetry:acme_spec` certifies it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from telemetry import (
    BaseTelemetryProvider,
    BatchLimits,
    CheckVerdict,
    Event,
    HttpRequest,
    HttpResponse,
    ProviderConfig,
    ProviderRegistration,
    Setting,
    ValidationCheck,
)

__version__ = "1.2.3"

ROUTE = "/acme/collect"
ACME_HOST = "https://ingest.acme.invalid"


@dataclass
class AcmeConfig(ProviderConfig):
    """ACME_TOKEN (a secret) and ACME_ENDPOINT."""

    token: str | None = field(default=None, repr=False)

    def invalid_reason(self) -> str | None:
        return "ACME_TOKEN is not set" if not self.token else super().invalid_reason()

    def secrets(self) -> tuple[str, ...]:
        return (self.token,) if self.token else ()


class AcmeTelemetryProvider(BaseTelemetryProvider):
    """Events as JSON to /acme/collect."""

    name: ClassVar[str] = "Acme"
    config_class: ClassVar[type[ProviderConfig]] = AcmeConfig
    batch_limits: ClassVar[BatchLimits] = BatchLimits(max_events=100, max_bytes=200_000)

    config: AcmeConfig

    def map_event(self, event: Event) -> dict[str, Any] | None:
        if not isinstance(event.name, str) or not event.name:
            return None
        item: dict[str, Any] = {
            "kind": event.kind,
            "name": event.name,
            "time": event.time,
            "insert_id": event.insert_id,
        }
        params = self.clean_params(event.params)
        if event.kind == "user_properties":
            item["user_properties"] = params
            item["params"] = self.enrich_params({})
        else:
            item["params"] = self.enrich_params(params)
        return item

    def build_request(self, encoded_events: Sequence[bytes], route: str = "default") -> HttpRequest:
        head = json.dumps({"token": self.config.token, "client_id": self.context.client_id})
        body = head[:-1].encode() + b',"events":[' + b",".join(encoded_events) + b"]}"
        url = (self.config.endpoint or ACME_HOST).rstrip("/") + ROUTE
        return HttpRequest(url, body, {"Content-Type": "application/json"})


def _check_request(config: ProviderConfig) -> HttpRequest:
    assert isinstance(config, AcmeConfig)
    body = json.dumps({"token": config.token, "client_id": "check", "events": []}).encode()
    return HttpRequest(
        (config.endpoint or ACME_HOST).rstrip("/") + ROUTE, body, {"Content-Type": "application/json"}
    )


def _check_verdict(response: HttpResponse) -> CheckVerdict:
    return CheckVerdict(response.status == 200, f"Acme answered {response.status}")


REGISTRATION = ProviderRegistration(
    provider_class=AcmeTelemetryProvider,
    settings=(
        Setting("token", ("ACME_TOKEN",), secret=True),
        Setting("endpoint", ("ACME_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint"),
    ),
    contract_spec="acme_telemetry:acme_spec",
    check=ValidationCheck(_check_request, _check_verdict, "an empty batch"),
)


# -- a provider whose configuration is read badly: ACME_STRICT_LEVEL must be an integer --------------


@dataclass
class AcmeStrictConfig(AcmeConfig):
    level: int = 1

    def invalid_reason(self) -> str | None:
        return "ACME_STRICT_TOKEN is not set" if not self.token else super().invalid_reason()


class AcmeStrictProvider(AcmeTelemetryProvider):
    name: ClassVar[str] = "AcmeStrict"
    config_class: ClassVar[type[ProviderConfig]] = AcmeStrictConfig


STRICT_REGISTRATION = ProviderRegistration(
    provider_class=AcmeStrictProvider,
    settings=(
        Setting("token", ("ACME_STRICT_TOKEN",), secret=True),
        Setting("level", ("ACME_STRICT_LEVEL",)),
        Setting("endpoint", ("ACME_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint"),
    ),
)


# -- a provider that needs an SDK this environment does not have ----------------------------------------


@dataclass
class AcmeSdkConfig(AcmeConfig):
    pass


class AcmeSdkProvider(AcmeTelemetryProvider):
    name: ClassVar[str] = "AcmeSdk"
    config_class: ClassVar[type[ProviderConfig]] = AcmeSdkConfig

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("acme_sdk") is None:
            return "the acme-sdk package is not installed"
        return None


SDK_REGISTRATION = ProviderRegistration(
    provider_class=AcmeSdkProvider,
    settings=(
        Setting("token", ("ACME_TOKEN",), secret=True),
        Setting("endpoint", ("ACME_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint"),
    ),
)


# -- its fake and its contract spec ----------------------------------------------------------------------


class AcmeFake:
    """Decodes Acme's wire format; answers 200 `{"ok": true}`."""

    name = "acme"
    routes = (ROUTE,)

    def handle(self, request: Any) -> Any:
        from fakes import FakeResponse, Handled, ReceivedEvent

        try:
            payload = json.loads(request.body)
        except ValueError:
            return Handled(FakeResponse.json(400, {"ok": False}))
        events = []
        for item in payload.get("events", []):
            params = item.get("params") or {}
            events.append(
                ReceivedEvent(
                    vendor=self.name,
                    kind=item.get("kind", "event"),
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


def acme_spec() -> Any:
    """The contract spec (built on demand, so importing the provider never imports the suite)."""
    from contract_tests import ProviderSpec

    return ProviderSpec(
        name="Acme",
        provider_class=AcmeTelemetryProvider,
        make_config=lambda base_url: AcmeConfig(token="ACME-TOKEN-never-logged-9", endpoint=base_url),
        make_fake=AcmeFake,
        capabilities=frozenset({"page_views", "custom_events", "user_properties", "dedup_ids"}),
        import_path="acme_telemetry:acme_spec",
    )
