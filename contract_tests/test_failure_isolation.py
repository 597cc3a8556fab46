"""Failure isolation: nothing a provider or its backend does reaches the caller or the neighbours."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .base import ContractBase

if TYPE_CHECKING:
    from telemetry.base_telemetry import BaseTelemetryProvider

    from .harness import Harness
    from .spec import ProviderSpec

EVENTS = 20


class ContractFailure(RuntimeError):
    """Raised on purpose by the failing provider variants."""


def _failing(base: type[BaseTelemetryProvider], method: str) -> type[BaseTelemetryProvider]:
    def fail(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise ContractFailure(f"{method} failed on purpose")

    return type(f"Failing{base.__name__}", (base,), {method: fail})


def _track_burst(contract: Harness, *, with_reference: bool = True, **kwargs: Any) -> Any:
    manager = contract.manager(with_reference=with_reference, **kwargs)
    for i in range(EVENTS):
        manager.track_event("contract_isolation", {"n": i})
    manager.track_page_view("/contract/isolation", "Isolation")
    return manager


class TestFailureIsolation(ContractBase):
    """A failing provider or backend, next to a healthy reference provider."""

    @pytest.mark.parametrize("method", ["__init__", "map_event", "build_request", "classify"])
    def test_a_provider_raising_never_reaches_the_caller_and_spares_its_neighbour(
        self, contract: Harness, provider_spec: ProviderSpec, method: str
    ) -> None:
        broken = _failing(provider_spec.provider_class, method)
        manager = _track_burst(contract, provider_class=broken)
        manager.flush(5.0)
        assert len(contract.neighbour_events()) == EVENTS + 1

    @pytest.mark.parametrize("fault", ["500", "429", "malformed", "close"])
    def test_a_failing_backend_never_reaches_the_caller_and_spares_its_neighbour(
        self, contract: Harness, provider_spec: ProviderSpec, fault: str
    ) -> None:
        for route in contract.vendor_routes():
            if fault == "500":
                contract.server.faults.add("status", route=route, status=500)
            else:
                contract.server.faults.add(fault, route=route, retry_after=0)
        manager = _track_burst(contract)
        manager.flush(5.0)
        assert len(contract.neighbour_events()) == EVENTS + 1
        contract.server.faults.clear()
        manager.track_event("contract_recovered", {"n": 1})
        assert manager.flush(5.0)
        assert len(contract.named("contract_recovered")) == 1, "the provider did not recover"

    def test_the_providers_own_tracking_calls_never_raise(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        contract.server.faults.add("status", status=500)
        manager = contract.manager()
        provider = contract.provider_of(manager)
        odd: list[tuple[Any, Any]] = [
            (None, None),
            (123, {"n": 1}),
            ("", {}),
            ("contract_odd", {None: 1, 2: "two", "nan": float("nan")}),
            ("contract_odd", ["not", "a", "mapping"]),
            ("x" * 10_000, {"huge": "y" * 100_000}),
        ]
        for name, params in odd:
            provider.track_event(name, params)
            manager.track_event(name, params)
        provider.track_page_view(None, None)  # type: ignore[arg-type]
        manager.track_page_view(None, None)  # type: ignore[arg-type]
        manager.flush(2.0)
