"""Fixtures of the core suite: managers bound to the `fake_server` fixture, shut down at teardown."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from telemetry import DeliveryOptions, TelemetryManager
from telemetry.base_telemetry import BaseTelemetryProvider, ProviderConfig

from ._support import FAST, amplitude_config, ga4_config, is_telemetry_variable

MakeManager = Callable[..., TelemetryManager]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry variable of the developer's shell leaks in; loopback is never proxied."""
    for name in [n for n in os.environ if is_telemetry_variable(n)]:
        monkeypatch.delenv(name)
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
        ga4_options: dict[str, Any] | None = None,
        amplitude_options: dict[str, Any] | None = None,
        endpoint: str | None = None,
        providers: Sequence[tuple[type[BaseTelemetryProvider], ProviderConfig]] | None = None,
        delivery: DeliveryOptions = FAST,
        db: str | Path | None = None,
        app_version: str | None = None,
    ) -> TelemetryManager:
        target = endpoint or fake_server.base_url
        path = db_path if db is None else db
        if providers is not None:
            manager = TelemetryManager.from_providers(
                path, providers, app_version=app_version, environ={}, delivery=delivery
            )
        else:
            manager = TelemetryManager.from_configs(
                path,
                True,
                ga4_config=ga4_config(target, **(ga4_options or {})) if ga4 else None,
                amplitude_config=amplitude_config(target, **(amplitude_options or {})) if amplitude else None,
                app_version=app_version,
                environ={},
                delivery=delivery,
            )
        managers.append(manager)
        return manager

    yield make
    for manager in reversed(managers):
        manager.shutdown(timeout=0.5)


@pytest.fixture
def manager(make_manager: MakeManager) -> TelemetryManager:
    """GA4 and Amplitude, both aimed at `fake_server`, with fast delivery."""
    return make_manager()
