"""One certification run's world: a fake backend, managers for the provider, and wire helpers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fakes import FakeServer
from telemetry import DeliveryOptions, TelemetryManager

from .reference import (
    NEIGHBOUR_ROUTE,
    REFERENCE_TOKEN,
    NeighbourProvider,
    ReferenceConfig,
    neighbour_fake,
)

if TYPE_CHECKING:
    from pathlib import Path

    from fakes._model import ReceivedEvent
    from telemetry.base_telemetry import BaseTelemetryProvider, ProviderConfig

    from .spec import ProviderSpec

APP_VERSION = "contract-9.8.7"

FAST = DeliveryOptions(
    flush_interval=0.05,
    request_timeout=0.5,
    max_retries=2,
    backoff_base=0.02,
    backoff_max=0.1,
    retry_after_max=0.1,
    retry_deadline=5.0,
    exit_grace=1.0,
)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll `predicate` until it holds or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Harness:
    """A started fake hosting the provider's vendor (and the reference vendor), plus managers."""

    def __init__(self, spec: ProviderSpec, tmp_path: Path) -> None:
        self.spec = spec
        self.tmp_path = tmp_path
        self.db_path = tmp_path / "telemetry.sqlite"
        fake = spec.make_fake()
        self.vendor: str = fake.name
        self.server = FakeServer(vendors=[fake, neighbour_fake()]).start()
        self._managers: list[TelemetryManager] = []

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def config(self) -> ProviderConfig:
        return self.spec.make_config(self.base_url)

    def manager(
        self,
        *,
        provider_class: type[BaseTelemetryProvider] | None = None,
        config: ProviderConfig | None = None,
        analytics_enabled: bool = True,
        db_path: Path | str | None = None,
        with_reference: bool = False,
        delivery: DeliveryOptions | None = None,
    ) -> TelemetryManager:
        specs: list[tuple[type[BaseTelemetryProvider], ProviderConfig]] = [
            (provider_class or self.spec.provider_class, config or self.config())
        ]
        if with_reference:
            neighbour = ReferenceConfig(token=REFERENCE_TOKEN, endpoint=self.base_url, path=NEIGHBOUR_ROUTE)
            specs.append((NeighbourProvider, neighbour))
        manager = TelemetryManager.from_providers(
            self.db_path if db_path is None else db_path,
            specs,
            analytics_enabled=analytics_enabled,
            app_version=APP_VERSION,
            environ={},
            delivery=delivery or FAST,
        )
        self._managers.append(manager)
        return manager

    def provider_of(self, manager: TelemetryManager) -> BaseTelemetryProvider:
        for provider in manager.providers:
            if not isinstance(provider, NeighbourProvider):
                return provider
        raise AssertionError(f"the manager has no {self.spec.name} provider")

    def events(self, kind: str | None = None) -> list[ReceivedEvent]:
        return self.server.events(vendor=self.vendor, kind=kind)

    def neighbour_events(self) -> list[ReceivedEvent]:
        """What the healthy neighbour provider delivered."""
        return self.server.events(vendor="neighbour")

    def wait_for(self, count: int, kind: str | None = None, timeout: float = 5.0) -> list[ReceivedEvent]:
        return self.server.wait_for(count, timeout=timeout, vendor=self.vendor, kind=kind)

    def named(self, name: str) -> list[ReceivedEvent]:
        return [e for e in self.events() if e.name == name]

    def expected_client_id(self, manager: TelemetryManager) -> Any:
        if self.spec.client_id_of is not None:
            return self.spec.client_id_of(manager.context)
        return manager.get_client_id()

    def vendor_routes(self) -> tuple[str, ...]:
        return tuple(self.server.vendor(self.vendor).routes)

    def close(self) -> None:
        for manager in self._managers:
            manager.shutdown(timeout=0.5)
        self.server.stop()


def telemetry_threads() -> list[threading.Thread]:
    """Live threads started by the telemetry toolkit's delivery engine."""
    return [t for t in threading.enumerate() if t.name.startswith("telemetry-") and t.is_alive()]


@contextmanager
def capture_connects() -> Iterator[list[tuple[Any, ...]]]:
    """Record every outgoing socket connect made while the block runs (any thread)."""
    import socket

    attempts: list[tuple[Any, ...]] = []
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(("connect", address))
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        attempts.append(("connect_ex", address))
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]


class _EveryRecord(logging.Handler):
    """Keeps every record, formatted the way a handler would print it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def capture_log_lines() -> Iterator[list[str]]:
    """Every record of every logger, at DEBUG, while the block runs (the root logger restored)."""
    handler = _EveryRecord()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
