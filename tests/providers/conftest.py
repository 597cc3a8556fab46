"""Fixtures of the provider tests: an environment without telemetry variables, managers bound to fakes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from telemetry import DeliveryOptions, TelemetryManager
from telemetry.base_telemetry import BaseTelemetryProvider, ProviderConfig

FAST = DeliveryOptions(
    flush_interval=0.05,
    request_timeout=2.0,
    max_retries=3,
    backoff_base=0.01,
    backoff_max=0.05,
    retry_after_max=0.05,
    exit_grace=0.5,
)
"""Delivery that sends within 50 ms and retries within milliseconds."""

TELEMETRY_PREFIXES = ("GA_", "AMPLITUDE_", "MIXPANEL_", "RUDDERSTACK_", "SEGMENT_", "TELEMETRY_", "ACME_")
TELEMETRY_NAMES = ("APP_BASE_URL", "DEBUG_TELEMETRY", "DO_NOT_TRACK")

MakeManager = Callable[..., TelemetryManager]


def is_telemetry_variable(name: str) -> bool:
    return name.startswith(TELEMETRY_PREFIXES) or name in TELEMETRY_NAMES


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry variable of the developer's shell leaks in; loopback is never proxied."""
    for name in list(os.environ):
        if is_telemetry_variable(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "telemetry.sqlite"


@pytest.fixture
def make_manager(db_path: Path) -> Iterator[MakeManager]:
    """Build managers from (provider class, config) pairs; all shut down after the test."""
    managers: list[TelemetryManager] = []

    def make(
        providers: Sequence[tuple[type[BaseTelemetryProvider], ProviderConfig]],
        *,
        delivery: DeliveryOptions = FAST,
        **kwargs: Any,
    ) -> TelemetryManager:
        manager = TelemetryManager.from_providers(db_path, providers, environ={}, delivery=delivery, **kwargs)
        managers.append(manager)
        return manager

    yield make
    for manager in reversed(managers):
        manager.shutdown(timeout=0.5)
