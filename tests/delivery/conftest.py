"""Managers for delivery tests: Amplitude (it has dedup ids) against the fakes, fast options."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from telemetry import AmplitudeConfig, DeliveryOptions, GA4Config, TelemetryManager

AMPLITUDE_KEY = "AMP-KEY-delivery-tests-1"
GA4_SECRET = "GA4-SECRET-delivery-tests-2"

FAST = DeliveryOptions(
    flush_interval=0.05,
    request_timeout=0.5,
    max_retries=3,
    backoff_base=0.02,
    backoff_max=0.1,
    retry_after_max=0.1,
    exit_grace=1.0,
)

ManagerFactory = Callable[..., TelemetryManager]


@pytest.fixture
def make_manager(fake_server: Any, tmp_path: Path) -> Iterator[ManagerFactory]:
    """Build managers pointed at the fake; every one is shut down after the test."""
    made: list[TelemetryManager] = []

    def build(
        *, ga4: bool = False, delivery: DeliveryOptions = FAST, db: Path | None = None, **config: Any
    ) -> TelemetryManager:
        configs: list[Any] = [AmplitudeConfig(api_key=AMPLITUDE_KEY, endpoint=fake_server.base_url, **config)]
        if ga4:
            configs.append(
                GA4Config(measurement_id="G-DELIVERY", api_secret=GA4_SECRET, endpoint=fake_server.base_url)
            )
        manager = TelemetryManager.from_configs(
            db or tmp_path / "telemetry.sqlite", True, configs=configs, environ={}, delivery=delivery
        )
        made.append(manager)
        return manager

    yield build
    for manager in made:
        manager.shutdown(0.5)
