"""Fixtures of the privacy suite: managers aimed at the `fake_server` fixture, shut down after."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests  # noqa: F401 - imported here, not first by a worker thread (see below)

from telemetry import DeliveryOptions, TelemetryManager
from telemetry.base_telemetry import BaseTelemetryProvider, ProviderConfig
from telemetry.policy import EventPolicy

from ._support import FAST, TELEMETRY_VARIABLES, amplitude_config, ga4_config

MakeManager = Callable[..., TelemetryManager]
# `requests` silences urllib3's DependencyWarning while it imports; imported first by a worker
# thread, that races with hypothesis and pytest switching warning filters (errors, in this suite)
# on the main thread, and the worker dies importing it. Importing it here settles it once.


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry variable of the developer's shell leaks in; loopback is never proxied."""
    for name in TELEMETRY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "database.sqlite"


@pytest.fixture
def make_manager(fake_server: Any, db_path: Path) -> Iterator[MakeManager]:
    """Build managers aimed at `fake_server` (GA4 and Amplitude by default); all shut down after."""
    managers: list[TelemetryManager] = []

    def make(
        *,
        ga4: bool = True,
        amplitude: bool = True,
        policy: EventPolicy | str | None = None,
        providers: Sequence[tuple[type[BaseTelemetryProvider], ProviderConfig]] | None = None,
        delivery: DeliveryOptions = FAST,
        db: str | Path | None = None,
    ) -> TelemetryManager:
        specs = list(providers or [])
        if providers is None:
            if ga4:
                from telemetry import GA4TelemetryProvider

                specs.append((GA4TelemetryProvider, ga4_config(fake_server.base_url)))
            if amplitude:
                from telemetry import AmplitudeTelemetryProvider

                specs.append((AmplitudeTelemetryProvider, amplitude_config(fake_server.base_url)))
        manager = TelemetryManager.from_providers(
            db_path if db is None else db, specs, environ={}, delivery=delivery, policy=policy
        )
        managers.append(manager)
        return manager

    yield make
    for manager in reversed(managers):
        manager.shutdown(timeout=0.5)
