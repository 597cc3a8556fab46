"""Deliberately broken providers: each breaks one promise the contract suite must catch."""

from __future__ import annotations

import logging
import uuid
from typing import Any, ClassVar

import requests

from contract_tests import ProviderSpec
from contract_tests.reference import ReferenceConfig, ReferenceFake, ReferenceProvider, reference_spec
from telemetry.delivery.types import HttpRequest
from telemetry.events import Event

TOKEN = "BROKEN-TOKEN-never-logged-42"


def _config(base_url: str) -> ReferenceConfig:
    return ReferenceConfig(token=TOKEN, endpoint=base_url)


def _spec(name: str, provider: type[ReferenceProvider], config: Any = _config) -> ProviderSpec:
    return ProviderSpec(
        name=name,
        provider_class=provider,
        make_config=config,
        make_fake=ReferenceFake,
        capabilities=reference_spec().capabilities,
        import_path=f"{__name__}:{name.upper()}",
    )


class NotEnriching(ReferenceProvider):
    """Sends the caller's params as they are: no session, runtime or lib_version."""

    def map_event(self, event: Event) -> dict[str, Any] | None:
        item = super().map_event(event)
        if item is not None:
            item["params"] = {k: v for k, v in item["params"].items() if k not in ("runtime", "lib_version")}
        return item


class CallerThreadSender(ReferenceProvider):
    """Pings its backend synchronously from track_event, on the caller's thread, with no timeout."""

    def track_event(self, event_name: str, params: Any = None) -> None:
        # An empty batch to its own route: harmless on the wire, fatal when the backend hangs.
        requests.post(f"{self.config.endpoint}{self.config.path}", json={"events": []})
        super().track_event(event_name, params)


class Raising(ReferenceProvider):
    """Validates names eagerly and lets the error out."""

    def track_event(self, event_name: str, params: Any = None) -> None:
        if not isinstance(event_name, str) or not event_name:
            raise ValueError(f"bad event name {event_name!r}")
        super().track_event(event_name, params)


class NewClientIdPerRequest(ReferenceProvider):
    """Ignores the persistent client_id and invents one per request."""

    def build_request(self, encoded_events: Any) -> HttpRequest:
        request = super().build_request(encoded_events)
        body = request.body.replace(str(self.context.client_id).encode(), str(uuid.uuid4()).encode())
        return HttpRequest(request.url, body, request.headers)


class LogsItsKey(ReferenceProvider):
    """Logs its token on its own logger while mapping events."""

    _log: ClassVar[logging.Logger] = logging.getLogger("broken.provider")

    def map_event(self, event: Event) -> dict[str, Any] | None:
        self._log.debug("mapping %s with token %s", event.name, self.config.token)
        return super().map_event(event)


class IgnoresDisabledConfig(ReferenceConfig):
    """Reports itself valid even when its `enabled` switch is off."""

    def invalid_reason(self) -> str | None:
        return None if self.token else "token is not set"


def _ignoring_config(base_url: str) -> IgnoresDisabledConfig:
    return IgnoresDisabledConfig(token=TOKEN, endpoint=base_url)


class IgnoresDisabled(ReferenceProvider):
    config_class = IgnoresDisabledConfig


NOT_ENRICHING = _spec("not_enriching", NotEnriching)
CALLER_THREAD_SENDER = _spec("caller_thread_sender", CallerThreadSender)
RAISING = _spec("raising", Raising)
NEW_CLIENT_ID = _spec("new_client_id", NewClientIdPerRequest)
LOGS_ITS_KEY = _spec("logs_its_key", LogsItsKey)
IGNORES_DISABLED = _spec("ignores_disabled", IgnoresDisabled, _ignoring_config)
REFERENCE = reference_spec()
