"""The design document's Mixpanel example, done the certified way (see README, "Adding a new provider").

A provider describes its vendor: how one event looks on the wire, how a batch becomes one HTTP
request, and what the vendor's answers mean. The delivery engine does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from contract_tests import ProviderSpec
from fakes.mixpanel import MixpanelFake
from telemetry import BaseTelemetryProvider, BatchLimits, HttpRequest, HttpResponse, Outcome, ProviderConfig
from telemetry.delivery.types import classify_status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from telemetry import Event


@dataclass
class MixpanelConfig(ProviderConfig):
    """MIXPANEL_PROJECT_TOKEN; the token is a secret: kept out of repr and logs."""

    project_token: str | None = field(default=None, repr=False)

    def invalid_reason(self) -> str | None:
        if not self.project_token:
            return "MIXPANEL_PROJECT_TOKEN is not set"
        return super().invalid_reason()

    def secrets(self) -> tuple[str, ...]:
        return (self.project_token,) if self.project_token else ()


class MixpanelTelemetryProvider(BaseTelemetryProvider):
    """Events to Mixpanel's /track as form `data=` JSON, with `$insert_id` and `ip=0`."""

    name: ClassVar[str] = "Mixpanel"
    config_class: ClassVar[type[ProviderConfig]] = MixpanelConfig
    batch_limits: ClassVar[BatchLimits] = BatchLimits(max_events=50, max_bytes=1_000_000)

    config: MixpanelConfig

    def map_event(self, event: Event) -> dict[str, Any] | None:
        if event.kind == "user_properties" or not isinstance(event.name, str) or not event.name:
            return None  # profiles go to /engage: not covered by this example
        name = "Page Viewed" if event.kind == "page_view" else event.name
        properties = self.enrich_params(self.clean_params(event.params))
        properties.update(
            token=self.config.project_token,
            distinct_id=self.context.client_id,
            time=int(event.time * 1000),
            **{"$insert_id": event.insert_id},
        )
        return {"event": name[:255], "properties": properties}

    def build_request(self, encoded_events: Sequence[bytes], route: str = "default") -> HttpRequest:
        data = b"[" + b",".join(encoded_events) + b"]"
        body = urlencode({"data": data.decode(), "verbose": 1, "ip": 0}).encode()
        url = (self.config.endpoint or "https://api.mixpanel.com").rstrip("/") + "/track"
        return HttpRequest(url, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def classify(self, response: HttpResponse, batch_size: int) -> Outcome:
        body = response.json()
        if response.status == 200 and isinstance(body, dict):
            return Outcome.ok() if body.get("status") == 1 else Outcome.drop(str(body.get("error")))
        return classify_status(response)


def _config(base_url: str) -> MixpanelConfig:
    return MixpanelConfig(project_token="mixpanel-token-never-logged", endpoint=base_url)


MIXPANEL_SPEC = ProviderSpec(
    name="Mixpanel",
    provider_class=MixpanelTelemetryProvider,
    make_config=_config,
    make_fake=MixpanelFake,
    capabilities=frozenset({"page_views", "custom_events", "dedup_ids", "payload_validation"}),
)
